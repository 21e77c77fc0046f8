"""Which documents the iCount sandbox's `doc/search` lists (docs/providers/icount.md F-DOCX-5, 6).

- Filters: `doctype`, `docnum`, `client_id`, `vat_id` (exact), `client_name` (a part of the
  name, any case), `email` (exact, any case), `start_date` / `end_date` (the document date,
  both ends included; `YYYY-MM-DD`, or `YYYYMMDD` as one public client sends them).
- `detail_level` (0 to 10), `max_results`, `offset`, `sort_field`, `sort_order` and `status`
  are accepted and change nothing: live iCount echoes `max_results` and `offset` unused
  (there is no paging), and the sandbox answers one row shape, oldest document first.
- A body without any filter is refused `empty_query`; no match is refused `no_results_found`;
  more than `SEARCH_LIMIT` matches is refused `too_many_results`, with the true
  `results_count`, as the live service does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sandboxes.icount.rules import Refusal
from sandboxes.icount.state import Document

#: matches above this are refused `too_many_results`, not listed
SEARCH_LIMIT = 100
#: the fields that filter; a search naming none of them is refused `empty_query`
FILTERS = (
    "doctype",
    "docnum",
    "client_id",
    "vat_id",
    "client_name",
    "email",
    "start_date",
    "end_date",
)
_EXACT = ("doctype", "docnum", "client_id", "vat_id")
_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d")


def _given(body: Mapping[str, Any], key: str) -> bool:
    return body.get(key) not in (None, "")


def _day(body: Mapping[str, Any], key: str) -> str | None:
    if not _given(body, key):
        return None
    text = str(body[key]).strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise Refusal("bad_request", f"{key} must be a date (YYYY-MM-DD)")


def _check_options(body: Mapping[str, Any]) -> None:
    for key, high in (("detail_level", 10), ("max_results", None), ("offset", None)):
        if not _given(body, key):
            continue
        try:
            value = int(body[key])
        except (TypeError, ValueError):
            raise Refusal("bad_request", f"{key} must be an integer") from None
        if value < 0 or (high is not None and value > high):
            raise Refusal("bad_request", f"{key} is out of range")


def _matches(document: Document, body: Mapping[str, Any], days: tuple[str | None, ...]) -> bool:
    view = document.search_row()
    if any(_given(body, k) and str(body[k]) != str(view[k] or "") for k in _EXACT):
        return False
    name = str(body.get("client_name") or "").lower()
    if name and name not in str(view["client_name"] or "").lower():
        return False
    email = str(body.get("email") or "").lower()
    if email and email != str(view["email"] or "").lower():
        return False
    start, end, day = *days, document.doc_date
    return (start is None or day >= start) and (end is None or day <= end)


def search(documents: Sequence[Document], body: Mapping[str, Any]) -> list[Document]:
    """The documents (of one account) that `doc/search` with `body` lists, oldest first.

    Raises:
        Refusal: `empty_query`, `bad_request`, `no_results_found` or `too_many_results`.
    """
    _check_options(body)
    if not any(_given(body, key) for key in FILTERS):
        raise Refusal("empty_query", "a document search needs at least one filter")
    days = (_day(body, "start_date"), _day(body, "end_date"))
    found = [document for document in documents if _matches(document, body, days)]
    if not found:
        raise Refusal("no_results_found", "no document matches the search")
    if len(found) > SEARCH_LIMIT:
        raise Refusal(
            "too_many_results",
            f"{len(found)} documents match; narrow the search",
            results_count=len(found),
        )
    return found
