"""The PDF our SMTP sends for an iCash document, rendered from `get-document` (iCash
documents no PDF call): seed 003's example document."""

from __future__ import annotations

import re

from worker.providers.icash.pdf import document_pdf

#: seed 003's example answer (shortened), Bulgarian text included
SEED_003 = {
    "DocumentID": 1,
    "DocumentStatus": "NORMAL",
    "DocumentNum": 1,
    "DocumentType": "INVOICE",
    "DocumentSubType": "NORMAL",
    "DocumentDate": "2016-09-26",
    "DocumentFirmName": "Concord company Ltd.",
    "DocumentFirmAddress": "Несебър, Address line 1",
    "DocumentFirmEIK": "1234567890",
    "DocumentContragentName": "Investment Holding Ltd",
    "DocumentContragentTaxNum": "115825956",
    "DocumentToDocumentID": 0,
    "DocumentPriceBase": "20.00",
    "DocumentTotalPrice": "24.00",
    "DocumentCurrencyCode": "EUR",
    "DocumentServices": [
        {
            "DocumentServiceDescription": "Ножици за педикюр",
            "DocumentServiceVatPercent": 20,
            "DocumentServiceSinglePrice": "20.000000",
            "DocumentServiceQty": "1.00000",
            "DocumentServiceDiscount": "0.00000",
            "DocumentServiceTotalPrice": "20.00",
        }
    ],
}


def test_the_pdf_shows_the_document_its_vat_and_readable_bulgarian() -> None:
    pdf = document_pdf(SEED_003)
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    for text in (
        rb"INVOICE 1  \(2016-09-26\)",
        b"Base 20.00 EUR",
        b"VAT 4.00 EUR",
        b"Total 24.00 EUR",
        b"Nozhitsi za pedikyur: 1.00000 x 20.000000",
        b"Nesebar, Address line 1",
    ):
        assert text in pdf, text
    offset = int(re.findall(rb"startxref\n(\d+)", pdf)[-1])
    assert pdf[offset:].startswith(b"xref")


def test_a_credit_note_names_the_document_it_refers_to() -> None:
    credit = {**SEED_003, "DocumentSubType": "CREDIT", "DocumentToDocumentID": 7}
    pdf = document_pdf(credit)
    assert b"CREDIT NOTE 1" in pdf and b"Refers to document 7" in pdf
