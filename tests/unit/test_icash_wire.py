"""iCash wire and document mapping: signature, nonces, ImportRefID, form bodies, totals, answers."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.domain.events import Customer, Line, Order
from worker.errors import Permanent, RateLimited, Retryable, TotalMismatch
from worker.providers.base import DocumentKind, DocumentRef, DocumentRequest
from worker.providers.icash.provider import build_document_fields, document_ref
from worker.providers.icash.wire import (
    IMPORT_REF_LIMIT,
    IMPORT_SOURCE,
    NonceRejected,
    NonceSource,
    ServiceLine,
    SessionExpired,
    decipher,
    document_totals,
    form_fields,
    import_ref_id,
    line_total,
    sign,
)
from worker.settings import DocumentSettings

DAY = date(2024, 5, 1)
DOCS = DocumentSettings(default_vat_percent=Decimal(20))
INVOICE = DocumentRef(doctype="INVOICE", docnum="1000000001", doc_id="7")


def make_order(lines: list[Line], total: str, *, inclusive: bool = True, **customer: Any) -> Order:
    return Order(
        order_id="1001",
        number="#1001",
        currency="BGN",
        prices_include_tax=inclusive,
        lines=tuple(lines),
        total=Decimal(total),
        paid=True,
        customer=Customer(**{"name": "Dana Ivanova", **customer}),
        created_at=datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
    )


def mug_order(total: str = "117.00") -> Order:
    """2 mugs at 48.50 with 5.00 off, plus 25.00 shipping: 117.00, VAT included."""
    return make_order(
        [
            Line(
                description="Mug",
                quantity=Decimal(2),
                unit_price=Decimal("48.50"),
                discount=Decimal(5),
                tax_rate=Decimal(20),
            ),
            Line(
                kind="shipping", description="Shipping", quantity=Decimal(1), unit_price=Decimal(25)
            ),
        ],
        total,
    )


def request(order: Order, kind: DocumentKind = "invoice", **extra: Any) -> DocumentRequest:
    return DocumentRequest(kind=kind, order=order, reference="ib-ref-1", email=False,
                           documents=extra.pop("documents", DOCS), issue_date=DAY,
                           **extra)  # fmt: skip


def totals_of(fields: dict[str, Any]) -> Decimal:
    """Read the built lines back from their strings, as the sandbox does, and total them."""
    lines = [
        ServiceLine(Decimal(s["DocumentServiceQty"]), Decimal(s["DocumentServiceSinglePrice"]),
                    Decimal(s["DocumentServiceVatPercent"]), Decimal(s["DocumentServiceDiscount"]))
        for s in fields["DocumentServices"]
    ]  # fmt: skip
    return document_totals(lines).total


def leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    return [value]


# --- signature and nonces ------------------------------------------------------------


def test_signature_matches_an_independent_hmac() -> None:
    """HMAC-SHA256(secret, nonce+WareHouseID+api_key), uppercase hex, as providers.md D.3.2."""
    nonce, warehouse_id, api_key, secret = 1715000000, 785, "K", "S3cret"
    by_hand = hmac.new(b"S3cret", b"1715000000785K", hashlib.sha256).hexdigest().upper()
    sig = (
        hmac.new(secret.encode(), f"{nonce}{warehouse_id}{api_key}".encode(), hashlib.sha256)
        .hexdigest()
        .upper()
    )  # fmt: skip  (providers.md's line)
    assert sign(nonce, warehouse_id, api_key, secret) == by_hand == sig
    assert len(by_hand) == 64 and by_hand == by_hand.upper()
    assert sign(nonce + 1, warehouse_id, api_key, secret) != by_hand


def test_nonces_are_milliseconds_and_strictly_increasing() -> None:
    """Same millisecond and a clock stepping back still give strictly larger nonces."""
    now = [1_715_000_000_123_456_789]
    nonces = NonceSource(lambda: now[0])
    first = nonces()
    assert first == 1_715_000_000_123
    second = nonces()  # the same millisecond
    now[0] -= 5_000_000_000  # the clock steps back 5 s
    third = nonces()
    now[0] += 10_000_000_000  # and then well past where it was
    fourth = nonces()
    assert first < second < third < fourth
    assert (second, third, fourth) == (first + 1, first + 2, 1_715_000_005_123)


@given(st.text(max_size=80))
def test_import_ref_id_is_deterministic_and_in_range(reference: str) -> None:
    """The same reference always maps to the same integer in [1, 2**53)."""
    value = import_ref_id(reference)
    assert value == import_ref_id(reference)
    assert 1 <= value < IMPORT_REF_LIMIT == 2**53
    assert len(str(value)) <= 30  # fits new-operation's String(30) too


def test_import_ref_ids_differ_between_references() -> None:
    """Distinct references (as `sanity_string` makes them) give distinct ids."""
    ids = {import_ref_id(f"ib-{n:024d}") for n in range(5000)}
    assert len(ids) == 5000


# --- form bodies ---------------------------------------------------------------------


def test_form_flattens_services_as_php_arrays() -> None:
    """Services go out as DocumentServices[i][Field]; None is left out; ints and bools as text."""
    services = [{"DocumentServiceQty": "2"}, {"DocumentServiceDescription": "Mug"}]
    pairs = form_fields({"nonce": 17, "DocumentServices": services, "ses": None, "x": True})
    assert pairs == [
        ("nonce", "17"),
        ("DocumentServices[0][DocumentServiceQty]", "2"),
        ("DocumentServices[1][DocumentServiceDescription]", "Mug"),
        ("x", "1"),
    ]


def test_form_refuses_floats() -> None:
    """A float has no exact text form, so it never reaches the wire."""
    with pytest.raises(TypeError):
        form_fields({"DocumentServices": [{"DocumentServiceSinglePrice": 1.1}]})


# --- totals and the document ---------------------------------------------------------


def test_totals_rule_golden_case() -> None:
    """Line totals round half-up once; the base is each VAT group's gross less its VAT."""
    lines = [ServiceLine(Decimal(2), Decimal("48.50"), Decimal(20), Decimal("5.15464")),
             ServiceLine(Decimal(1), Decimal(25), Decimal(20))]  # fmt: skip
    assert line_total(lines[0]) == Decimal("92.00")
    totals = document_totals(lines)
    assert (totals.total, totals.base, totals.vat) == (Decimal("117.00"), Decimal("97.50"),
                                                       Decimal("19.50"))  # fmt: skip


