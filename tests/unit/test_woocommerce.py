"""WooCommerce source: signature, set-up ping, parsing into canonical Orders, and the samples."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from handlers.errors import InvalidPayload, InvalidSignature, MalformedBody
from handlers.sources import Parsed, woocommerce
from invoicebridge.samples import woocommerce as samples
from tests.hostile_inputs import NOT_JSON_OBJECTS, mutate
from worker.domain.events import EventKind, Line, Order

SECRET = "wc_whsec_b7`Qz&2]s!Lp9#x"  # a generated WooCommerce secret holds such characters
OLD_SECRET = "wc_whsec_retired_0123456789"
NOW = datetime(2025, 5, 14, 15, 22, 10, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "woocommerce"
#: Each order fixture with the topic it arrives under.
ORDER_FIXTURES = {
    "order_created_processing_coupon.json": "order.created",
    "order_updated_completed_fees.json": "order.updated",
    "order_updated_refunded_two_refunds.json": "order.updated",
    "order_updated_cancelled.json": "order.updated",
}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(fixture(name))
    return payload


def headers(body: bytes, topic: str = "order.updated", **kwargs: Any) -> dict[str, str]:
    return samples.headers_for(body, topic=topic, secret=SECRET, **kwargs)


def parse(body: bytes, topic: str = "order.updated") -> Parsed:
    return woocommerce.parse(body, headers(body, topic))


def parse_order(body: bytes, topic: str = "order.updated") -> Order:
    order = parse(body, topic).order
    assert order is not None
    return order


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def hmac_b64(body: bytes, key: bytes) -> str:
    """The signature computed here, independently of woocommerce.sign."""
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


# --- signature ---------------------------------------------------------------------------


def test_sign_is_base64_hmac_sha256_of_the_raw_body() -> None:
    """sign() matches a fixed vector and an HMAC computed here over a real body."""
    assert woocommerce.sign(b"{}", "secret") == "dzJZAsrKgS3CWXM6rNBGtzgXNyx3e42VtAJkdHRRbhM="
    body = fixture("order_created_processing_coupon.json")
    assert woocommerce.sign(body, SECRET) == hmac_b64(body, SECRET.encode())


def test_valid_signature_passes() -> None:
    """A body signed (independently) with the configured secret verifies."""
    body = fixture("order_created_processing_coupon.json")
    woocommerce.verify(
        body, {"X-WC-Webhook-Signature": hmac_b64(body, SECRET.encode())}, [SECRET], NOW
    )
    woocommerce.verify(body, headers(body), [SECRET], NOW)


def test_wrong_secret_is_rejected() -> None:
    """A signature made with another secret is a 401."""
    body = fixture("order_created_processing_coupon.json")
    with pytest.raises(InvalidSignature, match="does not match"):
        woocommerce.verify(body, headers(body), ["some-other-secret"], NOW)


def test_tampered_body_is_rejected() -> None:
    """Changing one byte of the body after signing breaks the signature."""
    body = fixture("order_created_processing_coupon.json")
    signed = headers(body)
    tampered = body.replace(b'"252.00"', b'"252.01"', 1)
    assert len(tampered) == len(body) and tampered != body
    with pytest.raises(InvalidSignature):
        woocommerce.verify(tampered, signed, [SECRET], NOW)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_or_blank_header_is_rejected(value: str | None) -> None:
    """No X-WC-Webhook-Signature (or a blank one) is a 401."""
    body = b"{}"
    sent = {k: v for k, v in headers(body).items() if k != "X-WC-Webhook-Signature"}
    if value is not None:
        sent["X-WC-Webhook-Signature"] = value
    with pytest.raises(InvalidSignature, match="missing"):
        woocommerce.verify(body, sent, [SECRET], NOW)


@pytest.mark.parametrize("secrets", [[], [""]])
def test_no_configured_secret_fails_closed(secrets: list[str]) -> None:
    """Without a (non-empty) secret nothing verifies, not even an empty-key HMAC."""
    body = b"{}"
    with pytest.raises(InvalidSignature):
        woocommerce.verify(body, {"X-WC-Webhook-Signature": hmac_b64(body, b"")}, secrets, NOW)


@pytest.mark.parametrize("value", ["not base64!", "Zm9v", "שלום", "dzJZ AsrK"])
def test_undecodable_or_short_signature_is_rejected(value: str) -> None:
    """Garbage, a digest of the wrong length or a non-ASCII header are all 401s."""
    with pytest.raises(InvalidSignature):
        woocommerce.verify(b"{}", {"X-WC-Webhook-Signature": value}, [SECRET], NOW)


def test_rotation_accepts_either_secret() -> None:
    """During a rotation a body signed with either configured secret verifies."""
    body = fixture("order_updated_cancelled.json")
    for signed_with in (SECRET, OLD_SECRET):
        sent = {"x-wc-webhook-signature": hmac_b64(body, signed_with.encode())}
        woocommerce.verify(body, sent, [OLD_SECRET, SECRET], NOW)
        woocommerce.verify(body, sent, [SECRET, OLD_SECRET], NOW)


@pytest.mark.parametrize(
    "name", ["X-WC-Webhook-Signature", "x-wc-webhook-signature", "X-Wc-Webhook-Signature"]
)
def test_header_name_is_case_insensitive(name: str) -> None:
    """Any casing of the header name is accepted."""
    body = b'{"id": 1}'
    woocommerce.verify(body, {name: hmac_b64(body, SECRET.encode())}, [SECRET], NOW)


def test_verify_and_parse_accept_aiohttp_multidict_headers() -> None:
    """The receiver passes a CIMultiDict; verify and parse read it like a dict."""
    body = fixture("order_updated_completed_fees.json")
    multi = CIMultiDict(headers(body))
    woocommerce.verify(body, multi, [SECRET], NOW)
    assert woocommerce.parse(body, multi).kind is EventKind.ORDER_PAID


@pytest.mark.parametrize(
    ("stored", "signing_key"),
    [
        ("p&amp;ss&lt;1&#039;x&quot;", "p&ss<1'x\""),  # WordPress's escaped form, decoded
        ("a&#x27;b&#0038;c&gt;", "a'b&c>"),  # numeric entities, zero padded or hex
        ("x&copy1&nbsp;y&AMP;", "x&copy1&nbsp;y&AMP;"),
    ],  # not one of WordPress's five: kept
)
def test_secret_is_entity_decoded_as_wordpress_does(stored: str, signing_key: str) -> None:
    """WooCommerce keys the HMAC with wp_specialchars_decode(secret): only &amp; &lt; &gt;
    &quot; &#039; (and numeric twins) are decoded, so `&copy1` stays as typed."""
    body = fixture("order_deleted.json")
    sent = {"X-WC-Webhook-Signature": hmac_b64(body, signing_key.encode())}
    woocommerce.verify(body, sent, [stored], NOW)
    woocommerce.verify(body, sent, [signing_key], NOW)  # the plain secret works as well
    assert woocommerce.sign(body, stored) == sent["X-WC-Webhook-Signature"]


