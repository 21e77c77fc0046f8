"""Stripe source against Stripe's own payloads and specification (#18): every field the OpenAPI
specification marks nullable takes null, Checkout Sessions without `created`, refunds without
the `refunds` list, and Stripe's currency exponents. Fixtures: tests/fixtures/stripe/SOURCE.md."""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from handlers.errors import InvalidPayload
from handlers.sources import Parsed, stripe
from handlers.sources.stripe_payment import _Object as PaymentDetailsWire
from handlers.sources.stripe_payment import read_payment
from handlers.sources.stripe_wire import Event, Payment
from worker.domain.events import EventKind, Order, Refund
from worker.domain.money import exponent, from_stripe_minor_units, stripe_exponent

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
#: (schema, field path, nullable) for every field we read, from stripe/openapi spec3.yaml at
#: commit 63a674638635c68de26b9f3add13e58198f4df44 (the file names it again)
TABLE = json.loads((FIXTURES / "spec_fields.json").read_text())
FIELDS: list[tuple[str, str, bool]] = [(s, f, bool(n)) for s, f, n in TABLE["fields"]]
NULLABLE = [(schema, path) for schema, path, nullable in FIELDS if nullable]
#: an event for each schema, built on an object of Stripe's fixtures3.json, and the types to try
BASES = {
    "payment_intent": ("payment_intent_succeeded_isk.json", ("payment_intent.succeeded",)),
    "charge": (
        "charge_refunded_without_refunds_list.json",
        ("charge.succeeded", "charge.refunded"),
    ),
    "checkout.session": (
        "checkout_session_completed_without_created.json",
        ("checkout.session.completed",),
    ),
    "invoice": ("invoice_paid_customer_address_null.json", ("invoice.paid",)),
}
#: a charge that lists its refunds (API versions before 2022-11-15), for `refunds.data.*`
LISTED = "charge_refunded_with_refunds.json"
#: nullable fields a payment cannot do without: null there is a 422 naming the field
ESSENTIAL = {("checkout.session", "currency"), ("checkout.session", "amount_total")}
CHARGE = "ch_1PgafuB7WZ01zgkWXYmPNZs8"  #: the charge of Stripe's fixtures3.json


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((FIXTURES / name).read_bytes())
    return event


def parse(event: dict[str, Any]) -> Parsed:
    return stripe.parse(json.dumps(event).encode(), {})


def order_of(parsed: Parsed) -> Order:
    assert parsed.kind is EventKind.PAYMENT_CAPTURED and parsed.order is not None
    return parsed.order


def refund_of(parsed: Parsed) -> Refund:
    assert parsed.kind is EventKind.REFUND_ISSUED and parsed.refund is not None
    return parsed.refund


def null_at(node: dict[str, Any], path: str) -> None:
    """Set `path` to null: through every entry of a list object's `data`, creating a missing
    or null parent object (`shipping: {}`, `customer_address: null`) on the way."""
    head, _, rest = path.partition(".")
    if not rest:
        node[head] = None
        return
    child = node.get(head)
    if head == "data" and isinstance(child, list):
        assert child, "a list object without entries cannot show a null in them"
        for entry in child:
            null_at(entry, rest)
        return
    if not isinstance(child, dict):
        child = node[head] = {}
    null_at(child, rest)


def nullable_cases() -> list[tuple[str, str, str]]:
    """(schema, path, event type) for every nullable field and each type that reads it."""
    return [(schema, path, kind) for schema, path in NULLABLE for kind in BASES[schema][1]]


# --- the specification's nullable fields ------------------------------------------------


def test_table_names_the_fields_we_read() -> None:
    """The table covers every field of the wire model, and names no field that we do not read."""
    read = set(Payment.model_fields) | set(PaymentDetailsWire.model_fields)
    tops = {path.split(".")[0] for schema, path, _ in FIELDS if schema != "event"}
    assert tops <= read
    assert set(Payment.model_fields) <= tops
    assert {path for schema, path, _ in FIELDS if schema == "event"} == set(Event.model_fields)
    assert TABLE["spec"]["commit"] == "63a674638635c68de26b9f3add13e58198f4df44"


