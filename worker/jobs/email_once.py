"""An email through SMTP, which has no idempotency key, sent once as far as the ledger can tell.

A worker SIGKILLed between the SMTP server's "250 accepted" and the ledger recording the step
done leaves no sign of whether the customer got the email. So before each SMTP send the job
records its intent; a definite outcome (the step done, SMTP refused, SMTP never reached)
settles it. A later attempt that finds an unsettled intent knows an earlier one may have sent
the email, and does what the tenant chose (`documents.email_recovery`):

- `at_least_once` (the default: a missing invoice email is worse than a second one) sends it
  again;
- `at_most_once` does not, and the step ends with the document not marked emailed.

Either way the case is logged (`email_outcome_unknown`), counted
(`invoicebridge_email_outcome_unknown_total`) and written into the step's history, which the
event's detail shows. iCount (emails on create) and iDoklad (`IsSentToPurchaser`) never come
here: the service itself says whether it sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

import structlog
from prometheus_client import Counter

from worker.errors import Permanent, Retryable

log = structlog.get_logger("worker.email_once")

EmailRecovery = Literal["at_least_once", "at_most_once"]
UNKNOWN_EMAILS = Counter(
    "invoicebridge_email_outcome_unknown",
    "SMTP sends found begun by an earlier attempt with no outcome, by the tenant's policy.",
    ["policy"],
)

#: sends the email (raises Permanent/Retryable when SMTP refused or was never reached)
SendEmail = Callable[[], Awaitable[None]]
#: sends it under the policy; whether it was sent by this attempt
EmailGuard = Callable[[SendEmail], Awaitable[bool]]


class IntentLedger(Protocol):
    async def begin_email(self, key: str) -> bool: ...
    async def settle_email(self, key: str) -> None: ...
    async def note_job(self, key: str, state: str, **details: object) -> None: ...


def email_guard(
    ledger: IntentLedger, key: str, policy: EmailRecovery, where: dict[str, Any]
) -> EmailGuard:
    """The guard for one step's SMTP send, on the step's job `key`."""

    async def send_once(send: SendEmail) -> bool:
        if await ledger.begin_email(key):
            resend = policy == "at_least_once"
            log.warning("email_outcome_unknown", policy=policy, resend=resend, **where)
            UNKNOWN_EMAILS.labels(policy=policy).inc()
            await ledger.note_job(key, "email_outcome_unknown", policy=policy, resent=resend)
            if not resend:
                return False
        try:
            await send()
        except (Permanent, Retryable):  # SMTP said no, or was never reached: nothing went out
            await ledger.settle_email(key)
            raise
        return True

    return send_once
