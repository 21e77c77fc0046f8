"""The iCount sandbox refuses what iCount's documentation would (issue #16 item 7): unknown
methods and fields, missing required fields, and any card secret (sandboxes/icount/schema.py).
Every body the worker builds passes the same check, so the sandbox proves the mapping."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from sandboxes.icount.app import RunningSandbox
from sandboxes.icount.rules import Refusal
from sandboxes.icount.schema import CARD_SECRETS, check_fields
from tests.payments import BANK_TRANSFER, CARD, PAYPAL, card_charge
from worker.domain.events import Customer, Line, Order, Payment
from worker.providers.base import ChargeOrder
from worker.providers.icount.wire import build_document_request
from worker.providers.icount.wire_charge import build_charge_request, build_search_request
from worker.settings import DocumentSettings

TOKEN = {"Authorization": "Bearer API3E8-sandbox-token"}
DAY = date(2024, 5, 1)


def order(payment: Payment | None = CARD, **changes: Any) -> Order:
    fields: dict[str, Any] = {
        "order_id": "1001",
        "number": "#1001",
        "currency": "ILS",
        "prices_include_tax": True,
        "total": Decimal("117.00"),
        "paid": True,
        "payment": payment,
        "lines": (Line(description="Mug", quantity=Decimal(1), unit_price=Decimal("117.00")),),
        "customer": Customer(
            name="Dana Levi", email="dana@example.com", city="Haifa", address="1 Herzl St"
        ),
        "created_at": datetime(2024, 5, 1, tzinfo=UTC),
    }
    return Order(**(fields | changes))


def body(doctype: str = "invrec", payment: Payment | None = CARD, **kw: Any) -> dict[str, Any]:
    return build_document_request(
        order(payment),
        doctype=doctype,
        documents=DocumentSettings(),
        sanity="ib-schema",
        issue_date=DAY,
        bank_account_id=4,
        **kw,
    )


def refusal(path: str, sent: dict[str, Any]) -> str:
    with pytest.raises(Refusal) as raised:
        check_fields(path, sent)
    return str(raised.value.answer()["reason"])


def test_every_body_the_worker_builds_is_as_documented() -> None:
    """F-DOC-*, F-PAY-*, F-CC-*: invoice, refund, each payment block, a recorded charge,
    a charge and a transaction search all pass the documented-fields check."""
    charge = card_charge("77", num_of_payments=3)
    bodies = {
        "invoice": body("invoice"),
        "refund": body("refund", based_on=("invrec", "30001")),
        "cc": body(),
        "paypal": body(payment=PAYPAL),
        "bank": body(payment=BANK_TRANSFER),
        "charged": body(charge=charge),
    }
    for built in bodies.values():
        check_fields("doc/create", built)
    bill = build_charge_request(
        ChargeOrder(reference="ib-r", amount=Decimal(5), currency="ILS", customer_ref="57"),
        "812",
        is_test=True,
    )
    check_fields("cc/bill", bill)
    check_fields("cc/transactions", build_search_request("ib-r"))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"client_city": "Haifa"}, "unknown_field"),
        ({"email_to_client": 1}, "unknown_field"),
        ({"doctype": ""}, "missing_field"),
        (
            {
                "items": [
                    {"description": "Mug", "unitprice": "1", "vat_percent": "18", "quantity": 1}
                ]
            },
            "unknown_field",
        ),
        ({"items": [{"unitprice": "1", "quantity": 1}]}, "missing_field"),
        (
            {
                "cc": {
                    "sum": "117.00",
                    "num_of_payments": 1,
                    "card_type": "VISA",
                    "holder_name": "D",
                }
            },
            "missing_field",
        ),
        ({"paypal": {"sum": "1", "date": "2024-05-01", "payer_name": "D"}}, "missing_field"),
        ({"banktransfer": {"sum": "1", "date": "2024-05-01"}}, "missing_field"),
        (
            {
                "cc": {
                    "sum": "1",
                    "num_of_payments": 1,
                    "card_type": "VISA",
                    "holder_name": "D",
                    "confirmation_code": "1",
                    "first_payment": "1",
                }
            },
            "unknown_field",
        ),
        (
            {
                "cc": {
                    "sum": "2",
                    "num_of_payments": 2,
                    "card_type": "VISA",
                    "holder_name": "D",
                    "confirmation_code": "1",
                }
            },
            "missing_field",
        ),
    ],
)
def test_doc_create_strays_are_refused(change: dict[str, Any], reason: str) -> None:
    """Unknown fields (top level or nested), a missing required field, and `first_payment`
    outside installments are refused."""
    sent = {key: value for key, value in body().items() if key != "cc"} | change
    assert refusal("doc/create", sent) == reason


@pytest.mark.parametrize("secret", sorted(CARD_SECRETS))
def test_any_card_secret_is_refused_wherever_it_is(secret: str) -> None:
    """No card number, CVV, expiry or holder id is ever accepted, at the top level, in a
    payment block, or in a charge."""
    cc = {**body()["cc"], secret: "4242"}
    assert refusal("doc/create", {**body(), "cc": cc}) == "card_data_refused"
    assert refusal("doc/create", {**body(), secret: "4242"}) == "card_data_refused"
    assert refusal("cc/bill", {"sum": "1", "cc_token_id": "1", secret: "1"}) == (
        "card_data_refused"
    )


async def test_the_running_sandbox_refuses_over_http(sandbox: RunningSandbox) -> None:
    """The same check answers iCount's `status: false` over HTTP, and unknown methods too."""
    async with aiohttp.ClientSession(headers=TOKEN) as http:

        async def call(path: str, sent: dict[str, Any]) -> dict[str, Any]:
            async with http.post(f"{sandbox.api_url}/{path}", json=sent) as response:
                answer: dict[str, Any] = await response.json()
                return answer

        assert (await call("doc/teleport", {}))["reason"] == "bad_method"
        assert (await call("doc/create", {**body(), "client_city": "X"}))["reason"] == (
            "unknown_field"
        )
        sent = {**body(), "cc": {**body()["cc"], "cvv": "737"}}
        assert (await call("doc/create", sent))["reason"] == "card_data_refused"
        assert (await call("doc/create", body()))["status"] is True
