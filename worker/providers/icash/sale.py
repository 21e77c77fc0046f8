"""Our documents as iCash operations, pure: the sale items, the pay type, the contragent.

An iCash document is the outcome of an operation (providers.md D.3.4-3.5): the
operation's sale items are catalogue items (`SaleItemID`) at a VAT-inclusive
`SaleItemSinglePrice`; the document shows each line net of VAT and adds the VAT
(seed 003: 20.000000 net, 20.00 base, 24.00 total). So:

- every line goes as its gross amount, the shop's own (a VAT-inclusive order's price,
  a VAT-exclusive order's net plus the shop's tax for the line), after its discount;
- a whole quantity whose gross divides evenly to the cent goes as quantity × unit
  price; any other line as quantity 1 at the line's gross (iCash rounds nothing then);
- the line's item is the tenant's catalogue item for its VAT rate (`sale_items`), so
  iCash taxes it at the shop's rate; a rate with no item stops the job
  (needs_attention `no_sale_item_for_rate`);
- the shop's own rounding within `max_rounding` goes as one more item at the 0 % item,
  or, when the shop's total is below its lines, comes off the largest item;
- lines of 0 are left out (they change nothing, and would make the amounts already
  added ambiguous when an interrupted operation is resumed: `items_added`).

The document's total is then the shop's to the cent whatever iCash's rule; its VAT is
extracted by iCash from the gross amounts, and the provider compares it with the
shop's after printing (`check_document`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from worker.domain import vat
from worker.domain.events import Customer, Order, PaymentKind
from worker.domain.money import exponent, parse_amount, quantize
from worker.errors import DocumentNeedsAttention, NeedsAttention, Permanent
from worker.providers.base import DocumentRef
from worker.providers.icash import wire
from worker.settings import DocumentSettings, ICashSettings

#: `documents.payment_method` (an iCount payment block name) as a way of paying
_BLOCK_KINDS: dict[str, PaymentKind] = {
    "cc": "card",
    "paypal": "paypal",
    "banktransfer": "bank_transfer",
    "cash": "cash",
}
_VAT_ID = re.compile(r"^([A-Z]{2})([0-9A-Z]{2,13})$")
#: add-contragent text limits (3.08)
_NAME_MAX, _CITY_MAX, _ADDRESS_MAX, _TAX_MAX, _MOL_MAX, _EMAIL_MAX = 100, 70, 100, 15, 60, 75
ROUNDING = "rounding"


@dataclass(frozen=True)
class SaleItem:
    """One `add-operation-sale-item`: a catalogue item, a quantity, a VAT-inclusive price."""

    sale_item_id: int
    qty: Decimal
    price: Decimal
    rate: Decimal

    @property
    def amount(self) -> Decimal:
        return self.qty * self.price

    def fields(self, operation_id: int) -> dict[str, object]:
        return {
            "OperationID": operation_id,
            "SaleItemID": self.sale_item_id,
            "Qty": wire.plain(self.qty, 5),
            "SaleItemSinglePrice": wire.plain(self.price, 5),
        }


def _item_for(rate: Decimal, icash: ICashSettings) -> int:
    for text, item in icash.sale_items.items():
        if Decimal(text) == rate:
            return item
    raise NeedsAttention(
        f"no iCash catalogue item is set for VAT {rate}% (icash.sale_items)",
        reason="no_sale_item_for_rate",
    )


def _item(gross: Decimal, quantity: Decimal, rate: Decimal, item_id: int) -> SaleItem:
    unit = gross / quantity
    if quantity == quantity.to_integral_value() and unit == unit.quantize(wire.CENT):
        return SaleItem(item_id, quantity, unit, rate)
    return SaleItem(item_id, Decimal(1), gross, rate)


def sale_items(order: Order, documents: DocumentSettings, icash: ICashSettings) -> list[SaleItem]:
    """The operation's items for `order`, in its line order, then any rounding item.

    Raises:
        Permanent: the currency has more decimal places than iCash keeps
            (`unsupported_amount`).
        NeedsAttention: the order is not in the account's currency
            (`currency_unsupported`), or comes to 0 (`nothing_to_sell`).
        NeedsAttention: a rate without a catalogue item, or a line of negative gross.
        TotalMismatch: the shop's total is further from its lines than rounding explains.
    """
    if exponent(order.currency) > wire.MONEY_PLACES:
        raise Permanent(
            f"iCash keeps 2 decimal places, too few for {order.currency}",
            reason="unsupported_amount",
        )
    if order.currency != icash.currency:
        raise NeedsAttention(
            f"the iCash account sells in {icash.currency}, the order is in {order.currency}",
            reason="currency_unsupported",
        )
    items: list[SaleItem] = []
    for line, gross in vat.gross_lines(order, documents.default_vat_percent):
        amount = gross.quantize(wire.CENT, ROUND_HALF_UP)
        if amount < 0:
            raise NeedsAttention(
                f"line {line.description!r} comes to {amount}: iCash sells no negative items",
                reason="negative_line",
            )
        if amount:
            rate = vat.line_rate(line, documents.default_vat_percent) or Decimal(0)
            items.append(_item(amount, line.quantity, rate, _item_for(rate, icash)))
    total = sum((item.amount for item in items), Decimal(0))
    difference = vat.reconcile(
        order,
        total,
        max_rounding=documents.max_rounding,
        default_rate=documents.default_vat_percent,
    )
    if difference > 0:
        items.append(SaleItem(_item_for(Decimal(0), icash), Decimal(1), difference, Decimal(0)))
    elif difference < 0:
        items = _take_off(items, -difference)
    if not items:
        raise NeedsAttention(
            "the order comes to 0: an iCash operation sells something", reason="nothing_to_sell"
        )
    return items


def _take_off(items: list[SaleItem], amount: Decimal) -> list[SaleItem]:
    """The shop's total is `amount` below its lines (its own rounding): iCash sells no
    negative item, so the largest item goes as quantity 1 at its gross less `amount`.

    Raises:
        NeedsAttention: no item is larger than `amount` (`negative_rounding`).
    """
    largest = max(range(len(items)), key=lambda index: items[index].amount, default=None)
    if largest is None or items[largest].amount <= amount:
        raise NeedsAttention(
            f"the shop's total is {amount} below its lines, more than any "
            "item: iCash sells no negative items",
            reason="negative_rounding",
        )
    item = items[largest]
    items[largest] = SaleItem(item.sale_item_id, Decimal(1), item.amount - amount, item.rate)
    return items


def prefix_summing_to(amounts: Sequence[Decimal], total: Decimal) -> int | None:
    """How many of `amounts`, from the first, add up to `total` (the fewest); None if no
    prefix does. What an operation holds tells how many of ours were added before."""
    added = Decimal(0)
    for count, amount in enumerate(amounts):
        if added == total:
            return count
        added += amount
    return len(amounts) if added == total else None


def items_added(items: Sequence[SaleItem], operation_price: Decimal) -> int:
    """How many of `items` an operation already holds, from its `OperationPrice`: items are
    added in order and each is above 0, so only one prefix can sum to it.

    Raises:
        NeedsAttention: no prefix does (`operation_unexplained`): something else was added,
            so the operation is not ours to finish.
    """
    count = prefix_summing_to([item.amount for item in items], operation_price)
    if count is not None:
        return count
    raise NeedsAttention(
        f"an iCash operation of ours holds {operation_price}, which none of "
        "its first items add up to",
        reason="operation_unexplained",
    )


def pay_type(order: Order, documents: DocumentSettings, icash: ICashSettings) -> int:
    """The `PayTypeID` for how `order` was paid (else the tenant's `payment_method`).

    Raises:
        NeedsAttention: that way of paying has no pay type in `icash.pay_types`.
    """
    kind = order.payment.kind if order.payment and order.payment.kind else None
    kind = kind or _BLOCK_KINDS.get(documents.payment_method, "other")
    if kind not in icash.pay_types:
        raise NeedsAttention(
            f"no iCash pay type is set for {kind} payments (icash.pay_types)",
            reason="pay_type_unmapped",
        )
    return icash.pay_types[kind]


def needs_contragent(customer: Customer) -> bool:
    """A business customer (a company or a VAT id) is named on the document; a consumer
    is not (`ContragentTaxNum` is required, and a person has none)."""
    return bool(customer.company or customer.vat_id)


def contragent_fields(customer: Customer, default_country: str) -> dict[str, object]:
    """`add-contragent` fields for a business customer (3.08)."""
    vat_id = (customer.vat_id or "").replace(" ", "").upper()
    registered = _VAT_ID.fullmatch(vat_id)
    tax_num = registered.group(2) if registered else vat_id
    fields: dict[str, object] = {
        "ContragentName": (customer.company or customer.name)[:_NAME_MAX],
        "ContragentType": "CLIENT",
        "ContragentCountryCode": (customer.country or default_country).upper()[:2],
        "ContragentCityName": (customer.city or "-")[:_CITY_MAX],
        "ContragentTaxNum": tax_num[:_TAX_MAX] or "-",
        "ContragentVatRegistered": 1 if registered else 0,
        "ContragentVatNum": vat_id[:_TAX_MAX] if registered else None,
        "ContragentAddress": (customer.address or "")[:_ADDRESS_MAX] or None,
        "ContragentMOL": customer.name[:_MOL_MAX] if customer.company else None,
        "ContragentEmail": (customer.email or "")[:_EMAIL_MAX] or None,
    }
    return {key: value for key, value in fields.items() if value is not None}


def same_contragent(row: Mapping[str, Any], fields: Mapping[str, object]) -> bool:
    """The listed contragent is the one `fields` describe: same name and tax number."""
    name = str(row.get("ContragentName") or "").strip().casefold()
    tax = str(row.get("ContragentTaxNum") or "").strip().upper()
    return name == str(fields["ContragentName"]).casefold() and tax == fields["ContragentTaxNum"]


# --- the document ----------------------------------------------------------------------


def _amount(value: object) -> Decimal | None:
    try:
        return None if value in (None, "") else parse_amount(value)
    except ValueError:
        return None


def document_ref(document: Mapping[str, Any]) -> DocumentRef:
    """What we keep of an iCash document (a `documents-list` row or `get-document`)."""
    total, base = (
        _amount(document.get("DocumentTotalPrice")),
        _amount(document.get("DocumentPriceBase")),
    )
    credit = str(document.get("DocumentSubType") or "").upper() == "CREDIT"
    return DocumentRef(
        doctype="CREDIT" if credit else str(document.get("DocumentType") or "INVOICE"),
        docnum=str(document["DocumentNum"]),
        doc_id=str(document["DocumentID"]),
        total=total,
        vat=None if total is None or base is None else total - base,
    )


def _document_vat(document: Mapping[str, Any], items: Sequence[SaleItem]) -> dict[Decimal, Decimal]:
    """The VAT per rate a document shows: the gross we sold at the rate less the net of its
    lines at that rate (`DocumentServices`; seed 003: lines are net)."""
    net: dict[Decimal, Decimal] = {}
    services = document.get("DocumentServices")
    for line in services if isinstance(services, list) else []:
        rate = _amount(line.get("DocumentServiceVatPercent")) if isinstance(line, Mapping) else None
        total = (
            _amount(line.get("DocumentServiceTotalPrice")) if isinstance(line, Mapping) else None
        )
        if rate is None or total is None:
            return {}  # unreadable lines: only the document's sum is checked
        net[rate] = net.get(rate, Decimal(0)) + total
    gross: dict[Decimal, Decimal] = {}
    for item in items:
        gross[item.rate] = gross.get(item.rate, Decimal(0)) + item.amount
    rates = set(net) | set(gross)
    shown = {rate: gross.get(rate, Decimal(0)) - net.get(rate, Decimal(0)) for rate in rates}
    return {rate: tax for rate, tax in shown.items() if rate or tax}


def check_document(
    order: Order,
    documents: DocumentSettings,
    document: Mapping[str, Any],
    items: Sequence[SaleItem] = (),
) -> DocumentRef:
    """The document iCash made (`get-document`), once it shows the shop's currency, total
    and VAT: summed, and per rate where its lines tell (`items` are what we sold).

    Raises:
        DocumentNeedsAttention: `document_unreadable`, `document_currency_differs`,
            `document_total_differs` or `document_vat_differs`, carrying the document, which
            the job records: it is not made again.
    """
    ref = document_ref(document)
    name = f"iCash {ref.doctype} {ref.docnum}"

    def stop(why: str, reason: str) -> DocumentNeedsAttention:
        return DocumentNeedsAttention(f"{name} {why}", reason=reason, document=ref)

    if ref.total is None or ref.vat is None:
        raise stop("shows no readable total and base", "document_unreadable")
    currency = str(document.get("DocumentCurrencyCode") or order.currency)
    if currency != order.currency:
        raise stop(
            f"is in {currency}, the shop's order in {order.currency}", "document_currency_differs"
        )
    if ref.total != quantize(order.total, order.currency):
        raise stop(
            f"totals {ref.total} {currency}, the shop's order {order.total}",
            "document_total_differs",
        )
    charged = vat.vat_by_rate(order, documents.default_vat_percent)
    shop = quantize(sum(charged.values(), Decimal(0)), order.currency)
    shown = _document_vat(document, items) if items else {}
    per_rate = {rate: tax for rate, tax in shown.items() if tax != charged.get(rate, Decimal(0))}
    if ref.vat != shop or per_rate:
        rates = ", ".join(f"{rate}%: {tax}" for rate, tax in sorted(charged.items())) or "none"
        raise stop(
            f"shows VAT {ref.vat} {currency}, the shop charged {shop} ({rates}); iCash "
            "rounded the VAT differently",
            "document_vat_differs",
        )
    return ref
