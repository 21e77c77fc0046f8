"""Issued invoices and credit notes in the iDoklad sandbox: templates, creation, payment, PDF.

Creation checks the body (`models`), prices the items with the shared
totals rule and numbers the document; there is no duplicate guard. `FullyPay`
sets `PaymentStatus` 1 (Paid), `IsPaid` and `DateOfPayment` (the `dateOfPayment`
query value, else today) and is a no-op on a paid document. The PDF is a one-page
PDF 1.4 listing the items and totals (non-Latin-1 characters shown as "?").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandboxes.idoklad.models import (
    CURRENCY_CODES,
    ApiError,
    check_document,
    currency_code,
    priced,
)
from sandboxes.idoklad.state import Company, now_text
from worker.providers.idoklad.wire import MATURITY_DAYS
from worker.providers.pdf_file import pdf_file

INVOICE_PREFIX, CREDIT_NOTE_PREFIX = "", "D"


def today() -> date:
    return datetime.now(UTC).date()


def invoice_default(company: Company) -> dict[str, Any]:
    """`GET IssuedInvoices/Default`: today's dates, CZK, the next number as a preview."""
    day = today()
    serial, number = company.number(INVOICE_PREFIX, day.year, take=False)
    return {
        "PurchaserId": 0,
        "CurrencyId": 1,
        "ExchangeRate": Decimal(1),
        "ExchangeRateAmount": 1,
        "DateOfIssue": day.isoformat(),
        "DateOfTaxing": day.isoformat(),
        "DateOfMaturity": (day + timedelta(days=MATURITY_DAYS)).isoformat(),
        "Maturity": MATURITY_DAYS,
        "Description": "",
        "DocumentNumber": number,
        "DocumentSerialNumber": serial,
        "OrderNumber": "",
        "VariableSymbol": number,
        "Note": "",
        "PaymentOptionId": 1,
        "ConstantSymbolId": None,
        "LanguageId": 1,
        "ItemsTextPrefix": "We invoice you for:",
        "ItemsTextSuffix": "",
        "IssuedInvoiceItems": [],
    }


def _finish(
    company: Company,
    fields: dict[str, Any],
    items: list[dict[str, Any]],
    currency_id: int,
    prefix: str,
    entity_id: int,
) -> dict[str, Any]:
    code = CURRENCY_CODES[currency_id]
    priced_items, money = priced(items, code)
    wanted = fields.pop("DocumentSerialNumber", None)
    year = int(fields["DateOfIssue"][:4])
    serial, number = company.number(prefix, year, take=True, wanted=wanted)
    return {
        "Id": entity_id,
        "DocumentNumber": number,
        "DocumentSerialNumber": serial,
        "CurrencyId": currency_id,
        "ExchangeRate": Decimal(1),
        **fields,
        "DateOfPayment": None,
        "PaymentStatus": 0,
        "IsPaid": False,
        "IsSentToPurchaser": False,
        "Exported": 0,
        "TotalWithoutVat": money.base,
        "TotalVat": money.vat,
        "TotalWithVat": money.total,
        "DateLastChange": now_text(),
        "items": priced_items,
    }


def new_invoice(company: Company, body: Mapping[str, Any], entity_id: int) -> dict[str, Any]:
    """An issued invoice from a `POST IssuedInvoices` body. Raises ApiError (400)."""
    check, fields, items = check_document(body, "IssuedInvoiceItems")
    purchaser, currency = check.integer("PurchaserId"), check.integer("CurrencyId")
    if purchaser is not None and purchaser not in company.contacts:
        check.fail("PurchaserId", f"Contact {purchaser} does not exist.")
    currency_code(check, currency)
    check.done()
    assert currency is not None
    fields["DocumentSerialNumber"] = body.get("DocumentSerialNumber")
    document = _finish(company, fields, items, currency, INVOICE_PREFIX, entity_id)
    document["IssuedInvoiceItems"] = document.pop("items")
    document.update(PurchaserId=purchaser, PaymentOptionId=body.get("PaymentOptionId", 1))
    company.invoices[entity_id] = document
    return document


def _credited(company: Company, body: Mapping[str, Any]) -> dict[str, Any]:
    credited = body.get("CreditNoteForDocumentId", body.get("CreditedInvoiceId"))
    invoice = company.invoices.get(credited) if isinstance(credited, int) else None
    if invoice is None:
        raise ApiError(
            400,
            "The request is invalid.",
            {"CreditNoteForDocumentId": [f"Issued invoice {credited} does not exist."]},
        )
    return invoice


def _remaining(company: Company, invoice: Mapping[str, Any]) -> Decimal:
    credited = sum(
        (
            note["TotalWithVat"]
            for note in company.credit_notes.values()
            if note["CreditNoteForDocumentId"] == invoice["Id"]
        ),
        Decimal(0),
    )
    return Decimal(invoice["TotalWithVat"]) - credited


