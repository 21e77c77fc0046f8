"""How a delivery our parser cannot read is kept (handlers/deliveries.py): storable as it
is, its identifiers unmasked, its card numbers and signatures not kept, one event per
delivery."""

from __future__ import annotations

import json

import pytest

from handlers.deliveries import unreadable

CARD = "4111111111111111"  #: Luhn-valid
#: Luhn-valid too, but an order's reference: a replay must find its order by it
REFERENCE = "5105105105105100"


def keep(body: bytes, topic: str = "orders/paid", event: str = "e-1") -> dict[str, object]:
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Event-Id": event,
        "X-Shopify-Hmac-Sha256": "c2ln",
        "X-Shopify-Triggered-At": "now",
    }
    kept = unreadable(body, headers, "acme", "shopify", "Invalid payload: total: not an amount")
    return kept.model_dump()


def test_identifiers_stay_and_card_numbers_go() -> None:
    body = json.dumps(
        {
            "client_reference_id": REFERENCE,
            "metadata": {"order_id": REFERENCE},
            "note": f"card {CARD}",
            "card_number": CARD,
        }
    ).encode()
    kept = keep(body)
    text = str(kept["body"])
    assert text.count(REFERENCE) == 2 and CARD not in text and "1111" in text
    assert kept["headers"] == {
        "x-shopify-topic": "orders/paid",
        "x-shopify-event-id": "e-1",
        "x-shopify-triggered-at": "now",
    }


def test_a_lone_surrogate_is_kept_as_an_escape() -> None:
    """Redis cannot store a lone surrogate: the kept text is ASCII, the escape intact."""
    kept = keep(b'{"note": "\\ud800", "total_price": {}}')
    text = str(kept["body"])
    assert text.isascii() and json.loads(text)["note"] == "\ud800"


def test_one_body_under_two_topics_is_two_events_and_a_redelivery_one() -> None:
    """Shopify sends orders/updated and orders/paid with one body: both are kept; the same
    delivery again (another attempt's time) is the same event."""
    body = b'{"id": 1, "total_price": {}}'
    paid, updated = keep(body, "orders/paid", "e-1"), keep(body, "orders/updated", "e-2")
    assert paid["event_id"] != updated["event_id"]
    again = unreadable(
        body,
        {
            "X-Shopify-Topic": "orders/paid",
            "X-Shopify-Event-Id": "e-1",
            "X-Shopify-Triggered-At": "later",
        },
        "acme",
        "shopify",
        "r",
    )
    assert again.event_id == paid["event_id"]


@pytest.mark.parametrize(
    "body",
    [
        b'\xef\xbb\xbf{"token": {"a": 1}, "note": "4111111111111111"}',  # a UTF-8 BOM
        '{"note": "4111111111111111", "token": "t"}'.encode("utf-16"),
        '{"note": "4111111111111111"}'.encode("utf-16-le"),  # decodes as UTF-8 too
        b'{"token": {}, "x": ' + b'{"a": ' * 700 + b"1" + b"}" * 700 + b"}",
        # letters whose UTF-16 code units, read as UTF-8, are the card's digits: the text json
        # read is not the UTF-8 one, so it is written again from what json read
        json.dumps(
            {"note": "".join(chr(ord(CARD[i]) | ord(CARD[i + 1]) << 8) for i in range(0, 16, 2))},
            ensure_ascii=False,
        ).encode("utf-16-le"),
    ],
    ids=["bom", "utf-16", "utf-16-le", "deep", "utf-16-le-digits"],
)
def test_any_json_is_kept_masked_never_a_crash(body: bytes) -> None:
    """JSON in another encoding, or nested deeper than the rule walks: kept, masked (or not
    kept at all), never an exception (it would be a 5xx)."""
    text = str(keep(body)["body"])
    assert CARD not in text and '"t"' not in text
