"""iDoklad wire: items and exact totals, the reference mapping, filters, JSON without floats,
and the status → error mapping."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.orders import leaves, mugs_and_shipping, order_of
from worker.domain.events import Customer, Line, Order
from worker.domain.money import quantize
from worker.errors import OutcomeUnknown, Permanent, RateLimited, Retryable, TotalMismatch
from worker.providers.base import DocumentKind, DocumentRequest
from worker.providers.idoklad.wire import (
    RATE_LIMIT_DELAY_MS,
    MalformedAnswer,
    PriceType,
    TokenRejected,
    VatRateType,
    build_contact,
    build_credit_note,
    build_filter,
    build_invoice,
    build_items,
    decipher,
    decipher_token,
    document_amounts,
    dumps,
    filter_holds,
    item_amounts,
    list_params,
    loads,
    matches_reference,
    order_number,
    parse_document,
    parse_list,
    reference_marker,
    unwrap_v3,
    v3_base_url,
    variable_symbol,
)
from worker.settings import DocumentSettings

DOCS = DocumentSettings(default_vat_percent=Decimal(21))
REFERENCE = "ib-abcdefghijklmnopqrstuvwx"


def make_order(
    lines: list[Line] | tuple[Line, ...], total: str | Decimal, *, inclusive: bool = True
) -> Order:
    return order_of(
        lines,
        total,
        currency="CZK",
        prices_include_tax=inclusive,
        customer=Customer(name="Jana Nováková", email="jana@example.cz"),
        created_at=datetime(2026, 5, 1, 9, 30, tzinfo=UTC),
    )


def mug_order(**changes: Any) -> Order:
    return make_order(mugs_and_shipping(21), "117.00", **changes)


def request_for(order: Order, kind: DocumentKind = "invoice") -> DocumentRequest:
    return DocumentRequest(
        kind=kind,
        order=order,
        reference=REFERENCE,
        email=False,
        documents=DOCS,
        issue_date=date(2026, 5, 1),
    )


# --- items and totals ---------------------------------------------------------------------


def test_inclusive_items_with_discount_total_exactly() -> None:
    """VAT-inclusive lines are PriceType 0 and a discount is a negative item at the line's rate."""
    items = build_items(mug_order(), DOCS)
    assert [(i["Name"], i["Amount"], i["UnitPrice"]) for i in items] == [
        ("Mug", Decimal(2), Decimal("48.50")),
        ("Discount: Mug", Decimal(1), Decimal(-5)),
        ("Shipping", Decimal(1), Decimal(25)),
    ]
    assert {i["PriceType"] for i in items} == {PriceType.WITH_VAT}
    assert (items[1]["VatRateType"], items[1]["VatRate"]) == (VatRateType.BASIC, Decimal(21))
    assert items[0]["Unit"] == "pcs" and items[2]["Unit"] == ""
    assert document_amounts(items, "CZK").total == Decimal("117.00")


def test_exclusive_items_carry_a_rounding_item() -> None:
    """VAT-exclusive lines are PriceType 1; the shop's per-order VAT rounding becomes a
    zero-rate "Rounding" item, so the document total is the order total to the unit."""
    lines = [
        Line(
            description=f"Pin {n}",
            quantity=Decimal(1),
            unit_price=Decimal("0.12"),
            tax_rate=Decimal(21),
        )
        for n in range(3)
    ]
    order = make_order(lines, "0.44", inclusive=False)  # 0.36 + 21 % computed once (0.08)
    items = build_items(order, DOCS)
    assert {i["PriceType"] for i in items[:3]} == {PriceType.WITHOUT_VAT}
    assert items[-1]["Name"] == "Rounding" and items[-1]["UnitPrice"] == Decimal("-0.01")
    assert items[-1]["VatRateType"] == VatRateType.ZERO
    assert document_amounts(items, "CZK").total == Decimal("0.44")


def test_a_residual_beyond_max_rounding_is_refused() -> None:
    """A document that cannot reach the shop's total within max_rounding is never built."""
    with pytest.raises(TotalMismatch):
        build_items(make_order(mug_order().lines, "118.00"), DOCS)


