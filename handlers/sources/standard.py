"""Standard Webhooks (what Svix sends): verify `webhook-signature`; read our canonical envelope.

Pure. The signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`, HMAC-SHA256 keyed
with the base64-decoded secret (after its `whsec_` prefix; padded or not, as the reference
libraries take it: worker/domain/whsec.py); the header holds space-separated `v1,<base64>`
entries (shared/webhooks.md 4). Svix's `svix-*` header names are accepted too.
tests/unit/test_webhook_oracles.py holds `verify` and `sign` to the reference library.

The body is invoicebridge's own envelope, `{"type", "timestamp", "data"}`, whose `data` holds
the canonical `Order` / `Refund` of worker/domain/events.py (money as decimal strings). An order
may say how it was paid in an optional `payment` object, every field of it optional: `gateway`,
`kind` ("card", "paypal", "bank_transfer", "cash" or "other"), `card_brand`, `card_last4` (only
the last four digits are kept of whatever is sent), `transaction_id` (a card number in it is
masked), `payer_name`, `paid_at`. The same object may come on its own, later, in a
`payment.details` event (`{"order_id", "payment"}`): kept for the order's invoice-receipt, as
Shopify's `order_transactions/create` is. Being our own schema, it is checked as strictly as the
rest: a wrong kind or an id over 255 characters is a 422 naming the field. Its
JSON Schema, docs/standard-webhook.schema.json, is generated from the models below:

    python -m handlers.sources.standard --schema > docs/standard-webhook.schema.json
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    model_validator,
)

from handlers.errors import InboundError, InvalidPayload, InvalidSignature, MalformedHeader
from handlers.sources import Identity, Parsed
from handlers.sources.jsonbody import header, invalid, load_object
from handlers.sources.signing import TOLERANCE_S as TOLERANCE_S
from handlers.sources.signing import check_signed
from worker.domain.events import EventKind, Order, Payment, Refund
from worker.domain.text import Identifier
from worker.domain.whsec import whsec_key

NAME = "standard"
_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: Envelope types whose `data` is `{"order": …}`; `refund.issued` carries a refund instead.
OrderType = Literal[
    "order.created", "order.updated", "order.paid", "order.cancelled", "payment.captured"
]


def sign(body: bytes, secret: str, msg_id: str, timestamp: int) -> str:
    """One `webhook-signature` entry: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.

    Raises:
        ValueError: `secret` is not `whsec_` + base64 (padded or not).
    """
    return "v1," + _signature(whsec_key(secret), body, msg_id, str(timestamp))


def _signature(key: bytes, body: bytes, msg_id: str, timestamp: str) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode("ascii")


def verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: datetime) -> None:
    """Accept if any `v1` entry matches any secret and the timestamp is within `TOLERANCE_S`.

    Other versions (`v1a` ed25519) are ignored. Raises `InvalidSignature` (a missing header, a
    stale or future timestamp, no match, or a secret that is not `whsec_` + base64); its detail
    never holds a secret or a signature.
    """
    names = ("id", "timestamp", "signature")  # each is signed, or the signature: 401 if not text
    msg_id, timestamp, signatures = (_header(headers, n, InvalidSignature) for n in names)
    if msg_id is None or timestamp is None or signatures is None:
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature header")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise InvalidSignature("webhook-timestamp is not unix seconds")
    keys = _keys(secrets)
    entries = (entry.partition(",") for entry in signatures.split())
    candidates = [sig for version, _, sig in entries if version == "v1" and sig.isascii()]
    sign = partial(_signature, body=body, msg_id=msg_id, timestamp=timestamp)
    check_signed(keys, candidates, sign, timestamp, now, header="webhook-signature")


def _keys(secrets: Sequence[str]) -> list[bytes]:
    configured = [secret for secret in secrets if secret]
    if not configured:
        raise InvalidSignature("no Standard Webhooks signing secret is configured")
    try:
        return [whsec_key(secret) for secret in configured]
    except ValueError:  # settings refuse it at start-up; fail closed if one slips past them
        raise InvalidSignature("misconfigured secret") from None


def _header(
    headers: Mapping[str, str], name: str, invalid: type[InboundError] = MalformedHeader
) -> str | None:
    """`webhook-<name>`, else Svix's default `svix-<name>`, any casing; blank is missing.
    Raises `invalid` when the value is not UTF-8 text."""
    return header(headers, f"webhook-{name}", f"svix-{name}", invalid=invalid)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderData(_Model):
    """`data` of an order or payment event: the order as it is now."""

    order: Order = Field(description="The order snapshot at the time of the event.")


class RefundData(_Model):
    """`data` of a `refund.issued` event: the refund, and the order when the sender has it."""

    order_id: Identifier = Field(
        description="The id of the order refunded (the order's `order_id`)."
    )
    refund: Refund = Field(description="The money given back; one credit note per `refund_id`.")
    order: Order | None = Field(
        default=None, description="The order after the refund; optional, found by `order_id`."
    )

    @model_validator(mode="after")
    def _same_order(self) -> RefundData:
        if self.order is not None and self.order.order_id != self.order_id:
            raise ValueError("order.order_id differs from order_id")
        return self


class PaymentData(_Model):
    """`data` of a `payment.details` event: how an order was paid, told apart from it."""

    order_id: Identifier = Field(description="The id of the order paid (the order's `order_id`).")
    payment: Payment = Field(
        description="How it was paid; kept for the order's invoice-receipt, where the order's "
        "own `payment` lacks the transaction id."
    )


_TYPE = "What happened; the canonical event kind."
_TIMESTAMP = "When it happened: ISO-8601 with a UTC offset."


class OrderMessage(_Model):
    """An order was created, updated, paid or cancelled, or a payment was captured."""

    type: OrderType = Field(description=_TYPE)
    timestamp: AwareDatetime = Field(description=_TIMESTAMP)
    data: OrderData = Field(description="The order.")


class RefundMessage(_Model):
    """A refund was issued."""

    type: Literal["refund.issued"] = Field(description=_TYPE)
    timestamp: AwareDatetime = Field(description=_TIMESTAMP)
    data: RefundData = Field(description="The refund and the order it belongs to.")


class PaymentMessage(_Model):
    """How an order was paid, sent apart from the order (after it, or before)."""

    type: Literal["payment.details"] = Field(description=_TYPE)
    timestamp: AwareDatetime = Field(description=_TIMESTAMP)
    data: PaymentData = Field(description="The payment and the order it belongs to.")


Message = OrderMessage | RefundMessage | PaymentMessage


class Envelope(RootModel[Message]):
    """One event about one order, sent to invoicebridge as a Standard Webhooks message.

    The message id (`webhook-id`) is the idempotency key: a re-delivery keeps it.
    """

    model_config = ConfigDict(
        title="invoicebridge Standard Webhooks envelope",
        json_schema_extra={"$schema": _SCHEMA_DIALECT},
    )

    root: Annotated[Message, Field(discriminator="type")]


#: The model for each envelope type.
_MESSAGES: dict[str, type[Message]] = {
    **dict.fromkeys(get_args(OrderType), OrderMessage),
    "refund.issued": RefundMessage,
    "payment.details": PaymentMessage,
}


def envelope_schema() -> dict[str, Any]:
    """The envelope's JSON Schema (draft 2020-12), as committed in docs/."""
    return Envelope.model_json_schema()


