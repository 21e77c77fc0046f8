"""The settings of one tenant (`[tenants.<id>]`): its source and secrets, its provider's
table, how its orders become documents, where its alerts go and how much it may use."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from worker.domain.events import PaymentKind
from worker.domain.rates import WebhookRate
from worker.domain.whsec import PREFIX, PROBLEM, whsec_key
from worker.settings.secrets import Secret, Strict

#: the payment block an invoice-receipt records a payment in (iCount doc/create)
PaymentBlock = Literal["cc", "banktransfer", "paypal", "cash"]
#: without `rate_limit_burst`, a limited tenant may send this many seconds of its rate at once
DEFAULT_BURST_S = 60.0

ProviderName = Literal["icount", "idoklad", "icash"]
#: the standard VAT rate (%) of each provider's country: a tenant's `default_vat_percent`
#: unless its settings name one. Sources:
#: - Israel 18 % from 1 January 2025: the Israel Tax Authority's Interpretative Instructions
#:   01/2025 (5 December 2024) on the VAT Order (Amendment) 2024, as summarised at
#:   https://regfollower.com/israel-issues-guidance-on-increased-vat-rate
#: - Czechia 21 % standard, 12 % the single reduced rate from 1 January 2024 (the 10 % and
#:   15 % rates merged), 0 % for books: https://vatcompliance.co/eu-vat-rates and
#:   https://vatupdate.com/2023/11/10/czech-consolidating-reduced-vat-rates-2024-new-12-rate-4
#: - Bulgaria 20 % standard, 9 % reduced: https://vatcompliance.co/eu-vat-rates
STANDARD_VAT: dict[ProviderName, Decimal] = {
    "icount": Decimal(18),
    "idoklad": Decimal(21),
    "icash": Decimal(20),
}
#: every rate of each provider's country (same sources), 0 for zero-rated supplies
COUNTRY_VAT: dict[ProviderName, frozenset[Decimal]] = {
    "icount": frozenset({Decimal(0), Decimal(18)}),
    "idoklad": frozenset({Decimal(0), Decimal(12), Decimal(21)}),
    "icash": frozenset({Decimal(0), Decimal(9), Decimal(20)}),
}


class AlertSettings(Strict):
    """Where a tenant's alerts go (worker/alerts/alerter.py): a webhook (signed the Standard
    Webhooks way when a secret is set) and/or email through the tenant's `smtp` table. Delivery is
    best-effort: a channel that is down is logged and counted, never retried, and never
    changes a job's outcome."""

    webhook_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    #: `whsec_<base64>` (the Standard Webhooks form); any other value keys the HMAC as UTF-8
    webhook_secret: Secret | None = None
    email_to: tuple[str, ...] = ()
    #: alert on each event that fails for good or needs attention
    on_failure: bool = True
    #: alert when this share of the tenant's finished events in `window_s` failed; None: off
    failure_rate: float | None = Field(default=0.25, gt=0, le=1)
    window_s: float = Field(default=900.0, gt=0)
    #: finished events the window must hold before a rate means anything
    min_events: int = Field(default=20, ge=1)
    #: at most one failure-rate alert per tenant this often (0: on every finished event over it)
    cooldown_s: float = Field(default=3600.0, ge=0)
    #: per webhook POST; email uses the `smtp` table's own timeout
    timeout_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _whsec_decodes(self) -> AlertSettings:
        """A `whsec_` secret must be base64, padded or not, or no alert could be signed; the
        error never shows the secret."""
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        if secret.startswith(PREFIX):
            try:
                whsec_key(secret)
            except ValueError:
                raise ValueError(f"webhook_secret is {PROBLEM}") from None
        return self