def test_error_detail_never_leaks_secret_or_digests() -> None:
    """No rejection's detail or title holds a secret, the expected or the received MAC."""
    body = fixture("order_created_processing_coupon.json")
    received = hmac_b64(body, b"attacker-guess")
    for secrets in ([SECRET], [OLD_SECRET, SECRET]):
        with pytest.raises(InvalidSignature) as caught:
            woocommerce.verify(body, {"X-WC-Webhook-Signature": received}, secrets, NOW)
        text = f"{caught.value} {caught.value.detail} {caught.value.title}"
        for leaked in (*secrets, hmac_b64(body, SECRET.encode()), received, received[:12]):
            assert leaked not in text


# --- set-up ping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent",
    [
        {"Content-Type": "application/x-www-form-urlencoded"},
        {},
        {"User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7)"},
    ],
)
def test_activation_ping_is_detected(sent: dict[str, str]) -> None:
    """The unsigned `webhook_id=<digits>` form body is a ping, with or without a Content-Type."""
    parsed = woocommerce.detect_ping(samples.ping_body(31), sent)
    assert parsed == Parsed(dedupe_key="ping:31", topic="ping", kind=None, ping=True)


@pytest.mark.parametrize(
    "body",
    [
        b'{"webhook_id": 31}',
        b"webhook_id=31&x=1",
        b"webhook_id=31&webhook_id=32",
        b"webhook_id=abc",
        b"webhook_id=",
        b"webhook_id=-3",
        b"webhook_id=3.5",
        b"webhook_id",
        b"id=31",
        b"",
        b"webhook_id=\xd9\xa3",
        b"webhook_id=31" + b"0" * 100,
        b"webhook_id=31\n",
        b"webhook_id=%D9%A3",
    ],
)
def test_anything_else_is_not_a_ping(body: bytes) -> None:
    """JSON, extra or repeated fields, non-digits and oversized bodies go to verification."""
    assert woocommerce.detect_ping(body, {}) is None


