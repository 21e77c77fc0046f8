"""iCount's look-up and email methods, pure (`wire_docs`): the shapes each answer may take
(docs/providers/icount.md F-DOCX-5 to F-DOCX-9)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from worker.domain.events import Customer
from worker.providers.base import DocumentHint
from worker.providers.icount.wire_docs import (
    MAX_CANDIDATES,
    build_doc_email,
    build_doc_searches,
    candidates,
    carries_reference,
    email_confirmed,
    info_fields,
    search_rows,
)

ROWS = [{"doctype": "invrec", "docnum": "30001"}, {"doctype": "invrec", "docnum": "30002"}]
REF = "ib-abcdefghijklmnopqrstuvwx"


def test_searches_ask_for_the_day_by_email_then_by_name() -> None:
    """F-DOCX-5: one day (start = end = the issue date), one doctype; email first, then name;
    a customer without email is searched by name only."""
    hint = DocumentHint(date(2024, 5, 1), Customer(name="Dana Levi", email="dana@example.com"))
    by_email, by_name = build_doc_searches("invrec", hint)
    assert by_email == {
        "doctype": "invrec",
        "start_date": "2024-05-01",
        "end_date": "2024-05-01",
        "detail_level": 1,
        "max_results": MAX_CANDIDATES,
        "email": "dana@example.com",
    }
    assert by_name["client_name"] == "Dana Levi" and "email" not in by_name
    no_email = DocumentHint(date(2024, 5, 1), Customer(name="Dana Levi"))
    assert [set(s) - set(by_name) for s in build_doc_searches("refund", no_email)] == [set()]


@pytest.mark.parametrize(
    "answer",
    [
        {"status": True, "results_list": ROWS, "results_count": 2},
        {"status": True, "docs": ROWS, "matched": 2},
        {"status": True, "results": {"7": ROWS[0], "9": ROWS[1]}},
        {"status": True, "data": ROWS},
        {"status": True, "data": {"results_list": ROWS}},
    ],
    ids=["results_list", "docs", "id-keyed-results", "data-list", "data-envelope"],
)
def test_search_rows_wherever_the_answer_lists_them(answer: dict[str, Any]) -> None:
    """F-DOCX-6: the list under results_list, docs, results or data, a list or an id-keyed
    object, or one envelope deeper."""
    assert search_rows(answer) == ROWS


def test_an_answer_without_rows_lists_none() -> None:
    """F-DOCX-6: no list anywhere (or an empty one) is no candidate, not an error."""
    assert search_rows({"status": True, "results_list": []}) == []
    assert search_rows({"status": True, "results_count": 0}) == []


def test_candidates_are_newest_first_unique_and_bounded() -> None:
    """F-DOCX-5: highest number first, each once, rows without a number skipped, at most
    `limit` (20 by default)."""
    rows: list[dict[str, Any]] = [{"docnum": str(n)} for n in range(30001, 30031)]
    rows += [{"doc_number": 30030}, {"docnum": ""}, {"doctype": "invrec"}]
    picked = candidates(rows)
    assert picked[:3] == ["30030", "30029", "30028"] and len(picked) == MAX_CANDIDATES
    assert candidates(rows, limit=2) == ["30030", "30029"]


@pytest.mark.parametrize(
    "answer",
    [
        {"status": True, "doc_info": {"docnum": "30001", "hwc": "x"}},
        {"status": True, "data": {"docnum": "30001", "hwc": "x"}},
        {"status": True, "docnum": "30001", "hwc": "x"},
    ],
    ids=["doc_info", "data", "top-level"],
)
def test_info_fields_wherever_they_are(answer: dict[str, Any]) -> None:
    """F-DOCX-7: a document's fields under doc_info (live), data, or at the top level."""
    assert (info_fields(answer)["docnum"], info_fields(answer)["hwc"]) == ("30001", "x")


@pytest.mark.parametrize(
    ("info", "carries"),
    [
        ({"sanity_string": REF, "hwc": "Order #1"}, True),
        ({"sanity_string": "ib-other", "hwc": f"Order #1 · ref {REF}"}, False),
        ({"hwc": f"Order #1001 · ref {REF}"}, True),
        ({"sanity_string": "", "comment": f"ref {REF}"}, True),
        ({"hwc": "Order #1001 · ref ib-other"}, False),
        ({}, False),
    ],
)
def test_a_document_carries_our_reference(info: dict[str, Any], carries: bool) -> None:
    """F-DOCX-7, F-DOC-21: a shown sanity_string decides; else the reference in the comment."""
    assert carries_reference(info, REF) is carries


def test_email_body_and_confirmation() -> None:
    """F-DOCX-8, F-DOCX-9: doctype, docnum (an integer where it is one), email_to; an answer
    confirms only when email_status names our address as sent, or has no email_status."""
    assert build_doc_email("invrec", "30001", "d@x.org") == {
        "doctype": "invrec",
        "docnum": 30001,
        "email_to": "d@x.org",
    }
    sent = {"email_status": {"d@x.org": {"email": "D@X.org", "email_sent": True}}}
    assert email_confirmed(sent, "d@x.org")
    assert email_confirmed({"status": True}, "d@x.org")
    assert email_confirmed({"email_status": {"d@x.org": True}}, "d@x.org")
    other = {"email_status": {"c@x.org": {"email": "c@x.org", "email_sent": True}}}
    failed = {"email_status": {"d@x.org": {"email": "d@x.org", "email_sent": False}}}
    assert not email_confirmed(other, "d@x.org") and not email_confirmed(failed, "d@x.org")