class DocumentSettings(Strict):
    """How a tenant's orders become documents."""

    #: document for an order that is paid when we hear of it
    paid_doctype: Literal["invrec"] = "invrec"
    #: document for an order created unpaid; "none" waits for the payment
    unpaid_doctype: Literal["invoice", "none"] = "invoice"
    #: the language of iCount's interface and messages (`lang`)
    language: Literal["he", "en"] = "he"
    #: the language the document itself is printed in (iCount `doc_lang`); default: `language`
    document_language: Literal["he", "en"] | None = None
    email: bool = True
    #: an SMTP send whose outcome a crash hid (worker/jobs/email_once.py): send it again
    #: (`at_least_once`: a missing invoice email is worse than a second one) or not
    email_recovery: Literal["at_least_once", "at_most_once"] = "at_least_once"
    #: how a paid order's payment is recorded on the invoice-receipt, by the gateway that
    #: took it: {"paypal" = "paypal", "bacs" = "banktransfer", "cod" = "cash", ...}; names
    #: match case-insensitively. A gateway not listed is recorded as the platform says it
    #: was paid (card, PayPal, bank transfer, cash), else as `payment_method`
    payment_methods: dict[str, PaymentBlock] = Field(default_factory=dict)
    #: the fallback when neither the gateway mapping nor the platform says how it was paid
    payment_method: PaymentBlock = "cc"
    #: how long a paid order's document waits for the gateway's transaction id when the
    #: payment block needs one and it comes in a later event (Shopify
    #: `order_transactions/create`, Stripe `charge.succeeded`), from the step's first attempt
    #: (s); then the job stops as needs_attention
    payment_details_wait_s: float = Field(default=900.0, ge=0, le=604_800)
    #: VAT percent of taxable lines that carry no rate (iCount: sent as `vat_percent`). Not
    #: set: the standard rate of the provider's country (`STANDARD_VAT`; 18 stands for it
    #: only outside a tenant). Set: taken as given, even if the country has no such rate
    default_vat_percent: Decimal = Field(default=STANDARD_VAT["icount"], ge=0, le=100)
    income_type_name: str | None = None
    #: bill the stored card of an unpaid order that asks for it (`charge` in the order)
    charge_stored_cards: bool = False
    #: after a charge's answer was lost, how long a transaction may take to show up (s)
    charge_settle_s: float = Field(default=60.0, ge=0)
    #: how far the shop's total may be from the sum of its own lines and still be issued
    #: (the difference is carried as a "Rounding" line); beyond it the job stops as
    #: needs_attention. Per-line VAT rounding differences are carried on top.
    max_rounding: Decimal = Field(default=Decimal("0.05"), ge=0)
    #: iCount tax type id (its `tax/types`) of each VAT rate, written as text ("18" = 1);
    #: an order with lines at several rates sends each item's rate under its type
    #: (doc/create `taxes`), and stops as needs_attention if a rate is not listed here
    icount_tax_types: dict[str, int] = Field(default_factory=dict)

    @field_validator("icount_tax_types")
    @classmethod
    def _rates_are_percents(cls, value: dict[str, int]) -> dict[str, int]:
        seen: set[Decimal] = set()
        for rate in value:
            try:
                percent = Decimal(rate)
            except ArithmeticError:
                raise ValueError(f"{rate!r} is not a VAT rate in percent") from None
            if not (percent.is_finite() and 0 < percent <= 100):
                raise ValueError(f"{rate!r} is not a VAT rate above 0 and at most 100")
            if percent in seen:
                raise ValueError(f"the rate {rate!r} is listed twice")
            seen.add(percent)
        return value


class ICountSettings(Strict):
    base_url: str = "https://api.icount.co.il/api/v3.php"
    cid: str | None = None
    user: str | None = None
    pass_: Secret | None = Field(default=None, alias="pass")
    api_token: Secret | None = None
    timeout_s: float = Field(default=20.0, gt=0)
    #: iCount's id of the merchant's bank account that bank transfers are paid into
    #: (doc/create `banktransfer.account`); needed once any payment is recorded as one
    bank_account_id: int | None = Field(default=None, gt=0)
    #: card charges (cc/bill) go out with `is_test`: no card company is called, nobody is
    #: charged; for trying live credentials. Every exactly-once guard still applies
    is_test: bool = False

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _has_credentials(self) -> ICountSettings:
        if self.api_token is None and not (self.cid and self.user and self.pass_):
            raise ValueError("set either api_token, or cid + user + pass")
        return self


class IDokladSettings(Strict):
    base_url: str = "https://api.idoklad.cz/v2"
    token_url: str = "https://identity.idoklad.cz/server/connect/token"  # noqa: S105 (a URL, not a secret)
    client_id: str
    client_secret: Secret
    timeout_s: float = Field(default=20.0, gt=0)


