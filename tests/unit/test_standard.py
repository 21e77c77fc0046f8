"""Standard Webhooks source: signature verification, the canonical envelope, its JSON Schema."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest
from multidict import CIMultiDict

from handlers.errors import InvalidPayload, InvalidSignature, MalformedBody
from handlers.sources import Parsed, standard
from invoicebridge.samples import standard as samples
from invoicebridge.samples.shopify import encode_body
from tests.parsed_events import event_of
from worker.domain.events import EventKind, OrderEvent

#: The published Standard Webhooks / Svix test vector.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TS, SPEC_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"retired-secret-retired-secret!!!").decode()
TS = 1_752_480_300
NOW = datetime.fromtimestamp(TS, UTC)
MSG_ID = "msg_2zWq8bKJ4mL0pN6rT1vX9yA3cE"
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "standard"
SCHEMA_FILE = ROOT / "docs" / "standard-webhook.schema.json"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def b64_hmac(secret: str, content: bytes) -> str:
    """A v1 signature computed without the module under test."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def headers(
    body: bytes, *, msg_id: str = MSG_ID, timestamp: int = TS, signature: str | None = None
) -> dict[str, str]:
    sig = signature or "v1," + b64_hmac(SECRET, f"{msg_id}.{timestamp}.".encode() + body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": sig}


def message(kind: str, **order: Any) -> bytes:
    data = (
        samples.refund_data("1001", "rf-1", "20.00")
        if kind == "refund.issued"
        else (samples.order_data("1001", **order))
    )
    if kind == "payment.details":
        data = samples.payment_data("1001")
    return encode_body(samples.envelope(kind, data, timestamp=NOW))


def as_event(parsed: Parsed) -> OrderEvent:
    return event_of(parsed, standard.NAME)


# --- signature ---------------------------------------------------------------------------


def test_published_test_vector() -> None:
    """The spec's vector: id, timestamp and body joined by dots, keyed with the decoded secret."""
    assert standard.sign(SPEC_BODY, SPEC_SECRET, SPEC_ID, SPEC_TS) == SPEC_SIGNATURE
    content = f"{SPEC_ID}.{SPEC_TS}.".encode() + SPEC_BODY
    assert "v1," + b64_hmac(SPEC_SECRET, content) == SPEC_SIGNATURE
    sent = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TS),
        "webhook-signature": SPEC_SIGNATURE,
    }
    standard.verify(SPEC_BODY, sent, [SPEC_SECRET], datetime.fromtimestamp(SPEC_TS, UTC))


def test_sign_matches_an_independent_hmac() -> None:
    """sign() equals a by-hand HMAC over "id.timestamp.body"; verify accepts both."""
    body = fixture("order_paid.json")
    expected = "v1," + b64_hmac(SECRET, f"{MSG_ID}.{TS}.".encode() + body)
    assert standard.sign(body, SECRET, MSG_ID, TS) == expected
    standard.verify(body, headers(body), [SECRET], NOW)


def test_bare_base64_secret_without_prefix_works() -> None:
    """A secret configured without `whsec_` is the same key."""
    body = fixture("order_paid.json")
    standard.verify(body, headers(body), [SECRET.removeprefix("whsec_")], NOW)


@pytest.mark.parametrize("prefix", ["whsec_", ""])
def test_unpadded_secret_is_the_same_key(prefix: str) -> None:
    """A secret written without its base64 padding verifies and signs as the padded one, as the
    reference libraries take it (#18 item 8: such deliveries were all 401s)."""
    body = fixture("order_paid.json")
    unpadded = prefix + SECRET.removeprefix("whsec_").rstrip("=")
    assert SECRET.endswith("=") and not unpadded.endswith("=")
    standard.verify(body, headers(body), [OLD_SECRET, unpadded], NOW)
    assert standard.sign(body, unpadded, MSG_ID, TS) == standard.sign(body, SECRET, MSG_ID, TS)


@pytest.mark.parametrize("casing", [str.lower, str.upper, str.title])
def test_svix_header_names_are_accepted(casing: Any) -> None:
    """Svix's default svix-id/-timestamp/-signature work too, in any casing."""
    body = fixture("order_paid.json")
    sent = {casing(k.replace("webhook-", "svix-")): v for k, v in headers(body).items()}
    standard.verify(body, sent, [SECRET], NOW)
    standard.verify(body, CIMultiDict(sent), [SECRET], NOW)
    assert standard.parse(body, sent).dedupe_key == MSG_ID


