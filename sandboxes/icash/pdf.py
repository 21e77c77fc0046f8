"""A tiny, valid one-page PDF of a sandbox document (PDF 1.4, Helvetica, no dependencies).

The text is Latin-1 (other characters show as "?"); the cross-reference table
holds the real byte offsets, so PDF readers open it without repairing it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: points from the page's top edge to the first line, and between lines
_TOP, _LEADING = 800, 14
#: lines that fit on the one A4 page
_MAX_LINES = 52


def _escape(text: str) -> bytes:
    clean = text.encode("latin-1", errors="replace")
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
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _service_line(service: Mapping[str, Any]) -> str:
    return (
        f"  {service['DocumentServiceDescription']}: {service['DocumentServiceQty']} x "
        f"{service['DocumentServiceSinglePrice']} -{service['DocumentServiceDiscount']}% "
        f"(VAT {service['DocumentServiceVatPercent']}%) = {service['DocumentServiceTotalPrice']}"
    )


def document_pdf(fields: Mapping[str, Any]) -> bytes:
    """The document's PDF: header, parties, lines and totals."""
    kind = "CREDIT NOTE" if fields["DocumentSubType"] == "CREDIT" else fields["DocumentType"]
    currency = fields["DocumentCurrencyCode"]
    lines = [
        f"{kind} {fields['DocumentNum']}  ({fields['DocumentDate']})",
        "*** DELETED ***" if fields["DocumentStatus"] == "DELETED" else "",
        f"Seller: {fields['DocumentFirmName']}, {fields['DocumentFirmAddress']}",
        f"Buyer: {fields['DocumentContragentName']} {fields['DocumentContragentTaxNum']}",
        f"Refers to document {fields['DocumentToDocumentID']}"
        if fields["DocumentToDocumentID"]
        else "",
        "Lines:",
        *(_service_line(service) for service in fields["DocumentServices"]),
        f"Base {fields['DocumentPriceBase']} {currency}",
        f"Total {fields['DocumentTotalPrice']} {currency}",
        f"{fields['DocumentComment']}  [iCash sandbox]",
    ]
    return render_pdf([line for line in lines if line])