def test_a_signed_form_body_is_not_a_ping() -> None:
    """A delivery that carries a signature header is verified, whatever its body."""
    body = samples.ping_body(31)
    assert woocommerce.detect_ping(body, {"X-WC-Webhook-Signature": "x"}) is None


# --- parsing fixtures --------------------------------------------------------------------


def test_created_order_with_coupon_shipping_and_vat() -> None:
    """VAT-inclusive ILS store: lines become VAT-exclusive, a lot that does not divide stays
    one line, entities are decoded, and the dates are the GMT ones."""
    parsed = parse(fixture("order_created_processing_coupon.json"), "order.created")
    assert (parsed.kind, parsed.topic, parsed.order_id) == (
        EventKind.ORDER_CREATED,
        "order.created",
        "5120",
    )
    order = parsed.order
    assert order is not None
    assert (order.number, order.currency, order.prices_include_tax) == ("5120", "ILS", False)
    assert (order.total, order.total_tax, order.paid, order.cancelled) == (
        Decimal("252.00"),
        Decimal("36.61"),
        True,
        False,
    )
    assert order.created_at == datetime(2025, 5, 14, 15, 22, 7, tzinfo=UTC)
    assert order.updated_at == parsed.occurred_at == datetime(2025, 5, 14, 15, 22, 9, tzinfo=UTC)
    assert (order.payment_gateway, order.note) == ("כרטיס אשראי", "נא להשאיר ליד הדלת")
    mug, board, shipping = order.lines
    assert mug == Line(
        kind="item",
        description="ספל קרמיקה – חול × 3",
        sku="MUG-SAND",
        quantity=Decimal(1),
        unit_price=Decimal("89.74"),
        discount=Decimal("8.97"),
        tax=Decimal("13.73"),
        tax_rate=Decimal(17),
    )
    assert (board.quantity, board.unit_price, board.discount, board.tax) == (
        Decimal(1),
        Decimal("127.35"),
        Decimal("12.73"),
        Decimal("19.48"),
    )
    assert shipping == Line(
        kind="shipping",
        description="דואר ישראל - רשום",
        quantity=Decimal(1),
        unit_price=Decimal("20.00"),
        tax=Decimal("3.40"),
        tax_rate=Decimal(17),
    )
    assert sum(line.tax for line in order.lines) == order.total_tax
    customer = order.customer
    assert (customer.name, customer.email, customer.phone) == (
        "דנה לוי",
        "dana.levi@example.co.il",
        "+972501234567",
    )
    assert (customer.company, customer.address, customer.city) == (
        "לוי עיצובים",
        "הרצל 12, דירה 4",
        "תל אביב-יפו",
    )
    assert (customer.postcode, customer.country) == ("6801205", "IL")


