"""iCount card charges, pure: the cc/bill and cc/transactions bodies, answers and declines."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.orders import icount_body, leaves, mug, order_of
from tests.payments import card_charge
from worker.domain.events import Order
from worker.errors import OutcomeUnknown, Permanent, Retryable
from worker.providers.base import ChargeOrder
from worker.providers.icount.wire_charge import (
    build_charge_request,
    build_search_request,
    charge_error,
    find_in_transactions,
    parse_charge,
    payment_description,
    split_installments,
    stored_token,
)
from worker.providers.icount.wire_payment import charged_payment
from worker.settings import DocumentSettings

TOKEN = "734512906"
REFERENCE = "ib-abcdefghijklmnopqrstuvwx"
CARD = "4580000000000000"


def charge_order(**changes: Any) -> ChargeOrder:
    fields: dict[str, Any] = {
        "reference": REFERENCE,
        "amount": Decimal("117.00"),
        "currency": "ILS",
        "customer_ref": "57",
        "customer_name": "Dana Levi",
    }
    return ChargeOrder(**(fields | changes))


def shop_order(total: str = "117.00") -> Order:
    return order_of([mug(1, total, tax_rate=18)], total, paid=False)


# --- requests ---------------------------------------------------------------------------


def test_single_payment_body() -> None:
    """One payment: money as a decimal string, the reference in the description, no
    first_payment, and the token only in cc_token_id."""
    body = build_charge_request(charge_order(), TOKEN)
    assert body == {
        "client_id": "57",
        "sum": "117.00",
        "currency_code": "ILS",
        "num_of_payments": 1,
        "cc_token_id": TOKEN,
        "payment_description": f"invoicebridge {REFERENCE}",
    }


def test_installments_send_the_first_payment() -> None:
    """Installments: the given first payment, or the shared rule's (the first takes the rest)."""
    given_first = charge_order(num_of_payments=3, first_payment=Decimal("17.00"))
    assert build_charge_request(given_first, TOKEN)["first_payment"] == "17.00"
    equal = charge_order(amount=Decimal("100.00"), num_of_payments=3)
    assert build_charge_request(equal, TOKEN)["first_payment"] == "33.34"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"num_of_payments": 37}, "bad_installments"),
        ({"num_of_payments": 3, "first_payment": Decimal("200")}, "bad_installments"),
        ({"num_of_payments": 2, "first_payment": Decimal("17.005")}, "bad_installments"),
    ],
)
def test_impossible_installments_are_refused(changes: dict[str, Any], reason: str) -> None:
    """Installments that cannot add up to the sum never reach iCount."""
    with pytest.raises(Permanent) as raised:
        build_charge_request(charge_order(**changes), TOKEN)
    assert raised.value.reason == reason


@pytest.mark.parametrize("count", [1, 2, 12, 36])
def test_no_float_and_no_card_data_in_any_built_body(count: int) -> None:
    """No float anywhere; the token only in cc_token_id; never a card number or CVV."""
    order = charge_order(num_of_payments=count)
    charge = card_charge("0123456", num_of_payments=count)
    bill = build_charge_request(order, TOKEN)
    bodies: list[dict[str, Any]] = [
        bill,
        build_search_request(REFERENCE),
        {"cc": charged_payment(charge, date(2024, 5, 1), "Dana Levi")},
        icount_body(shop_order(), charge=charge),
    ]
    for body in bodies:
        assert not any(isinstance(leaf, float) for leaf in leaves(body))
        text = json.dumps({k: v for k, v in body.items() if k != "cc_token_id"})
        assert TOKEN not in text and CARD not in text
        assert not {"cc_number", "card_number", "cc_cvv", "cvv"} & set(body)
    assert bill["cc_token_id"] == TOKEN


def test_search_request_names_the_description() -> None:
    """The transactions are searched by the exact description the charge carried."""
    wanted = {"payment_description": payment_description(REFERENCE)}
    assert build_search_request(REFERENCE) == wanted


@given(
    amount=st.decimals(min_value=Decimal("0.36"), max_value=Decimal("99999"), places=2),
    count=st.integers(min_value=1, max_value=36),
)
def test_split_installments_adds_up(amount: Decimal, count: int) -> None:
    """Property: the first payment plus the equal later ones is the sum, all positive."""
    first, later = split_installments(amount, count, "ILS")
    assert first + later * (count - 1) == amount
    assert first > 0 and (count == 1 or 0 < later <= first)


def test_invrec_records_the_charge_in_its_cc_block() -> None:
    """An invrec for a charge copies its confirmation code, installments and card type."""
    charge = card_charge("7654321", num_of_payments=3)
    body = icount_body(
        shop_order(), documents=DocumentSettings(payment_method="cash"), charge=charge
    )
    assert "cash" not in body
    assert body["cc"] == {
        "sum": "117.00",
        "date": "2024-05-01",
        "num_of_payments": 3,
        "first_payment": "39.00",
        "confirmation_code": "7654321",
        "card_type": "VISA",
        "holder_name": "Dana Levi",
    }


def test_a_test_charge_says_so() -> None:
    """F-CC-16: a tenant's `is_test` goes out as the documented boolean; else it is absent."""
    assert build_charge_request(charge_order(), TOKEN, is_test=True)["is_test"] is True
    assert "is_test" not in build_charge_request(charge_order(), TOKEN)