def identify(body: bytes, headers: Mapping[str, str]) -> Identity | None:
    """None: a Standard delivery is parsed in full on arrival, since a schema violation is
    answered 422 to its sender (the merchant's own system, which can fix and send again)."""
    return None


def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """Read one message: the envelope's `type` is the event kind, its data the order or refund.

    Raises `MalformedBody` (not a UTF-8 JSON object) or `InvalidPayload` (no message id, or
    not a valid envelope: the detail names the field path, never its value).
    """
    msg_id = _header(headers, "id")
    if msg_id is None:
        raise InvalidPayload("missing webhook-id header")
    message = _message(load_object(body))
    parsed = Parsed(msg_id, message.type, EventKind(message.type), occurred_at=message.timestamp)
    data = message.data
    if isinstance(data, PaymentData):
        return replace(parsed, order_id=data.order_id, payment=data.payment)
    if isinstance(data, RefundData):
        return replace(parsed, order=data.order, order_id=data.order_id, refund=data.refund)
    return replace(parsed, order=data.order, order_id=data.order.order_id)


def _message(document: dict[str, Any]) -> Message:
    kind = document.get("type")
    model = _MESSAGES.get(kind) if isinstance(kind, str) else None
    if model is None:
        problem = "missing" if kind is None else f"not one of {', '.join(_MESSAGES)}"
        raise InvalidPayload(f"type: {problem}")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise invalid(exc) from None


def detect_ping(body: bytes, headers: Mapping[str, str]) -> Parsed | None:
    """Standard Webhooks has no unsigned set-up ping; every message is verified."""
    return None


def _main(argv: Sequence[str]) -> int:
    if list(argv) != ["--schema"]:
        sys.stderr.write("usage: python -m handlers.sources.standard --schema\n")
        return 2
    sys.stdout.write(json.dumps(envelope_schema(), indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