def test_invoice_with_discount_has_the_exact_total() -> None:
    """A VAT-inclusive order with a line discount: percent discount, exact total, no rounding."""
    fields = build_document_fields(request(mug_order()))
    mug, shipping = fields["DocumentServices"]
    assert mug == {"DocumentServiceDescription": "Mug", "DocumentServiceQty": "2",
                   "DocumentServiceSinglePrice": "48.50", "DocumentServiceVatPercent": "20",
                   "DocumentServiceDiscount": "5.15464"}  # fmt: skip
    assert shipping["DocumentServiceVatPercent"] == "20"  # default_vat_percent
    assert totals_of(fields) == Decimal("117.00")
    assert (fields["DocumentType"], fields["DocumentSubType"]) == ("INVOICE", "NORMAL")
    assert fields["ImportSource"] == IMPORT_SOURCE
    assert fields["ImportRefID"] == str(import_ref_id("ib-ref-1"))
    assert "DocumentPayTypeID" not in fields and "DocumentToDocumentID" not in fields


def test_a_cent_off_becomes_a_rounding_line() -> None:
    """When the shop's total differs by a cent, a 0% VAT rounding line makes it exact."""
    fields = build_document_fields(request(mug_order("116.99")))
    rounding = fields["DocumentServices"][-1]
    assert rounding == {"DocumentServiceDescription": "Rounding", "DocumentServiceQty": "1",
                        "DocumentServiceSinglePrice": "-0.01", "DocumentServiceVatPercent": "0",
                        "DocumentServiceDiscount": "0"}  # fmt: skip
    assert totals_of(fields) == Decimal("116.99")


def test_a_wrong_total_is_refused() -> None:
    """Beyond max_rounding the document is never sent: TotalMismatch."""
    with pytest.raises(TotalMismatch):
        build_document_fields(request(mug_order("118.00")))


def test_vat_exclusive_lines_are_grossed_up_by_their_own_tax() -> None:
    """Net prices plus the shop's own VAT amounts give the shop's total exactly."""
    order = make_order(
        [Line(description="Lamp", quantity=Decimal(3), unit_price=Decimal("10.00"),
              discount=Decimal("3.00"), tax=Decimal("5.40"), tax_rate=Decimal(20)),
         Line(description="Book", quantity=Decimal(1), unit_price=Decimal("7.33"),
              tax=Decimal("0.66"), tax_rate=Decimal(9))],
        "40.39", inclusive=False,
    )  # fmt: skip
    fields = build_document_fields(request(order))
    lamp, book = fields["DocumentServices"]
    assert (lamp["DocumentServiceSinglePrice"], lamp["DocumentServiceDiscount"]) == ("12.00", "10")
    assert book["DocumentServiceVatPercent"] == "9"
    assert totals_of(fields) == Decimal("40.39") and len(fields["DocumentServices"]) == 2


