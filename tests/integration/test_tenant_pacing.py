"""Each tenant paces its own calls: a 429 with Retry-After for one iCount tenant holds that
tenant's calls only, even when every tenant logs in with an API token (issue 17, item 9)."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from sandboxes.icount.app import serve_sandbox
from sandboxes.icount.state import SandboxAccount
from worker.providers.icount.provider import ICountProvider
from worker.providers.pacer import pacer_for, pacing_key
from worker.providers.registry import build_provider
from worker.settings import TenantSettings

#: what the sandbox asks tenant A to wait (s)
RETRY_AFTER_S = 2
ACCOUNTS = [SandboxAccount(cid="a", token="token-a"), SandboxAccount(cid="b", token="token-b")]


def _tenant(base_url: str, token: str) -> TenantSettings:
    return TenantSettings.model_validate(
        {
            "source": "shopify",
            "secret": "s",
            "provider": "icount",
            "icount": {"base_url": base_url, "api_token": token, "timeout_s": 5},
        }
    )


async def test_one_tenants_429_does_not_hold_another_tenant() -> None:
    """Given tenants A and B on one iCount (both by token), when A is told to wait 2 s, B's
    call goes out at once and is answered while A still waits."""
    async with serve_sandbox(accounts=ACCOUNTS) as box, aiohttp.ClientSession() as http:
        fault = {"path": "doc/info", "plan": [429], "retry_after": str(RETRY_AFTER_S)}
        async with http.post(f"{box.url}/_sandbox/faults", json=fault) as response:
            assert response.status == 200
        clients = {}
        for tid in ("a", "b"):  # built as the worker builds them, tenant id and all
            provider = build_provider(_tenant(box.api_url, f"token-{tid}"), http, tenant_id=tid)
            assert isinstance(provider, ICountProvider)
            clients[tid] = provider.client
        started = time.monotonic()
        a_call = asyncio.create_task(clients["a"].document_info("invoice", "10001"))
        a_pacer = pacer_for(box.api_url, pacing_key("a", ""))
        while a_pacer.not_before <= time.monotonic():  # until A has its 429
            assert time.monotonic() - started < RETRY_AFTER_S, "A never got its 429"
            await asyncio.sleep(0.01)
        b_started = time.monotonic()
        await clients["b"].check()
        b_took = time.monotonic() - b_started
        assert not a_call.done()
        assert b_took < RETRY_AFTER_S / 4, f"B waited {b_took:.2f} s behind A's 429"
        a_call.cancel()