def test_several_signatures_in_the_header() -> None:
    """Rotation: any v1 entry that matches any secret passes; v1a and junk entries are skipped."""
    body = fixture("order_paid.json")
    content = f"{MSG_ID}.{TS}.".encode() + body
    stale, fresh = b64_hmac(OLD_SECRET, content), b64_hmac(SECRET, content)
    listed = f"v1a,{fresh} v1,bm9wZQ== junk v1,{stale}  v1,{fresh}"
    standard.verify(body, headers(body, signature=listed), [SECRET], NOW)
    standard.verify(body, headers(body, signature=f"v1,{fresh}"), [OLD_SECRET, SECRET], NOW)
    with pytest.raises(InvalidSignature):
        standard.verify(body, headers(body, signature=f"v1a,{fresh} v1,{stale}"), [SECRET], NOW)


@pytest.mark.parametrize(("age", "ok"), [(301, False), (300, True), (-300, True), (-301, False)])
def test_timestamp_tolerance_both_ways(age: int, ok: bool) -> None:
    """A timestamp more than 300 s in the past or the future is a 401."""
    body = fixture("order_paid.json")
    sent = headers(body, timestamp=TS - age)
    if ok:
        standard.verify(body, sent, [SECRET], NOW)
        return
    with pytest.raises(InvalidSignature, match="timestamp outside tolerance"):
        standard.verify(body, sent, [SECRET], NOW)


@pytest.mark.parametrize(
    "secret", ["whsec_not base64!", "whsec_", "whsec_שלום", "whsec_a", "whsec_ab=", "whsec_ab-_"]
)
def test_bad_secret_format_is_a_misconfiguration(secret: str) -> None:
    """A secret that is not whsec_ + base64 (padded or not) refuses every delivery without
    echoing it; settings refuse it at start-up, so this only fails closed."""
    body = fixture("order_paid.json")
    with pytest.raises(InvalidSignature, match=r"^misconfigured secret$") as caught:
        standard.verify(body, headers(body), [SECRET, secret], NOW)
    assert secret not in caught.value.detail
    with pytest.raises(ValueError, match="base64"):
        standard.sign(body, secret, MSG_ID, TS)