def test_completed_order_with_fees_is_paid_and_absorbs_the_negative_fee() -> None:
    """A positive fee is its own line; a negative one becomes discount and less tax on the
    item with the largest net amount."""
    parsed = parse(fixture("order_updated_completed_fees.json"))
    assert parsed.kind is EventKind.ORDER_PAID and parsed.refund is None
    order = parsed.order
    assert order is not None
    skillet, napkins, shipping, gift = order.lines
    assert (skillet.unit_price, skillet.discount, skillet.tax) == (
        Decimal("280.00"),
        Decimal("10.00"),
        Decimal("45.90"),
    )
    assert (napkins.quantity, napkins.unit_price, napkins.discount) == (
        Decimal(2),
        Decimal("45.00"),
        Decimal(0),
    )
    assert (shipping.kind, shipping.unit_price, shipping.tax) == (
        "shipping",
        Decimal("30.00"),
        Decimal("5.10"),
    )
    assert gift == Line(
        kind="fee",
        description="Gift wrapping",
        quantity=Decimal(1),
        unit_price=Decimal("15.00"),
        tax=Decimal("2.55"),
        tax_rate=Decimal(17),
    )
    assert sum(line.tax for line in order.lines) == order.total_tax == Decimal("68.85")
    assert (order.customer.name, order.customer.company) == ("Maya Katz", "Katz Studio Ltd")


def test_refunded_order_carries_the_newest_refund_and_lists_all() -> None:
    """status refunded with two refunds: REFUND_ISSUED for the highest id, both on the order."""
    parsed = parse(fixture("order_updated_refunded_two_refunds.json"))
    assert parsed.kind is EventKind.REFUND_ISSUED
    assert parsed.refund is not None
    assert (parsed.refund.refund_id, parsed.refund.amount, parsed.refund.currency) == (
        "5162",
        Decimal("66.52"),
        "EUR",
    )
    assert parsed.refund.reason == "Order fully refunded."
    order = parsed.order
    assert order is not None and order.paid
    assert {(r.refund_id, r.amount, r.reason) for r in order.refunds} == {
        ("5162", Decimal("66.52"), "Order fully refunded."),
        ("5150", Decimal("59.50"), "One cup arrived broken"),
    }
    assert sum(r.amount for r in order.refunds) == order.total
    assert order.lines[0].tax_rate == Decimal(19)


def test_cancelled_unpaid_order_without_tax() -> None:
    """A pending order cancelled by the timeout: ORDER_CANCELLED, unpaid, untaxed lines."""
    parsed = parse(fixture("order_updated_cancelled.json"))
    assert parsed.kind is EventKind.ORDER_CANCELLED
    order = parsed.order
    assert order is not None
    assert (order.cancelled, order.paid, order.currency, order.total_tax) == (
        True,
        False,
        "USD",
        Decimal(0),
    )
    beans, papers, shipping = order.lines
    assert (beans.quantity, beans.unit_price, beans.sku) == (Decimal(2), Decimal("24.00"), "CB-1KG")
    assert (papers.sku, papers.tax_rate, papers.taxable) == (None, None, False)
    assert shipping.unit_price == Decimal("8.00")


def test_deleted_bare_id_is_recorded_and_ignored() -> None:
    """order.deleted with only {"id": N} has no order: kind None, the id kept for the record."""
    parsed = parse(fixture("order_deleted.json"), "order.deleted")
    assert (parsed.kind, parsed.order, parsed.order_id) == (None, None, "727")


def test_deleted_full_order_is_a_cancellation() -> None:
    """order.deleted with a whole order body is ORDER_CANCELLED and marks it cancelled."""
    body = fixture("order_created_processing_coupon.json")
    parsed = parse(body, "order.deleted")
    assert parsed.kind is EventKind.ORDER_CANCELLED
    assert parsed.order is not None and parsed.order.cancelled


@pytest.mark.parametrize("name", sorted(ORDER_FIXTURES))
def test_fixture_lines_add_up_to_the_shop_total(name: str) -> None:
    """Every order fixture's lines reproduce `total` to the cent."""
    order = parse_order(fixture(name), ORDER_FIXTURES[name])
    assert order.lines_total() == order.total


