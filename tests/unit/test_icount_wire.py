"""iCount wire: the doc/create body (its money: test_icount_totals*.py), and the response
mapping."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandboxes.icount.rounding import ROUNDINGS, RULES, document_totals
from tests.orders import leaves, order_of
from tests.payments import CARD
from worker.domain.events import Customer, Line, Order
from worker.errors import OutcomeUnknown, Permanent, RateLimited, Retryable, TotalMismatch
from worker.providers.icount.wire import (
    SessionExpired,
    build_document_request,
    decipher,
    parse_document,
    redact_fields,
)
from worker.settings import DocumentSettings

DAY = date(2024, 5, 1)
DOCS = DocumentSettings()


def make_order(
    lines: list[Line],
    total: str | Decimal,
    *,
    inclusive: bool = True,
    currency: str = "ILS",
    email: str | None = "dana@example.com",
) -> Order:
    return order_of(
        lines,
        total,
        order_id="820982911946154508",
        currency=currency,
        prices_include_tax=inclusive,
        payment=CARD,
        customer=Customer(name="Dana Levi", email=email),
        created_at=datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
    )


def build(order: Order, doctype: str = "invrec", **docs: Any) -> dict[str, Any]:
    documents = DocumentSettings(**docs) if docs else DOCS
    return build_document_request(
        order, doctype=doctype, documents=documents, sanity="ib-test", issue_date=DAY
    )


# --- golden cases -----------------------------------------------------------------------


def totals_under_every_rule(body: dict[str, Any], currency: str) -> set[Decimal]:
    """The document total the sandbox computes under each rounding rule and rounding."""
    return {
        document_totals(body, currency, rule, rounding).total
        for rule in RULES
        for rounding in ROUNDINGS
    }


def test_vat_inclusive_with_discount_and_shipping() -> None:
    """Each line's gross after its discount goes out as unitprice_incvat; one vat_percent;
    no document discount, no roundup; the total holds under every rule."""
    order = make_order(
        [
            Line(
                description="T-shirt",
                sku="TS-1",
                quantity=Decimal(2),
                unit_price=Decimal("50.00"),
                discount=Decimal("10.00"),
                tax_rate=Decimal(18),
            ),
            Line(
                kind="shipping",
                description="Shipping",
                quantity=Decimal(1),
                unit_price=Decimal("20.00"),
            ),
        ],
        "110.00",
    )
    body = build(order)
    assert body["items"] == [
        {
            "description": "T-shirt",
            "sku": "TS-1",
            "quantity": 2,
            "unitprice_incvat": "45.00",
            "long_description": "discount 10.00",
        },
        {"description": "Shipping", "quantity": 1, "unitprice_incvat": "20.00"},
    ]
    assert body["vat_percent"] == "18"
    assert not {"roundup", "discount", "discount_incvat"} & set(body)
    assert totals_under_every_rule(body, "ILS") == {Decimal("110.00")}


@pytest.mark.parametrize(
    ("rate", "count", "total", "gross"),
    [(Decimal(17), 3, "35.22", "11.74"), (Decimal(18), 2, "23.68", "11.84")],
)
def test_vat_exclusive_lines_go_out_at_the_shops_gross(
    rate: Decimal, count: int, total: str, gross: str
) -> None:
    """Net + the shop's per-line tax, as unitprice_incvat: the total needs no roundup and
    holds under every rule (the old net body missed it by a cent under some)."""
    unit_tax = (Decimal("10.03") * rate / 100).quantize(Decimal("0.01"))
    lines = [
        Line(
            description=f"Item {i}",
            quantity=Decimal(1),
            unit_price=Decimal("10.03"),
            tax=unit_tax,
            tax_rate=rate,
        )
        for i in range(count)
    ]
    order = make_order(lines, total, inclusive=False)
    assert order.lines_total() == Decimal(total)
    body = build(order)
    assert body["vat_percent"] == str(rate)
    assert {item["unitprice_incvat"] for item in body["items"]} == {gross}
    assert "roundup" not in body and len(body["items"]) == count
    assert totals_under_every_rule(body, "ILS") == {Decimal(total)}


def test_jpy_has_no_decimals() -> None:
    """JPY amounts go out with exponent 0 and total exactly."""
    order = make_order(
        [
            Line(
                description="Tea",
                quantity=Decimal(2),
                unit_price=Decimal(1500),
                discount=Decimal(300),
            ),
            Line(
                kind="shipping",
                description="Shipping",
                quantity=Decimal(1),
                unit_price=Decimal(500),
            ),
        ],
        "3200",
        currency="JPY",
    )
    body = build(order)
    assert [item["unitprice_incvat"] for item in body["items"]] == ["1350", "500"]
    assert totals_under_every_rule(body, "JPY") == {Decimal(3200)}


@st.composite
def inclusive_orders(draw: st.DrawFn) -> Order:
    lines = []
    for index in range(draw(st.integers(1, 5))):
        cents = draw(st.integers(0, 100_000))
        quantity = draw(st.integers(1, 5))
        discount = draw(st.integers(0, cents * quantity))
        lines.append(
            Line(
                description=f"line {index}",
                quantity=Decimal(quantity),
                unit_price=Decimal(cents).scaleb(-2),
                discount=Decimal(discount).scaleb(-2),
                tax_rate=Decimal(18),
                taxable=draw(st.booleans()),
            )
        )
    probe = make_order(lines, "0")
    return probe.model_copy(update={"total": probe.lines_total()})


@given(inclusive_orders())
def test_vat_inclusive_body_totals_to_the_order(order: Order) -> None:
    """For any VAT-inclusive order totalling Σ lines' gross, the document total equals it
    under every rule, with no Rounding item."""
    body = build(order)
    assert all(item["description"] != "Rounding" for item in body["items"])
    assert totals_under_every_rule(body, "ILS") == {order.total}


def test_total_mismatch_beyond_max_rounding() -> None:
    """A shop total further than max_rounding from the document refuses, naming both totals."""
    order = make_order([Line(description="x", quantity=Decimal(1), unit_price=Decimal(10))], "11")
    with pytest.raises(TotalMismatch) as caught:
        build(order)
    message = str(caught.value)
    assert "10.00" in message and "11" in message
    assert "Dana" not in message and "example.com" not in message
    assert caught.value.reason == "total_mismatch"


def _one_line(total: str = "117.00", **kwargs: Any) -> Order:
    line = Line(description="Order item", quantity=Decimal(1), unit_price=Decimal(total))
    return make_order([line], total, **kwargs)


def test_invoice_has_no_payment_and_carries_references() -> None:
    """An invoice has no payment block; it names the shop order, sanity string and base doc."""
    body = build_document_request(
        _one_line(),
        doctype="invoice",
        documents=DocumentSettings(income_type_name="Shop sales", language="en"),
        sanity="ib-abc",
        issue_date=DAY,
        based_on=("invoice", "10001"),
    )
    assert not {"cc", "cash", "banktransfer", "paypal"} & set(body)
    assert body["hwc"] == "Order #1001 · ref ib-abc"  # F-DOC-21: the reference, for doc/info
    assert body["sanity_string"] == "ib-abc"
    assert body["based_on"] == [{"doctype": "invoice", "docnum": 10001}]
    assert body["income_type_name"] == "Shop sales"
    assert (body["lang"], body["doc_lang"]) == ("en", "en")
    assert (body["doc_date"], body["currency_code"]) == ("2024-05-01", "ILS")


def test_email_fields_follow_settings_and_customer() -> None:
    """F-DOC-22: `send_email` is the documented boolean from the settings, absent when the
    customer has no email; the undocumented `email_to_client` is never sent (D-9)."""
    emailed = build(_one_line())
    assert (emailed["email"], emailed["send_email"]) == ("dana@example.com", True)
    assert "email_to_client" not in emailed
    assert build(_one_line(), email=False)["send_email"] is False
    silent = build(_one_line(email=None))
    assert not {"email", "send_email", "email_to_client"} & set(silent)


def test_document_language_is_sent_as_doc_lang() -> None:
    """F-DOC-6: `doc_lang` is the document's language, apart from the interface `lang`."""
    body = build(_one_line(), language="he", document_language="en")
    assert (body["lang"], body["doc_lang"]) == ("he", "en")


