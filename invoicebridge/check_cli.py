"""`invoicebridge check`: log in to each tenant's provider with its credentials and say, one
line per tenant, whether it worked or what the provider answered. Exit codes: 0 every tenant
logged in; 1 at least one did not; 2 bad usage or configuration (an unknown `--tenant`)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from rich.console import Console
from rich.markup import escape

from invoicebridge.cli_env import env_option, seconds
from worker.providers.icash.nonces import Nonces, RedisNonces
from worker.redis_clients import async_client, close_async
from worker.settings import Settings, TenantSettings, load_settings
from worker.settings.tenant import COUNTRY_VAT

OK, FAILED, USAGE = 0, 1, 2


async def _one(
    tenant_id: str, tenant: TenantSettings, timeout_s: float, nonces: Nonces | None
) -> tuple[bool, str]:
    """(logged in, what to say) for one tenant; never raises."""
    import aiohttp

    from worker.providers.login_check import check_login

    try:
        async with aiohttp.ClientSession() as session:
            checking = check_login(tenant_id, tenant, session, nonces=nonces)
            said = await asyncio.wait_for(checking, timeout_s)
    except TimeoutError:
        return False, f"no answer within {timeout_s:g} s"
    except Exception as exc:  # any failure is this tenant's line, not the command's crash
        return False, str(exc) or type(exc).__name__
    if not tenant.vat_fits_country():
        rates = ", ".join(str(rate) for rate in sorted(COUNTRY_VAT[tenant.provider]))
        rate = tenant.documents.default_vat_percent
        said += f"; note: default_vat_percent {rate} is none of the country's rates ({rates})"
    return True, said


async def run_checks(
    settings: Settings, tenant_ids: list[str], timeout_s: float
) -> list[tuple[str, bool, str]]:
    """(tenant, logged in, what to say) for each of `tenant_ids`, checked at once. iCash
    nonces come from the workers' Redis counter when it answers (a nonce of our own could
    fall behind theirs and be refused), else from this process."""
    tenants = settings.tenants
    client = async_client(settings.redis, socket_timeout=2, socket_connect_timeout=2)
    try:
        nonces: Nonces | None = RedisNonces(client) if await _answers(client) else None
        results = await asyncio.gather(
            *(_one(t, tenants[t], timeout_s, nonces) for t in tenant_ids)
        )
    finally:
        await close_async(client)
    return [(t, ok, said) for t, (ok, said) in zip(tenant_ids, results, strict=True)]


async def _answers(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False


def _check(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.tenant is not None and args.tenant not in settings.tenants:
        known = ", ".join(sorted(settings.tenants)) or "none"
        print(f"invoicebridge check: no tenant {args.tenant!r} (tenants: {known})", file=sys.stderr)
        return USAGE
    tenant_ids = [args.tenant] if args.tenant is not None else list(settings.tenants)
    results = asyncio.run(run_checks(settings, tenant_ids, args.timeout))
    console = Console(highlight=False, soft_wrap=True)
    width = max(len(t) for t in tenant_ids)
    for tenant_id, ok, said in results:
        mark = "[green]ok  [/]" if ok else "[red]FAIL[/]"
        provider = settings.tenants[tenant_id].provider
        console.print(f"{mark} {escape(tenant_id.ljust(width))} {provider:<7} {escape(said)}")
    return OK if all(ok for _, ok, _ in results) else FAILED


def add_check_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser(
        "check",
        help="log in to each tenant's provider with its credentials",
        description=__doc__,
    )
    env_option(
        check,
        "--config",
        default=None,
        shown_default="none, required",
        help="the TOML settings file",
    )
    check.add_argument(
        "--tenant", default=None, help="check only this tenant (default: every tenant)"
    )
    check.add_argument(
        "--timeout",
        type=seconds,
        default=30.0,
        help="seconds each tenant's log-in may take, waits for a rate limit included",
    )
    check.set_defaults(func=_check)
