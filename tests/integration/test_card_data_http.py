"""Hostile text and amounts in validly signed deliveries, over real HTTP and a real Redis (#15):
a card number in a note or a line's name is stored masked, in the event and the order
snapshot; a lone surrogate never gets a 5xx; amounts out of bounds, unknown currencies,
digits that are not ASCII and an empty customer name are a 422 naming the field."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from itertools import count
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from invoicebridge.samples import shopify as samples
from invoicebridge.samples import standard as samples_standard
from invoicebridge.samples import stripe as samples_stripe
from invoicebridge.samples import woocommerce as samples_woocommerce
from tests.received import read_now
from tests.receiver_server import Client, receiver_client
from tests.unit.test_card_text import card_runs
from worker.domain.events import OrderEvent
from worker.ledger.ledger import Ledger
from worker.settings import Settings

SECRET, WH_SECRET = "a-secret", samples_standard.new_secret()
SOURCES = {"shop": "shopify", "woo": "woocommerce", "pay": "stripe", "any": "standard"}
CARD, DASHED = "4111111111111111", "5500-0000-0000-0004"
#: stands in for a JSON number Python cannot write (json.dumps has no 1e999999999)
HUGE = "__1e999999999__"
_ids = count(1)

Payload = dict[str, Any]


def _shopify(note: str = "", name: str = "Ceramic mug") -> Payload:
    order = samples.shopify_order(next(_ids))
    order["note"] = note
    order["line_items"][0]["name"] = name
    return order


def _woo(note: str = "", name: str = "Ceramic mug") -> Payload:
    order = samples_woocommerce.woo_order(next(_ids))
    order["customer_note"] = note
    order["line_items"][0]["name"] = name
    return order


def _stripe(note: str = "", name: str = "Ceramic mug") -> Payload:
    n = next(_ids)
    event = samples_stripe.payment_intent_succeeded(f"pi_{n}", 5000)
    event["id"] = f"evt_card{n}"
    payment = event["data"]["object"]
    payment["description"], payment["shipping"]["name"] = name, f"Dana {note}"
    return event


def _standard(note: str = "", name: str = "Ceramic mug") -> Payload:
    data = samples_standard.order_data(f"s{next(_ids)}")
    envelope = samples_standard.envelope("order.paid", data)
    order = envelope["data"]["order"]
    order["note"] = note
    order["lines"][0]["description"] = name
    return envelope


BUILD: dict[str, Callable[..., Payload]] = {
    "shop": _shopify,
    "woo": _woo,
    "pay": _stripe,
    "any": _standard,
}


def _headers(tenant: str, body: bytes) -> dict[str, str]:
    n = next(_ids)
    if tenant == "shop":
        return samples.headers_for(body, topic="orders/create", secret=SECRET, event_id=f"e{n}")
    if tenant == "woo":
        return samples_woocommerce.headers_for(body, topic="order.created", secret=SECRET)
    if tenant == "pay":
        return samples_stripe.headers_for(body, SECRET, timestamp=int(time.time()))
    return samples_standard.headers_for(body, WH_SECRET, msg_id=f"msg_{n}")


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Client]:
    icount = {"cid": "c", "user": "u", "pass": "p", "base_url": "http://127.0.0.1:9"}
    tenants = {
        tid: {
            "source": src,
            "secrets": [WH_SECRET if tid == "any" else SECRET],
            "provider": "icount",
            "icount": icount,
        }
        for tid, src in SOURCES.items()
    }
    settings = Settings.model_validate({"redis": {"url": redis_url}, "tenants": tenants})
    async with receiver_client(settings) as test_client:
        yield test_client


async def post(client: Client, tenant: str, payload: Payload | bytes) -> tuple[int, Any]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    body = body.replace(f'"{HUGE}"'.encode(), b"1e999999999")
    response = await client.post(
        f"/webhooks/{SOURCES[tenant]}/{tenant}", data=body, headers=_headers(tenant, body)
    )
    return response.status, await response.json(content_type=None)


async def stored_and_read(raw: aioredis.Redis, redis_url: str, event_id: str) -> dict[str, str]:
    """The event's fields once the worker's first step has read it (a platform's delivery is
    recorded as it came, DESIGN step 5), each version of it checked for card numbers."""
    for _ in range(2):
        stored = cast(dict[str, str], await raw.hgetall(f"ib:event:{event_id}"))
        assert card_runs(json.dumps(stored, ensure_ascii=False)) == []
        await read_now(redis_url, event_id)
    return stored


@pytest.mark.parametrize("tenant", list(SOURCES))
async def test_a_card_number_in_free_text_is_stored_masked(
    client: Client, raw: aioredis.Redis, redis_url: str, tenant: str
) -> None:
    """A card in the note (Stripe: the buyer's name) and in a line's name: 200, and the
    delivery as received, the event read from it and the snapshot the worker keeps hold only
    `[card …1111]`."""
    note, name = f"my card is {CARD}, thanks", f"Gift for {DASHED}"
    status, answer = await post(client, tenant, BUILD[tenant](note, name))
    assert (status, answer["status"]) == (200, "accepted")
    stored = await stored_and_read(raw, redis_url, answer["event_id"])
    event = OrderEvent.model_validate_json(stored["payload"])
    assert event.order is not None
    texts = [event.order.note, event.order.customer.name, event.order.lines[0].description]
    assert "[card …1111]" in " ".join(filter(None, texts))
    assert "[card …0004]" in event.order.lines[0].description
    ledger = Ledger.from_url(redis_url)  # what the worker does with the event's snapshot
    try:
        await ledger.save_order(event.tenant, event.order_id, event.order, [])
    finally:
        await ledger.close()
    snapshot = cast(str | None, await raw.get(f"ib:snapshot:{event.tenant}:{event.order_id}"))
    assert snapshot is not None and "[card …0004]" in snapshot and card_runs(snapshot) == []


@pytest.mark.parametrize("tenant", list(SOURCES))
@pytest.mark.parametrize("where", ["note", "name"])
async def test_a_lone_surrogate_is_never_a_5xx(
    client: Client, raw: aioredis.Redis, redis_url: str, tenant: str, where: str
) -> None:
    """JSON "\\ud800" (json.loads takes it; UTF-8 cannot encode it) in a text field: the
    delivery is taken on every source, and what is stored is valid UTF-8, U+FFFD in its place."""
    text = {"note": "a\ud800b", "name": "mug \udfff"}
    payload = BUILD[tenant](**{where: text[where]})
    status, answer = await post(client, tenant, payload)
    assert status == 200, answer
    await read_now(redis_url, answer["event_id"])
    stored = await raw.hget(f"ib:event:{answer['event_id']}", "payload")
    assert stored is not None and "\ufffd" in stored


def _set(path: tuple[str | int, ...], value: object) -> Callable[[Payload], None]:
    def change(payload: Payload) -> None:
        target: Any = payload
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


_SHOP_LINE, _WOO_LINE = ("line_items", 0), ("line_items", 0)
_STD_ORDER = ("data", "order")
_STD_LINE = (*_STD_ORDER, "lines", 0)
REFUSALS = [
    ("shop", _set(("total_price",), HUGE), "total_price"),
    ("shop", _set((*_SHOP_LINE, "price"), 10**25), "line_items.0.price"),
    ("shop", _set((*_SHOP_LINE, "quantity"), 10**22), "line_items.0.quantity"),
    ("shop", _set(("currency",), "QQQ"), "currency"),
    ("shop", _set((*_SHOP_LINE, "price"), "5_0.00"), "line_items.0.price"),
    ("shop", _set((*_SHOP_LINE, "price"), "٥٠"), "line_items.0.price"),
    ("woo", _set(("total",), HUGE), "total"),
    ("woo", _set((*_WOO_LINE, "total"), 10**25), "line_items.0.total"),
    ("woo", _set((*_WOO_LINE, "quantity"), 10**22), "line_items.0.quantity"),
    ("woo", _set(("currency",), "QQQ"), "currency"),
    ("woo", _set((*_WOO_LINE, "total"), "5_0.00"), "line_items.0.total"),
    ("woo", _set((*_WOO_LINE, "total"), "٥٠"), "line_items.0.total"),
    ("pay", _set(("data", "object", "amount_received"), 10**25), "data.object.amount_received"),
    ("pay", _set(("data", "object", "currency"), "qqq"), "data.object.currency"),
    ("any", _set((*_STD_ORDER, "total"), HUGE), "data.order.total"),
    ("any", _set((*_STD_LINE, "unit_price"), 10**25), "data.order.lines.0.unit_price"),
    ("any", _set((*_STD_LINE, "quantity"), 10**22), "data.order.lines.0.quantity"),
    ("any", _set((*_STD_ORDER, "currency"), "QQQ"), "data.order.currency"),
    ("any", _set((*_STD_ORDER, "currency"), "XAU"), "data.order.currency"),
    ("any", _set((*_STD_LINE, "unit_price"), "5_0.00"), "data.order.lines.0.unit_price"),
    ("any", _set((*_STD_LINE, "unit_price"), "٥٠"), "data.order.lines.0.unit_price"),
    ("any", _set((*_STD_ORDER, "customer", "name"), ""), "data.order.customer.name"),
    ("any", _set((*_STD_ORDER, "customer", "name"), " \u202e "), "data.order.customer.name"),
    # within 10^15 whole units but over 10^15 smallest units of ILS: the per-currency bound
    ("any", _set((*_STD_ORDER, "total"), "100000000000000"), "data.order.total"),
]


@pytest.mark.parametrize(
    ("tenant", "change", "field"), REFUSALS, ids=[f"{t}-{f}" for t, _, f in REFUSALS]
)
async def test_out_of_bounds_input_is_refused_or_kept_naming_the_field(
    client: Client,
    raw: aioredis.Redis,
    redis_url: str,
    tenant: str,
    change: Callable[[Payload], None],
    field: str,
) -> None:
    """Each bound of the domain, named by the field's path and never its value. The
    Standard source's sender gets the 422 problem and nothing is recorded; a platform's
    signed delivery is answered 200 (issue #18: its platform would stop re-sending it), and
    the worker's read keeps it `unreadable` with that reason: no order event is made of it."""
    payload = BUILD[tenant]()
    change(payload)
    status, answer = await post(client, tenant, payload)
    if tenant == "any":
        assert status == 422, answer
        assert f"{field}: " in answer["detail"], answer["detail"]
        assert await raw.zcard("ib:events") == 0
        return
    assert (status, answer["status"]) == (200, "accepted"), answer
    assert await read_now(redis_url, answer["event_id"]) is None
    event = await raw.hgetall(f"ib:event:{answer['event_id']}")
    assert event["state"] == "unreadable" and f"{field}: " in event["last_error"]
    assert "payload" not in event and await raw.zcard("ib:state:queued") == 0


def _identifiers(tenant: str, number: str, sku: str) -> Payload:
    """A delivery whose order number and first line's SKU are `number` and `sku` (Stripe
    has no SKU: the number comes from the payment's metadata)."""
    payload = BUILD[tenant]()
    if tenant == "shop":
        payload["name"], payload["line_items"][0]["sku"] = number, sku
    elif tenant == "woo":
        payload["number"], payload["line_items"][0]["sku"] = number, sku
    elif tenant == "pay":
        payload["data"]["object"]["metadata"]["order_number"] = number
    else:
        order = payload["data"]["order"]
        order["number"], order["lines"][0]["sku"] = number, sku
    return payload


@pytest.mark.parametrize("tenant", list(SOURCES))
async def test_a_card_number_as_order_number_or_sku_is_stored_masked(
    client: Client, raw: aioredis.Redis, redis_url: str, tenant: str
) -> None:
    """The order number and a SKU are only shown (documents, e-mails, the admin API), never
    keys: a card number in either is masked in the stored event as in free text."""
    payload = _identifiers(tenant, f"#{CARD}", f"SKU {DASHED}")
    status, answer = await post(client, tenant, payload)
    assert (status, answer["status"]) == (200, "accepted"), answer
    stored = await stored_and_read(raw, redis_url, answer["event_id"])
    event = OrderEvent.model_validate_json(stored["payload"])
    assert event.order is not None
    assert event.order.number == "#[card …1111]"
    if tenant != "pay":
        assert event.order.lines[0].sku == "SKU [card …0004]"


def _charged(customer_ref: str) -> Payload:
    payload = _standard()
    payload["data"]["order"]["paid"] = False
    payload["data"]["order"]["charge"] = {"customer_ref": customer_ref}
    return payload


@pytest.mark.parametrize("customer_ref", [CARD, f"client {DASHED}"])
async def test_a_card_number_as_the_charged_customer_ref_is_a_422(
    client: Client, raw: aioredis.Redis, customer_ref: str
) -> None:
    """The provider's client id the card is billed through cannot be masked (it would bill
    someone else): one holding a card number is refused, naming the field; nothing kept."""
    status, problem = await post(client, "any", _charged(customer_ref))
    assert status == 422, problem
    assert "data.order.charge.customer_ref: " in problem["detail"], problem["detail"]
    assert card_runs(json.dumps(problem)) == []
    assert await raw.zcard("ib:events") == 0


async def test_a_customer_ref_without_a_card_number_is_taken(
    client: Client, raw: aioredis.Redis
) -> None:
    """A client id that is a short digit run, or a long one that fails Luhn, is kept."""
    for customer_ref in ["102938", "4111111111111112"]:
        status, answer = await post(client, "any", _charged(customer_ref))
        assert status == 200, answer
        stored = await raw.hget(f"ib:event:{answer['event_id']}", "payload")
        event = OrderEvent.model_validate_json(cast(str, stored))
        assert event.order is not None and event.order.charge is not None
        assert event.order.charge.customer_ref == customer_ref