@pytest.mark.parametrize(
    ("rate", "taxable", "kind", "shown"),
    [
        (Decimal(21), True, VatRateType.BASIC, Decimal(21)),
        (Decimal(12), True, VatRateType.REDUCED1, Decimal(12)),
        (Decimal(10), True, VatRateType.REDUCED2, Decimal(10)),
        (Decimal(18), True, VatRateType.BASIC, Decimal(18)),
        (None, True, VatRateType.BASIC, Decimal(21)),
        (Decimal(21), False, VatRateType.ZERO, Decimal(0)),
    ],
)
def test_vat_rate_mapping(rate: Decimal | None, taxable: bool, kind: int, shown: Decimal) -> None:
    """A line's rate picks the VatRateType; the rate itself is always sent as VatRate."""
    line = Line(
        description="X", quantity=Decimal(1), unit_price=Decimal(10), tax_rate=rate, taxable=taxable
    )
    [item] = build_items(make_order([line], "10"), DOCS)
    assert (item["VatRateType"], item["VatRate"]) == (kind, shown)


@pytest.mark.parametrize(
    ("price_type", "rate_type", "rate", "expected"),
    [
        (0, 1, None, ("99.17", "20.83", "120.00")),
        (1, 1, None, ("120.00", "25.20", "145.20")),
        (2, 1, None, ("120.00", "0.00", "120.00")),
        (0, 2, Decimal(21), ("120.00", "0.00", "120.00")),
        (1, 0, None, ("120.00", "14.40", "134.40")),
        (1, 1, Decimal(18), ("120.00", "21.60", "141.60")),
    ],
)
def test_item_amounts_rule(
    price_type: int, rate_type: int, rate: Decimal | None, expected: tuple[str, str, str]
) -> None:
    """The shared totals rule: WithVat contains VAT, WithoutVat adds it, OnlyBase/Zero have none."""
    item = {
        "Amount": 3,
        "UnitPrice": Decimal(40),
        "PriceType": price_type,
        "VatRateType": rate_type,
        "VatRate": rate,
    }
    money = item_amounts(item, "CZK")
    assert (money.base, money.vat, money.total) == tuple(Decimal(v) for v in expected)


prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(5000), places=2)
rates = st.sampled_from([Decimal(0), Decimal(10), Decimal(12), Decimal(21), None])


@st.composite
def shop_lines(draw: st.DrawFn) -> list[Line]:
    lines = []
    for n in range(draw(st.integers(1, 5))):
        quantity, price = Decimal(draw(st.integers(1, 6))), draw(prices)
        discount = draw(st.decimals(min_value=0, max_value=price * quantity, places=2))
        lines.append(
            Line(
                description=f"L{n}",
                quantity=quantity,
                unit_price=price,
                discount=discount,
                tax_rate=draw(rates),
            )
        )
    return lines


@given(shop_lines(), st.booleans())
def test_document_total_always_equals_the_order_total(lines: list[Line], inclusive: bool) -> None:
    """Whatever the lines, discounts and rates, the items add up to the shop's total exactly."""
    if inclusive:
        total = sum((line.unit_price * line.quantity - line.discount for line in lines), Decimal(0))
    else:  # the shop computes VAT per line on the discounted net
        total = sum(
            (
                net + quantize(net * rate / 100, "CZK")
                for line in lines
                for net, rate in [
                    (
                        line.unit_price * line.quantity - line.discount,
                        Decimal(21) if line.tax_rate is None else line.tax_rate,
                    )
                ]
            ),
            Decimal(0),
        )
    order = make_order(lines, total, inclusive=inclusive)
    items = build_items(order, DOCS)
    assert document_amounts(items, "CZK").total == quantize(total, "CZK")
    assert not any(isinstance(value, float) for value in leaves(items))


# --- reference mapping --------------------------------------------------------------------


