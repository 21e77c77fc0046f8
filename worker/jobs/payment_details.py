"""Payment details that arrive apart from their order: kept, merged into it, waited for.

From API version 2023-04 on, Shopify's `orders/*` webhooks carry neither the card nor the
gateway's transaction id; `order_transactions/create` does, and becomes a PAYMENT_DETAILS
event. Stripe's `checkout.session.completed` names no charge; a later `charge.succeeded` does.
So a paid order's invoice-receipt may need what only a later event brings:

- **keep**: the payment of a PAYMENT_DETAILS event, and that of any order event whose own
  payment names its transaction id, is stored per order (ledger key `PAYMENT`); the later one
  wins, except that one without a transaction id never replaces one with it (`preferred`);
- **merge**: a document step of a paid order takes the stored payment where the order's own
  has no transaction id (`merged`);
- **wait**: a step whose payment block still lacks the id (`MissingTransactionId`) comes back
  later without spending a retry (`Waiting`), until the tenant's `payment_details_wait_s` has
  passed since the step's first attempt; then it stops as needs_attention, naming the webhook
  subscription that would have brought the details (`awaited`).
"""

from __future__ import annotations

import time

from worker.domain.events import Order, Payment
from worker.errors import BridgeError, MissingTransactionId, Waiting
from worker.ledger.ledger import Ledger
from worker.ledger.records import JobRecord

#: the webhook subscription that brings the transaction id, by source
DETAILS_TOPICS = {
    "shopify": "Shopify's 'order_transactions/create'",
    "stripe": "Stripe's 'charge.succeeded' (with the order's metadata.order_id)",
}
#: a waiting step looks again after half the time it has waited so far, within these (ms)
POLL_MIN_MS, POLL_MAX_MS = 1_000, 30_000


def preferred(stored: Payment | None, incoming: Payment | None) -> Payment | None:
    """The payment to store now that `incoming` arrived, or None to leave `stored` as it is."""
    if incoming is None or incoming == stored:
        return None
    if stored is not None and stored.transaction_id and not incoming.transaction_id:
        return None
    return incoming


async def keep(
    ledger: Ledger, tenant: str, order_id: str, stored: Payment | None, incoming: Payment | None
) -> Payment | None:
    """Store `incoming` for the order when it wins over `stored` (`preferred`); the payment
    kept afterwards. The caller holds the order's lock, so nothing else writes meanwhile."""
    chosen = preferred(stored, incoming)
    if chosen is None:
        return stored
    await ledger.save_payment(tenant, order_id, chosen)
    return chosen


def merged(order: Order, stored: Payment | None) -> Order:
    """`order` with the stored payment's details where its own payment has no transaction id:
    the order keeps its gateway and kind when it names them; the transaction id, the card,
    the payer and the time come from the stored payment, else stay the order's."""
    own = order.payment
    if stored is None or (own is not None and own.transaction_id):
        return order
    base = own or Payment()
    payment = Payment(
        gateway=base.gateway or stored.gateway,
        kind=base.kind or stored.kind,
        card_brand=stored.card_brand or base.card_brand,
        card_last4=stored.card_last4 or base.card_last4,
        transaction_id=stored.transaction_id,
        payer_name=stored.payer_name or base.payer_name,
        paid_at=stored.paid_at or base.paid_at,
    )
    return order.model_copy(update={"payment": payment})


def awaited(
    exc: BridgeError,
    job: JobRecord | None,
    *,
    wait_s: float,
    source: str,
    max_delay_ms: int,
    now: float | None = None,
) -> BridgeError:
    """What a step that raised `exc` ends as. A `MissingTransactionId` less than `wait_s`
    after the step's first attempt becomes `Waiting` (back within `max_delay_ms`, no retry
    spent); after that, a `MissingTransactionId` that names the subscription the details
    would have come from. Any other error is `exc` itself."""
    if not isinstance(exc, MissingTransactionId):
        return exc
    now = time.time() if now is None else now
    started = job.first_started_at if job is not None and job.first_started_at else now
    waited_ms = max(0, int((now - started) * 1000))
    left_ms = int(wait_s * 1000) - waited_ms
    if left_ms > 0:
        poll_ms = min(POLL_MAX_MS, max_delay_ms, max(POLL_MIN_MS, waited_ms // 2))
        return Waiting(
            f"waiting up to {wait_s:g} s for the payment's transaction id to arrive",
            delay_ms=max(1, min(poll_ms, left_ms)),
        )
    subscription = DETAILS_TOPICS.get(source) or " or ".join(DETAILS_TOPICS.values())
    return MissingTransactionId(
        f"{exc}. No payment details with it arrived within {wait_s:g} s of the first attempt: "
        f"check that the shop's webhooks include {subscription}"
    )