@pytest.mark.parametrize(("schema", "path", "kind"), nullable_cases())
def test_every_nullable_field_takes_null(schema: str, path: str, kind: str) -> None:
    """A field the specification marks nullable, sent as null, is read as absent: the model
    takes it, and the event maps (or, for the two a payment needs, is a 422 naming it)."""
    name = LISTED if path.startswith("refunds.data.") else BASES[schema][0]
    event = load(name)
    event["type"] = kind
    null_at(event["data"]["object"], path)
    Payment.model_validate(event["data"]["object"])
    read_payment(event["data"]["object"], datetime.now(UTC))  # lenient: never raises
    if (schema, path) in ESSENTIAL:
        with pytest.raises(InvalidPayload) as caught:
            parse(event)
        assert caught.value.detail == f"data.object.{path}: missing"
        return
    parsed = parse(event)
    assert parsed.kind is not None and parsed.order_id is not None


def test_table_matches_the_spec() -> None:
    """With STRIPE_OPENAPI_SPEC naming a spec3.json or spec3.yaml of stripe/openapi, the table's
    nullable column is re-derived from it (the table's own commit gives no difference)."""
    source = os.environ.get("STRIPE_OPENAPI_SPEC")
    if not source:
        pytest.skip("set STRIPE_OPENAPI_SPEC to a stripe/openapi spec3 file to compare")
    text = Path(source).read_text()
    spec = (
        json.loads(text)
        if source.endswith(".json")
        else pytest.importorskip("yaml").safe_load(text)
    )
    schemas = spec["components"]["schemas"]
    assert [(s, f, _nullable(schemas, s, f)) for s, f, _ in FIELDS] == FIELDS


def _nullable(schemas: dict[str, Any], schema: str, path: str) -> bool | None:
    """The `nullable` flag at `path`, following $ref, anyOf and array items; None if absent."""
    node: dict[str, Any] = schemas[schema]
    for part in path.split("."):
        found = [
            o["properties"][part]
            for o in _objects(schemas, node)
            if part in o.get("properties", {})
        ]
        if not found:
            return None
        node = found[0]
    return bool(node.get("nullable"))


