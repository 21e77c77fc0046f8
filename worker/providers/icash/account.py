"""Whether a tenant's iCash settings name things its account has: `invoicebridge check`.

After the log-in, three documented reads (3.02 `get-cash-registers`, 3.06
`get-pay-types`, 3.12 `get-sale-items`) show the register and its store, every pay type
and every catalogue item the settings name. A wrong id then shows at deploy time, not as
a refused operation at the first order. Nothing is created or changed.
"""

from __future__ import annotations

from typing import Any

from worker.errors import Permanent
from worker.providers.icash import wire
from worker.providers.icash.client import ICashClient
from worker.settings import ICashSettings


def _ids(rows: Any) -> dict[str, dict[str, Any]]:
    """A list answer's items by their `id` (3.02 and 3.06 answer a bare list)."""
    items = rows if isinstance(rows, list) else []
    return {str(item.get("id")): item for item in items if isinstance(item, dict)}


async def check_account(client: ICashClient, settings: ICashSettings) -> str:
    """Log in and read the register, pay types and catalogue items the settings name.

    Raises:
        Permanent: something named is not in the account (`not_in_account`), or iCash's
            own refusal.
    """
    await client.login()
    missing: list[str] = []
    registers = _ids(await client.call(wire.GET_CASH_REGISTERS, {}))
    register = registers.get(str(settings.cash_register_id))
    if register is None:
        missing.append(f"cash register {settings.cash_register_id}")
    elif str(register.get("storeID")) != str(settings.store_id):
        missing.append(f"cash register {settings.cash_register_id} in store {settings.store_id}")
    pay_types = _ids(await client.call(wire.GET_PAY_TYPES, {}))
    missing += [
        f"pay type {i} ({kind})"
        for kind, i in settings.pay_types.items()
        if str(i) not in pay_types
    ]
    for rate, item in settings.sale_items.items():
        _, rows = await client.rows(wire.GET_SALE_ITEMS, {"SaleItemID": item})
        if not any(str(row.get("SaleItemID")) == str(item) for row in rows):
            missing.append(f"sale item {item} (VAT {rate}%)")
    if missing:
        raise Permanent(f"iCash has no {', '.join(missing)}", reason="not_in_account")
    return (
        f"logged in; cash register {settings.cash_register_id}, {len(settings.pay_types)} "
        f"pay types and {len(settings.sale_items)} sale items found"
    )
