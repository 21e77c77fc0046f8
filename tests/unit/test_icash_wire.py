"""iCash wire: signature, ImportRefID and our comment token, form bodies, answers."""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.errors import Permanent, RateLimited, Retryable
from worker.providers.icash.wire import (
    IMPORT_REF_LIMIT,
    NonceRejected,
    SessionExpired,
    comment_token,
    decipher,
    form_fields,
    import_ref_id,
    plain,
    sign,
)

# --- signature, references -----------------------------------------------------------


def test_signature_matches_an_independent_hmac() -> None:
    """HMAC-SHA256(secret, nonce+WareHouseID+api_key), uppercase hex, as providers.md D.3.2."""
    by_hand = hmac.new(b"S3cret", b"1715000000785K", hashlib.sha256).hexdigest().upper()
    assert sign(1715000000, 785, "K", "S3cret") == by_hand
    assert len(by_hand) == 64 and by_hand == by_hand.upper()
    assert sign(1715000001, 785, "K", "S3cret") != by_hand


@given(st.text(max_size=80))
def test_import_ref_id_is_deterministic_and_a_signed_32_bit_integer(reference: str) -> None:
    """The same reference always maps to the same integer in [1, 2**31 - 1]: an Integer
    filter on operations-list and documents-list, and a String(30) on new-operation."""
    value = import_ref_id(reference)
    assert value == import_ref_id(reference)
    assert 1 <= value <= IMPORT_REF_LIMIT == 2**31 - 1
    assert len(str(value)) <= 30


def test_import_ref_ids_spread_and_comment_tokens_tell_sharers_apart() -> None:
    """5000 references give (almost) 5000 ids; where two share one, their comment tokens
    differ, which is what tells their operations apart."""
    references = [f"ib-{n:024d}" for n in range(5000)]
    assert len({import_ref_id(r) for r in references}) >= 4990
    tokens = {comment_token(r) for r in references}
    assert len(tokens) == 5000
    assert all(t.startswith("ib:") and len(t) == 19 for t in tokens)


# --- form bodies ---------------------------------------------------------------------


def test_form_fields_are_text_and_none_is_left_out() -> None:
    """Ints, bools and Decimals go as text; None is left out."""
    pairs = form_fields({"nonce": 17, "ses": None, "x": True, "Qty": plain(Decimal("2"), 5)})
    assert pairs == [("nonce", "17"), ("x", "1"), ("Qty", "2")]


def test_form_refuses_floats() -> None:
    """A float has no exact text form: money never goes out as one."""
    with pytest.raises(TypeError):
        form_fields({"PaymentSum": 0.1})


def test_plain_keeps_the_places_asked_for() -> None:
    assert plain(Decimal("24"), 2, 2) == "24.00"
    assert plain(Decimal("1.234567"), 5) == "1.23457"
    assert plain(Decimal("3.10000"), 5) == "3.1"


# --- answers ---------------------------------------------------------------------------


def answer(**body: Any) -> bytes:
    return json.dumps({"nonce": "1715000000", **body}).encode()


def test_success_returns_data() -> None:
    """status 1 (an int or a string) gives the data."""
    assert decipher(200, answer(status=1, data={"session_id": "ab"})) == {"session_id": "ab"}
    assert decipher(200, answer(status="1", data=[])) == []


@pytest.mark.parametrize(
    ("message", "with_session", "error"),
    [
        ("Session expired", True, SessionExpired),
        ("Missing value for ses", True, SessionExpired),
        ("Authentication Error", True, SessionExpired),
        ("Authentication Error", False, Permanent),
        ("Invalid nonce", True, NonceRejected),
        ("Too many requests", True, RateLimited),
        ("Wrong value for OperationID", True, Permanent),
    ],
)
def test_refusals_map_onto_the_error_tree(
    message: str, with_session: bool, error: type[Exception]
) -> None:
    """status 0 messages become the error the caller can act on."""
    with pytest.raises(error) as caught:
        decipher(200, answer(status=0, error_message=message), with_session=with_session)
    assert type(caught.value) is error


def test_permanent_reason_comes_from_the_message_and_is_scrubbed() -> None:
    """The reason is the message in snake case; secrets in it are blanked."""
    with pytest.raises(Permanent) as caught:
        decipher(200, answer(status=0, error_message="Wrong value for OperationID"))
    assert caught.value.reason == "wrong_value_for_operationid"
    with pytest.raises(Permanent) as leaked:
        decipher(200, answer(status=0, error_message="bad ses abc123"), secrets=["abc123"])
    assert "abc123" not in str(leaked.value) and "abc123" not in leaked.value.reason
    with pytest.raises(Permanent) as login:
        decipher(200, answer(status=0, error_message="Authentication Error"), with_session=False)
    assert login.value.reason == "authentication_error"


@pytest.mark.parametrize(
    ("status", "body", "retry_after", "error", "delay_ms"),
    [
        (429, b"", "7", RateLimited, 7000),
        (429, b"", "-1", RateLimited, 5000),
        (429, b"", "Wed, 21 Oct 2015 07:28:00 GMT", RateLimited, 0),
        (429, b"Too many requests", None, RateLimited, 5000),
        (503, b"<html>down</html>", None, Retryable, None),
        (200, b"<html>proxy</html>", None, Retryable, None),
        (200, b'{"data": 1}', None, Retryable, None),
        (404, b"not found", None, Permanent, None),
    ],
)
def test_http_level_answers(
    status: int, body: bytes, retry_after: str | None, error: type[Exception], delay_ms: int | None
) -> None:
    """429 → RateLimited (Retry-After or 5 s), 5xx / non-JSON → Retryable, other 4xx Permanent."""
    with pytest.raises(error) as caught:
        decipher(status, body, retry_after)
    assert type(caught.value) is error
    if delay_ms is not None:
        assert isinstance(caught.value, RateLimited) and caught.value.delay_ms == delay_ms