@pytest.mark.parametrize("secrets", [[], [""]])
def test_no_configured_secret_fails_closed(secrets: list[str]) -> None:
    """Without a secret nothing verifies."""
    body = fixture("order_paid.json")
    with pytest.raises(InvalidSignature, match="no Standard Webhooks signing secret"):
        standard.verify(body, headers(body), secrets, NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_rejected(missing: str) -> None:
    """Each of the three headers is required (blank counts as missing)."""
    body = fixture("order_paid.json")
    for sent in (
        {k: v for k, v in headers(body).items() if k != missing},
        headers(body) | {missing: "  "},
    ):
        with pytest.raises(InvalidSignature, match="missing"):
            standard.verify(body, sent, [SECRET], NOW)


@pytest.mark.parametrize("timestamp", ["soon", "-1", "1.5e9", "9" * 40, "١٧٥٢٤٨٠٣٠٠"])
def test_timestamp_that_is_not_unix_seconds_is_rejected(timestamp: str) -> None:
    """Only ASCII digits are a timestamp."""
    body = fixture("order_paid.json")
    sent = headers(body) | {"webhook-timestamp": timestamp}
    with pytest.raises(InvalidSignature, match="unix seconds"):
        standard.verify(body, sent, [SECRET], NOW)


def test_tampered_body_or_id_is_rejected() -> None:
    """The body and the message id are both signed; no detail echoes a signature."""
    body = fixture("order_paid.json")
    sent = headers(body)
    for changed, sent_now in (
        (body.replace(b"149.00", b"148.00"), sent),
        (body, sent | {"webhook-id": "msg_other"}),
    ):
        with pytest.raises(InvalidSignature) as caught:
            standard.verify(changed, sent_now, [SECRET], NOW)
        assert sent["webhook-signature"][3:] not in caught.value.detail


# --- envelope ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_canonical_type_parses_into_its_kind(kind: EventKind) -> None:
    """Each envelope type is the EventKind of the same name and makes a valid OrderEvent."""
    body = message(kind.value)
    parsed = standard.parse(body, headers(body))
    assert (parsed.kind, parsed.topic, parsed.dedupe_key) == (kind, kind.value, MSG_ID)
    assert parsed.occurred_at == NOW and parsed.order_id == "1001"
    as_event(parsed)


def test_envelope_types_are_exactly_the_event_kinds() -> None:
    """The documented types and EventKind never drift apart."""
    documented = {*get_args(standard.OrderType), "refund.issued", "payment.details"}
    assert documented == {kind.value for kind in EventKind}


def test_payment_details_come_apart_from_the_order() -> None:
    """`payment.details` carries the order id and its payment only; without the payment, or
    with a field the schema refuses, it is a 422 naming the field."""
    parsed = standard.parse(message("payment.details"), headers(b""))
    assert (parsed.kind, parsed.order, parsed.order_id) == (EventKind.PAYMENT_DETAILS, None, "1001")
    assert parsed.payment is not None and parsed.payment.transaction_id == "ch_3Pq2aE8k1mZ0b4xA"
    refused = [
        ({"order_id": "1001"}, "data.payment"),
        (samples.payment_data("1001") | {"order": {}}, "data.order"),
    ]
    for data, field in refused:
        body = encode_body(samples.envelope("payment.details", data, timestamp=NOW))
        with pytest.raises(InvalidPayload, match=field):
            standard.parse(body, headers(body))


def test_order_fixture_keeps_money_exact() -> None:
    """Decimal strings stay Decimals; Hebrew text survives; lines add up to the total."""
    parsed = standard.parse(fixture("order_paid.json"), headers(b""))
    order = parsed.order
    assert order is not None and parsed.kind is EventKind.ORDER_PAID
    assert (order.total, order.total_tax) == (Decimal("293.80"), Decimal("44.81"))
    assert order.lines_total() == order.total and order.customer.name == "דנה לוי"
    assert [line.kind for line in order.lines] == ["item", "item", "shipping"]


def test_cancelled_order_fixture() -> None:
    """order.cancelled carries the cancelled, unpaid, VAT-exclusive order."""
    parsed = standard.parse(fixture("order_cancelled.json"), headers(b""))
    order = parsed.order
    assert order is not None and parsed.kind is EventKind.ORDER_CANCELLED
    assert (order.cancelled, order.paid, order.prices_include_tax) == (True, False, False)
    assert order.total == order.lines_total() == Decimal("495.60")


def test_refund_without_order_parses_with_its_order_id() -> None:
    """refund.issued needs only order_id and the refund; the worker finds the order."""
    parsed = standard.parse(fixture("refund_issued_without_order.json"), headers(b""))
    assert (parsed.kind, parsed.order, parsed.order_id) == (EventKind.REFUND_ISSUED, None, "1001")
    refund = parsed.refund
    assert refund is not None
    assert (refund.refund_id, refund.amount) == ("rf-1001-1", Decimal("59.90"))
    assert (refund.currency, refund.reason) == ("ILS", "Mug arrived chipped")
    assert as_event(parsed).refund == refund


def test_refund_with_its_order() -> None:
    """A refund may carry the order snapshot, whose id must be the refund's order_id."""
    order = samples.order_data("1001")["order"]
    data = samples.refund_data("1001", "rf-2", "10.00", order=order)
    parsed = standard.parse(encode_body(samples.envelope("refund.issued", data)), headers(b""))
    assert parsed.order is not None and parsed.order.order_id == parsed.order_id == "1001"
    other = samples.refund_data("1002", "rf-2", "10.00", order=order)
    with pytest.raises(InvalidPayload, match=r"^data: order\.order_id differs from order_id"):
        standard.parse(encode_body(samples.envelope("refund.issued", other)), headers(b""))


def _broken(path: str, value: Any) -> bytes:
    document: dict[str, Any] = json.loads(message("order.paid"))
    if path.startswith("refund"):
        document = json.loads(message("refund.issued"))
        path = path.removeprefix("refund:")
    *parents, last = path.split(".")
    target: Any = document
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("data.order.lines.0.unit_price", "12,50", "data.order.lines.0.unit_price"),
        ("data.order.currency", "shekel", "data.order.currency"),
        ("data.order.total", None, "data.order.total: missing"),
        ("data.order.surprise", "x-secret-value", "data.order.surprise"),
        ("data.order", None, "data.order: missing"),
        ("timestamp", "2025-07-14T09:30:00", "timestamp"),
        ("timestamp", "last tuesday", "timestamp"),
        ("type", "order.shipped", "type: not one of"),
        ("type", None, "type: missing"),
        ("type", ["order.paid"], "type: not one of"),
        ("refund:data.refund.amount", "0", "data.refund.amount"),
        ("refund:data.order_id", "", "data.order_id"),
    ],
)
def test_invalid_envelope_names_the_field_not_the_value(path: str, value: Any, field: str) -> None:
    """A bad field is a 422 whose detail names its path and never echoes the value."""
    body = _broken(path, value)
    with pytest.raises(InvalidPayload) as caught:
        standard.parse(body, headers(body))
    assert caught.value.detail.startswith(field)
    if isinstance(value, str) and len(value) > 1:
        assert value not in caught.value.detail


