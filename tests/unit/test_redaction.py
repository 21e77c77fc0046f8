"""Secrets and card data never survive redaction, in structures or free text."""

from __future__ import annotations

import json

from worker.domain.redaction import REDACTED, redact, redact_text


def test_secret_keys_are_blanked_at_any_depth() -> None:
    """A password or card field is replaced wherever it sits."""
    data = {"cid": "acme", "pass": "hunter2", "nested": [{"cc_cvv": "123", "Authorization": "x"}]}
    out = redact(data)
    assert out["cid"] == "acme"
    assert out["pass"] == REDACTED
    assert out["nested"][0] == {"cc_cvv": REDACTED, "Authorization": REDACTED}


def test_card_numbers_bearer_tokens_and_webhook_secrets_leave_text() -> None:
    """Free text is scrubbed of PAN-like digit runs, bearer tokens, whsec_ secrets and pass=."""
    text = (
        "card 4580 4580 4580 4580 and 4111111111111111; Authorization: Bearer API3E8-abc.def; "
        "secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw; url?pass=hunter2&x=1"
    )
    out = redact_text(text)
    for leaked in ("4580 4580", "4111111111111111", "API3E8-abc", "MfKQ9r8", "hunter2"):
        assert leaked not in out
    assert "x=1" in out


def test_order_numbers_and_amounts_survive() -> None:
    """Short numbers (order ids, totals, phone-sized ids) are not mistaken for cards."""
    text = "order #1001 total 117.00 ILS id 820982911"
    assert redact_text(text) == text
    assert json.loads(json.dumps(redact({"total": "117.00"}))) == {"total": "117.00"}


def test_only_luhn_valid_digit_runs_are_cards() -> None:
    """A long shop order id is kept unless it could be a card number; ids keyed as such are kept."""
    assert redact_text("order 820982911946154507") == "order 820982911946154507"
    assert redact({"order_id": "4111111111111111"}) == {"order_id": "4111111111111111"}
    assert "[card …1111]" in redact_text("pan 4111-1111-1111-1111")
