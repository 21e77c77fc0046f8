"""The file around a PDF's objects: header, numbered objects, cross-reference table and
trailer. The one writer behind the small one-page PDFs made here (iCash's documents) and
in the iDoklad sandbox."""

from __future__ import annotations

from collections.abc import Sequence


def pdf_file(objects: Sequence[bytes], header: bytes = b"%PDF-1.4\n") -> bytes:
    """A PDF file of `objects` (numbered from 1; the first is the catalog), after `header`."""
    out = bytearray(header)
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
