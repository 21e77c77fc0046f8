"""The iDoklad v2 resources the sandbox serves, over `SandboxState`, plus the token endpoint.

Handlers run after `sandbox`'s middleware has checked the bearer token (the
caller's `Company` is `request[COMPANY]`), the rate limit and the fault plan;
they answer JSON (numbers from `Decimal`, via `wire.dumps`) or raise `ApiError`.
Single entities are bare objects, lists the `{Data, TotalItems, TotalPages}`
envelope. Sandbox-defined answers: `FullyPay` and `SendMailToPurchaser` answer
`true`; `Mails/*/Send` answers `{"Sent": [...], "NotSent": []}`; `GetPdf` a JSON
string (base64); `Test/GetActualApiLimit` `{"RateLimitPerSecond": n | null}`.
A missing entity is a 404 `{"Message": ...}`.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Collection, Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDict

from sandboxes.idoklad.documents import (
    document_pdf,
    fully_pay,
    invoice_default,
    new_invoice,
)
from sandboxes.idoklad.models import (
    COUNTRIES,
    CURRENCIES,
    VAT_RATE_LIST,
    ApiError,
    contact_default,
    new_contact,
)
from sandboxes.idoklad.query import FIELDS, FieldType, select
from sandboxes.idoklad.state import COMPANY, STATE, Company
from worker.providers.idoklad.wire import dumps, loads

TOKEN_PATH = "/server/connect/token"  # noqa: S105 (a URL path, not a secret)
_CODE_LISTS = {"Currencies": CURRENCIES, "Countries": COUNTRIES, "VatRates": VAT_RATE_LIST}
_TESTS = {
    "PaymentRequired": (402, "The subscription has expired or is insufficient."),
    "DowngradeNeeded": (403, "A manual downgrade of the plan is needed in iDoklad."),
}


def answer(
    data: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response written with `wire.dumps` (no floats)."""
    return web.Response(
        text=dumps(data), status=status, headers=headers, content_type="application/json"
    )


def company_of(request: web.Request) -> Company:
    return request[COMPANY]


async def body_of(request: web.Request) -> dict[str, Any]:
    """The JSON object body. Raises ApiError (400) when it is not one."""
    try:
        data = loads(await request.read())
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ApiError(
            400, "The request is invalid.", {"model": ["The body must be a JSON object."]}
        )
    return data


def _entity(entities: Mapping[int, dict[str, Any]], request: web.Request) -> dict[str, Any]:
    entity = entities.get(int(request.match_info["id"]))
    if entity is None:
        raise ApiError(404, f"Entity {request.match_info['id']} was not found.")
    return entity


# --- contacts -------------------------------------------------------------------------------


def listing(
    request: web.Request, entities: Collection[dict[str, Any]], fields: Mapping[str, FieldType]
) -> web.Response:
    """A list answer for the query (names case-insensitive, as ASP.NET binds them: `PageSize`
    in seed 004, `pagesize` from clients); `filter` is skipped while `ignore_filters` is on."""
    skipped = {"filter"} if request.app[STATE].ignore_filters else set()
    query = MultiDict((k.lower(), v) for k, v in request.query.items() if k.lower() not in skipped)
    return answer(select(entities, query, fields))


async def list_contacts(request: web.Request) -> web.Response:
    return listing(request, company_of(request).contacts.values(), FIELDS["Contacts"])


async def contact_template(request: web.Request) -> web.Response:
    return answer(contact_default())


async def get_contact(request: web.Request) -> web.Response:
    return answer(_entity(company_of(request).contacts, request))


async def post_contact(request: web.Request) -> web.Response:
    state, company = request.app[STATE], company_of(request)
    contact = new_contact(await body_of(request), state.new_id())
    company.contacts[contact["Id"]] = contact
    return answer(contact)


# --- issued invoices and credit notes -------------------------------------------------------


async def list_invoices(request: web.Request) -> web.Response:
    fields = dict(FIELDS["IssuedInvoices"])
    if not request.app[STATE].order_number_filter:
        del fields["OrderNumber"]
    return listing(request, company_of(request).invoices.values(), fields)


async def invoice_template(request: web.Request) -> web.Response:
    return answer(invoice_default(company_of(request)))


async def get_invoice(request: web.Request) -> web.Response:
    return answer(_entity(company_of(request).invoices, request))


async def post_invoice(request: web.Request) -> web.Response:
    body = await body_of(request)
    return answer(new_invoice(company_of(request), body, request.app[STATE].new_id()))


async def pay_invoice(request: web.Request) -> web.Response:
    fully_pay(_entity(company_of(request).invoices, request), request.query.get("dateOfPayment"))
    return answer(True)


async def invoice_pdf(request: web.Request) -> web.Response:
    pdf = document_pdf("Invoice", _entity(company_of(request).invoices, request))
    return answer(base64.b64encode(pdf).decode())


async def list_credit_notes(request: web.Request) -> web.Response:
    notes = company_of(request).credit_notes.values()
    return listing(request, notes, FIELDS["CreditNotes"])


async def get_credit_note(request: web.Request) -> web.Response:
    return answer(_entity(company_of(request).credit_notes, request))


async def pay_credit_note(request: web.Request) -> web.Response:
    document = _entity(company_of(request).credit_notes, request)
    fully_pay(document, request.query.get("dateOfPayment"))
    return answer(True)


