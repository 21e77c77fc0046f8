"""Which provider a tenant uses: settings in, a ready `Provider` out."""

from __future__ import annotations

import aiohttp

from worker.providers.base import Provider
from worker.settings import TenantSettings


def build_provider(
    tenant: TenantSettings, session: aiohttp.ClientSession, *, tenant_id: str
) -> Provider:
    """The tenant's provider, sharing the process's HTTP session; its calls are paced under
    `tenant_id` (iDoklad's under its `client_id`, one per account already)."""
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
        from worker.providers.icash.provider import ICashProvider

        return ICashProvider(ICashClient(session, tenant.icash, tenant=tenant_id), tenant.documents)
    raise ValueError(f"tenant has no settings for provider {tenant.provider!r}")
