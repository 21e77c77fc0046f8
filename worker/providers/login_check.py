"""Whether a tenant's provider credentials work: one log-in, as `invoicebridge check` runs it,
so bad credentials show at deploy time rather than at the first order.

What a log-in is, per provider:

- iCount: `app/info` with the API token, or `auth/login` with cid/user/pass first;
- iDoklad: an OAuth2 client-credentials token from `token_url`;
- iCash: `login` (the signed nonce proves api_key + secret_key), then reads of the cash
  register, pay types and catalogue items the settings name (`icash.account`).

Nothing is created or changed at the provider.
"""

from __future__ import annotations

import aiohttp

from worker.providers.icash.nonces import Nonces
from worker.settings import TenantSettings


async def check_login(
    tenant_id: str,
    tenant: TenantSettings,
    session: aiohttp.ClientSession,
    *,
    nonces: Nonces | None = None,
) -> str:
    """Log in to the tenant's provider with its credentials; what answered, in a few words.

    Raises:
        BridgeError: the provider's refusal (`Permanent`, its own message) or a transport
            failure (`Retryable`), as the tenant's client maps them.
    """
    if tenant.provider == "icount" and tenant.icount is not None:
        from worker.providers.icount.client import ICountClient

        info = await ICountClient(session, tenant.icount, tenant=tenant_id).check()
        company = info.get("company_name") or info.get("cid") or "the account"
        how = "API token" if tenant.icount.api_token else "cid/user/pass"
        return f"app/info answered for {company} ({how})"
    if tenant.provider == "idoklad" and tenant.idoklad is not None:
        from worker.providers.idoklad.client import IDokladClient

        client = IDokladClient(session, tenant.idoklad)
        # the client's own token fetch is the log-in; its module has no public name for it
        await client._access_token(stale=None)
        return "OAuth token issued"
    if tenant.provider == "icash" and tenant.icash is not None:
        from worker.providers.icash.account import check_account
        from worker.providers.icash.client import ICashClient

        return await check_account(
            ICashClient(session, tenant.icash, tenant=tenant_id), tenant.icash
        )
    raise ValueError(f"tenant has no settings for provider {tenant.provider!r}")
