"""The OpenAPI 3.1 document of `/admin/api/`, built from the same pydantic models the API
validates with, so the document and the behaviour cannot drift apart."""

from __future__ import annotations

from functools import cache
from typing import Any

from handlers.admin.backend import STATES, NoteRequest, RetryRequest

_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_ERRORS = {
    "400": "the body is not JSON",
    "401": "no token, or not a valid one",
    "403": "a viewer token asked to change something",
    "404": "no such event or tenant",
    "409": "the event's state does not allow this",
    "422": "an argument is out of range or malformed",
}


def _answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"application/json": {"schema": schema or {"type": "object"}}}
    return {"description": description, "content": body}


def _operation(
    summary: str,
    ok: str,
    *,
    errors: str = "401",
    body: str | None = None,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One operation: its 200 answer and the problem answers it can give (`errors`: codes)."""
    responses = {"200": _answer(ok)} | {
        code: {
            "description": _ERRORS[code],
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        }
        for code in errors.split()
    }
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body:
        schema = {"schema": {"$ref": f"#/components/schemas/{body}"}}
        operation["requestBody"] = {"required": True, "content": {"application/json": schema}}
    if params:
        operation["parameters"] = params
    return operation


def _param(name: str, where: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema or {"type": "string"},
    }


_EVENT_ID = _param("event_id", "path", "the ledger's event id (evt_…)")
_TENANT = _param("tenant", "path", "tenant id from the configuration")
_FILTERS = [
    _param("tenant", "query", "only this tenant's events"),
    _param("source", "query", "shopify, woocommerce, stripe or standard"),
    _param("order", "query", "order id or number (#1001 or 1001)"),
    _param("state", "query", f"comma-separated states: {', '.join(STATES)}"),
    _param("since", "query", "received at or after: an age like 2h or an ISO time"),
    _param("until", "query", "received at or before: an age like 2h or an ISO time"),
    _param("q", "query", "text in the last error or the order number"),
    _param("limit", "query", "most events returned", type="integer", minimum=1, maximum=1000),
]


_ACTING = "401 403 404 409"  #: what an operator's action on one event can answer
_NOTED = _ACTING + " 400 422"  #: the same with a `NoteRequest` body


def _action(
    summary: str, ok: str, on: dict[str, Any], errors: str, body: str | None = None
) -> dict[str, Any]:
    """The `POST` of an operator's action on one event or tenant (`on`: its path parameter)."""
    return {"post": _operation(summary, ok, errors=errors, body=body, params=[on])}


def _paths() -> dict[str, Any]:
    return {
        "/whoami": {"get": _operation("the token's name and role", "name and role")},
        "/overview": {
            "get": _operation(
                "counts by state, hourly throughput, queue depth, failures per tenant",
                "overview",
                errors="401 422",
                params=[
                    _param(
                        "hours",
                        "query",
                        "hours of history (1-168)",
                        type="integer",
                        minimum=1,
                        maximum=168,
                    )
                ],
            )
        },
        "/events": {
            "get": _operation(
                "find events, newest first", "matching events", errors="401 422", params=_FILTERS
            )
        },
        "/events/{event_id}": {
            "get": _operation(
                "an event, its order's steps with each attempt, and operator actions",
                "detail",
                errors="401 404",
                params=[_EVENT_ID],
            )
        },
        "/events/{event_id}/retry": _action(
            "queue a failed, needs-attention or stuck event again", "retried", _EVENT_ID, _ACTING
        ),
        "/events/{event_id}/discard": _action(
            "mark an unfinished event discarded (final)", "done", _EVENT_ID, _NOTED, "NoteRequest"
        ),
        "/events/{event_id}/resolve": _action(
            "mark an unfinished event resolved by hand (final)",
            "done",
            _EVENT_ID,
            _NOTED,
            "NoteRequest",
        ),
        "/events/{event_id}/replay": _action(
            "run a done event through the planner again (changes nothing that is done)",
            "queued",
            _EVENT_ID,
            _ACTING,
        ),
        "/retry": {
            "post": _operation(
                "bulk retry: listed events, or every failed event matching the filters",
                "how many were retried",
                errors="400 401 403 422",
                body="RetryRequest",
            )
        },
        "/tenants": {"get": _operation("tenants, paused, counts, last ping", "tenants")},
        "/tenants/{tenant}/pause": _action(
            "hold back a tenant's events (still accepted and recorded)",
            "paused",
            _TENANT,
            "401 403 404",
        ),
        "/tenants/{tenant}/resume": _action(
            "let a paused tenant's events run", "resumed", _TENANT, "401 403 404"
        ),
        "/actions": {
            "get": _operation(
                "operator actions, newest first",
                "actions",
                errors="401 422",
                params=[_param("limit", "query", "most entries (1-1000)", type="integer")],
            )
        },
    }


@cache
def openapi_document() -> dict[str, Any]:
    """The document served at `/admin/api/openapi.json`."""
    fields = {"type": "string", "title": "string", "status": "integer", "detail": "string"}
    problem = {
        "type": "object",
        "required": list(fields),
        "properties": {name: {"type": kind} for name, kind in fields.items()},
    }
    schemas = {"Problem": problem} | {
        model.__name__: model.model_json_schema() for model in (NoteRequest, RetryRequest)
    }
    bearer = {"type": "http", "scheme": "bearer", "description": "a token from [[admin.tokens]]"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "invoicebridge admin API",
            "version": "1",
            "description": "Find, inspect and act on the ledger's events. "
            "Viewer tokens read; operator tokens also act.",
        },
        "servers": [{"url": "/admin/api"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {"schemas": schemas, "securitySchemes": {"bearer": bearer}},
    }
