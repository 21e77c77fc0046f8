"""How the provider contract suite reaches each provider: its sandbox, settings and shapes.

Adding a fourth provider means writing one `Harness` here and passing the suite.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp

from invoicebridge.stack.config import SANDBOX_ICASH
from tests.conftest import free_port
from tests.smtp_server import Inbox, smtp_server
from tests.tenants import icount_login
from worker.jobs.mailer import Mailer
from worker.jobs.runner import StepRunner
from worker.providers.registry import build_provider
from worker.settings import TenantSettings


@dataclass(frozen=True)
class Harness:
    name: str
    settings: Callable[[str], dict[str, Any]]  #: sandbox URL -> the provider's settings table
    create_path: str  #: the fault-plan path of the create call
    total: Callable[[dict[str, Any]], Decimal]  #: a sandbox document's total
    is_credit: Callable[[dict[str, Any]], bool]
    expire: str  #: the control call that ends every session (or token) the sandbox gave out
    login_path: str  #: the request-log name of the call that opens one
    #: how the sample order is priced for this provider's country (currency, VAT rate)
    sample_currency: str = "ILS"
    sample_vat_rate: str = "0.18"

    def __str__(self) -> str:
        return self.name


@dataclass
class Running:
    harness: Harness
    runner: StepRunner
    url: str  #: the sandbox, for /_sandbox/... control calls
    inbox: Inbox  #: the SMTP server's messages (the fallback for providers that cannot email)
    session: aiohttp.ClientSession

    async def control(self, method: str, what: str, body: Any = None) -> Any:
        async with self.session.request(
            method, f"{self.url}/_sandbox/{what}", json=body
        ) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def documents(self) -> list[dict[str, Any]]:
        return list(await self.control("GET", "documents"))

    async def emails(self) -> int:
        """Emails the customer got: from the provider, or through our SMTP fallback."""
        return len(await self.control("GET", "emails")) + len(self.inbox.messages)


HARNESSES = [
    Harness(
        "icount",
        lambda url: icount_login(f"{url}/api/v3.php"),
        "doc/create",
        lambda doc: Decimal(doc["totalwithvat"]),
        lambda doc: doc["doctype"] == "refund",
        "expire-sessions",
        "auth/login",
    ),
    Harness(
        "idoklad",
        lambda url: {
            "base_url": f"{url}/v2",
            "token_url": f"{url}/server/connect/token",
            "client_id": "demo-client",
            "client_secret": "sandbox-secret",
            "timeout_s": 0.5,
        },
        "IssuedInvoices",
        lambda doc: Decimal(doc["total"]),
        lambda doc: doc["doctype"] == "CreditNote",
        "expire-tokens",
        "connect/token",
    ),
    Harness(
        "icash",
        lambda url: {
            "base_url": f"{url}/clientapi/v1",
            "api_key": "sandbox-key",
            "secret_key": "sandbox-secret",
            "warehouse_id": 1,
            "user_id": 1,
            "timeout_s": 0.5,
            **SANDBOX_ICASH,
        },
        "print-operation",
        lambda doc: Decimal(doc["total"]),
        lambda doc: doc["doctype"] == "CREDIT",
        "expire-sessions",
        "login",
        "EUR",  # a Bulgarian shop: 20 %
        "0.20",
    ),
]


def runner_at(
    harness: Harness, url: str, session: aiohttp.ClientSession, smtp_port: int, **overrides: Any
) -> StepRunner:
    """A step runner over the real client, its provider's settings pointed at `url`."""
    tenant = TenantSettings.model_validate(
        {
            "source": "shopify",
            "secret": "s",
            "provider": harness.name,
            harness.name: {**harness.settings(url), **overrides},
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "sender": "shop@example.com",
                "starttls": False,
            },
        }
    )
    assert tenant.smtp is not None
    provider = build_provider(tenant, session, tenant_id="acme")
    return StepRunner(provider, "acme", tenant.documents, Mailer(tenant.smtp))


@asynccontextmanager
async def running(
    harness: Harness, *, switches: dict[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[Running]:
    """The harness's sandbox on port 0 (started with `switches`), a real client with the
    provider's settings (`overrides` on top), and an SMTP server for the fallback."""
    sandbox = importlib.import_module(f"sandboxes.{harness.name}.app")
    serve = sandbox.serve_sandbox(**(switches or {}))
    async with serve as box, aiohttp.ClientSession() as session:
        with smtp_server() as (smtp_port, inbox):
            runner = runner_at(harness, box.url, session, smtp_port, **overrides)
            yield Running(harness, runner, box.url, inbox, session)


__all__ = ["HARNESSES", "Harness", "Running", "free_port", "runner_at", "running"]
