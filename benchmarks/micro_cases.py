"""The inputs of the micro benchmarks and profiles: one 50-line order as each source sends it,
signed the way that source signs, and the canonical order and job inputs made from it.

Built from the sample builders (`invoicebridge.samples`), so the bodies are the realistic,
full-size payloads the demo and the load generator send, not hand-trimmed JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from handlers.deliveries import received, to_item
from handlers.sources import Parsed, Source, get_source
from invoicebridge.reading import read_delivery
from invoicebridge.samples import shopify as samples
from invoicebridge.samples import standard as samples_standard
from invoicebridge.samples import stripe as samples_stripe
from invoicebridge.samples import woocommerce as samples_woocommerce
from invoicebridge.stack.config import SANDBOX_ICASH
from worker.domain.events import OrderEvent
from worker.ledger.records import event_fields
from worker.providers.base import DocumentRequest
from worker.providers.icash.sale import sale_items
from worker.providers.icash.wire import form_fields
from worker.providers.icount.wire import build_document_request
from worker.providers.idoklad.wire import build_invoice, dumps
from worker.settings import DocumentSettings, ICashSettings

LINES = 50
TENANT = "acme"
#: the moment the deliveries are checked at; Stripe and Standard Webhooks sign a timestamp
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
SECRETS = {
    "shopify": "shpss_bench_secret",
    "woocommerce": "wc-bench-secret",
    "stripe": "whsec_bench_stripe_secret",
    "standard": samples_standard.new_secret(),
}
SOURCES = tuple(SECRETS)


@dataclass(frozen=True)
class Delivery:
    """One signed webhook, as the receiver gets it."""

    source: str
    body: bytes
    headers: Mapping[str, str]

    @property
    def module(self) -> Source:
        found = get_source(self.source)
        assert found is not None, self.source
        return found

    @property
    def secrets(self) -> tuple[str, ...]:
        return (SECRETS[self.source],)


def shop_lines(count: int = LINES) -> list[tuple[str, str, int]]:
    """(title, unit price, quantity) rows with varied prices and quantities."""
    return [
        (f"Item {n:02d} - ceramic", f"{9 + (n * 7) % 90}.{n % 10}0", 1 + n % 3)
        for n in range(count)
    ]


def _shopify(order_id: int, lines: int) -> Delivery:
    payload = samples.shopify_order(order_id, lines=shop_lines(lines), discount="30.00")
    body = samples.encode_body(samples.with_sale(payload))  # its card sale, as apps relay it
    headers = samples.headers_for(
        body,
        topic="orders/paid",
        secret=SECRETS["shopify"],
        event_id=f"bench-{order_id}",
        triggered_at=NOW,
    )
    return Delivery("shopify", body, headers)


def _woocommerce(order_id: int, lines: int) -> Delivery:
    payload = samples_woocommerce.woo_order(order_id, lines=shop_lines(lines), coupon="10%")
    body = samples.encode_body(payload)
    secret = SECRETS["woocommerce"]
    headers = samples_woocommerce.headers_for(
        body, topic="order.created", secret=secret, delivered_at=NOW
    )
    return Delivery("woocommerce", body, headers)


def _stripe(order_id: int, lines: int) -> Delivery:
    rows = [(text, int(Decimal(price) * 100) * qty, qty) for text, price, qty in shop_lines(lines)]
    event = samples_stripe.invoice_paid(f"in_bench{order_id}", rows, number=f"INV-{order_id}")
    body = samples_stripe.encode_body(event)
    headers = samples_stripe.headers_for(body, SECRETS["stripe"], timestamp=int(NOW.timestamp()))
    return Delivery("stripe", body, headers)


def _standard(order_id: int, lines: int) -> Delivery:
    data = samples_standard.order_data(str(order_id), lines=shop_lines(lines), shipping="25.00")
    body = samples.encode_body(samples_standard.envelope("order.paid", data, timestamp=NOW))
    stamp = int(NOW.timestamp())
    headers = samples_standard.headers_for(
        body, SECRETS["standard"], msg_id=f"msg_{order_id}", timestamp=stamp
    )
    return Delivery("standard", body, headers)


_BUILDERS: dict[str, Callable[[int, int], Delivery]] = {
    "shopify": _shopify,
    "woocommerce": _woocommerce,
    "stripe": _stripe,
    "standard": _standard,
}


def delivery(source: str, order_id: int = 6_300_000_001, lines: int = LINES) -> Delivery:
    """A signed `lines`-line order delivery from `source`."""
    return _BUILDERS[source](order_id, lines)


def receive(item: Delivery, now: datetime = NOW) -> OrderEvent:
    """Verify, then parse in full into the canonical event: what the receiver did before it
    recorded deliveries as they came, and still does for the Standard source."""
    item.module.verify(item.body, item.headers, item.secrets, now)
    return parse(item)


def record(item: Delivery, now: datetime = NOW) -> dict[str, str]:
    """What the receiver does now before it touches Redis (DESIGN step 5): verify, read the
    ids, mask the body, and the event hash's fields of the delivery as it came."""
    item.module.verify(item.body, item.headers, item.secrets, now)
    found = item.module.identify(item.body, item.headers)
    assert found is not None
    kept = received(found, item.body, item.headers, TENANT, item.source)
    return event_fields(kept, "0")[1]


