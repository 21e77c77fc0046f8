"""The PDF our SMTP sends for an iCash document, rendered from `get-document`.

iCash documents no call that returns a document's PDF (its one PDF call,
`download-einvoice`, is Albania's e-invoice only), so the worker renders one: a
one-page PDF 1.4 in Helvetica with the document's number, date, parties, lines, base,
VAT and total, as `get-document` gives them (seed 003). The cross-reference table holds
the real byte offsets, so readers open it without repairing it.

Helvetica's encoding has no Cyrillic: Bulgarian text is transliterated by the
Streamlined System (the Bulgarian Transliteration Act, 2009), anything else outside
Latin-1 shows as "?". The document in iCash is the original; this is the customer's copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from worker.providers.pdf_file import pdf_file

#: points from the page's top edge to the first line, and between lines
_TOP, _LEADING = 800, 14
#: lines that fit on the one A4 page
_MAX_LINES = 52


#: Bulgarian Cyrillic -> Latin (Streamlined System); upper case is derived
_BG = dict(
    zip(
        "абвгдежзийклмнопрстуфхцчшщъьюяѝ",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "h",
            "ts",
            "ch",
            "sh",
            "sht",
            "a",
            "y",
            "yu",
            "ya",
            "i",
        ],
        strict=True,
    )
)
_LATIN = {ord(c): t for c, t in _BG.items()} | {
    ord(c.upper()): t.capitalize() for c, t in _BG.items()
}


def _escape(text: str) -> bytes:
    clean = text.translate(_LATIN).encode("latin-1", errors="replace")
    return clean.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _content(lines: Sequence[str]) -> bytes:
    shown = b"".join(b"(" + _escape(line) + b") Tj T* " for line in lines[:_MAX_LINES])
    return b"BT /F1 11 Tf %d TL 50 %d Td " % (_LEADING, _TOP) + shown + b"ET"


def render_pdf(lines: Sequence[str]) -> bytes:
    """A one-page PDF showing `lines`, top to bottom."""
    content = _content(lines)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    return pdf_file(objects, header=b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")


def _text(fields: Mapping[str, Any], key: str) -> str:
    value = fields.get(key)
    return "" if value is None else str(value).strip()


def _service_line(service: Mapping[str, Any]) -> str:
    discount = _text(service, "DocumentServiceDiscount")
    try:
        off = f" -{discount}%" if discount and Decimal(discount) else ""
    except ArithmeticError:
        off = f" -{discount}%"
    return (
        f"  {_text(service, 'DocumentServiceDescription')}: {_text(service, 'DocumentServiceQty')}"
        f" x {_text(service, 'DocumentServiceSinglePrice')}{off} "
        f"(VAT {_text(service, 'DocumentServiceVatPercent')}%) = "
        f"{_text(service, 'DocumentServiceTotalPrice')}"
    )


def _vat(fields: Mapping[str, Any]) -> str:
    try:
        total, base = (
            Decimal(_text(fields, "DocumentTotalPrice")),
            Decimal(_text(fields, "DocumentPriceBase")),
        )
        return f"{total - base:f}"
    except ArithmeticError:
        return "?"


def document_pdf(fields: Mapping[str, Any]) -> bytes:
    """The document's PDF: header, parties, lines (net of VAT, as iCash shows them), base,
    VAT and total."""
    credit = _text(fields, "DocumentSubType") == "CREDIT"
    kind = "CREDIT NOTE" if credit else _text(fields, "DocumentType") or "INVOICE"
    currency = _text(fields, "DocumentCurrencyCode")
    referred = _text(fields, "DocumentToDocumentID")
    services = fields.get("DocumentServices")
    lines = [
        f"{kind} {_text(fields, 'DocumentNum')}  ({_text(fields, 'DocumentDate')})",
        "*** DELETED ***" if _text(fields, "DocumentStatus") == "DELETED" else "",
        f"Seller: {_text(fields, 'DocumentFirmName')}, {_text(fields, 'DocumentFirmAddress')}"
        f" (EIK {_text(fields, 'DocumentFirmEIK')})",
        f"Buyer: {_text(fields, 'DocumentContragentName')} "
        f"{_text(fields, 'DocumentContragentTaxNum')}",
        f"Refers to document {referred}" if referred not in ("", "0") else "",
        "Lines:",
        *(
            _service_line(s)
            for s in (services if isinstance(services, list) else [])
            if isinstance(s, Mapping)
        ),
        f"Base {_text(fields, 'DocumentPriceBase')} {currency}",
        f"VAT {_vat(fields)} {currency}",
        f"Total {_text(fields, 'DocumentTotalPrice')} {currency}",
    ]
    return render_pdf([line for line in lines if line])