@given(st.text(min_size=1, max_size=80))
@example("0\n")  # `$` matches before a final newline: a safe-looking reference with one
def test_order_number_and_variable_symbol_are_deterministic_and_fit(reference: str) -> None:
    """Any reference maps to the same filter-safe OrderNumber (≤ 20) and VS (≤ 10 digits)."""
    number, symbol = order_number(reference), variable_symbol(reference)
    assert number == order_number(reference) and symbol == variable_symbol(reference)
    assert len(number) <= 20 and re.fullmatch(r"[A-Za-z0-9._-]+", number)
    assert symbol.isdigit() and len(symbol) <= 10


def test_order_number_keeps_short_references_and_hashes_long_ones() -> None:
    """Short safe references are kept; long ones (our 27-character keys) are hashed apart."""
    assert order_number("shop-1001") == "shop-1001"
    long_a, long_b = "ib-" + "a" * 24, "ib-" + "a" * 23 + "b"
    assert order_number(long_a) != order_number(long_b)
    assert order_number(long_a).startswith("ib") and len(order_number(long_a)) == 20
    assert variable_symbol(long_a) != variable_symbol(long_b)


def test_invoice_body_carries_the_reference_everywhere() -> None:
    """The body keeps template fields and the proposed serial (I-12), drops the preview number
    and the id, and holds our reference 3 ways."""
    template = {
        "Id": 0,
        "DocumentNumber": "20260007",
        "DocumentSerialNumber": 7,
        "PaymentOptionId": 1,
        "IssuedInvoiceItems": [],
    }
    body = build_invoice(template, request_for(mug_order()), purchaser_id=5, currency_id=1)
    assert not {"Id", "DocumentNumber"} & body.keys() and body["DocumentSerialNumber"] == 7
    assert body["PaymentOptionId"] == 1 and body["PurchaserId"] == 5 and body["CurrencyId"] == 1
    assert body["OrderNumber"] == order_number(REFERENCE)
    assert body["VariableSymbol"] == variable_symbol(REFERENCE)
    assert reference_marker(REFERENCE) in str(body["Description"])
    assert "#1001" in str(body["Note"])
    assert (body["DateOfIssue"], body["DateOfTaxing"], body["DateOfMaturity"]) == (
        "2026-05-01",
        "2026-05-01",
        "2026-05-15",
    )
    assert matches_reference(body, REFERENCE) and not matches_reference(body, "ib-other")


def test_credit_note_body_names_the_invoice() -> None:
    """I-10, I-11: the v3 body keeps the Default model's numbering and partner, names the
    invoice as `CreditedInvoiceId` and carries our items (v3 item fields) and reference."""
    template = {
        "Id": 0,
        "DocumentNumber": "D20260003",
        "DocumentSerialNumber": 3,
        "PartnerId": 9,
        "NumericSequenceId": 2,
        "IsEet": False,
        "IsIncomeTax": True,
        "Items": [{"Name": "old"}],
    }
    body = build_credit_note(
        template, request_for(mug_order(), "refund"), credited_id=42, currency_id=1
    )
    assert body["CreditedInvoiceId"] == 42 and body["PartnerId"] == 9
    assert body["DocumentSerialNumber"] == 3 and "DocumentNumber" not in body
    assert body["CreditNoteReason"] and body["NumericSequenceId"] == 2
    items = body["Items"]
    assert isinstance(items, list) and all(i["IsTaxMovement"] is False for i in items)
    assert document_amounts(items, "CZK").total == Decimal("117.00")
    assert body["OrderNumber"] == order_number(REFERENCE)