def new_credit_note(company: Company, body: Mapping[str, Any], entity_id: int) -> dict[str, Any]:
    """A credit note from a body in v2 names (`v3.post_credit_note` maps v3's). Raises ApiError."""
    invoice = _credited(company, body)
    check, fields, items = check_document(body, "CreditNoteItems", issue_default=True)
    currency = check.integer("CurrencyId", body.get("CurrencyId", invoice["CurrencyId"]))
    purchaser = check.integer("PurchaserId", body.get("PurchaserId", invoice["PurchaserId"]))
    if currency is not None and currency != invoice["CurrencyId"]:
        check.fail("CurrencyId", "A credit note is in the currency of the invoice it credits.")
    if purchaser is not None and purchaser not in company.contacts:
        check.fail("PurchaserId", f"Contact {purchaser} does not exist.")
    check.done()
    _, money = priced(items, CURRENCY_CODES[invoice["CurrencyId"]])
    if money.total > _remaining(company, invoice):
        message = f"The credit note exceeds what remains of invoice {invoice['DocumentNumber']}."
        raise ApiError(400, "The request is invalid.", {"CreditNoteItems": [message]})
    fields["DocumentSerialNumber"] = body.get("DocumentSerialNumber")
    currency_id = invoice["CurrencyId"]
    document = _finish(company, fields, items, currency_id, CREDIT_NOTE_PREFIX, entity_id)
    document["CreditNoteItems"] = document.pop("items")
    document.update(
        PurchaserId=purchaser,
        CreditNoteForDocumentId=invoice["Id"],
        CreditNoteReason=str(body.get("CreditNoteReason") or ""),
    )
    company.credit_notes[entity_id] = document
    return document


def credit_note_default(company: Company, invoice: Mapping[str, Any]) -> dict[str, Any]:
    """v3 `GET CreditNotes/Default/{invoiceId}`, in v3 names: the invoice's partner,
    currency and items, today's dates and the next credit note number as a preview."""
    day = today()
    serial, number = company.number(CREDIT_NOTE_PREFIX, day.year, take=False)
    kept = ("Name", "Amount", "UnitPrice", "PriceType", "VatRateType", "VatRate", "Unit")
    items = [
        {**{key: item[key] for key in kept}, "IsTaxMovement": False, "DiscountPercentage": 0}
        for item in invoice["IssuedInvoiceItems"]
    ]
    return {
        "PartnerId": invoice["PurchaserId"],
        "CreditedInvoiceId": invoice["Id"],
        "CurrencyId": invoice["CurrencyId"],
        "DateOfIssue": day.isoformat(),
        "DateOfTaxing": day.isoformat(),
        "DateOfMaturity": (day + timedelta(days=MATURITY_DAYS)).isoformat(),
        "Description": invoice["Description"],
        "CreditNoteReason": "",
        "DocumentNumber": number,
        "DocumentSerialNumber": serial,
        "NumericSequenceId": 2,
        "PaymentOptionId": 1,
        "IsEet": False,
        "IsIncomeTax": True,
        "OrderNumber": "",
        "VariableSymbol": invoice["VariableSymbol"],
        "Note": "",
        "Items": items,
    }


def fully_pay(document: dict[str, Any], day: str | None) -> None:
    """Mark paid (once); `day` is `YYYY-MM-DD` or None for today. Raises ApiError (400)."""
    if document["PaymentStatus"] == 1:
        return
    try:
        paid_on = date.fromisoformat(day[:10]) if day else today()
    except ValueError:
        raise ApiError(
            400, "The request is invalid.", {"dateOfPayment": ["dateOfPayment must be a date."]}
        ) from None
    document.update(
        PaymentStatus=1, IsPaid=True, DateOfPayment=paid_on.isoformat(), DateLastChange=now_text()
    )


def _pdf_text(text: str) -> str:
    safe = text.encode("latin-1", "replace").decode("latin-1")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def render_pdf(lines: list[str]) -> bytes:
    """A minimal, valid one-page PDF showing `lines`."""
    shown = " T* ".join(f"({_pdf_text(line)}) Tj" for line in lines)
    stream = f"BT /F1 11 Tf 50 800 Td 14 TL {shown} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return pdf_file(objects)


def document_pdf(title: str, document: Mapping[str, Any]) -> bytes:
    """The PDF of an invoice or credit note."""
    items = document.get("IssuedInvoiceItems") or document.get("CreditNoteItems") or []
    code = CURRENCY_CODES[document["CurrencyId"]]
    lines = [
        f"{title} {document['DocumentNumber']}",
        f"Issued {document['DateOfIssue']}",
        str(document.get("Description") or ""),
        "",
    ]
    lines += [f"{i['Amount']} x {i['Name']}  {i['PriceTotalWithVat']} {code}" for i in items]
    lines += ["", f"VAT {document['TotalVat']} {code}", f"Total {document['TotalWithVat']} {code}"]
    return render_pdf(lines)
