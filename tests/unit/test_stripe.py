"""Stripe source: Stripe-Signature verification, event mapping onto orders and refunds, samples."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from handlers.errors import InvalidPayload, InvalidSignature, MalformedBody
from handlers.sources import Parsed, stripe
from invoicebridge.samples import stripe as samples
from tests.parsed_events import event_of
from worker.domain.events import EventKind, Order, OrderEvent
from worker.domain.money import exponent

SECRET = "whsec_test_5c3f0a9e1d7b4c28a6e2f91b0d3c7a54"
OLD_SECRET = "whsec_test_retired_0000000000000000000000"
TS = 1_752_480_300  #: when the test deliveries are signed
NOW = datetime.fromtimestamp(TS, UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
PI = "pi_3RkA1b2eZvKYlo2C1Qm7Tz4K"  #: the ILS PaymentIntent of the fixtures
CH = "ch_3RkA1b2eZvKYlo2C1nWc8PqL"  #: its charge
#: The fixtures that capture a payment, with the order id each must land on.
CAPTURES = {
    "payment_intent_succeeded_ils.json": PI,
    "payment_intent_succeeded_jpy.json": "jp-5001",
    "charge_succeeded.json": PI,
    "checkout_session_completed_paid.json": "order-1042",
    "invoice_paid.json": "in_1RkD3e2eZvKYlo2CxT7uV0aB",
}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def hex_hmac(secret: str, payload: bytes) -> str:
    """The v1 digest, computed without the module under test."""
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def signed(body: bytes, timestamp: int = TS, secret: str = SECRET) -> dict[str, str]:
    return {
        "Stripe-Signature": f"t={timestamp},v1={hex_hmac(secret, f'{timestamp}.'.encode() + body)}"
    }


def parse(body: bytes) -> Parsed:
    return stripe.parse(body, signed(body))


def parse_fixture(name: str) -> Parsed:
    return parse(fixture(name))


def order_of(parsed: Parsed) -> Order:
    assert parsed.order is not None
    return parsed.order


def encode(event: dict[str, Any]) -> bytes:
    return samples.encode_body(event)


def as_event(parsed: Parsed) -> OrderEvent:
    return event_of(parsed, stripe.NAME)


# --- signature ---------------------------------------------------------------------------


def test_sign_matches_an_independent_hmac() -> None:
    """sign() is `t=<ts>,v1=<hex HMAC-SHA256(secret as-is, "<ts>.<body>")>`."""
    body = b'{"id": "evt_1", "object": "event"}'
    expected = hmac.new(
        b"whsec_abc", b'1700000000.{"id": "evt_1", "object": "event"}', hashlib.sha256
    ).hexdigest()
    assert stripe.sign(body, "whsec_abc", 1_700_000_000) == f"t=1700000000,v1={expected}"
    assert len(expected) == 64 and expected == expected.lower()


def test_valid_signature_passes() -> None:
    """A fixture signed with the configured secret verifies, via sign() or by hand."""
    body = fixture("payment_intent_succeeded_ils.json")
    stripe.verify(body, signed(body), [SECRET], NOW)
    stripe.verify(body, {"Stripe-Signature": stripe.sign(body, SECRET, TS)}, [SECRET], NOW)


def test_rotation_accepts_any_v1_for_any_secret() -> None:
    """While a secret rolls Stripe sends one v1 per secret; one match among several is enough."""
    body = fixture("charge_succeeded.json")
    payload = f"{TS}.".encode() + body
    stale, fresh = hex_hmac(OLD_SECRET, payload), hex_hmac(SECRET, payload)
    header = {"Stripe-Signature": f"t={TS},v1={stale},v1={fresh}"}
    stripe.verify(body, header, [SECRET], NOW)
    stripe.verify(body, {"Stripe-Signature": f"t={TS},v1={fresh}"}, [OLD_SECRET, SECRET], NOW)
    with pytest.raises(InvalidSignature):
        stripe.verify(body, {"Stripe-Signature": f"t={TS},v1={stale}"}, [SECRET], NOW)


def test_v0_decoy_alone_fails() -> None:
    """A valid digest under the v0 scheme is ignored: without a v1 the delivery is refused."""
    body = fixture("charge_succeeded.json")
    digest = hex_hmac(SECRET, f"{TS}.".encode() + body)
    with pytest.raises(InvalidSignature, match="no v1"):
        stripe.verify(body, {"Stripe-Signature": f"t={TS},v0={digest}"}, [SECRET], NOW)
    stripe.verify(body, {"Stripe-Signature": f"t={TS},v0={'0' * 64},v1={digest}"}, [SECRET], NOW)


@pytest.mark.parametrize(("age", "ok"), [(301, False), (300, True), (-300, True), (-301, False)])
def test_timestamp_tolerance_both_ways(age: int, ok: bool) -> None:
    """Signed more than 300 s ago, or more than 300 s in the future, is a 401."""
    body = fixture("payment_intent_succeeded_ils.json")
    header = signed(body, timestamp=TS - age)
    if ok:
        stripe.verify(body, header, [SECRET], NOW)
        return
    with pytest.raises(InvalidSignature, match="timestamp outside tolerance") as caught:
        stripe.verify(body, header, [SECRET], NOW)
    assert caught.value.status == 401


def test_tampered_body_is_rejected() -> None:
    """Changing the amount after signing breaks the signature."""
    body = fixture("payment_intent_succeeded_ils.json")
    tampered = body.replace(b'"amount": 11700', b'"amount": 11600', 1)
    assert tampered != body
    with pytest.raises(InvalidSignature, match="no v1 signature in Stripe-Signature matches"):
        stripe.verify(tampered, signed(body), [SECRET], NOW)


def test_wrong_secret_is_rejected() -> None:
    """A signature made with another endpoint's secret is a 401."""
    body = fixture("charge_succeeded.json")
    with pytest.raises(InvalidSignature):
        stripe.verify(body, signed(body), ["whsec_someone_else"], NOW)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "   ",
        f"v1={'a' * 64}",
        f"t={TS}",
        f"t=,v1={'a' * 64}",
        f"t=soon,v1={'a' * 64}",
        f"t=-{TS},v1={'a' * 64}",
        f"t={'9' * 40},v1={'a' * 64}",
        "garbage",
        f"t={TS},v1=שלום",
    ],
)
def test_malformed_header_is_rejected(header: str) -> None:
    """Missing or non-numeric t, no v1, non-ASCII values: 401s, never a crash."""
    with pytest.raises(InvalidSignature):
        stripe.verify(b"{}", {"Stripe-Signature": header}, [SECRET], NOW)


