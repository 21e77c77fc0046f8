"""Hostile requests for the receiver, as hypothesis strategies: bodies (binary, generated
JSON, WooCommerce pings, and each source's real sample order with one field broken, a lone
surrogate or a card number in a text field, or a huge number in an amount), header values
(not UTF-8, or far too long) and Content-Encodings, with bodies compressed or not."""

from __future__ import annotations

import gzip
import json
import uuid
import zlib
from typing import Any

from hypothesis import strategies as st

SOURCES = ("shopify", "woocommerce", "stripe", "standard")

#: a stand-in for a JSON number that Python cannot produce (json.dumps has no 1e999999999)
RAW = "@raw:"
HUGE_NUMBERS = ["1e999999999", "1" + "0" * 25, "1" + "0" * 22, "-1e400", "1e309", "9" * 400]
SURROGATES = ["\ud800", "Dana \ud800 Levi", "\udfff", "mug \ud83d"]
#: request bodies that are no JSON object: not JSON, empty, cut short, an array, a string,
#: null, not UTF-8, nested too deep
NOT_JSON_OBJECTS = [
    b"not json",
    b"",
    b'{"id": 1',
    b"[1, 2]",
    b'"order"',
    b"null",
    b"\xff\xfe{}",
    b"[" * 100_000 + b"]" * 100_000,
]
#: published test card numbers
CARDS = [
    "4111111111111111",
    "5555555555554444",
    "378282246310005",
    "6011111111111117",
    "3566002020360505",
    "36227206271667",
    "6200000000000005",
    "4000056655665556",
]


def to_json(value: Any) -> bytes:
    """`value` as JSON, each RAW-marked string written as the bare number it carries."""
    text = json.dumps(value)
    for number in HUGE_NUMBERS:
        text = text.replace(json.dumps(RAW + number), number)
    return text.encode()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(SURROGATES)
    | st.sampled_from(HUGE_NUMBERS).map(lambda n: RAW + n),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def formatted_cards(draw: st.DrawFn) -> str:
    """A test card number as a person might type it: plain, in fours, or Amex's 4-6-5."""
    card = draw(st.sampled_from(CARDS))
    sep = draw(st.sampled_from(["", " ", "-"]))
    cuts = (4, 10) if len(card) == 15 else tuple(range(4, len(card), 4))
    parts = [card[a:b] for a, b in zip((0, *cuts), (*cuts, None), strict=True)]
    before = draw(st.sampled_from(["", "card ", "paid with ", "Note: "]))
    return before + sep.join(parts) + draw(st.sampled_from(["", " thanks", ".", ", exp 12/30"]))


#: free-text fields of each source's sample, which the parsers keep (masked), payment ids and
#: payer names among them (a card's last-four fields are no text: tests/unit/test_payments.py)
TEXT_PATHS: dict[str, list[tuple[Any, ...]]] = {
    "shopify": [
        ("note",),
        ("line_items", 0, "name"),
        ("billing_address", "name"),
        ("billing_address", "address1"),
        ("shipping_lines", 0, "title"),
    ],
    "woocommerce": [
        ("customer_note",),
        ("line_items", 0, "name"),
        ("billing", "first_name"),
        ("billing", "company"),
        ("billing", "address_1"),
        ("shipping_lines", 0, "method_title"),
        ("transaction_id",),
    ],
    "stripe": [
        ("data", "object", "description"),
        ("data", "object", "billing_details", "name"),
        ("data", "object", "billing_details", "address", "line1"),
    ],
    "standard": [
        ("data", "order", "note"),
        ("data", "order", "lines", 0, "description"),
        ("data", "order", "customer", "name"),
        ("data", "order", "customer", "address"),
        ("data", "order", "payment", "transaction_id"),
        ("data", "order", "payment", "payer_name"),
    ],
}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a JSON document, so a mutation can reach any field."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def get_at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def mutate(document: Any, path: tuple[Any, ...], replacement: Any, delete: bool) -> Any:
    copy = json.loads(json.dumps(document))
    parent = get_at(copy, path[:-1])
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return copy