@given(
    st.lists(
        st.tuples(st.integers(1, 5), st.integers(0, 20_000), st.integers(0, 100)),
        min_size=1,
        max_size=6,
    )
)
def test_any_inclusive_order_gets_its_exact_total(specs: list[tuple[int, int, int]]) -> None:
    """Whatever the lines and discounts, the document total equals the shop total."""
    lines = [
        Line(description=f"Item {i}", quantity=Decimal(qty), unit_price=Decimal(cents) / 100,
             discount=Decimal(cents * qty * pct // 100) / 100, tax_rate=Decimal(20))
        for i, (qty, cents, pct) in enumerate(specs)
    ]  # fmt: skip
    order = make_order(lines, "0")
    order = order.model_copy(update={"total": order.lines_total()})
    fields = build_document_fields(request(order))
    assert totals_of(fields) == order.total
    assert all(isinstance(leaf, str | int) for leaf in leaves(fields))


def test_invrec_carries_the_payment_and_no_float_anywhere() -> None:
    """An invoice-receipt names its pay type and date; every value is text or an integer."""
    docs = DOCS.model_copy(update={"payment_method": "banktransfer"})
    fields = build_document_fields(request(mug_order(), "invrec", documents=docs))
    assert (fields["DocumentPayTypeID"], fields["DocumentPayDate"]) == (2, "2024-05-01")
    assert all(
        isinstance(leaf, str | int) and not isinstance(leaf, bool) for leaf in leaves(fields)
    )
    assert not any(
        "E" in value.upper()
        for key, value in form_fields(fields)
        if "Service" in key and "Description" not in key
    )


def test_credit_note_refers_to_its_invoice() -> None:
    """A refund is an INVOICE of subtype CREDIT pointing at the invoice's DocumentID."""
    fields = build_document_fields(request(mug_order(), "refund", based_on=INVOICE))
    assert (fields["DocumentSubType"], fields["DocumentToDocumentID"]) == ("CREDIT", "7")
    assert fields["DocumentComment"] == "Credit note for order #1001"
    with pytest.raises(Permanent) as caught:
        build_document_fields(request(mug_order(), "refund"))
    assert caught.value.reason == "missing_base_document"


def test_receipts_and_odd_amounts_are_refused() -> None:
    """A receipt would invoice the sale twice; 3-decimal totals do not fit DECIMAL(15,2)."""
    with pytest.raises(Permanent) as receipt:
        build_document_fields(request(mug_order(), "receipt", based_on=INVOICE))
    assert receipt.value.reason == "receipt_unsupported"
    with pytest.raises(Permanent) as odd:
        build_document_fields(request(mug_order("117.005")))
    assert odd.value.reason == "unsupported_amount"


def test_company_customer_fields() -> None:
    """A company is the contragent, the person its MOL; an EU VAT id is also the VAT number."""
    order = mug_order().model_copy(update={"customer": Customer(
        name="Dana Ivanova", company="Acme OOD", vat_id="BG123456789", address="1 Main St",
        city="Sofia", postcode="1000", country="BG")})  # fmt: skip
    fields = build_document_fields(request(order))
    assert fields["DocumentContragentName"] == "Acme OOD"
    assert fields["DocumentContragentMOL"] == "Dana Ivanova"
    assert fields["DocumentContragentAddress"] == "1 Main St, 1000 Sofia, BG"
    assert fields["DocumentContragentTaxNum"] == fields["DocumentContragentTaxNumVatReg"]


def test_a_vat_id_reaches_icash_without_the_whitespace_around_it() -> None:
    order = mug_order().model_copy(update={"customer": Customer(
        name="Dana Ivanova", company="Acme OOD", vat_id=" BG123456789\n")})  # fmt: skip
    fields = build_document_fields(request(order))
    assert fields["DocumentContragentTaxNumVatReg"] == "BG123456789"
    assert fields["DocumentContragentTaxNum"] == "BG123456789"


def test_document_ref_reads_credit_notes_and_numbers() -> None:
    """A list row becomes a DocumentRef with the doctype CREDIT for credit notes."""
    row = {"DocumentID": 9, "DocumentNum": 1000000123, "DocumentType": "INVOICE",
           "DocumentSubType": "CREDIT", "DocumentTotalPrice": "24.00"}  # fmt: skip
    assert document_ref(row) == DocumentRef(doctype="CREDIT", docnum="1000000123", doc_id="9",
                                            total=Decimal("24.00"))  # fmt: skip


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