def test_no_float_anywhere_in_the_body() -> None:
    """Every leaf of a built body is a str, int or bool; money is never a float."""
    order = make_order(
        [
            Line(
                description="a",
                quantity=Decimal("1.5"),
                unit_price=Decimal("3.333"),
                tax=Decimal("0.90"),
                tax_rate=Decimal(18),
            )
        ],
        "5.90",
        inclusive=False,
    )
    values = leaves(build(order))
    assert values and all(isinstance(leaf, str | int | bool) for leaf in values)
    assert json.loads(json.dumps(build(order)), parse_float=lambda _: pytest.fail("float"))


# --- responses --------------------------------------------------------------------------


def test_decipher_success() -> None:
    """status true is the answer."""
    assert decipher(200, b'{"status": true, "docnum": "30001"}')["docnum"] == "30001"


@pytest.mark.parametrize(
    ("status", "body", "retry_after", "delay_ms"),
    [
        (429, b"{}", None, 90_000),
        (429, b"", "7", 7_000),
        (429, b"", "not a delay", 90_000),
        (429, b"", "Wed, 21 Oct 2015 07:28:00 GMT", 0),
        (200, b"Too many requests", None, 90_000),
        (200, b'{"status": false, "reason": "too_many_requests"}', None, 90_000),
    ],
)
def test_decipher_rate_limits(
    status: int, body: bytes, retry_after: str | None, delay_ms: int
) -> None:
    """429, or a plain "Too many requests" body even with 200, is RateLimited."""
    with pytest.raises(RateLimited) as caught:
        decipher(status, body, retry_after)
    assert caught.value.delay_ms == delay_ms