@pytest.mark.parametrize(
    ("status", "paid_at", "refunds", "kind"),
    [
        ("processing", "2025-06-02T07:05:44", [], EventKind.ORDER_PAID),
        ("completed", "2025-06-02T07:05:44", [], EventKind.ORDER_PAID),
        ("processing", None, [], EventKind.ORDER_UPDATED),
        ("on-hold", None, [], EventKind.ORDER_UPDATED),
        ("pending", None, [], EventKind.ORDER_UPDATED),
        ("failed", None, [], EventKind.ORDER_UPDATED),
        ("completed", "2025-06-02T07:05:44", [(9, "-5.00")], EventKind.REFUND_ISSUED),
        ("refunded", "2025-06-02T07:05:44", [], EventKind.ORDER_UPDATED),
        ("refunded", "2025-06-02T07:05:44", [(9, "-0.00")], EventKind.ORDER_UPDATED),
        ("cancelled", "2025-06-02T07:05:44", [(9, "-5.00")], EventKind.ORDER_CANCELLED),
    ],
)
def test_order_updated_kind_follows_status_payment_and_refunds(
    status: str, paid_at: str | None, refunds: list[tuple[int, str]], kind: EventKind
) -> None:
    """Cancelled first, then a non-zero refund (a partial refund keeps the status), then paid."""
    payload = load("order_updated_completed_fees.json") | {
        "status": status,
        "date_paid_gmt": paid_at,
        "date_paid": paid_at,
        "refunds": [{"id": rid, "reason": "", "total": total} for rid, total in refunds],
    }
    parsed = parse(encode(payload))
    assert parsed.kind is kind
    assert (parsed.refund is not None) is (kind is EventKind.REFUND_ISSUED)
    for topic in ("order.created", "order.restored"):
        expected = EventKind.ORDER_CREATED if topic == "order.created" else kind
        assert parse(encode(payload), topic).kind is expected


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        ("product.updated", b'{"id": 93, "name": "Woo Single #1", "price": "3"}'),
        ("customer.created", b'{"id": 26, "email": "joao.silva@example.com"}'),
        ("coupon.deleted", b'{"id": 11}'),
        ("action.woocommerce_low_stock", b'{"action": "woocommerce_low_stock", "arg": 93}'),
    ],
)
def test_other_topics_are_recorded_without_an_order(topic: str, body: bytes) -> None:
    """Non-order topics are acknowledged as kind None; their bodies are not orders."""
    parsed = parse(body, topic)
    assert (parsed.kind, parsed.order, parsed.order_id, parsed.topic) == (None, None, None, topic)


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [*NOT_JSON_OBJECTS, b"webhook_id=3"])
def test_body_that_is_not_a_json_object_is_malformed(body: bytes) -> None:
    """Not JSON, not UTF-8, too deep or not an object: 400, whatever the topic."""
    for topic in ("order.updated", "product.created"):
        with pytest.raises(MalformedBody):
            parse(body, topic)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("total",), None, "total: missing"),
        (("total",), "12,50", "total: not an amount"),
        (("total",), "-1.00", "total: Input should be greater than or equal to 0"),
        (("line_items", 1, "total"), "NaN", "line_items.1.total: not an amount"),
        (("line_items", 0, "subtotal"), "1e999999", "line_items.0.subtotal"),
        (("line_items", 0, "quantity"), 0, "line_items.0.quantity"),
        (("line_items", 0, "quantity"), 1.5, "line_items.0.quantity"),
        (("line_items", 0, "name"), None, "line_items.0.name: missing"),
        (("shipping_lines", 0, "total_tax"), "five", "shipping_lines.0.total_tax: not an amount"),
        (("refunds", 0, "total"), "-ten", "refunds.0.total: not an amount"),
        (("currency",), "shekel", "currency"),
        (("date_created_gmt",), "yesterday", "date_created_gmt"),
        (("id",), None, "id: missing"),
    ],
)
def test_invalid_order_names_the_field_not_the_value(
    path: tuple[str | int, ...], value: Any, field: str
) -> None:
    """A bad field is a 422 whose detail names the path and never echoes the value."""
    payload = load("order_updated_refunded_two_refunds.json")
    payload["line_items"].append(dict(payload["line_items"][0], id=999))
    payload = mutate(payload, path, value, delete=value is None)
    with pytest.raises(InvalidPayload) as caught:
        parse(encode(payload))
    assert caught.value.detail.startswith(field)
    if isinstance(value, str):
        assert value not in caught.value.detail