#: a key of iCash `pay_types`: a way of paying (`PaymentKind`), or "gift_card" for the part
#: of an order gift cards paid (`Order.gift_cards`)
PayTypeKey = PaymentKind | Literal["gift_card"]
#: iCash's `get-pay-types` example (3.06): 1 Cash, 2 Credit card
DEFAULT_PAY_TYPES: dict[PayTypeKey, int] = {"cash": 1, "card": 2}


class ICashSettings(Strict):
    """An iCash account, and where in it our operations go (providers.md D.3, facts
    register docs/providers/icash.md)."""

    base_url: str = "https://v5.icash.bg/clientapi/v1"
    api_key: str
    secret_key: Secret
    warehouse_id: int
    user_id: int
    timeout_s: float = Field(default=20.0, gt=0)
    #: the cash register and store our operations are made in (`new-operation`;
    #: `get-cash-registers` lists them)
    cash_register_id: int = Field(gt=0)
    store_id: int = Field(gt=0)
    #: the catalogue item (`SaleItemID`, from `get-sale-items`) each VAT rate's lines are
    #: sold as, the rate written as text ("20" = 101): its tax group gives the line its VAT
    sale_items: dict[str, int] = Field(min_length=1)
    #: iCash's `PayTypeID` (from `get-pay-types`) of each way an order is paid: card,
    #: paypal, bank_transfer, cash, other, and gift_card (the part gift cards paid). The
    #: default is the documentation's example list (1 Cash, 2 Credit card); an order paid in
    #: an unmapped way stops as needs_attention
    pay_types: dict[PayTypeKey, int] = Field(default_factory=lambda: dict(DEFAULT_PAY_TYPES))
    #: `OperationElectronicReceipt`: YES sends no fiscal receipt to a printer (a web shop)
    electronic_receipt: bool = True
    #: the refund's `StornoType` (0, 1 or 2; iCash does not say which is which: a guess)
    storno_type: Literal[0, 1, 2] = 1
    #: the fiscal device's number (`FiskDeviceNum`, >= 10000000) a refund's return names
    fiscal_device_number: int | None = Field(default=None, ge=10_000_000)
    #: how long after printing an operation its document may take to appear before the
    #: step stops as needs_attention (no document is made from it)
    document_wait_s: float = Field(default=600.0, ge=0)
    #: the account's currency: `new-operation` names none, so documents are in it, and an
    #: order in another currency stops as needs_attention (Bulgaria uses EUR from 2026)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    #: the time zone of the clock iCash stamps operations with (`OperationCompleteDate`)
    timezone: str = "Europe/Sofia"

    @field_validator("sale_items")
    @classmethod
    def _rates(cls, value: dict[str, int]) -> dict[str, int]:
        for rate, item in value.items():
            try:
                percent = Decimal(rate)
            except ArithmeticError:
                raise ValueError(f"{rate!r} is not a VAT rate in percent") from None
            if not (percent.is_finite() and 0 <= percent <= 100) or item <= 0:
                raise ValueError(f"{rate!r} = {item} is not a rate from 0 to 100 and an item id")
        return value


class SmtpSettings(Strict):
    """Where documents go out by email when the provider cannot send them itself."""

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    sender: str  #: the From address
    username: str | None = None
    password: Secret | None = None
    starttls: bool = True
    timeout_s: float = Field(default=20.0, gt=0)


class LimitSettings(Strict):
    """How much of the workers one tenant may use, across every host (kept in Redis). An
    event over a limit waits on the queue without spending a retry."""

    max_concurrent_events: int | None = Field(default=None, ge=1)
    events_per_s: float | None = Field(default=None, gt=0)
    burst: int = Field(default=1, ge=1)  #: events that may start at once after a quiet spell


