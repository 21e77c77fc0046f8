"""What a verified delivery becomes in the ledger: an event, an ignored delivery, or, when our
parser cannot read it, an unreadable one kept raw to be read again later (issue #18).

A validly signed delivery is a business fact: after a few refusals the platform stops
sending it (Shopify within hours, Stripe within days), so a parser bug must not turn it
into lost revenue. `unreadable` keeps the body (card-number-like digits and secret-named
keys masked, `worker.domain.redaction.redact`) and the headers the parsers read; `reparse`
reads it with the current code, as if it had just arrived.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, cast

from pydantic import ValidationError

from handlers.errors import InboundError, InvalidPayload
from handlers.kept_body import kept_text, kept_value
from handlers.sources import Identity, Parsed, get_source
from handlers.sources.jsonbody import invalid
from worker.domain.events import (
    IgnoredDelivery,
    OrderEvent,
    ReceivedDelivery,
    UnreadableDelivery,
)
from worker.domain.idempotency import event_id as make_event_id
from worker.domain.redaction import redact, redact_text
from worker.domain.text import clean_identifier

#: header name prefixes the parsers read (topic, event and delivery ids, timestamps)
KEPT_HEADERS = ("x-shopify-", "x-wc-", "webhook-")
#: ... of which these are never kept: they prove the sender, and are checked already
DROPPED_HEADERS = ("signature", "hmac")
_HEADER_MAX = 500
_DROPPED = re.compile("|".join(DROPPED_HEADERS))
#: kept headers a re-delivery changes (an attempt's time, its count): not part of the key
_VOLATILE = frozenset({"webhook-timestamp", "x-shopify-triggered-at", "x-wc-webhook-delivery-id"})
#: where a delivery names its topic, in order: Shopify, WooCommerce, else the body's `type`
_TOPIC_HEADERS = ("x-shopify-topic", "x-wc-webhook-topic")


def received(
    found: Identity, body: bytes, headers: Mapping[str, str], tenant_id: str, source_name: str
) -> ReceivedDelivery | IgnoredDelivery:
    """The delivery to record before it is read in full (DESIGN, step 5): as it came, its
    body masked (`kept_body`) and the headers the parser reads, under the event id its
    parsed event will have; an `IgnoredDelivery` for a topic we do not act on.

    Raises:
        InvalidPayload: an id breaks a rule of the models (the detail names it, never its
            value).
    """
    common = _envelope(found.dedupe_key, found.topic, tenant_id, source_name)
    try:
        if not found.acted_on:
            return IgnoredDelivery.model_validate(common | {"occurred_at": found.occurred_at})
        text = kept_text(body.decode("utf-8"), found.document)  # UTF-8: the source read it
        kept = {"body": text, "headers": kept_headers(headers)}
        return ReceivedDelivery.model_validate(common | kept)
    except ValidationError as exc:
        raise InvalidPayload(f"not a valid delivery: {invalid(exc).detail}") from None


def _envelope(dedupe_key: str, topic: str, tenant_id: str, source_name: str) -> dict[str, Any]:
    """The fields every recorded delivery has. The dedupe key is cleaned as the models clean
    `delivery_id` (a lone surrogate cannot even be hashed), so the event id derives from the
    delivery id that is stored."""
    key = clean_identifier(dedupe_key)
    return {
        "event_id": make_event_id(tenant_id, source_name, key),
        "tenant": tenant_id,
        "source": source_name,
        "topic": topic,
        "delivery_id": key,
    }


def to_item(parsed: Parsed, tenant_id: str, source_name: str) -> OrderEvent | IgnoredDelivery:
    """The event to record: an `OrderEvent`, or an `IgnoredDelivery` for a topic we do not
    act on.

    Raises:
        InvalidPayload: the event breaks a rule of the canonical models; the detail names
            the field's path and never echoes its value.
    """
    common = _envelope(parsed.dedupe_key, parsed.topic, tenant_id, source_name)
    common["occurred_at"] = parsed.occurred_at
    order_id = parsed.order_id or (parsed.order.order_id if parsed.order else None)
    try:
        if parsed.kind is None or order_id is None:
            return IgnoredDelivery.model_validate(common)
        return OrderEvent.model_validate(
            {
                **common,
                "kind": parsed.kind,
                "order_id": order_id,
                "order": parsed.order,
                "refund": parsed.refund,
                "payment": parsed.payment,
            }
        )
    except ValidationError as exc:
        what = "delivery" if parsed.kind is None else f"{parsed.kind.value} event"
        raise InvalidPayload(f"not a valid {what}: {invalid(exc).detail}") from None


def _text(value: str) -> str:
    """A header value as text: bytes that are not UTF-8 (aiohttp keeps them as surrogates)
    become U+FFFD."""
    if value.isascii():
        return value[:_HEADER_MAX]
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:_HEADER_MAX]


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers a parser reads, lower-cased, values redacted (checked all at once, as a
    log line's are); never a signature."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith(KEPT_HEADERS) and _DROPPED.search(lower) is None:
            kept[lower] = _text(value)
    return cast(dict[str, str], redact(kept))


def refusal(exc: Exception) -> str:
    """Why a parser refused a signed delivery, as its kept reason: an `InboundError`'s
    title and detail (a field's path, never its value), or the type of a parser bug."""
    if isinstance(exc, InboundError):
        return f"{exc.title}: {exc.detail}"
    return f"parser error ({type(exc).__name__})"


def _body_text(body: bytes) -> tuple[str, Any]:
    """The body as text to keep (`kept_body`), and its JSON value (None when it is not JSON)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return redact_text(body.decode("utf-8", "replace")), None
    try:
        text = body.decode("utf-8") if json.detect_encoding(body) == "utf-8" else None
    except ValueError:  # a surrogate written in UTF-8, which json reads
        text = None
    try:
        if text is None:  # UTF-16 or 32, a BOM: `value` was not read from the UTF-8 text
            return json.dumps(kept_value(value)), value
        return kept_text(text, value), value
    except RecursionError:  # nested deeper than the rule can walk: nothing of it is kept
        return "", value


def unreadable(
    body: bytes, headers: Mapping[str, str], tenant_id: str, source_name: str, reason: str
) -> UnreadableDelivery:
    """The delivery as kept: identified by its headers (topic, ids) and bytes, so a
    re-delivery of it is recorded once, and two topics with one body (Shopify sends
    `orders/updated` and `orders/paid` alike) twice; its topic as its headers or body name
    it."""
    kept = kept_headers(headers)
    named = "\n".join(f"{name}={kept[name]}" for name in sorted(kept) if name not in _VOLATILE)
    digest = hashlib.sha256(named.encode("utf-8", "replace") + b"\n" + body).hexdigest()
    dedupe_key = "raw-" + digest[:40]
    text, value = _body_text(body)
    topic = next((kept[name] for name in _TOPIC_HEADERS if kept.get(name)), None)
    if topic is None and isinstance(value, dict) and isinstance(value.get("type"), str):
        topic = value["type"]
    return UnreadableDelivery(
        event_id=make_event_id(tenant_id, source_name, dedupe_key),
        tenant=tenant_id,
        source=source_name,
        topic=clean_identifier(topic or "unknown")[:200] or "unknown",
        delivery_id=dedupe_key,
        reason=redact_text(_text(reason))[:2000],
        body=text,
        headers=kept,
    )


def reparse(event: Mapping[str, str]) -> OrderEvent | IgnoredDelivery:
    """Read a delivery kept as it came, received or unreadable (its ledger fields), with the
    current parsers; the result keeps the event's id, so the ledger has one event for it.

    Raises:
        InvalidPayload, MalformedBody: the parser still cannot read it (the reason says why).
        ValueError: the event is not a kept delivery, or names a source there is none of.
    """
    source = get_source(event.get("source", ""))
    update = {"event_id": event["id"]}
    if "body" in event:  # received: body and headers as fields of their own
        raw = {"body": event["body"], "headers": json.loads(event.get("headers") or "{}")}
        # the id it was recorded by: a digest of the masked body (WooCommerce) would differ
        update["delivery_id"] = event.get("delivery_id") or ""
    else:  # unreadable on arrival: both in one, under an id made of its bytes
        raw = json.loads(event.get("raw") or "null")
    if source is None or not isinstance(raw, dict):
        raise ValueError(f"event {event.get('id')} holds no delivery to read")
    headers = {str(k): str(v) for k, v in (raw.get("headers") or {}).items()}
    parsed = source.parse(str(raw.get("body", "")).encode(), headers)
    item = to_item(parsed, event["tenant"], source.NAME)
    return item.model_copy(update={key: value for key, value in update.items() if value})