@pytest.mark.parametrize(
    ("status", "body"), [(503, b'{"status": false}'), (502, b"<html>"), (200, b"<html>oops")]
)
def test_decipher_transient(status: int, body: bytes) -> None:
    """5xx and bodies that are not JSON are Retryable (and not rate limits)."""
    with pytest.raises(Retryable) as caught:
        decipher(status, body)
    assert not isinstance(caught.value, RateLimited | SessionExpired)


@pytest.mark.parametrize(
    "body",
    [
        b'{"status": false, "reason": "invalid_sid"}',
        b'{"status": false, "reason": "x", "error_description": "Session Expired"}',
        b'{"status": false, "reason": "Invalid sid"}',
    ],
)
def test_decipher_session_expired(body: bytes) -> None:
    """An invalid or expired sid is SessionExpired, a Retryable."""
    with pytest.raises(SessionExpired):
        decipher(200, body)


def test_decipher_refusals() -> None:
    """status false is Permanent with iCount's reason; other 4xx are Permanent; no secrets."""
    body = b'{"status": false, "reason": "auth_failed", "error_description": "bad pass hunter2"}'
    with pytest.raises(Permanent) as caught:
        decipher(200, body, secrets=("hunter2",))
    assert caught.value.reason == "auth_failed"
    assert "hunter2" not in str(caught.value)
    with pytest.raises(Permanent) as caught:
        decipher(404, b"not found")
    assert caught.value.reason == "http_404"


def test_parse_document_shapes() -> None:
    """Top-level fields are read first, then a `data` sub-object's doc_number / pdf_link."""
    top = parse_document(
        {
            "status": True,
            "doctype": "invrec",
            "docnum": 30001,
            "doc_url": "http://x/d",
            "client_id": 7,
            "totalwithvat": "117.00",
        },
        emailed=True,
    )
    assert (top.docnum, top.client_id, top.total, top.emailed) == ("30001", "7", Decimal(117), True)
    nested = parse_document(
        {"status": True, "data": {"doc_number": "10002", "pdf_link": "http://x/p"}},
        emailed=False,
        doctype="invoice",
    )
    assert (nested.doctype, nested.docnum, nested.doc_url) == ("invoice", "10002", "http://x/p")
    with pytest.raises(OutcomeUnknown):
        parse_document({"status": True}, emailed=False)


def test_redact_fields_blanks_secrets_at_any_depth() -> None:
    """Passwords, sids and card data are blanked; everything else is kept."""
    body = {"pass": "p", "sid": "s", "cc": {"card_number": "4242", "sum": "1"}, "user": "api"}
    assert redact_fields(body) == {
        "pass": "[redacted]",
        "sid": "[redacted]",
        "cc": {"card_number": "[redacted]", "sum": "1"},
        "user": "api",
    }