def test_missing_header_is_rejected() -> None:
    """No Stripe-Signature at all is a 401 that says so."""
    with pytest.raises(InvalidSignature, match="missing"):
        stripe.verify(b"{}", {"Content-Type": "application/json"}, [SECRET], NOW)


@pytest.mark.parametrize("secrets", [[], [""]])
def test_no_configured_secret_fails_closed(secrets: list[str]) -> None:
    """Without a non-empty secret nothing verifies, not even an empty-key HMAC."""
    body = b"{}"
    with pytest.raises(InvalidSignature, match="no Stripe signing secret"):
        stripe.verify(body, {"Stripe-Signature": stripe.sign(body, "", TS)}, secrets, NOW)


def test_refusal_details_never_hold_secrets_or_digests() -> None:
    """Whatever fails, the 401 detail names the problem only."""
    body = fixture("charge_succeeded.json")
    good = signed(body)["Stripe-Signature"]
    digest = good.split("v1=")[1]
    cases = [
        (body + b" ", good, SECRET),
        (body, good, OLD_SECRET),
        (body, signed(body, TS - 999)["Stripe-Signature"], SECRET),
    ]
    for sent, header, secret in cases:
        with pytest.raises(InvalidSignature) as caught:
            stripe.verify(sent, {"Stripe-Signature": header}, [secret], NOW)
        assert secret not in caught.value.detail and digest not in caught.value.detail


@pytest.mark.parametrize("name", ["Stripe-Signature", "stripe-signature", "STRIPE-SIGNATURE"])
def test_header_name_is_case_insensitive(name: str) -> None:
    """Any casing of the header name works, and aiohttp's CIMultiDict is read like a dict."""
    body = fixture("charge_succeeded.json")
    stripe.verify(body, {name: signed(body)["Stripe-Signature"]}, [SECRET], NOW)
    stripe.verify(body, CIMultiDict({name: signed(body)["Stripe-Signature"]}), [SECRET], NOW)


# --- mapping -----------------------------------------------------------------------------