class TenantSettings(Strict):
    source: Literal["shopify", "woocommerce", "stripe", "standard"]
    secret: Secret | None = None
    #: several secrets may be valid at once while one is being rotated
    secrets: tuple[Secret, ...] = ()
    provider: ProviderName
    icount: ICountSettings | None = None
    idoklad: IDokladSettings | None = None
    icash: ICashSettings | None = None
    smtp: SmtpSettings | None = None
    documents: DocumentSettings = DocumentSettings()
    alerts: AlertSettings | None = None
    limits: LimitSettings = LimitSettings()
    #: webhooks a second this tenant may send, counted across every receiver; over it: 429.
    #: None (the default): no limit, as shop platforms retry on their own schedule, not on
    #: Retry-After, and disable a webhook that keeps failing (README, "Webhook rate limit")
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    #: deliveries at once after a quiet spell (default: DEFAULT_BURST_S of the rate)
    rate_limit_burst: float | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _country_vat(cls, data: object) -> object:
        """`documents.default_vat_percent`, when the settings leave it out, is the standard
        rate of the provider's country; a rate they name is the merchant's to choose."""
        if not isinstance(data, dict) or data.get("provider") not in STANDARD_VAT:
            return data  # field validation reports what is wrong
        rate = STANDARD_VAT[data["provider"]]
        documents = data.get("documents")
        if documents is None:
            return {**data, "documents": {"default_vat_percent": rate}}
        if isinstance(documents, dict) and "default_vat_percent" not in documents:
            return {**data, "documents": {**documents, "default_vat_percent": rate}}
        if isinstance(documents, DocumentSettings) and (
            "default_vat_percent" not in documents.model_fields_set
        ):
            return {**data, "documents": documents.model_copy(update={"default_vat_percent": rate})}
        return data

    @model_validator(mode="after")
    def _complete(self) -> TenantSettings:
        if self.secret is None and not self.secrets:
            raise ValueError("set secret (or secrets) to verify webhook signatures")
        if getattr(self, self.provider) is None:
            raise ValueError(
                f"provider is {self.provider} but there is no [tenants.<id>.{self.provider}] table"
            )
        if self.provider == "icash" and self.documents.email and self.smtp is None:
            raise ValueError("iCash cannot email: add [tenants.<id>.smtp] or set email = false")
        if self.icount is not None and self.icount.bank_account_id is None:
            blocks = {self.documents.payment_method, *self.documents.payment_methods.values()}
            if self.provider == "icount" and "banktransfer" in blocks:
                raise ValueError(
                    "payments recorded as banktransfer need icount.bank_account_id "
                    "(iCount's id of the bank account they are paid into)"
                )
        if self.alerts is not None and self.alerts.email_to and self.smtp is None:
            raise ValueError("alerts.email_to needs a [tenants.<id>.smtp] table to send with")
        if self.rate_limit_burst is not None and self.rate_limit_per_s is None:
            raise ValueError("rate_limit_burst needs rate_limit_per_s (without it: no limit)")
        return self

    @model_validator(mode="after")
    def _standard_secrets_decode(self) -> TenantSettings:
        """A Standard Webhooks secret must be `whsec_` + base64, padded or not: any other would
        refuse every delivery with a 401. The error names the key, never the value. Other
        sources key their HMAC with the secret's text (Stripe's `whsec_` too), so any goes."""
        if self.source != "standard":
            return self
        named = {"secret": self.secret, **{f"secrets.{n}": s for n, s in enumerate(self.secrets)}}
        for key, secret in named.items():
            if secret is None or not secret.get_secret_value():
                continue  # blank is not configured, as the verifier reads it
            try:
                whsec_key(secret.get_secret_value())
            except ValueError:
                raise ValueError(f"{key} is {PROBLEM}") from None
        return self

    def webhook_rate(self) -> WebhookRate | None:
        """The tenant's webhook rate limit, or None when it has none."""
        per_s = self.rate_limit_per_s
        if per_s is None:
            return None
        burst = self.rate_limit_burst
        return WebhookRate(per_s, max(1.0, per_s * DEFAULT_BURST_S) if burst is None else burst)

    def vat_fits_country(self) -> bool:
        """Whether `default_vat_percent` is one of the provider's country's rates (a rate set
        explicitly may not be; `invoicebridge check` says so)."""
        return self.documents.default_vat_percent in COUNTRY_VAT[self.provider]

    def webhook_secrets(self) -> tuple[str, ...]:
        """Every secret a delivery may be signed with, as plain strings."""
        both = ((self.secret,) if self.secret else ()) + self.secrets
        return tuple(s.get_secret_value() for s in both)