def test_filter_holds_and_v3_helpers() -> None:
    """I-8: a row the filter should have left out is spotted; I-10/I-14: v3 root and envelope."""
    assert filter_holds({"OrderNumber": "AB-1"}, ("OrderNumber", "eq", "ab-1"))
    assert not filter_holds({"OrderNumber": "AB-2"}, ("OrderNumber", "eq", "AB-1"))
    assert not filter_holds({}, ("Email", "eq", "a@b.cz"))
    assert filter_holds({"Description": "Order 1 [ref]"}, ("Description", "ct", "[REF]"))
    with pytest.raises(ValueError):
        filter_holds({}, ("Id", "gt", "1"))
    assert v3_base_url("https://api.idoklad.cz/v2/") == "https://api.idoklad.cz/v3"
    assert v3_base_url("https://example.com/api") is None
    assert unwrap_v3({"Data": {"Id": 1}, "IsSuccess": True}) == {"Id": 1}
    with pytest.raises(Permanent):
        unwrap_v3({"Data": None, "IsSuccess": False, "Message": "No."})
    with pytest.raises(Retryable):
        unwrap_v3({"Id": 1})


def test_contact_body_fills_and_clips() -> None:
    """Names split into first/surname, long values are clipped to iDoklad's limits."""
    customer = Customer(
        name="Jana Nováková",
        email="jana@example.cz",
        company="Acme s.r.o.",
        postcode="123 456 789 012",
        city="Brno",
    )
    body = build_contact({"Id": 0, "CountryId": 1, "Phone": ""}, customer, 2)
    assert body["CompanyName"] == "Acme s.r.o." and body["CountryId"] == 2
    assert (body["Firstname"], body["Surname"]) == ("Jana", "Nováková")
    assert body["PostalCode"] == "123 456 789" and "Id" not in body
    assert build_contact({"CountryId": 1}, Customer(name="Solo"), None)["CountryId"] == 1


# --- JSON, filters, lists -----------------------------------------------------------------


def test_dumps_writes_decimals_as_numbers_and_refuses_floats() -> None:
    """Decimals become JSON numbers verbatim; floats and NaN never get through."""
    text = dumps({"a": Decimal("117.00"), "b": [Decimal("-0.03"), 2, True, None], "c": "č"})
    assert text == '{"a":117.00,"b":[-0.03,2,true,null],"c":"č"}'
    assert loads(text)["a"] == Decimal("117.00")
    assert json.loads(text)["c"] == "č"
    with pytest.raises(TypeError):
        dumps({"x": 1.5})
    with pytest.raises(ValueError):
        dumps(Decimal("NaN"))
    with pytest.raises(ValueError):
        loads("[NaN]")


def test_request_json_has_no_float_anywhere() -> None:
    """Walking the parsed invoice JSON finds Decimals and ints, never a float."""
    body = build_invoice({}, request_for(mug_order()), purchaser_id=5, currency_id=1)
    values = leaves(loads(dumps(body)))
    assert not any(isinstance(value, float) for value in values)
    assert Decimal("48.50") in values


def test_filter_building() -> None:
    """Conditions join with |; bad operators and values holding | are refused."""
    assert build_filter(("OrderNumber", "eq", "ib-x"), ("DateOfIssue", "gte", "2026-01-01")) == (
        "OrderNumber~eq~ib-x|DateOfIssue~gte~2026-01-01"
    )
    assert build_filter(("Description", "!ct", "a~b")) == "Description~!ct~a~b"
    with pytest.raises(ValueError):
        build_filter(("Id", "like", "1"))
    with pytest.raises(ValueError):
        build_filter(("Email", "eq", "a|b"))
    assert list_params("Id~eq~1", sort="Id~desc", pagesize=5) == {
        "page": "1",
        "pagesize": "5",
        "filter": "Id~eq~1",
        "sort": "Id~desc",
    }


def test_list_envelopes() -> None:
    """The v2 envelope, a bare list and v3's Data.Items are read; anything else is malformed."""
    page = parse_list({"Data": [{"Id": 1}], "TotalItems": 3, "TotalPages": 3})
    assert (page.items, page.total_items, page.total_pages) == ([{"Id": 1}], 3, 3)
    assert parse_list([{"Id": 2}]).items == [{"Id": 2}]
    assert parse_list({"Data": {"Items": []}}).items == []
    with pytest.raises(MalformedAnswer):
        parse_list({"Data": "nope"})


