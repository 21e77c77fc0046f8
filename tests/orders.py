"""What tests build by hand around a provider: orders as a shop hands them over (order #1001
of 1 May 2024 with its usual mugs and shipping, or the rule tests' order #1), an iCash
account, and the leaves of a built body."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from worker.domain.events import Customer, EventKind, Line, Order, OrderEvent
from worker.domain.idempotency import event_id
from worker.providers.base import DocumentRequest
from worker.providers.icount.wire import build_document_request
from worker.settings import DocumentSettings, ICashSettings

MAY_1 = datetime(2024, 5, 1, tzinfo=UTC)


def order_of(lines: Iterable[Line], total: str | Decimal = "117.00", /, **fields: Any) -> Order:
    """A paid, VAT-inclusive ILS order #1001 of `lines` for `total`; `fields` replace any of
    the defaults (order_id, number, currency, prices_include_tax, paid, customer, created_at)
    or add the others (payment, ...)."""
    defaults: dict[str, Any] = {
        "order_id": "1001",
        "number": "#1001",
        "currency": "ILS",
        "prices_include_tax": True,
        "paid": True,
        "customer": Customer(name="Dana Levi"),
        "created_at": MAY_1,
    }
    return Order(**{**defaults, "lines": tuple(lines), "total": Decimal(total), **fields})


def mug_paid_event(number: int, tenant: str, delivery_id: str, /, **fields: Any) -> OrderEvent:
    """Shopify's orders/paid for order `number` of `tenant`: one VAT-inclusive 50.00 ILS mug
    for Dana Levi; `fields` go to the order (created_at, payment, ...)."""
    line = Line(description="Mug", quantity=Decimal(1), unit_price=Decimal("50.00"))
    order = Order(
        order_id=str(number),
        number=f"#{number}",
        currency="ILS",
        paid=True,
        prices_include_tax=True,
        lines=(line,),
        total=Decimal("50.00"),
        customer=Customer(name="Dana Levi"),
        **fields,
    )
    return OrderEvent(
        event_id=event_id(tenant, "shopify", str(number)),
        tenant=tenant,
        source="shopify",
        topic="orders/paid",
        kind=EventKind.ORDER_PAID,
        delivery_id=delivery_id,
        order_id=str(number),
        order=order,
    )


def document_request(order: Order, reference: str, /, **fields: Any) -> DocumentRequest:
    """An invoice of `order` under `reference`, not emailed, default document settings, issued
    1 May 2024; `fields` replace any of these (kind, email, documents, issue_date) or add the
    others (charge, ...)."""
    defaults: dict[str, Any] = {
        "kind": "invoice",
        "email": False,
        "documents": DocumentSettings(),
        "issue_date": date(2024, 5, 1),
    }
    return DocumentRequest(**{**defaults, "order": order, "reference": reference, **fields})


def icount_body(order: Order, sanity: str = "ib-x", /, **fields: Any) -> dict[str, object]:
    """iCount's `doc/create` body for an invrec of `order` with default document settings,
    issued 1 May 2024; `fields` replace any of these (doctype, documents, issue_date) or add
    the others (charge, ...)."""
    defaults: dict[str, Any] = {
        "doctype": "invrec",
        "documents": DocumentSettings(),
        "issue_date": date(2024, 5, 1),
    }
    return build_document_request(order, sanity=sanity, **{**defaults, **fields})


def mug(
    quantity: int = 2, unit_price: str = "48.50", *, tax_rate: int | None = None, **money: str | int
) -> Line:
    """`quantity` mugs at `unit_price` (`money`: discount, tax)."""
    return Line(
        description="Mug",
        quantity=Decimal(quantity),
        unit_price=Decimal(unit_price),
        tax_rate=None if tax_rate is None else Decimal(tax_rate),
        **{name: Decimal(value) for name, value in money.items()},
    )


def mugs_and_shipping(vat: int, shipping_vat: int | None = None) -> tuple[Line, Line]:
    """2 mugs at 48.50 with 5.00 off (`vat` %), and 25.00 shipping: 117.00 gross."""
    shipping = Line(
        kind="shipping",
        description="Shipping",
        quantity=Decimal(1),
        unit_price=Decimal(25),
        tax_rate=None if shipping_vat is None else Decimal(shipping_vat),
    )
    return mug(2, "48.50", tax_rate=vat, discount=5), shipping


def order_one(
    lines: Iterable[Line],
    total: str | Decimal = "0",
    /,
    *,
    inclusive: bool = True,
    currency: str = "ILS",
    **fields: Any,
) -> Order:
    """Order #1 of Dana (no email), as the money rule and property tests build them."""
    one: dict[str, Any] = {"order_id": "1", "number": "#1", "customer": Customer(name="Dana")}
    return order_of(
        lines, total, **{**one, "currency": currency, "prices_include_tax": inclusive, **fields}
    )


def icash_account(sale_items: dict[str, int], **fields: Any) -> ICashSettings:
    """An iCash account (register 1, store 1) with `sale_items`, the catalogue item of each
    VAT rate."""
    return ICashSettings(
        api_key="k",
        secret_key="s",
        warehouse_id=1,
        user_id=1,
        cash_register_id=1,
        store_id=1,
        sale_items=sale_items,
        **fields,
    )


def leaves(value: object) -> list[object]:
    """Every value at the bottom of a JSON body (dicts and lists opened), in order."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    return [value]
