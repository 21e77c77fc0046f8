"""Which provider a tenant uses: settings in, a ready `Provider` out."""

from __future__ import annotations

import aiohttp
import redis.asyncio as aioredis

from worker.providers.base import Provider
from worker.settings import TenantSettings


def build_provider(
    tenant: TenantSettings,
    session: aiohttp.ClientSession,
    *,
    tenant_id: str,
    redis: aioredis.Redis | None = None,
) -> Provider:
    """The tenant's provider, sharing the process's HTTP session; its calls are paced under
    `tenant_id` (iDoklad's under its `client_id`, one per account already). iCash nonces
    are counted in `redis` when given (every process on an api_key shares them), else in
    the process (one-off commands, tests)."""
    if tenant.provider == "icount" and tenant.icount is not None:
        from worker.providers.icount.client import ICountClient
        from worker.providers.icount.provider import ICountProvider

        return ICountProvider(ICountClient(session, tenant.icount, tenant=tenant_id))
    if tenant.provider == "idoklad" and tenant.idoklad is not None:
        from worker.providers.idoklad.client import IDokladClient
        from worker.providers.idoklad.provider import IDokladProvider

        return IDokladProvider(IDokladClient(session, tenant.idoklad), tenant.documents)
    if tenant.provider == "icash" and tenant.icash is not None:
        from worker.providers.icash.client import ICashClient
        from worker.providers.icash.nonces import RedisNonces
        from worker.providers.icash.provider import ICashProvider

        nonces = RedisNonces(redis) if redis is not None else None
        client = ICashClient(session, tenant.icash, nonces, tenant=tenant_id)
        return ICashProvider(client, tenant.documents, tenant.icash)
    raise ValueError(f"tenant has no settings for provider {tenant.provider!r}")