def read(fields: dict[str, str]) -> OrderEvent:
    """What the worker does first with a delivery recorded as it came: read it in full."""
    event = read_delivery(fields)
    assert isinstance(event, OrderEvent), event
    return event


def parse(item: Delivery) -> OrderEvent:
    """Parse and validate a delivery into the canonical event (no signature check)."""
    parsed: Parsed = item.module.parse(item.body, item.headers)
    event = to_item(parsed, TENANT, item.source)
    assert isinstance(event, OrderEvent), event
    return event


def canonical_event(lines: int = LINES) -> OrderEvent:
    """The canonical event of a paid Shopify order (VAT-inclusive, a discount, shipping)."""
    return parse(delivery("shopify", lines=lines))


#: what `DocumentSettings` a tenant has when it sets nothing
DOCUMENTS = DocumentSettings()
#: `GET IssuedInvoices/Default`, the fields the sandbox answers with
IDOKLAD_TEMPLATE: dict[str, Any] = {
    "PurchaserId": 0,
    "CurrencyId": 1,
    "ExchangeRate": Decimal(1),
    "ExchangeRateAmount": 1,
    "Maturity": 14,
    "Description": "",
    "OrderNumber": "",
    "Note": "",
    "PaymentOptionId": 1,
    "ConstantSymbolId": None,
    "LanguageId": 1,
    "ItemsTextPrefix": "We invoice you for:",
    "ItemsTextSuffix": "",
    "IssuedInvoiceItems": [],
}


def document_request(event: OrderEvent, kind: str = "invrec") -> DocumentRequest:
    """The request the step runner hands a provider for the paid order's invoice-receipt."""
    assert event.order is not None
    return DocumentRequest(
        kind="invrec" if kind == "invrec" else "invoice",
        order=event.order,
        reference=f"{TENANT}:{event.order_id}:{kind}",
        email=True,
        documents=DOCUMENTS,
        issue_date=date(2026, 11, 2),
    )


def icount_body(request: DocumentRequest) -> dict[str, object]:
    """iCount `doc/create` body (auth fields aside), as `ICountProvider.create_document`."""
    return build_document_request(
        request.order,
        doctype=request.kind,
        sanity="ib-bench",
        documents=request.documents,
        issue_date=request.issue_date,
    )


def idoklad_body(request: DocumentRequest) -> dict[str, object]:
    """iDoklad `POST IssuedInvoices` body from the `Default` template."""
    return build_invoice(IDOKLAD_TEMPLATE, request, purchaser_id=1, currency_id=2)


#: the iCash sandbox's account, selling in the samples' ILS, with an item for their 18 % too
ICASH = ICashSettings.model_validate(
    {
        "api_key": "k",
        "secret_key": "s",
        "warehouse_id": 1,
        "user_id": 1,
        **SANDBOX_ICASH,
        "currency": "ILS",
        "sale_items": {"18": 101, "20": 101, "0": 103},
    }
)


def icash_body(request: DocumentRequest) -> dict[str, Any]:
    """iCash `add-operation-sale-item` fields of every item (auth fields aside)."""
    items = sale_items(request.order, request.documents, ICASH)
    return {"items": [item.fields(1) for item in items]}


def _icash_forms(body: Mapping[str, Any]) -> str:
    """The items as iCash's client posts them: one form per `add-operation-sale-item`."""
    return "\n".join(urlencode(form_fields(fields)) for fields in body["items"])


#: provider -> (the request body for a `DocumentRequest`, that body as its client sends it:
#: aiohttp's `json=` is json.dumps, iDoklad's client writes `dumps`, iCash's posts a form)
PROVIDERS: dict[
    str, tuple[Callable[[DocumentRequest], Mapping[str, object]], Callable[[Any], str]]
] = {
    "iCount": (icount_body, json.dumps),
    "iDoklad": (idoklad_body, dumps),
    "iCash": (icash_body, _icash_forms),
}
