"""What each iCount method documents: the fields it takes, those it requires, and card data
it must never be sent. The sandbox refuses a body that strays from it, before any work.

Sources (docs/providers/icount.md): `doc/create` and its item, payment and base-document
objects from seed 000; `cc/bill` from seed 002; `auth/login` from both seeds' credential
fields; the other methods' fields from public client code (shared/providers.md D.1.3).
Required fields are the documentation's, minus the card secrets a shop integration never
sends (`card_number`, `cvv`, `exp_year`, `exp_month`, `holder_id` in `cc`), which are
refused instead, as are `cc/bill`'s card fields (`cc_number`, `cc_cvv`, `cc_validity`,
`cc_holder_id`): we only ever bill a stored card's token.

Refusals: `unknown_field` (a field the method does not document), `missing_field` (a
required one is absent or empty), `card_data_refused` (a card secret, at any depth).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sandboxes.icount.rules import Refusal

#: session or credential fields every method takes (seeds 000, 002)
AUTH_FIELDS = frozenset({"sid", "cid", "user", "pass"})
#: card secrets, refused wherever they appear except when storing a card
CARD_SECRETS = frozenset(
    {
        "card_number",
        "cvv",
        "exp_year",
        "exp_month",
        "holder_id",
        "cc_number",
        "cc_cvv",
        "cc_validity",
        "cc_holder_id",
    }
)


@dataclass(frozen=True)
class Shape:
    """An object's documented fields; `nested` names the fields that hold objects (or
    lists of them) with their own shape; `free` fields hold anything (e.g. `taxes`)."""

    fields: frozenset[str]
    required: frozenset[str] = frozenset()
    nested: Mapping[str, Shape] = field(default_factory=dict)
    free: frozenset[str] = frozenset()


def _shape(fields: str, required: str = "", **nested: Shape) -> Shape:
    names = frozenset(fields.split())
    return Shape(names | frozenset(nested), frozenset(required.split()), nested)


ITEM = Shape(
    frozenset(
        """item_id inventory_item_id sku description long_description currency_id
        currency_rate unitprice unitprice_incvat unitprice_exempt tax_exempt quantity serial
        taxes""".split()
    ),
    frozenset({"description", "quantity"}),  # and one price: rules._check_item
    free=frozenset({"taxes"}),
)
CC = _shape(
    "sum date num_of_payments first_payment token_id card_type holder_name confirmation_code",
    "sum num_of_payments card_type holder_name confirmation_code",
)
DOC_CREATE = _shape(
    """doctype client_id custom_client_id vat_id email client_name client_address user_id
    username user_email salesman_id doc_date paydate duedate income_type_id income_type_name
    expense_type_id currency_id currency_code rate tax_exempt vat_percent totalsum discount
    discount_incvat roundup afterdiscount totalwithvat paid totalwht totalpaid deductions
    autoinvoice autocheque_detail autoinvoice_cc autocc_detail autocc_income_type_id
    autocc_exempt enable_paynow doc_title hwc append_preset_comments sanity_string doc_lang
    send_email send_sms lang""",
    "doctype",
    items=ITEM,
    cash=_shape("sum", "sum"),
    cheques=_shape("sum date bank branch account number", "sum date bank branch account number"),
    banktransfer=_shape("sum date account", "sum date account"),
    cc=CC,
    paypal=_shape("sum date txn_id payer_name", "sum date txn_id payer_name"),
    barter=_shape("sum", "sum"),
    based_on=_shape("doctype docnum doc_url", "doctype docnum"),
)
#: method path → its body's shape (auth fields aside)
SHAPES: dict[str, Shape] = {
    "auth/login": _shape("cid user pass", "cid user pass"),
    "auth/logout": _shape(""),
    "app/info": _shape(""),
    "doc/create": DOC_CREATE,
    "doc/info": _shape("doctype docnum get_items get_payments get_pdf_link", "doctype docnum"),
    "doc/search": _shape(
        """doctype status client_id client_name email vat_id docnum start_date end_date
        sort_field sort_order offset max_results detail_level"""
    ),
    "doc/get_doc_url": _shape(
        "doctype docnum lang orig hidenis doc_lang email_to", "doctype docnum"
    ),
    "doc/cancel": _shape("doctype docnum refund_cc reason", "doctype docnum"),
    "doc/email": _shape("doctype docnum email_to", "doctype docnum"),
    "cc/bill": _shape(
        """client_id custom_client_id vat_id email client_name sum num_of_payments
        first_payment is_credit currency_id currency_code currency cc_token_id cc_type
        cc_holder_name payment_description is_test""",
        "sum cc_token_id",
    ),
    "cc/transactions": _shape(
        "payment_description confirmation_code client_id start_date end_date"
    ),
    "cc_storage/get": _shape("client_id", "client_id"),
}
#: methods whose purpose is to take card data: secrets are theirs to receive
CARD_STORING = frozenset({"cc_storage/store"})


def _empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _check(shape: Shape, body: Mapping[str, Any], where: str, secrets_refused: bool) -> None:
    for key, value in body.items():
        if secrets_refused and key in CARD_SECRETS:
            raise Refusal("card_data_refused", f"{where}{key} is card data: never send it")
        if key not in shape.fields:
            raise Refusal("unknown_field", f"{where}{key} is not a field of this method")
        child = shape.nested.get(key)
        if child is not None and not _empty(value):
            for index, part in enumerate(value if isinstance(value, list) else [value]):
                if not isinstance(part, Mapping):
                    raise Refusal("bad_request", f"{where}{key} must hold objects")
                label = f"{where}{key}[{index}]." if isinstance(value, list) else f"{where}{key}."
                _check(child, part, label, secrets_refused)
    missing = sorted(key for key in shape.required if _empty(body.get(key)))
    if missing:
        raise Refusal("missing_field", f"{where}{', '.join(missing)} is required")


def check_fields(path: str, body: Mapping[str, Any]) -> None:
    """Refuse a body that strays from what `path` documents (see the module docstring).

    Methods without a shape here (storing a card) are only checked by their own code.
    """
    shape = SHAPES.get(path)
    if shape is None:
        return
    fields = {key: value for key, value in body.items() if key not in AUTH_FIELDS}
    if path == "auth/login":
        fields = dict(body)
    _check(shape, fields, "", path not in CARD_STORING)
    if path == "doc/create":
        _check_installments(body)


def _check_installments(body: Mapping[str, Any]) -> None:
    """`cc.first_payment` is "applicable only for installments" (seed 000): required with
    more than one payment, refused with one."""
    blocks = body.get("cc")
    for block in blocks if isinstance(blocks, list) else [blocks]:
        if not isinstance(block, Mapping):
            continue
        try:
            count = int(str(block.get("num_of_payments") or 1))
        except ValueError:
            raise Refusal("bad_payment", "cc.num_of_payments must be an integer") from None
        has_first = not _empty(block.get("first_payment"))
        if count > 1 and not has_first:
            raise Refusal("missing_field", "cc.first_payment is required with installments")
        if count <= 1 and has_first:
            raise Refusal("unknown_field", "cc.first_payment applies only to installments")
