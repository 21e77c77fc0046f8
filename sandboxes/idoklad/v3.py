"""The two iDoklad API v3 calls the sandbox serves: a credit note's Default model and its POST.

iDoklad v2 (seed 004) lists credit notes for GET and PUT only; v3 documents creating
them (Solitea/IdokladSdk `IdokladSdk/Clients/CreditNoteClient.cs`: `GET
/CreditNotes/Default/{id}`, `POST /CreditNotes`; fact I-10 in docs/providers/idoklad.md).
Every v3 answer is an `ApiResult` envelope, `{Data, ErrorCode, IsSuccess, Message,
StatusCode}` (SDK `Response/ApiResult*.cs`; fact I-14), errors included. The POST body
uses v3 names (`PartnerId`, `CreditedInvoiceId`, `Items`) and needs what the SDK's
`CreditNotePostModel` marks required; the credit note is stored as v2 shows it
(`GET v2/CreditNotes`), so v2 lookups, mail and PDF see it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from sandboxes.idoklad.api import answer, body_of, company_of
from sandboxes.idoklad.documents import credit_note_default, new_credit_note
from sandboxes.idoklad.models import ApiError
from sandboxes.idoklad.state import STATE

PREFIX = "/v3"
#: `CreditNotePostModel` properties the SDK marks [Required] (items aside)
REQUIRED = (
    "CreditedInvoiceId",
    "CreditNoteReason",
    "CurrencyId",
    "DateOfIssue",
    "DateOfMaturity",
    "DateOfTaxing",
    "Description",
    "DocumentSerialNumber",
    "IsEet",
    "IsIncomeTax",
    "NumericSequenceId",
    "PartnerId",
    "PaymentOptionId",
)
#: `CreditNoteItemPostModel` properties the SDK marks [Required]
ITEM_REQUIRED = (
    "Amount",
    "DiscountPercentage",
    "IsTaxMovement",
    "Name",
    "PriceType",
    "UnitPrice",
    "VatRateType",
)


def envelope(data: object, status: int = 200, message: str | None = None) -> dict[str, Any]:
    """A v3 `ApiResult`: `ErrorCode` 0 on success, else the HTTP status (SDK `DokladErrorCode`)."""
    return {
        "Data": data,
        "ErrorCode": 0 if status < 400 else status,
        "IsSuccess": status < 400,
        "Message": message,
        "StatusCode": status,
    }


def error_body(exc: ApiError) -> dict[str, Any]:
    """An `ApiError` as a v3 answer: its model errors folded into `Message`."""
    details = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.model_state or {}).items())
    return envelope(None, exc.status, " ".join(p for p in (exc.message, details) if p))


def _missing(body: Mapping[str, Any]) -> dict[str, list[str]]:
    absent = [name for name in REQUIRED if body.get(name) in (None, "")]
    errors = {name: [f"The {name} field is required."] for name in absent}
    items = body.get("Items")
    for index, item in enumerate(items if isinstance(items, list) else []):
        for name in ITEM_REQUIRED:
            if not isinstance(item, Mapping) or item.get(name) is None:
                errors[f"Items[{index}].{name}"] = [f"The {name} field is required."]
    return errors


async def get_default(request: web.Request) -> web.Response:
    """`GET v3/CreditNotes/Default/{invoiceId}`."""
    company = company_of(request)
    invoice = company.invoices.get(int(request.match_info["id"]))
    if invoice is None:
        raise ApiError(404, f"Issued invoice {request.match_info['id']} was not found.")
    return answer(envelope(credit_note_default(company, invoice)))


def _as_v3(note: Mapping[str, Any]) -> dict[str, Any]:
    renamed = {
        "PurchaserId": "PartnerId",
        "CreditNoteItems": "Items",
        "CreditNoteForDocumentId": "CreditedInvoiceId",
    }
    return {renamed.get(key, key): value for key, value in note.items()}


async def post_credit_note(request: web.Request) -> web.Response:
    """`POST v3/CreditNotes`. Raises ApiError (400) on a body the SDK model would refuse."""
    body = await body_of(request)
    missing = _missing(body)
    if missing:
        raise ApiError(400, "The request is invalid.", missing)
    v2 = {key: value for key, value in body.items() if key not in ("PartnerId", "Items")}
    v2.update(PurchaserId=body["PartnerId"], CreditNoteItems=body.get("Items"))
    company = company_of(request)
    note = new_credit_note(company, v2, request.app[STATE].new_id())
    return answer(envelope(_as_v3(note)))


def add_v3_routes(app: web.Application) -> None:
    """Register the v3 credit note calls (and nothing else of v3)."""
    app.router.add_get(PREFIX + r"/CreditNotes/Default/{id:\d+}", get_default)
    app.router.add_post(PREFIX + "/CreditNotes", post_credit_note)