def test_parse_document() -> None:
    """An invoice answer becomes a DocumentRef; one without an Id leaves the outcome unknown."""
    ref = parse_document(
        {
            "Id": 7,
            "DocumentNumber": "20260001",
            "PurchaserId": 3,
            "TotalWithVat": Decimal("117.00"),
            "IsSentToPurchaser": True,
        },
        "IssuedInvoice",
    )
    assert (ref.doc_id, ref.docnum, ref.client_id, ref.total, ref.emailed) == (
        "7",
        "20260001",
        "3",
        Decimal("117.00"),
        True,
    )
    with pytest.raises(OutcomeUnknown):
        parse_document({"DocumentNumber": "x"}, "IssuedInvoice")


# --- status mapping -----------------------------------------------------------------------


def test_success_bodies() -> None:
    """2xx answers are parsed (empty is None); a non-JSON 2xx is MalformedAnswer (Retryable)."""
    assert decipher(200, b'{"Id": 1, "TotalWithVat": 1.10}') == {
        "Id": 1,
        "TotalWithVat": Decimal("1.10"),
    }
    assert decipher(201, b"true") is True
    assert decipher(204, b"") is None
    with pytest.raises(MalformedAnswer):
        decipher(200, b"<html>")


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (402, "subscription_required"),
        (403, "downgrade_required"),
        (404, "not_found"),
        (409, "http_409"),
    ],
)
def test_client_errors_are_permanent(status: int, reason: str) -> None:
    with pytest.raises(Permanent) as caught:
        decipher(status, b'{"Message": "no"}')
    assert caught.value.reason == reason


def test_400_names_the_fields_and_redacts() -> None:
    """A 400 is invalid_model naming each field, with secrets and card numbers scrubbed."""
    body = dumps(
        {
            "Message": "The request is invalid.",
            "ModelState": {
                "PurchaserId": ["The PurchaserId field is required."],
                "Note": ["bad s3cr3t-token near 4242 4242 4242 4242"],
            },
        }
    )
    with pytest.raises(Permanent) as caught:
        decipher(400, body.encode(), secrets=("s3cr3t-token",))
    message = str(caught.value)
    assert caught.value.reason == "invalid_model" and "PurchaserId" in message
    assert "s3cr3t-token" not in message and "4242 4242" not in message


def test_401_is_token_rejected() -> None:
    with pytest.raises(TokenRejected) as caught:
        decipher(401, b"")
    assert caught.value.reason == "auth_failed"


@pytest.mark.parametrize(
    ("header", "delay"),
    [
        ("7", 7000),
        ("1.5", 1500),
        (None, RATE_LIMIT_DELAY_MS),
        ("soon", RATE_LIMIT_DELAY_MS),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0),  # an HTTP-date already past: no wait
    ],
)
def test_429_is_rate_limited_with_retry_after(header: str | None, delay: int) -> None:
    """The delay is `Retry-After` (seconds or an HTTP-date), else the 60 s default."""
    with pytest.raises(RateLimited) as caught:
        decipher(429, b"", header)
    assert caught.value.delay_ms == delay


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable(status: int) -> None:
    with pytest.raises(Retryable) as caught:
        decipher(status, b"maintenance")
    assert not isinstance(caught.value, RateLimited)


def test_token_answers() -> None:
    """A token answer yields (token, ttl); refusals are auth_failed without echoing the body."""
    assert decipher_token(200, b'{"access_token": "t", "expires_in": 3600}') == ("t", 3600)
    with pytest.raises(Permanent) as caught:
        decipher_token(400, b'{"error": "invalid_client"}')
    assert caught.value.reason == "auth_failed" and "invalid_client" in str(caught.value)
    with pytest.raises(Permanent) as caught:
        decipher_token(400, b'{"error": "secret-looking-thing"}')
    assert "secret-looking-thing" not in str(caught.value)
    with pytest.raises(Retryable):
        decipher_token(503, b"")
    with pytest.raises(Retryable):
        decipher_token(200, b'{"access_token": ""}')