def test_payment_intent_in_ils_becomes_a_paid_order() -> None:
    """11700 agorot are 117.00 ILS; the order is the PaymentIntent's, dated by its event."""
    parsed = parse_fixture("payment_intent_succeeded_ils.json")
    event = json.loads(fixture("payment_intent_succeeded_ils.json"))
    assert (parsed.kind, parsed.topic) == (EventKind.PAYMENT_CAPTURED, "payment_intent.succeeded")
    assert parsed.dedupe_key == event["id"] and parsed.dedupe_key.startswith("evt_")
    assert parsed.occurred_at == datetime.fromtimestamp(event["created"], UTC)
    order = order_of(parsed)
    assert (order.order_id, order.number, order.currency) == (PI, PI, "ILS")
    assert str(order.total) == "117.00" and order.total == Decimal("117.00")
    assert (order.paid, order.prices_include_tax, order.payment_gateway) == (True, True, "stripe")
    (line,) = order.lines
    assert (line.description, line.quantity, line.unit_price) == (
        f"Payment {PI}",
        Decimal(1),
        order.total,
    )
    assert (order.customer.name, order.customer.email) == ("Dana Levi", "dana.levi@example.com")
    assert (order.customer.city, order.customer.country) == ("Tel Aviv", "IL")


def test_payment_intent_in_jpy_has_no_minor_unit() -> None:
    """JPY has exponent 0: 5000 is ¥5000; metadata names the order, its number and the buyer."""
    order = order_of(parse_fixture("payment_intent_succeeded_jpy.json"))
    assert (order.total, str(order.total), order.currency) == (Decimal(5000), "5000", "JPY")
    assert (order.order_id, order.number) == ("jp-5001", "#5001")
    assert order.lines[0].description == "Matcha tea set"
    assert (order.customer.name, order.customer.email) == ("Kenji Sato", "kenji.sato@example.jp")


def test_payment_intent_and_its_charge_land_on_one_order() -> None:
    """payment_intent.succeeded and the charge.succeeded of that payment share the order id."""
    from_intent = order_of(parse_fixture("payment_intent_succeeded_ils.json"))
    from_charge = order_of(parse_fixture("charge_succeeded.json"))
    assert from_intent.order_id == from_charge.order_id == PI
    assert from_intent.total == from_charge.total == Decimal("117.00")
    customer = from_charge.customer  # from billing_details
    assert (customer.name, customer.address, customer.postcode) == (
        "Dana Levi",
        "Rothschild Blvd 22",
        "6688218",
    )


def test_metadata_order_id_wins_everywhere() -> None:
    """metadata.order_id (copied from the PaymentIntent to its charge) beats every fallback."""
    meta = {"order_id": "1001", "order_number": "#1001"}
    events = [
        samples.payment_intent_succeeded(PI, 500, metadata=meta),
        samples.charge_succeeded(CH, PI, 500, metadata=meta),
        samples.checkout_session_completed(
            "cs_test_x", 500, client_reference_id="c-1", metadata=meta
        ),
        samples.invoice_paid("in_x", [("Plan", 500, 1)], metadata=meta),
    ]
    for event in events:
        order = order_of(parse(encode(event)))
        assert (order.order_id, order.number) == ("1001", "#1001")


def test_charge_without_payment_intent_uses_its_own_id() -> None:
    """A bare charge (no PaymentIntent) is its own order."""
    assert order_of(parse(encode(samples.charge_succeeded(CH, None, 990)))).order_id == CH


def test_uncaptured_charge_is_ignored() -> None:
    """An authorisation only (captured false) is recorded but makes no document."""
    parsed = parse(encode(samples.charge_succeeded(CH, PI, 11700, captured=False)))
    assert (parsed.kind, parsed.order, parsed.topic) == (None, None, "charge.succeeded")


def test_partial_refund_from_the_cumulative_amount() -> None:
    """Without a refunds list the refund is amount_refunded minus its previous value."""
    parsed = parse_fixture("charge_refunded_partial.json")
    assert (parsed.kind, parsed.order_id, parsed.order) == (EventKind.REFUND_ISSUED, PI, None)
    refund = parsed.refund
    assert refund is not None
    assert (refund.refund_id, refund.amount) == (f"{CH}:5000", Decimal("30.00"))
    assert refund.currency == "ILS"
    assert refund.created_at == parsed.occurred_at


def test_refund_from_the_refunds_list_takes_the_newest() -> None:
    """With refunds.data the newest refund gives id, amount, reason and time."""
    parsed = parse_fixture("charge_refunded_with_refunds.json")
    refund = parsed.refund
    assert refund is not None and parsed.order_id == PI
    assert (refund.refund_id, refund.amount) == ("re_3RkA1b2eZvKYlo2C1Hq2Vb6D", Decimal("67.00"))
    assert refund.reason == "requested_by_customer"
    assert refund.created_at == datetime.fromtimestamp(samples.CREATED + 3 * 86_400, UTC)


