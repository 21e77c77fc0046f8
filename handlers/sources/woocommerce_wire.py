"""Reading WooCommerce's wire format: the REST v3 order (shared/webhooks.md 2.6), and the VAT
percent of a line whose tax lines name none.

Pure. The models hold only the fields we read; money is read as Decimal, never float.
`handlers.sources.woocommerce` maps them onto the canonical events.

A line's VAT percent (`line_rate`): the `rate_percent` of its rates (`tax_lines[]`, by the
`taxes[].id` of the line) added up, when every one of them has one. WooCommerce before 5.7
sends no `rate_percent`; then the percent is derived from the line itself (`derived_rate`,
#18): the quotient ``total_tax / total × 100`` rounded half-up to 0, then 1, 2 and 3
decimal places, the first that gives back the line's tax exactly (``net × rate / 100``
rounded half-up to the currency's unit equals `total_tax`); none of them: unknown (None, the
tenant's default rate applies, as before). A line with no tax is untaxed, whatever its rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from handlers.sources.jsonbody import WholeNumber, read_amount
from handlers.sources.payments import LenientText, lenient_tuple
from worker.domain.events import CurrencyCode
from worker.domain.money import MAX_QUANTITY, quantize
from worker.domain.text import wire_text

ZERO = Decimal(0)
#: decimal places a derived VAT percent may have, fewest first (8.875 % needs 3)
RATE_PLACES = (0, 1, 2, 3)
_HUNDRED = Decimal(100)

#: signed (fees and refunds go below 0); bounded, so no hostile 1e999999 reaches arithmetic
SignedMoney = Annotated[Decimal, BeforeValidator(read_amount), Field(gt=-(10**15), lt=10**15)]
Amount = Annotated[Decimal, BeforeValidator(read_amount), Field(ge=0, lt=10**15)]
Text = Annotated[str | None, BeforeValidator(wire_text)]  #: cleaned; blank is None
Gmt = Annotated[datetime, AfterValidator(lambda v: v if v.tzinfo else v.replace(tzinfo=UTC))]


class Wire(BaseModel):  # only the fields we read; the rest is ignored
    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)


class Tax(Wire):  # a line's `taxes[]` entry (the rate `id`), or a `tax_lines[]` entry
    id: int = 0
    rate_id: int = 0
    rate_percent: Amount | None = None  #: WooCommerce 5.7+


class Fee(Wire):  # a fee line, and with the overrides below an item or a shipping line
    name: Text = None
    method_title: Text = None  #: shipping lines only
    total: SignedMoney
    total_tax: SignedMoney = ZERO
    taxes: tuple[Tax, ...] = ()


class Item(Fee):
    sku: Text = None
    quantity: WholeNumber = Field(default=1, gt=0, le=MAX_QUANTITY)
    subtotal: Amount | None = None  #: before coupons; absent on shipping lines
    total: Amount
    total_tax: Amount = ZERO


class GiftCard(Wire):
    """A `gift_cards[]` entry of WooCommerce Gift Cards (`WC_GC_REST_API_Order_Controller`):
    `{id, code, amount}`, `amount` the part of the order it paid. The code is never read."""

    amount: Amount


class RefundRef(Wire):
    id: int
    reason: Text = None
    total: SignedMoney  #: negative: "-10.00"


class Meta(Wire):  # a `meta_data[]` entry; only WooPayments' `last4` is read
    key: LenientText = None
    value: LenientText = None


def _gmt_or_local(data: object) -> object:
    """`date_created_gmt` / `date_modified_gmt` from their site-local twins where a legacy
    (wc/v1) body has only those."""
    if isinstance(data, dict):
        for name in ("date_created", "date_modified"):
            if data.get(f"{name}_gmt") in (None, "") and data.get(name):
                data = {**data, f"{name}_gmt": data[name]}
    return data


class WooOrder(Wire):
    id: int = Field(strict=True, gt=0)  #: strict: `true` is not order 1
    number: Text = None
    status: str = ""
    currency: CurrencyCode
    total: Amount
    total_tax: Amount = ZERO
    #: not `date_created`, which is site-local without an offset; but a webhook in the legacy
    #: wc/v1 format (WooCommerce 2.6) has only that one: it is then read as UTC (a guess:
    #: the document's date may be a day off around midnight, its money never)
    date_created_gmt: Gmt
    date_modified_gmt: Gmt | None = None
    date_paid_gmt: Text = None  #: `date_paid` is its site-local twin, set or null with it
    #: payment fields are read leniently: an odd value reads as missing, never as a 422
    payment_method: LenientText = None  #: the gateway id: "stripe", "bacs", "ppcp-gateway"
    payment_method_title: LenientText = None
    transaction_id: LenientText = None  #: "" (None here) when the gateway gave none
    meta_data: Annotated[tuple[Meta, ...], lenient_tuple] = ()
    customer_note: Text = None
    billing: dict[str, Text] = {}
    line_items: tuple[Item, ...] = ()
    shipping_lines: tuple[Item, ...] = ()
    fee_lines: tuple[Fee, ...] = ()
    tax_lines: tuple[Tax, ...] = ()
    refunds: tuple[RefundRef, ...] = ()
    #: WooCommerce Gift Cards: what each redeemed card paid; `total` is already net of it
    gift_cards: tuple[GiftCard, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _legacy_dates(cls, data: object) -> object:
        return _gmt_or_local(data)

    def gift_card_total(self) -> Decimal:
        """What gift cards paid of the sale (0 without the plugin)."""
        return sum((card.amount for card in self.gift_cards), ZERO)


def derived_rate(net: Decimal, tax: Decimal, currency: str) -> Decimal | None:
    """The VAT percent of a line from its net (`total`, after coupons) and `total_tax`, by the
    rule in the module docstring; None when the line has no tax or no rate gives it back."""
    if tax <= 0 or net <= 0:
        return None
    exact = tax * _HUNDRED / net
    for places in RATE_PLACES:
        rate = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if 0 < rate <= _HUNDRED and quantize(net * rate / _HUNDRED, currency) == tax:
            return rate
    return None


def line_rate(line: Fee, rates: Mapping[int, Decimal | None], currency: str) -> Decimal | None:
    """The line's VAT percent (module docstring); None for a line without tax."""
    if line.total_tax <= 0:
        return None
    percents = list({tax.id: rates.get(tax.id) for tax in line.taxes}.values())
    named = [percent for percent in percents if percent is not None]
    if percents and len(named) == len(percents):
        total = sum(named, ZERO)
        return total if total <= _HUNDRED else None
    return derived_rate(line.total, line.total_tax, currency)