def _objects(schemas: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    while "$ref" in node:
        node = schemas[node["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in node:
        return [o for member in node["anyOf"] for o in _objects(schemas, member)]
    if node.get("type") == "array":
        return _objects(schemas, node["items"])
    return [node] if "properties" in node else []


# --- Stripe's own payloads ----------------------------------------------------------------


def test_invoice_paid_with_null_customer_address_is_invoiced() -> None:
    """invoice.paid with `customer_address: null` (no address collected) is a paid order."""
    order = order_of(parse(load("invoice_paid_customer_address_null.json")))
    assert (order.order_id, order.currency, order.total) == (
        "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
        "USD",
        Decimal("10.00"),
    )
    (line,) = order.lines
    assert line.description == "My First Invoice Item (created for API docs)"
    customer = order.customer
    assert (customer.address, customer.city, customer.postcode, customer.country) == (None,) * 4


@pytest.mark.parametrize("field", ["metadata", "billing_details.address"])
def test_other_null_objects_read_as_absent(field: str) -> None:
    """`metadata: null` (Sessions, Invoices) and a null billing address are no metadata and no
    address, not a 422."""
    event = load("charge_refunded_without_refunds_list.json")
    event["type"] = "charge.succeeded"
    null_at(event["data"]["object"], field)
    order = order_of(parse(event))
    assert (order.order_id, order.total, order.customer.address) == (CHARGE, Decimal(10), None)


def test_checkout_session_without_created_is_dated_by_its_event() -> None:
    """A Checkout Session of an older API version has no `created`: the event's dates the order."""
    event = load("checkout_session_completed_without_created.json")
    assert "created" not in event["data"]["object"]
    order = order_of(parse(event))
    assert order.created_at == datetime.fromtimestamp(event["created"], UTC)
    assert (order.order_id, order.total) == ("pi_1PgafyB7WZ01zgkWSjxsAJo3", Decimal("20.00"))


def test_refund_without_the_refunds_list_is_the_rise_of_amount_refunded() -> None:
    """API ≥ 2022-11-15: no `refunds` list; amount_refunded 700 after 300 is a refund of 400,
    its id derived from the charge and the cumulative amount."""
    refund = refund_of(parse(load("charge_refunded_without_refunds_list.json")))
    assert (refund.refund_id, refund.amount, refund.currency) == (
        f"{CHARGE}:700",
        Decimal("4.00"),
        "USD",
    )


@pytest.mark.parametrize("refunds", [None, {"object": "list", "data": [], "has_more": False}])
def test_null_or_empty_refunds_list_reads_as_no_list(refunds: Any) -> None:
    """`refunds: null` (nullable in the spec) and an empty list are read as no list at all."""
    event = load("charge_refunded_without_refunds_list.json")
    event["data"]["object"]["refunds"] = refunds
    refund = refund_of(parse(event))
    assert (refund.refund_id, refund.amount) == (f"{CHARGE}:700", Decimal("4.00"))


def test_refund_redelivered_under_another_event_keeps_its_id() -> None:
    """The same refund told by another event (a redelivery, a second endpoint) dedupes."""
    first = load("charge_refunded_without_refunds_list.json")
    again = copy.deepcopy(first)
    again["id"], again["created"] = "evt_1Pgc76B7WZ01zgkWChRefund02", first["created"] + 60
    assert refund_of(parse(first)).refund_id == refund_of(parse(again)).refund_id


# --- Stripe's currency exponents ----------------------------------------------------------

ZERO = "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
THREE = "BHD JOD KWD OMR TND".split()


def test_isk_payment_of_500_is_five_kronur() -> None:
    """ISK is two-decimal in Stripe's API (ISO 4217: none): 500 is 5 kr, not 500 kr."""
    order = order_of(parse(load("payment_intent_succeeded_isk.json")))
    assert (order.currency, order.total, order.lines[0].unit_price) == (
        "ISK",
        Decimal(5),
        Decimal(5),
    )
    assert str(order.total) == "5"


@pytest.mark.parametrize(
    ("currency", "units", "amount"),
    [
        ("isk", 500, "5"),
        ("isk", 550, "5.50"),
        ("mga", 5000, "5000.00"),
        ("jpy", 5000, "5000"),
        ("kwd", 5120, "5.120"),
        ("huf", 1000, "10.00"),
        ("twd", 1000, "10.00"),
        ("ugx", 500, "500"),
        ("usd", 1099, "10.99"),
    ],
)
def test_stripe_amounts_convert_by_stripes_exponent(currency: str, units: int, amount: str) -> None:
    """Stripe's exponent scales; ISO's places are kept where exact (a legacy ISK 5.50 is kept)."""
    assert str(from_stripe_minor_units(units, currency)) == amount


def test_stripe_table_differs_from_iso_only_where_stripe_says() -> None:
    """Zero- and three-decimal lists as documented; two decimals otherwise; ISO keeps its own."""
    assert all(stripe_exponent(code) == 0 for code in ZERO)
    assert all(stripe_exponent(code) == 3 for code in THREE)
    assert {code: stripe_exponent(code) for code in ("ISK", "HUF", "TWD", "USD")} == dict.fromkeys(
        ("ISK", "HUF", "TWD", "USD"), 2
    )
    assert (exponent("ISK"), exponent("MGA")) == (0, 2)  # everything but Stripe keeps ISO 4217


@pytest.mark.parametrize(("currency", "units", "amount"), [("isk", 500, 5), ("mga", 900, 900)])
def test_refunds_and_invoice_lines_use_stripes_exponent(
    currency: str, units: int, amount: int
) -> None:
    """A refund and an invoice's lines are converted as the payment is."""
    refunded = load("charge_refunded_without_refunds_list.json")
    refunded["data"]["object"].update(currency=currency, amount_refunded=units)
    refunded["data"]["previous_attributes"] = {"amount_refunded": 0}
    assert refund_of(parse(refunded)).amount == amount
    invoice = load("invoice_paid_customer_address_null.json")
    invoice["data"]["object"]["currency"] = currency
    invoice["data"]["object"]["amount_paid"] = units
    invoice["data"]["object"]["lines"]["data"][0]["amount"] = units
    order = order_of(parse(invoice))
    assert order.total == order.lines[0].unit_price == amount


@pytest.mark.parametrize(
    ("currency", "places"),
    [
        ("ISK", 2),
        ("HUF", 2),
        ("TWD", 2),
        ("USD", 2),
        ("MGA", 0),
        ("UGX", 0),
        ("JPY", 0),
        ("KRW", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("TND", 3),
    ],
)
def test_exponents_are_stripes_documented_ones(currency: str, places: int) -> None:
    """Values read off docs.stripe.com/currencies, not from the table under test."""
    from worker.domain.money import stripe_exponent

    assert stripe_exponent(currency) == places