def test_a_legacy_body_is_dated_by_its_site_time_and_one_without_a_date_is_invalid() -> None:
    """A wc/v1 webhook has `date_created` only (site-local, no offset): read as UTC. With
    neither date the order is a 422 naming `date_created_gmt`."""
    payload = load("order_updated_refunded_two_refunds.json")
    del payload["date_created_gmt"]
    payload["date_created"] = "2016-05-30T22:35:16"
    order = parse(encode(payload)).order
    assert order is not None and order.created_at.isoformat() == "2016-05-30T22:35:16+00:00"
    del payload["date_created"]
    with pytest.raises(InvalidPayload) as caught:
        parse(encode(payload))
    assert caught.value.detail.startswith("date_created_gmt: missing")


def test_negative_fee_larger_than_the_items_is_invalid() -> None:
    """A discount fee the item lines cannot absorb is a 422 naming fee_lines."""
    payload = load("order_updated_completed_fees.json")
    payload["fee_lines"][1] |= {"total": "-400.00", "total_tax": "-68.00"}
    with pytest.raises(InvalidPayload, match="fee_lines"):
        parse(encode(payload))


@pytest.mark.parametrize("drop", ["X-WC-Webhook-Topic", "X-WC-Webhook-ID"])
def test_missing_topic_or_webhook_id_is_invalid(drop: str) -> None:
    """Without a topic, or the webhook id the dedupe key needs, the delivery is a 422."""
    body = fixture("order_updated_cancelled.json")
    partial = {k: v for k, v in headers(body).items() if k != drop}
    with pytest.raises(InvalidPayload, match=drop):
        woocommerce.parse(body, partial)


# --- dedupe key --------------------------------------------------------------------------


def test_dedupe_key_is_stable_across_redelivery_with_another_delivery_id() -> None:
    """Two deliveries of one snapshot, seconds apart, differ in Delivery-ID but not in key."""
    body = fixture("order_updated_cancelled.json")
    first = headers(body, delivered_at=NOW)
    again = headers(body, delivered_at=NOW + timedelta(seconds=5))
    assert first["X-WC-Webhook-Delivery-ID"] != again["X-WC-Webhook-Delivery-ID"]
    keys = {woocommerce.parse(body, sent).dedupe_key for sent in (first, again)}
    assert keys == {"shop.example.com:7:order.updated:order/5158:2025-08-26T15:31:10"}


def test_dedupe_key_changes_with_date_modified() -> None:
    """A later snapshot of the same order (new date_modified_gmt) is a new event."""
    first = samples.woo_order(42, date_modified=NOW)
    later = samples.woo_order(42, date_modified=NOW + timedelta(minutes=1))
    keys = [parse(samples.encode_body(p)).dedupe_key for p in (first, later)]
    assert keys[0] != keys[1]
    assert keys[0].endswith(":order/42:2025-05-14T15:22:10")


def test_dedupe_key_normalises_the_source_and_scopes_webhook_and_topic() -> None:
    """Scheme, case and a trailing slash of the shop URL do not matter; webhook id and topic do."""
    body = fixture("order_updated_cancelled.json")
    urls = ("https://Shop.Example.com/", "http://shop.example.com", "shop.example.com")
    same = {woocommerce.parse(body, headers(body, source=url)).dedupe_key for url in urls}
    assert len(same) == 1
    others = {
        woocommerce.parse(body, headers(body, topic, webhook_id=hook)).dedupe_key
        for topic in ("order.updated", "order.restored")
        for hook in (7, 8)
    }
    assert len(others) == 4


def test_dedupe_key_without_date_modified_hashes_the_body() -> None:
    """order.deleted's bare {"id": N} has no date_modified_gmt: the body's SHA-256 stands in."""
    body = fixture("order_deleted.json")
    digest = hashlib.sha256(body).hexdigest()
    expected = f"shop.example.com:7:order.deleted:order/727:{digest}"
    assert parse(body, "order.deleted").dedupe_key == expected