@pytest.mark.parametrize("body", [b"not json", b"", b"[]", b"null", b"\xff{}"])
def test_body_that_is_not_a_json_object_is_malformed(body: bytes) -> None:
    """Not JSON, not UTF-8 or not an object: 400."""
    with pytest.raises(MalformedBody):
        standard.parse(body, headers(body))


def test_parse_without_message_id_is_invalid() -> None:
    """The message id is the dedupe key; without one there is nothing to dedupe on."""
    with pytest.raises(InvalidPayload, match="webhook-id"):
        standard.parse(fixture("order_paid.json"), {})


# --- schema ------------------------------------------------------------------------------


def test_committed_schema_is_current() -> None:
    """docs/standard-webhook.schema.json equals what the models generate."""
    generated = json.dumps(standard.envelope_schema(), indent=2, sort_keys=True) + "\n"
    committed = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
    assert committed == generated, (
        "docs/standard-webhook.schema.json is stale; regenerate it with\n"
        "  python -m handlers.sources.standard --schema > docs/standard-webhook.schema.json"
    )


def test_schema_documents_the_envelope() -> None:
    """The envelope and each of its fields have a title and a description."""
    schema = standard.envelope_schema()
    assert schema["title"] and schema["description"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    mapping = schema["discriminator"]["mapping"]
    assert set(mapping) == {kind.value for kind in EventKind}
    for name in ("OrderMessage", "RefundMessage", "PaymentMessage"):
        for field in schema["$defs"][name]["properties"].values():
            assert field.get("title", "x") and field["description"]


def test_schema_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m handlers.sources.standard --schema` prints the file's text; else usage."""
    assert standard._main(["--schema"]) == 0
    assert capsys.readouterr().out == SCHEMA_FILE.read_text(encoding="utf-8")
    assert standard._main([]) == 2
    assert "usage" in capsys.readouterr().err


# --- samples -----------------------------------------------------------------------------


def test_new_secret_is_whsec_and_32_random_bytes() -> None:
    """new_secret() gives distinct, usable secrets."""
    first, second = samples.new_secret(), samples.new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32
    body = message("order.paid")
    standard.verify(body, samples.headers_for(body, first, msg_id="m1"), [first], datetime.now(UTC))


@pytest.mark.parametrize("svix", [False, True])
def test_sample_headers_verify(svix: bool) -> None:
    """headers_for gives the three signed headers under either name and they verify."""
    body = message("payment.captured")
    sent = samples.headers_for(body, SECRET, msg_id=MSG_ID, timestamp=TS, svix=svix)
    prefix = "svix" if svix else "webhook"
    names = {f"{prefix}-{name}" for name in ("id", "timestamp", "signature")}
    assert set(sent) == {"Content-Type", *names}
    assert sent[f"{prefix}-signature"] == standard.sign(body, SECRET, MSG_ID, TS)
    standard.verify(body, sent, [SECRET], NOW)


@pytest.mark.parametrize("included", [True, False])
def test_sample_orders_add_up(included: bool) -> None:
    """order_data's total is its lines' gross, and total_tax the lines' VAT."""
    data = samples.order_data(
        "9",
        prices_include_tax=included,
        shipping="25.00",
        lines=[("A", "33.33", 3), ("B", "19.90", 1)],
    )
    parsed = standard.parse(encode_body(samples.envelope("order.created", data)), headers(b""))
    order = parsed.order
    assert order is not None and order.lines_total() == order.total
    assert sum(line.tax for line in order.lines) == order.total_tax
    assert order.created_at == samples.PLACED and parsed.occurred_at is not None
    assert abs(parsed.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)
