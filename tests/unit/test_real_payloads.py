"""The real-payload corpus (issue #18): what the platforms themselves publish, end to end.

Every file under tests/fixtures/real/<platform>/ is a webhook body as its platform POSTs it,
taken from an SDK's test fixtures, an API reference example or a CLI-generated event (where it
comes from, and what was changed: tests/fixtures/real/SOURCE.md). Each one is signed as its
platform signs it, verified and parsed by its source (handlers/sources), made into the event
the receiver records (`handlers.webhooks._to_item`), and an order is mapped through each
provider's pure builder (iCount doc/create, iDoklad IssuedInvoice, iCash sale items), whose
document total must equal the shop's to the unit, as SOURCE.md states it. A provider that
legitimately refuses an order (iCash and a 3-decimal currency; every provider and a published
order whose own numbers disagree) is asserted as that refusal.

Cases that fail today because of a known parser bug are marked `xfail(strict=True)` with the
issue's item: once the parser is fixed, the strict mark fails and is to be removed. The items
are named by issue #18's item numbers (`KNOWN_BUGS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pytest

from handlers.deliveries import received, to_item
from handlers.errors import InboundError, InvalidPayload
from handlers.sources import get_source
from invoicebridge.reading import read_delivery
from invoicebridge.samples import shopify as samples
from invoicebridge.samples import standard as samples_standard
from invoicebridge.samples import stripe as samples_stripe
from invoicebridge.samples import woocommerce as samples_woocommerce
from sandboxes.icount.rounding import ROUNDINGS, RULES
from sandboxes.icount.rules import Refusal as IcountRefusal
from sandboxes.icount.rules import check_document as icount_check
from sandboxes.idoklad.models import check_document as idoklad_check
from sandboxes.idoklad.models import priced
from tests.orders import document_request, icash_account
from worker.domain import vat
from worker.domain.events import EventKind, IgnoredDelivery, Order, OrderEvent
from worker.errors import Permanent, TotalMismatch
from worker.ledger.records import event_fields
from worker.providers.icash.sale import sale_items
from worker.providers.icount.wire import build_document_request
from worker.providers.idoklad.wire import build_invoice
from worker.settings import DocumentSettings, ICashSettings
from worker.settings.tenant import PaymentBlock

D = Decimal
REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
SOURCE_MD = REAL / "SOURCE.md"
NOW = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
DAY = date(2026, 1, 15)
TENANT = "corpus"
SECRETS = {
    "shopify": "shpss_corpus_0123456789abcdef0123456789abcdef",
    "woocommerce": "wc_corpus_secret_0123456789",
    "stripe": "whsec_corpus_0123456789abcdef0123456789",
    #: the reference libraries' test secret (standard-webhooks libraries/python/tests)
    "standard": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}
#: the known parser bugs of issue #18, by its item numbers, and what
#: this corpus found beyond them
KNOWN_BUGS: dict[str, str] = {}  #: none left: every bug this corpus found is fixed
Refusal = Literal["unsupported_amount", "total_mismatch", "payment_mismatch"]
PROVIDERS = ("icount", "idoklad", "icash")


@dataclass(frozen=True)
class Case:
    """One corpus file and what it must come to."""

    platform: Literal["shopify", "woocommerce", "stripe", "standard"]
    name: str  #: the file name under tests/fixtures/real/<platform>/
    topic: str  #: the topic it is delivered under (Stripe, Standard Webhooks: the body's type)
    kind: EventKind | None  #: None: recorded as an ignored delivery
    currency: str | None = None
    total: Decimal | None = None  #: the order's total, or the refund's amount
    vat: Decimal | None = None  #: the order's total tax as the platform states it
    refusals: Mapping[str, Refusal] = field(default_factory=dict)  #: provider -> refusal
    invalid: str | None = None  #: refused by `parse` as designed: the InvalidPayload detail
    bug: str | None = None  #: the KNOWN_BUGS entry that makes it fail today
    #: the providers the bug fails; () when it fails already in parsing (every test of it)
    bug_providers: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return REAL / self.platform / self.name

    @property
    def id(self) -> str:
        return f"{self.platform}/{self.name}"


O_CREATED, O_PAID = EventKind.ORDER_CREATED, EventKind.ORDER_PAID
O_UPDATED = EventKind.ORDER_UPDATED
CAPTURED, REFUNDED = EventKind.PAYMENT_CAPTURED, EventKind.REFUND_ISSUED
DETAILS = EventKind.PAYMENT_DETAILS
DINAR: dict[str, Refusal] = {"icash": "unsupported_amount"}  #: iCash keeps 2 decimal places
#: every provider refuses an order whose own lines do not make its total
DISAGREES: dict[str, Refusal] = dict.fromkeys(PROVIDERS, "total_mismatch")


def _cases() -> list[Case]:
    usd, eur, jpy, bhd = "USD", "EUR", "JPY", "BHD"
    shopify = [
        Case("shopify", "orders_updated_partially_refunded_450789469.json", "orders/updated",
             O_UPDATED, usd, D("598.94"), D("11.94"), {"idoklad": "total_mismatch"}),
        Case("shopify", "orders_paid_eur_line_tax_1073459976.json", "orders/paid", O_PAID, eur,
             D("238.47"), D("13.50")),
        Case("shopify", "orders_create_partially_paid_untaxed.json", "orders/create", O_CREATED,
             usd, D("199.00"), D("0.00")),
        Case("shopify", "orders_paid_discount_untaxed.json", "orders/paid", O_PAID, usd,
             D("181.09"), D("0.00")),
        Case("shopify", "orders_create_two_tax_lines_exempt_line.json", "orders/create", O_CREATED,
             usd, D("270.37"), D("14.45")),
        Case("shopify", "orders_create_python_api_fixture.json", "orders/create", O_CREATED, usd,
             D("409.94"), D("11.94"), DISAGREES),
        Case("shopify", "orders_paid_eur_taxes_included_built.json", "orders/paid", O_PAID, eur,
             D("224.97"), D("12.73")),
        Case("shopify", "orders_create_untaxed_shipping_built.json", "orders/create", O_CREATED,
             usd, D("280.37"), D("14.45")),
        Case("shopify", "refunds_create_order_adjustment.json", "refunds/create", REFUNDED, usd,
             D("41.94")),
        Case("shopify", "refunds_create_line_item.json", "refunds/create", REFUNDED, usd,
             D("5.00")),
        Case("shopify", "refunds_create_restock_shipping.json", "refunds/create", REFUNDED, usd,
             D("209.00")),
        Case("shopify", "order_transactions_create_capture.json", "order_transactions/create",
             DETAILS),
        Case("shopify", "order_transactions_create_authorization.json",
             "order_transactions/create", None),
    ]  # fmt: skip  # a table of cases (Shopify corpus): one case per entry
    stripe = [
        Case("stripe", "payment_intent_succeeded_usd_cli.json", "payment_intent.succeeded",
             CAPTURED, usd, D("20.00")),
        Case("stripe", "payment_intent_succeeded_jpy_built.json", "payment_intent.succeeded",
             CAPTURED, jpy, D("5000")),
        Case("stripe", "payment_intent_succeeded_bhd_built.json", "payment_intent.succeeded",
             CAPTURED, bhd, D("12.340"), refusals=DINAR),
        Case("stripe", "payment_intent_succeeded_huf_built.json", "payment_intent.succeeded",
             CAPTURED, "HUF", D("12345.00")),
        Case("stripe", "payment_intent_succeeded_isk_built.json", "payment_intent.succeeded",
             CAPTURED, "ISK", D("1500")),
        Case("stripe", "charge_succeeded_cli.json", "charge.succeeded", CAPTURED, usd, D("1.00")),
        Case("stripe", "charge_refunded_cli_unexpanded.json", "charge.refunded", REFUNDED, usd,
             D("1.00")),
        Case("stripe", "charge_refunded_second_partial_unexpanded_built.json", "charge.refunded",
             REFUNDED, usd, D("10.00")),  # refunded to date; this one adds 5.00
        Case("stripe", "charge_refunded_expanded_2020_08_27.json", "charge.refunded", REFUNDED,
             usd, D("1.00")),
        Case("stripe", "checkout_session_completed_cli.json", "checkout.session.completed",
             CAPTURED, usd, D("30.00")),
        Case("stripe", "checkout_session_completed_no_created_2020_08_27.json",
             "checkout.session.completed", CAPTURED, usd, D("30.00")),
        Case("stripe", "invoice_paid_cli.json", "invoice.paid", CAPTURED, usd, D("20.00")),
        Case("stripe", "invoice_paid_customer_address_null.json", "invoice.paid", CAPTURED, usd,
             D("20.00")),
        Case("stripe", "plan_created_fixtures3_event.json", "plan.created", None),
    ]  # fmt: skip  # a table of cases (Stripe corpus): one case per entry
    woocommerce = [
        Case("woocommerce", "order_created_727_wc3.json", "order.created", O_CREATED, usd,
             D("29.35"), D("1.35")),
        Case("woocommerce", "order_created_728_rate_percent_built.json", "order.created",
             O_CREATED, usd, D("29.35"), D("1.35")),
        Case("woocommerce", "order_created_729_bhd_built.json", "order.created", O_CREATED, bhd,
             D("22.825"), D("2.075"), DINAR),
        Case("woocommerce", "order_created_154_wc_v1.json", "order.created", O_CREATED, usd,
             D("37.95"), D("1.95")),
        Case("woocommerce", "order_updated_723_completed_wc3.json", "order.updated", REFUNDED,
             usd, D("10.00")),
        Case("woocommerce", "order_updated_730_gift_card_built.json", "order.updated", O_PAID,
             usd, D("29.35"), D("1.35"), {"icount": "payment_mismatch"}),  # the sale: 10.00 of it
        # paid by the gift card; iCount's sandbox refuses an invoice-receipt paid in part (a
        # guess, F-PAY-9): the step fails visibly, nothing is made
        Case("woocommerce", "order_deleted_727_trashed.json", "order.deleted", None),
    ]  # fmt: skip  # a table of cases (WooCommerce corpus): one case per entry
    standard = [
        Case("standard", "order_paid_jpy_built.json", "order.paid", O_PAID, jpy, D("6320"),
             D("575")),
        Case("standard", "refund_issued_jpy_built.json", "refund.issued", REFUNDED, jpy,
             D("2200")),
        Case("standard", "spec_contact_created.json", "contact.created", None,
             invalid="type: not one of"),
        Case("standard", "library_test_payload.json", "", None, invalid="type: missing"),
    ]  # fmt: skip  # a table of cases (Standard corpus): one case per entry
    return shopify + stripe + woocommerce + standard


CASES = _cases()


# --- signing, as each platform signs -----------------------------------------------------


def headers_for(case: Case, body: bytes) -> dict[str, str]:
    secret, stamp = SECRETS[case.platform], int(NOW.timestamp())
    if case.platform == "shopify":
        return samples.headers_for(
            body, topic=case.topic, secret=secret, event_id=f"corpus-{case.name}", triggered_at=NOW
        )
    if case.platform == "woocommerce":
        return samples_woocommerce.headers_for(
            body, topic=case.topic, secret=secret, delivered_at=NOW
        )
    if case.platform == "stripe":
        return samples_stripe.headers_for(body, secret, timestamp=stamp)
    return samples_standard.headers_for(body, secret, msg_id=f"msg_{case.name}", timestamp=stamp)


def receive(case: Case) -> OrderEvent | IgnoredDelivery:
    """Verify, parse and make the event the receiver records, as `receive_webhook` does."""
    body = case.path.read_bytes()
    source = get_source(case.platform)
    assert source is not None
    headers = headers_for(case, body)
    assert source.detect_ping(body, headers) is None
    source.verify(body, headers, [SECRETS[case.platform]], NOW)
    return to_item(source.parse(body, headers), TENANT, case.platform)


# --- the three providers' documents, totalled by each sandbox's own rule --------------------


def settings_for(order: Order) -> tuple[DocumentSettings, ICashSettings]:
    """Document settings with an iCount tax type, and an iCash catalogue item, for every VAT
    rate the order's lines use (and 0 %, iCash's rounding item)."""
    base = DocumentSettings()
    rates = {vat.line_rate(line, base.default_vat_percent) or D(0) for line in order.lines}
    texts = sorted({format(rate.normalize(), "f") for rate in rates | {D(0)}}, key=D)
    documents = base.model_copy(
        update={"icount_tax_types": {text: n for n, text in enumerate(texts, 1) if D(text)}}
    )
    icash = icash_account({text: 100 + n for n, text in enumerate(texts)}, currency=order.currency)
    return documents, icash


def icount_total(order: Order) -> Decimal:
    """The doc/create body's total, the same under every rounding rule of the sandbox: an
    invoice-receipt for a paid order, an invoice otherwise (DocumentSettings' doctypes). A
    payment without the gateway's transaction id (which the worker waits for, from a later
    event) is recorded as cash: the money is what this test is about."""
    documents, _ = settings_for(order)
    payment = order.payment
    if not (payment and payment.transaction_id):
        gateway = (payment.gateway if payment else None) or order.payment_gateway
        methods: dict[str, PaymentBlock] = {gateway: "cash"} if gateway else {}
        documents = documents.model_copy(
            update={"payment_method": "cash", "payment_methods": methods}
        )
    doctype = documents.paid_doctype if order.paid else documents.unpaid_doctype
    body = build_document_request(
        order, doctype=doctype, documents=documents, sanity="x", issue_date=DAY, bank_account_id=1
    )
    totals = {icount_check(body, rule, mode)[1].total for rule in RULES for mode in ROUNDINGS}
    assert len(totals) == 1, totals
    return totals.pop()


def idoklad_total(order: Order) -> Decimal:
    documents, _ = settings_for(order)
    request = document_request(order, "ib-corpus", documents=documents, issue_date=DAY)
    body = build_invoice({}, request, purchaser_id=1, currency_id=1)
    check, _, items = idoklad_check(body, "IssuedInvoiceItems")
    check.done()
    _, money = priced(items, order.currency)
    total: Decimal = money.total
    return total


def icash_total(order: Order) -> Decimal:
    documents, icash = settings_for(order)
    return sum((item.amount for item in sale_items(order, documents, icash)), D(0))


TOTALS: dict[str, Callable[[Order], Decimal]] = {
    "icount": icount_total,
    "idoklad": idoklad_total,
    "icash": icash_total,
}


# --- the tests ---------------------------------------------------------------------------


def _param(case: Case, provider: str | None = None) -> Any:
    """The case as a test parameter, named by its file; xfail (strict) where its bug bites."""
    fails = case.bug is not None and (not case.bug_providers or provider in case.bug_providers)
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[case.bug or ""])] if fails else []
    name = case.id if provider is None else f"{case.id}-{provider}"
    args = (case,) if provider is None else (case, provider)
    return pytest.param(*args, id=name, marks=marks)


def _event(case: Case) -> OrderEvent:
    item = receive(case)
    assert isinstance(item, OrderEvent), item
    return item


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_verify_and_parse(case: Case) -> None:
    """Signed as its platform signs, it verifies, parses and becomes the expected event."""
    if case.invalid is not None:  # our own envelope is strict: a 422 naming the field
        with pytest.raises(InvalidPayload) as refused:
            receive(case)
        assert case.invalid in refused.value.detail
        return
    try:
        item = receive(case)
    except InboundError as error:  # say which field, so a failure reads as a finding
        pytest.fail(f"{type(error).__name__}: {error.detail}")
    if case.kind is None:
        assert isinstance(item, IgnoredDelivery), item
        return
    assert isinstance(item, OrderEvent), item
    assert item.kind is case.kind
    if item.kind is DETAILS:
        assert item.payment is not None
        return
    if item.kind is REFUNDED:
        assert item.refund is not None
        # a refund known only by the charge's refunded-to-date amount says that (the worker
        # credits what it adds to the refunds it holds: tests/unit/test_refunds_to_date.py)
        amount = item.refund.refunded_to_date or item.refund.amount
        assert (amount, item.refund.currency) == (case.total, case.currency)
        return
    order = item.order
    assert order is not None
    assert (order.total, order.currency) == (case.total, case.currency)
    if case.vat is not None:
        assert order.total_tax == case.vat


READ_LATER = [case for case in CASES if case.platform != "standard" and case.bug is None]


@pytest.mark.parametrize("case", [_param(case) for case in READ_LATER])
def test_recorded_as_it_came_it_reads_as_the_whole_parse_on_arrival(case: Case) -> None:
    """The receiver records a platform's delivery by its ids, its body masked (DESIGN step 5:
    `handlers.deliveries.received`); the worker reads the ledger's fields with the same
    parsers (`invoicebridge.reading`). Masking changes nothing the parser reads: the event is
    the one the whole parse of the original body makes, under the same id."""
    body = case.path.read_bytes()
    source = get_source(case.platform)
    assert source is not None
    headers = headers_for(case, body)
    found = source.identify(body, headers)
    assert found is not None
    item = received(found, body, headers, TENANT, case.platform)
    whole = receive(case)
    if isinstance(item, IgnoredDelivery):  # a topic we never act on: both say so
        assert item == whole
        return
    _, fields = event_fields(item, "now")  # as the ledger records it
    assert read_delivery(fields) == whole


ORDER_CASES = [case for case in CASES if case.kind in (O_CREATED, O_PAID, O_UPDATED, CAPTURED)]


@pytest.mark.parametrize(
    ("case", "provider"), [_param(case, name) for case in ORDER_CASES for name in PROVIDERS]
)
def test_document_total_is_the_shop_total(case: Case, provider: str) -> None:
    """Each provider's document comes to the order's total exactly, or is refused as
    SOURCE.md says."""
    order = _event(case).order
    assert order is not None
    refusal = case.refusals.get(provider)
    if refusal == "unsupported_amount":
        with pytest.raises(Permanent) as caught:
            TOTALS[provider](order)
        assert caught.value.reason == "unsupported_amount"
    elif refusal == "total_mismatch":
        with pytest.raises(TotalMismatch):
            TOTALS[provider](order)
    elif refusal == "payment_mismatch":
        with pytest.raises(IcountRefusal) as refused:
            TOTALS[provider](order)
        assert refused.value.reason == "payment_mismatch"
    else:
        assert TOTALS[provider](order) == case.total


def _source_rows() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in SOURCE_MD.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`?([a-z]+/[a-z0-9_.-]+\.json)`?", cells[0]) if cells else None
        if match:
            rows[match[1]] = cells
    return rows


def test_source_md_lists_every_file_with_its_totals() -> None:
    """SOURCE.md has one row per corpus file, and the totals it states are the ones tested."""
    files = {f"{path.parent.name}/{path.name}" for path in REAL.glob("*/*.json")}
    rows = _source_rows()
    assert set(rows) == files == {case.id for case in CASES}
    for case in CASES:
        text = " ".join(rows[case.id])
        if case.total is not None:
            assert f"{case.total} {case.currency}" in text, case.id
        if case.vat is not None:
            assert f"VAT {case.vat}" in text, case.id
