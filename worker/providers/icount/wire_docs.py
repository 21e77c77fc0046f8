"""iCount's other document methods, pure: `doc/search` + `doc/info` (finding a document by our
reference) and `doc/email` (sending an issued document again).

`doc/search` has no filter for our reference (docs/providers/icount.md F-DOCX-5), so a
document is found in two steps: list the day's documents of one type for the customer
(`build_doc_searches`: by email, then by name), then read each candidate with `doc/info`,
newest first and at most `MAX_CANDIDATES` (`candidates`), until one carries our reference
(`carries_reference`): its `sanity_string` where iCount shows it, else the comment `hwc`,
which names the reference (`wire._hwc`).

No source shows every answer, so they are read defensively (each shape a marked guess in the
register): the search list under `results_list`, `docs`, `results`, `documents` or `data`, as
a list or an id-keyed object (F-DOCX-6); a document's fields under `doc_info`, `data` or at
the top level (F-DOCX-7); `doc/email`'s per-recipient `email_status` (F-DOCX-9).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from worker.providers.base import DocumentHint
from worker.providers.icount.totals import is_truthy

#: doc/info calls one look-up makes at most, newest documents first
MAX_CANDIDATES = 20
#: doc/search projection asked for: type and number are all we read (mcp and n8n send 1)
SEARCH_DETAIL_LEVEL = 1
#: refusal reasons with which doc/search says "nothing matched" (an empty list, not an error)
NO_RESULTS_REASONS = frozenset({"no_results_found", "not_found", "client_not_found"})

_LIST_KEYS = ("results_list", "docs", "results", "documents", "data")
_INFO_KEYS = ("doc_info", "data")
_COMMENT_KEYS = ("hwc", "comment")


def build_doc_searches(doctype: str, hint: DocumentHint) -> list[dict[str, object]]:
    """The `doc/search` bodies of one look-up, in order: the documents of `doctype` dated
    `hint.issue_date` for the customer's email, then for the customer's name."""
    day = hint.issue_date.isoformat()
    base: dict[str, object] = {
        "doctype": doctype,
        "start_date": day,
        "end_date": day,
        "detail_level": SEARCH_DETAIL_LEVEL,
        "max_results": MAX_CANDIDATES,
    }
    customer = hint.customer
    searches = [{**base, "email": customer.email}] if customer.email else []
    return [*searches, {**base, "client_name": customer.name}]


def _rows(value: object) -> list[Mapping[str, Any]] | None:
    if isinstance(value, list):
        return [row for row in value if isinstance(row, Mapping)]
    if isinstance(value, Mapping):  # keyed by id, or one more envelope
        rows = [row for row in value.values() if isinstance(row, Mapping)]
        return rows or next((r for r in map(_rows, value.values()) if r), None)
    return None


def search_rows(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The documents a `doc/search` answer lists, wherever and however it lists them."""
    for key in _LIST_KEYS:
        rows = _rows(data.get(key))
        if rows:
            return rows
    return []


def _docnum(row: Mapping[str, Any]) -> str | None:
    value = row.get("docnum", row.get("doc_number"))
    return None if value in (None, "") else str(value)


def _newest_first(docnum: str) -> tuple[int, int, str]:
    return (0, -int(docnum), "") if docnum.isdigit() else (1, 0, docnum)


def candidates(rows: Sequence[Mapping[str, Any]], limit: int = MAX_CANDIDATES) -> list[str]:
    """The document numbers worth reading, each once, highest (newest) first, at most `limit`.

    Rows are not filtered by type: the search asked for one, and the reference decides."""
    numbers = dict.fromkeys(n for n in map(_docnum, rows) if n is not None)
    return sorted(numbers, key=_newest_first)[:limit]


def info_fields(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """A `doc/info` answer's document: under `doc_info` or `data`, else the answer itself."""
    for key in _INFO_KEYS:
        nested = data.get(key)
        if isinstance(nested, Mapping):
            return nested
    return data


def carries_reference(info: Mapping[str, Any], reference: str) -> bool:
    """Whether the document was made for `reference`: its `sanity_string` decides where iCount
    shows one; else the reference written into its comment (`hwc`)."""
    sanity = info.get("sanity_string")
    if sanity not in (None, ""):
        return str(sanity) == reference
    return any(reference in str(info.get(key) or "") for key in _COMMENT_KEYS)


def docnum_value(docnum: str) -> int | str:
    """A document number as the look-up and email methods take it: an integer where it is one."""
    return int(docnum) if docnum.isdigit() else docnum


def build_doc_email(doctype: str, docnum: str, email: str) -> dict[str, object]:
    """The `doc/email` body: email the issued document `doctype` `docnum` to `email`."""
    return {"doctype": doctype, "docnum": docnum_value(docnum), "email_to": email}


def email_confirmed(data: Mapping[str, Any], email: str) -> bool:
    """Whether a `doc/email` answer confirms that `email` was sent the document.

    An answer without `email_status` is taken at its word (`status: true`); one with it must
    name `email` as sent, since iCount falls back to the client card's address silently."""
    statuses = data.get("email_status")
    if not isinstance(statuses, Mapping):
        return True
    want = email.strip().lower()
    for key, status in statuses.items():
        detail = status if isinstance(status, Mapping) else {"email_sent": status}
        address = detail.get("email") or detail.get("addr") or key
        if str(address).strip().lower() == want and is_truthy(detail.get("email_sent")):
            return True
    return False