# --- answers ----------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["declined", "expired_card", "insufficient_funds", "weird"])
def test_declines_are_permanent_with_the_reason(reason: str) -> None:
    """A decline is Permanent with iCount's reason code; the message says it in words."""
    error = charge_error(reason)
    assert isinstance(error, Permanent) and error.reason == reason
    assert reason in str(error)


def test_processing_error_is_retryable() -> None:
    """The card company did not answer: nothing was charged, so the job may retry."""
    error = charge_error("processing_error")
    assert isinstance(error, Retryable) and not isinstance(error, Permanent)


def test_refusal_text_never_reaches_the_message() -> None:
    """A reason that is free text (Hebrew, a card number) becomes charge_refused, no digits."""
    for reason in (f"כרטיס {CARD} נדחה", f"card {CARD} declined", TOKEN, f"card_{CARD}"):
        error = charge_error(reason)
        assert isinstance(error, Permanent) and error.reason == "charge_refused"
        assert CARD not in str(error) and TOKEN not in str(error)


@pytest.mark.parametrize(
    "answer",
    [
        {
            "status": True,
            "confirmation_code": "0123456",
            "sum": "117.00",
            "currency_code": "ILS",
            "cc_card_type": "VISA",
            "cc_type": 1,
            "deal_id": "900001",
        },
        {
            "status": True,
            "data": {"confirmation_code": 123456, "sum": 117, "cc_type": "1", "cc_deal_id": 900001},
        },
        {
            "status": True,
            "confirmation_code": "0123456",
            "sum": 117.0,
            "cc_card_type": "1",
            "transaction_id": "900001",
            "currency": "ils",
        },
    ],
)
def test_parse_charge_shapes(answer: dict[str, Any]) -> None:
    """Top level or under `data`, strings or numbers, a type name or only its code."""
    ref = parse_charge(answer, charge_order())
    assert (ref.amount, ref.currency, ref.card_type, ref.transaction_id) == (
        Decimal("117.00"),
        "ILS",
        "VISA",
        "900001",
    )
    assert ref.confirmation_code.lstrip("0") == "123456"
    assert (ref.num_of_payments, ref.first_payment) == (1, None)


def test_parse_charge_installments_and_missing_code() -> None:
    """Installments keep the first payment sent; success without a code is OutcomeUnknown."""
    order = charge_order(amount=Decimal("100.00"), num_of_payments=3)
    ref = parse_charge({"status": True, "confirmation_code": "1", "sum": "100.00"}, order)
    assert (ref.num_of_payments, ref.first_payment) == (3, Decimal("33.34"))
    with pytest.raises(OutcomeUnknown):
        parse_charge({"status": True, "sum": "117.00"}, charge_order())


def transaction(description: str, code: str = "7654321") -> dict[str, Any]:
    return {
        "confirmation_code": code,
        "sum": "117.00",
        "currency_code": "ILS",
        "payment_description": description,
        "num_of_payments": 1,
        "last4": "0000",
    }


@pytest.mark.parametrize("key", ["transactions", "results", "data"])
def test_find_in_transactions_list_keys(key: str) -> None:
    """The list may be under transactions, results or data, or keyed by id."""
    mine = transaction(payment_description(REFERENCE))
    other = transaction(payment_description(REFERENCE + "x"), code="1111111")
    for listing in ([other, mine], {"900001": other, "900002": mine}):
        found = find_in_transactions({"status": True, key: listing}, REFERENCE)
        assert found is not None and found.confirmation_code == "7654321"


def test_find_in_transactions_is_exact() -> None:
    """A longer reference that starts with ours, or an empty answer, is not our charge."""
    longer = {"transactions": [transaction(payment_description(REFERENCE + "0"))]}
    assert find_in_transactions(longer, REFERENCE) is None
    assert find_in_transactions({"status": True, "results_count": 0}, REFERENCE) is None


def test_stored_token_shapes() -> None:
    """The token as a number or a string, top level or nested; none is no_stored_card."""
    assert stored_token({"cc_token_id": 734512906}) == TOKEN
    assert stored_token({"data": {"token_id": TOKEN}}) == TOKEN
    with pytest.raises(Permanent) as raised:
        stored_token({"status": True})
    assert raised.value.reason == "no_stored_card"


def test_a_reason_with_a_trailing_newline_is_not_taken_as_a_code() -> None:
    """Only a whole safe code is repeated; `card_declined` plus a newline is not one."""
    error = charge_error("card_declined\n")
    assert isinstance(error, Permanent) and error.reason == "charge_refused"


@pytest.mark.parametrize(
    ("answer", "card_type"),
    [
        ({"cc_card_type": "Visa"}, "VISA"),
        ({"cc_type": "2"}, "MASTERCARD"),
        ({"cc_card_type": "4580 0000 0000 0000"}, None),
        ({"card_type": "12"}, None),
    ],
)
def test_only_a_brands_letters_are_kept_as_the_card_type(
    answer: dict[str, str], card_type: str | None
) -> None:
    """The card type goes into the ledger: digits iCount might echo never do."""
    data = {"status": True, "confirmation_code": "1", "sum": "117.00", **answer}
    assert parse_charge(data, charge_order()).card_type == card_type
