"""What the iCount sandbox accepts in `doc/create`: field checks, payments, and totals.

Every refusal is a `Refusal(reason, description)`, answered as HTTP 200
`{"status": false, "reason": ..., "error_description": ...}` like iCount does.
Totals come from `rounding.document_totals` under the sandbox's configured rounding
rule, never from the client's own builder.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sandboxes.icount.rounding import (
    DEFAULT_ROUNDING,
    DEFAULT_RULE,
    PRICE_KEYS,
    DocumentTotals,
    Rounding,
    RoundingRule,
    document_totals,
    item_rate,
)
from worker.domain.idempotency import SANITY_STRING_MAX
from worker.domain.money import currency_code, parse_amount, quantize
from worker.providers.icount.wire import RECEIPT_DOCTYPES

#: document types the sandbox issues (providers.md D.1.5)
DOCTYPES = ("invoice", "invrec", "receipt", "refund", "order", "offer", "delivery", "deal")
#: the payment blocks a receipt-type document may carry (seed 000); their fields are
#: checked by `schema`; `cheques` is a list of blocks
PAYMENT_FIELDS = ("cash", "cc", "cheques", "banktransfer", "paypal", "barter")


class Refusal(Exception):
    """iCount's `status: false`: a short `reason` code plus an English description, and any
    `extra` fields the refusal carries (e.g. `results_count` with `too_many_results`)."""

    def __init__(self, reason: str, description: str, **extra: object) -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description
        self.extra = extra

    def answer(self) -> dict[str, object]:
        return {
            "status": False,
            "reason": self.reason,
            "error_description": self.description,
            **self.extra,
        }


def _decimal(value: object, what: str) -> Decimal:
    try:
        return parse_amount(value)
    except ValueError:
        raise Refusal("bad_amount", f"{what} is not a number") from None


def currency_of(body: Mapping[str, Any]) -> str:
    """The document currency (`currency_code`, or `currency`; ILS when absent)."""
    code = body.get("currency_code") or body.get("currency") or "ILS"
    try:
        return currency_code(code)  # ISO 4217, as the domain reads it
    except ValueError:
        raise Refusal(
            "bad_currency", "currency_code must be an ISO-4217 code such as ILS"
        ) from None


def check_sanity_string(body: Mapping[str, Any]) -> None:
    """Refuse a `sanity_string` longer than iCount's 30 characters."""
    sanity = body.get("sanity_string")
    if sanity is not None and len(str(sanity)) > SANITY_STRING_MAX:
        raise Refusal(
            "sanity_string_too_long",
            f"sanity_string may have at most {SANITY_STRING_MAX} characters",
        )


def _check_header(body: Mapping[str, Any]) -> None:
    doctype = body.get("doctype")
    if not doctype:
        raise Refusal("missing_doctype", "doctype is required")
    if doctype not in DOCTYPES:
        raise Refusal("bad_doctype", f"doctype must be one of {', '.join(DOCTYPES)}")
    if not any(body.get(key) for key in ("client_name", "client_id", "custom_client_id")):
        raise Refusal("missing_client", "client_name, client_id or custom_client_id is required")
    check_sanity_string(body)


def _check_item(index: int, item: object) -> None:
    if not isinstance(item, Mapping):
        raise Refusal("bad_item", f"items[{index}] must be an object")
    if not str(item.get("description") or "").strip():
        raise Refusal("missing_description", f"items[{index}] needs a description")
    if _decimal(item.get("quantity"), f"items[{index}].quantity") <= 0:
        raise Refusal("bad_quantity", f"items[{index}].quantity must be greater than 0")
    prices = [key for key in PRICE_KEYS if item.get(key) not in (None, "")]
    if not prices:
        raise Refusal("missing_price", f"items[{index}] needs unitprice or unitprice_incvat")
    for key in prices:
        _decimal(item[key], f"items[{index}].{key}")
    try:
        item_rate(item, Decimal(0))
    except ValueError as exc:
        raise Refusal("bad_taxes", f"items[{index}]: {exc}") from None


def _check_items(body: Mapping[str, Any]) -> None:
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise Refusal("missing_items", "items must list at least one item")
    for index, item in enumerate(items):
        _check_item(index, item)


def _check_amounts(body: Mapping[str, Any]) -> None:
    for key in ("discount", "discount_incvat", "roundup"):
        if body.get(key) not in (None, ""):
            _decimal(body[key], key)
    if body.get("vat_percent") not in (None, ""):
        rate = _decimal(body["vat_percent"], "vat_percent")
        if not 0 <= rate <= 100:
            raise Refusal("bad_vat_percent", "vat_percent must be between 0 and 100")


def _blocks(name: str, value: object) -> list[Mapping[str, Any]]:
    blocks = value if isinstance(value, list) else [value]
    checked = [block for block in blocks if isinstance(block, Mapping)]
    if len(checked) != len(blocks):
        raise Refusal("bad_payment", f"{name} must be an object (or a list of objects)")
    return checked


def payments_sum(body: Mapping[str, Any]) -> Decimal | None:
    """The sum of every payment block, or None when the body has none (their fields were
    checked by `schema.check_fields`: required ones present, no card data).

    Raises:
        Refusal: a block is not an object, or its sum is not a number.
    """
    total: Decimal | None = None
    for name in PAYMENT_FIELDS:
        if body.get(name) in (None, "", []):
            continue
        for block in _blocks(name, body[name]):
            total = (total or Decimal(0)) + _decimal(block["sum"], f"{name}.sum")
    return total


def check_document(
    body: Mapping[str, Any],
    rule: RoundingRule = DEFAULT_RULE,
    rounding: Rounding = DEFAULT_ROUNDING,
) -> tuple[str, DocumentTotals]:
    """Validate a `doc/create` body; its currency and its totals under `rule`, `rounding`.

    Raises:
        Refusal: the first rule the body breaks.
    """
    _check_header(body)
    currency = currency_of(body)
    _check_items(body)
    _check_amounts(body)
    try:
        totals = document_totals(body, currency, rule, rounding)
    except ValueError as exc:
        raise Refusal("bad_amount", str(exc)) from None
    paid = payments_sum(body)
    if body["doctype"] in RECEIPT_DOCTYPES:
        if paid is None:
            raise Refusal("missing_payment", f"a {body['doctype']} needs a payment block")
        if quantize(paid, currency) != totals.total:
            raise Refusal(
                "payment_mismatch",
                f"payments add up to {quantize(paid, currency)} "
                f"but the document total is {totals.total}",
            )
    return currency, totals