def test_successive_partial_refunds_get_distinct_ids() -> None:
    """Two partial refunds of one charge are two credit notes, and a re-delivery is the same."""
    first = parse(encode(samples.charge_refunded(CH, PI, 11700, 2000))).refund
    later = samples.charge_refunded(CH, PI, 11700, 5000, previous_refunded_minor=2000)
    second = parse(encode(later)).refund
    again = parse(encode(samples.charge_refunded(CH, PI, 11700, 2000))).refund
    assert first is not None and second is not None
    assert (first.amount, second.amount) == (Decimal("20.00"), Decimal("30.00"))
    assert first.refund_id != second.refund_id and again == first


def test_refund_that_did_not_grow_is_invalid() -> None:
    """amount_refunded not above its previous value cannot be a new refund: a 422."""
    event = samples.charge_refunded(CH, PI, 11700, 2000, previous_refunded_minor=2000)
    with pytest.raises(InvalidPayload, match=r"data\.object\.amount_refunded"):
        parse(encode(event))


def test_paid_checkout_session_becomes_an_order() -> None:
    """A paid session is the client_reference_id's order, for amount_total."""
    order = order_of(parse_fixture("checkout_session_completed_paid.json"))
    assert (order.order_id, order.total, order.currency) == ("order-1042", Decimal("249.00"), "ILS")
    assert order.customer.email == "dana.levi@example.com"


def test_unpaid_checkout_session_is_ignored() -> None:
    """A delayed method (payment_status unpaid) is recorded but makes no document yet."""
    parsed = parse_fixture("checkout_session_completed_unpaid.json")
    assert (parsed.kind, parsed.order) == (None, None)


def test_checkout_session_without_reference_uses_its_payment_intent() -> None:
    """Without metadata or client_reference_id the session maps to its PaymentIntent's order."""
    event = samples.checkout_session_completed("cs_test_y", 1000, payment_intent=PI)
    assert order_of(parse(encode(event))).order_id == PI


def test_invoice_keeps_its_lines_when_they_add_up() -> None:
    """Two invoice lines that sum to amount_paid stay two lines; quantity shows in the text."""
    order = order_of(parse_fixture("invoice_paid.json"))
    assert (order.order_id, order.number) == ("in_1RkD3e2eZvKYlo2CxT7uV0aB", "ACME-0042")
    assert [(line.description, line.quantity, line.unit_price) for line in order.lines] == [
        ("Team plan seat × 3", Decimal(1), Decimal("297.00")),
        ("Priority support", Decimal(1), Decimal("49.00")),
    ]
    assert order.total == order.lines_total() == Decimal("346.00")
    assert order.customer.name == "Orly Ben-Ami"
    assert order.customer.email == "billing@orly-studio.example"


@pytest.mark.parametrize(
    "change", [{"amount_paid": 41_020}, {"lines_has_more": True}, {"negative": True}]
)
def test_invoice_lines_that_do_not_add_up_become_one_line(change: dict[str, Any]) -> None:
    """Tax on top, a truncated list or a credit line: one line for amount_paid instead."""
    lines = [("Team plan seat", 29700, 3), ("Priority support", 4900, 1)]
    if change.get("negative"):
        lines.append(("Unused time", -4900, 1))
    event = samples.invoice_paid(
        "in_z", lines, number="ACME-7", amount_paid=change.get("amount_paid")
    )
    event["data"]["object"]["lines"]["has_more"] = change.get("lines_has_more", False)
    order = order_of(parse(encode(event)))
    (line,) = order.lines
    assert line.description == "Invoice ACME-7" and line.unit_price == order.total


def test_invoice_line_with_stripes_quantity_prefix_is_not_suffixed() -> None:
    """Stripe writes subscription lines as "3 × Seat (at …)"; the quantity is not repeated."""
    event = samples.invoice_paid("in_q", [("3 × Seat (at ₪99.00 / month)", 29700, 3)])
    assert order_of(parse(encode(event))).lines[0].description == "3 × Seat (at ₪99.00 / month)"


def test_other_types_are_recorded_and_ignored() -> None:
    """customer.created is acknowledged with kind None; its object is not validated."""
    parsed = parse_fixture("customer_created.json")
    assert (parsed.kind, parsed.order, parsed.refund) == (None, None, None)
    assert (parsed.topic, parsed.dedupe_key) == ("customer.created", "evt_1RkE4f2eZvKYlo2CqW3rT8yU")


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_every_capture_fixture_lands_on_its_order_and_adds_up(name: str) -> None:
    """Each payment fixture gives its expected order id, and lines that reproduce the total."""
    parsed = parse_fixture(name)
    order = order_of(parsed)
    assert order.order_id == parsed.order_id == CAPTURES[name]
    assert order.lines_total() == order.total
    as_event(parsed)