async def credit_note_pdf(request: web.Request) -> web.Response:
    pdf = document_pdf("Credit note", _entity(company_of(request).credit_notes, request))
    return answer(base64.b64encode(pdf).decode())


# --- email ----------------------------------------------------------------------------------


def _purchaser_email(company: Company, document: Mapping[str, Any]) -> str:
    email = str(company.contacts.get(document["PurchaserId"], {}).get("Email") or "")
    if not email:
        raise ApiError(400, "The request is invalid.", {"Email": ["The purchaser has no email."]})
    return email


async def mail_invoice_to_purchaser(request: web.Request) -> web.Response:
    company = company_of(request)
    invoice = _entity(company.invoices, request)
    to = _purchaser_email(company, invoice)
    request.app[STATE].record_email(company, "IssuedInvoice", invoice, to)
    return answer(True)


async def send_mail(request: web.Request) -> web.Response:
    """`POST Mails/IssuedInvoice/Send` and `Mails/CreditNote/Send`."""
    company, body = company_of(request), await body_of(request)
    doctype = "CreditNote" if request.match_info["kind"] == "CreditNote" else "IssuedInvoice"
    documents = company.credit_notes if doctype == "CreditNote" else company.invoices
    document = documents.get(body.get("DocumentId"))  # type: ignore[arg-type]
    if document is None:
        raise ApiError(400, "The request is invalid.", {"DocumentId": ["No such document."]})
    others = body.get("OtherRecipients") or []
    if not isinstance(others, list) or len(others) > 5 or not all("@" in str(o) for o in others):
        raise ApiError(400, "The request is invalid.", {"OtherRecipients": ["0-5 addresses."]})
    recipients = [str(o) for o in others]
    if body.get("SendToPurchaser", True):
        recipients.insert(0, _purchaser_email(company, document))
    if not recipients:
        raise ApiError(400, "The request is invalid.", {"model": ["No recipient."]})
    for to in recipients:
        request.app[STATE].record_email(company, doctype, document, to)
    return answer({"Sent": recipients, "NotSent": []})


# --- code lists and test endpoints ----------------------------------------------------------


async def code_list(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    return listing(request, _CODE_LISTS[name], FIELDS[name])


async def test_endpoint(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name == "RateLimitExceeded":
        raise ApiError(429, "The API limit was exceeded (test endpoint).", retry_after=60)
    if name == "GetActualApiLimit":
        return answer({"RateLimitPerSecond": request.app[STATE].limiter.rate})
    if name in _TESTS:
        raise ApiError(*_TESTS[name])
    raise ApiError(404, f"No test endpoint {name}.")


# --- OAuth2 token endpoint ------------------------------------------------------------------


def _oauth_error(code: str) -> web.Response:
    return answer({"error": code}, status=400)


async def token(request: web.Request) -> web.Response:
    """`POST /server/connect/token` (form): client credentials → a bearer token."""
    state = request.app[STATE]
    form = await request.post()
    fields = {key: str(value) for key, value in form.items()}
    state.log_request("POST", "connect/token", {}, fields)
    secret = state.clients.get(fields.get("client_id", ""))
    given = fields.get("client_secret", "")
    if fields.get("grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type")
    if secret is None or not hmac.compare_digest(secret.encode(), given.encode()):
        return _oauth_error("invalid_client")
    if "idoklad_api" not in fields.get("scope", "").split():
        return _oauth_error("invalid_scope")
    access = state.issue_token(fields["client_id"])
    return answer({"access_token": access, "expires_in": state.token_ttl_s, "token_type": "Bearer"})


def add_api_routes(app: web.Application, prefix: str = "/v2") -> None:
    """Register the token endpoint and every API resource under `prefix`."""
    r, n = app.router, r"{id:\d+}"
    app.router.add_post(TOKEN_PATH, token)
    for method, path, handler in [
        ("GET", "Contacts", list_contacts),
        ("GET", "Contacts/Default", contact_template),
        ("GET", f"Contacts/{n}", get_contact),
        ("POST", "Contacts", post_contact),
        ("GET", "IssuedInvoices", list_invoices),
        ("GET", "IssuedInvoices/Default", invoice_template),
        ("GET", f"IssuedInvoices/{n}", get_invoice),
        ("POST", "IssuedInvoices", post_invoice),
        ("PUT", f"IssuedInvoices/{n}/FullyPay", pay_invoice),
        ("PUT", f"IssuedInvoices/{n}/SendMailToPurchaser", mail_invoice_to_purchaser),
        ("GET", f"IssuedInvoices/{n}/GetPdf", invoice_pdf),
        ("GET", "CreditNotes", list_credit_notes),
        ("GET", f"CreditNotes/{n}", get_credit_note),
        ("PUT", f"CreditNotes/{n}/FullyPay", pay_credit_note),
        ("GET", f"Reports/CreditNote/{n}/Pdf", credit_note_pdf),
        ("POST", "Mails/{kind:IssuedInvoice|CreditNote}/Send", send_mail),
        ("GET", "{name:Currencies|Countries|VatRates}", code_list),
        ("GET", "Test/{name}", test_endpoint),
    ]:
        r.add_route(method, f"{prefix}/{path}", handler)
