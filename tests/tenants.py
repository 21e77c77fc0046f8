"""Settings for tests whose tenants issue documents in the iCount sandbox, and the sandbox's
fault plans."""

from __future__ import annotations

from typing import Any

import aiohttp

from sandboxes.icount.app import RunningSandbox
from worker.settings import Settings


def icount_login(base_url: str) -> dict[str, Any]:
    """The iCount sandbox's demo login (company, user and password) at `base_url`, 0.5 s a
    call."""
    return {
        "base_url": base_url,
        "cid": "demo",
        "user": "api",
        "pass": "sandbox-pass",
        "timeout_s": 0.5,
    }


def worker_settings(redis_url: str, tenants: dict[str, Any]) -> Settings:
    """`tenants` on the test's Redis, a job retried twice and an order lock of 5 s."""
    return Settings.model_validate(
        {
            "redis": {"url": redis_url},
            "queue": {"max_retries": 2, "order_lock_ttl_ms": 5000},
            "tenants": tenants,
        }
    )


async def set_faults(sandbox: RunningSandbox, fault: dict[str, Any]) -> None:
    """Add one fault plan to the iCount sandbox (`POST /_sandbox/faults`)."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sandbox.url}/_sandbox/faults", json=fault) as response,
    ):
        assert response.status == 200