def amount_paths(document: Any) -> list[tuple[Any, ...]]:
    """Paths to the document's numbers and decimal strings (amounts, quantities, rates), not
    its ids, postcodes, phone numbers or a card's last four (text that happens to be digits)."""

    def numeric(value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if isinstance(value, int | float):
            return True
        return isinstance(value, str) and value.replace(".", "", 1).lstrip("-").isdigit()

    return [
        path
        for path in paths(document)
        if numeric(get_at(document, path))
        and not str(path[-1]).endswith(("id", "number", "postcode", "zip", "phone", "last4"))
    ]


def realistic(source: str, refund: bool = False) -> tuple[dict[str, Any], str]:
    """A sample order of `source` (for Stripe, a charge, or with `refund` a refunded one), with
    an event id of its own (so it is never a duplicate), and its topic."""
    from invoicebridge.samples import shopify as samples
    from invoicebridge.samples import standard as samples_standard
    from invoicebridge.samples import stripe as samples_stripe
    from invoicebridge.samples import woocommerce as samples_woocommerce

    if source == "shopify":
        return samples.shopify_order(41, discount="5.00"), "orders/paid"
    if source == "woocommerce":
        return samples_woocommerce.woo_order(42, refunds=[(1, "3.00", "r")]), "order.updated"
    if source == "stripe":
        event = (
            samples_stripe.charge_refunded("ch_1", "pi_1", 9000, 2000)
            if refund
            else samples_stripe.charge_succeeded("ch_1", "pi_1", 9000)
        )
        return {**event, "id": f"evt_{uuid.uuid4().hex}"}, ""
    return samples_standard.envelope("order.paid", samples_standard.order_data("44")), ""


@st.composite
def realistic_bodies(draw: st.DrawFn, source: str, flavour: str) -> tuple[bytes, str]:
    """(body, topic): a real order of `source` with one field broken (`flavour` "broken"),
    a lone surrogate or a card number in a text field (of an order: TEXT_PATHS), or a huge
    number in an amount."""
    refund = flavour in ("broken", "huge") and draw(st.booleans())
    document, topic = realistic(source, refund)
    if flavour == "broken":
        path = draw(st.sampled_from(paths(document)))
        changed = mutate(document, path, draw(json_values), draw(st.booleans()))
    elif flavour in ("surrogate", "card"):
        text = draw(st.sampled_from(SURROGATES) if flavour == "surrogate" else formatted_cards())
        changed = mutate(document, draw(st.sampled_from(TEXT_PATHS[source])), text, False)
    else:
        number = draw(st.sampled_from(HUGE_NUMBERS))
        value = draw(st.sampled_from([RAW + number, number]))  # bare, or a decimal string
        changed = mutate(document, draw(st.sampled_from(amount_paths(document))), value, False)
    return to_json(changed), topic


@st.composite
def any_bodies(draw: st.DrawFn) -> bytes:
    """Binary, generated JSON, a WooCommerce ping, or any source's real order made hostile."""
    kind = draw(st.sampled_from(["binary", "json", "ping", "realistic"]))
    if kind == "binary":
        return draw(st.binary(max_size=600))
    if kind == "json":
        return to_json(draw(json_values))
    if kind == "ping":
        return f"webhook_id={draw(st.integers(0, 10**6))}".encode()
    source = draw(st.sampled_from(SOURCES))
    flavour = draw(st.sampled_from(["broken", "surrogate", "card", "huge"]))
    return draw(realistic_bodies(source, flavour))[0]


header_names = st.sampled_from(
    [
        "X-Shopify-Hmac-Sha256",
        "X-Shopify-Topic",
        "X-Shopify-Event-Id",
        "X-Shopify-Shop-Domain",
        "X-WC-Webhook-Signature",
        "X-WC-Webhook-Topic",
        "X-WC-Webhook-ID",
        "X-WC-Webhook-Source",
        "X-WC-Webhook-Resource",
        "Stripe-Signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-signature",
        "Authorization",
        "X-Anything",
    ]
)
#: header values: printable, any bytes but CR and LF (many not UTF-8), or far too long
header_values = (
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
    | st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
    | st.builds(bytes.__mul__, st.sampled_from([b"a", b"\xff", b"9"]), st.integers(1000, 20_000))
)
header_sets = st.dictionaries(header_names, header_values, max_size=6)
encodings = st.sampled_from(
    [
        None,
        "",
        "identity",
        "IDENTITY",
        "gzip",
        "x-gzip",
        "GZIP",
        "deflate",
        "br",
        "gzip, deflate",
        "identity, gzip",
        "junk",
    ]
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
    ]
)


def encode(body: bytes, encoding: str | None, compress: bool) -> bytes:
    """`body` compressed as `encoding` says, when `compress` (else as it is, mislabelled)."""
    kind = (encoding or "").lower()
    if not compress:
        return body
    if "gzip" in kind:
        return gzip.compress(body)
    if "deflate" in kind:
        return zlib.compress(body)
    if kind == "br":  # no brotli here: bytes that are not brotli either
        return zlib.compress(body)[::-1]
    return body


def with_encoding(headers: dict[str, str | bytes], encoding: str | None) -> dict[str, str | bytes]:
    return headers if encoding is None else {**headers, "Content-Encoding": encoding}