def test_refund_fixtures_make_valid_events() -> None:
    """A refund event without an order snapshot is a valid OrderEvent."""
    for name in ("charge_refunded_partial.json", "charge_refunded_with_refunds.json"):
        assert as_event(parse_fixture(name)).kind is EventKind.REFUND_ISSUED


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"not json", b"", b"[1]", b"null", b"\xff{}", b'{"id": '])
def test_body_that_is_not_a_json_object_is_malformed(body: bytes) -> None:
    """Not JSON, not UTF-8 or not an object: 400."""
    with pytest.raises(MalformedBody):
        stripe.parse(body, {})


def _set(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    target = event
    for key in parents:
        target = target[key]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return event


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("object", "customer", "object"),
        ("id", "cus_123", "id"),
        ("created", "yesterday", "created"),
        ("data.object.amount", "11700", "data.object.amount"),
        ("data.object.amount", 117.5, "data.object.amount"),
        ("data.object.amount", -5, "data.object.amount"),
        ("data.object.amount_received", True, "data.object.amount_received"),
        ("data.object.currency", "shekel", "data.object.currency"),
        ("data.object.metadata", ["order_id"], "data.object.metadata"),
        ("data.object.id", None, "data.object.id: missing"),
        ("data.object", None, "data.object"),
    ],
)
def test_ill_typed_field_is_named_not_echoed(path: str, value: Any, field: str) -> None:
    """A bad field is a 422 whose detail names its path and never the value."""
    event = _set(samples.payment_intent_succeeded(PI, 11700), path, value)
    with pytest.raises(InvalidPayload) as caught:
        parse(json.dumps(event).encode())
    assert caught.value.detail.startswith(field)
    if isinstance(value, str):
        assert value not in caught.value.detail


def test_event_without_an_object_is_invalid_whatever_its_type() -> None:
    """Every event has data.object, even one of a type that is only recorded."""
    event = json.loads(fixture("customer_created.json"))
    event["data"] = {"previous_attributes": {}}
    with pytest.raises(InvalidPayload, match=r"^data\.object: missing"):
        parse(json.dumps(event).encode())


def test_payment_intent_without_any_amount_is_invalid() -> None:
    """Neither amount_received nor amount: the 422 names the field."""
    event = samples.payment_intent_succeeded(PI, 100)
    del event["data"]["object"]["amount"], event["data"]["object"]["amount_received"]
    with pytest.raises(InvalidPayload, match=r"^data\.object\.amount: missing"):
        parse(encode(event))


# --- money -------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10**15), st.sampled_from(["jpy", "ils", "bhd", "usd"]))
def test_any_minor_unit_amount_converts_exactly(units: int, currency: str) -> None:
    """Property: the parsed total has the currency's exponent and scales back to the integer."""
    order = order_of(parse(encode(samples.payment_intent_succeeded(PI, units, currency=currency))))
    places = exponent(currency)
    assert order.currency == currency.upper()
    assert order.total.scaleb(places) == units and order.total.as_tuple().exponent == -places


# --- samples -----------------------------------------------------------------------------


def test_sample_headers_verify_and_are_complete() -> None:
    """headers_for signs at now (or a given time) the way Stripe does; verify accepts it."""
    body = encode(samples.payment_intent_succeeded(PI, 100))
    sent = samples.headers_for(body, SECRET, timestamp=TS)
    assert set(sent) == {
        "Content-Type",
        "User-Agent",
        "Accept",
        "Cache-Control",
        "Stripe-Signature",
    }
    assert sent["Stripe-Signature"] == stripe.sign(body, SECRET, TS)
    stripe.verify(body, sent, [SECRET], NOW)
    stripe.verify(body, samples.headers_for(body, SECRET), [SECRET], datetime.now(UTC))


def test_sample_events_are_stable_and_shaped_like_stripes() -> None:
    """The same arguments give the same event id (a re-delivery); the envelope is complete."""
    event = samples.invoice_paid("in_1", [("Plan", 100, 1)])
    assert event == samples.invoice_paid("in_1", [("Plan", 100, 1)])
    assert set(event) == {
        "id",
        "object",
        "api_version",
        "created",
        "data",
        "livemode",
        "pending_webhooks",
        "request",
        "type",
    }
    assert event["api_version"] == "2025-06-30.basil" and event["livemode"] is False
    assert set(event["request"]) == {"id", "idempotency_key"}
    other = samples.invoice_paid("in_2", [("Plan", 100, 1)])
    assert other["id"] != event["id"]
