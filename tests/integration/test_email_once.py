"""An SMTP send cut off after the server took the message and before the ledger heard back
(the worker died): the next attempt does what the tenant chose, and the step's history, which
the event's detail shows, says so. A real Redis ledger and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import free_port
from tests.smtp_server import Inbox
from worker.errors import Retryable
from worker.jobs.email_once import EmailRecovery, email_guard
from worker.jobs.mailer import Mailer
from worker.ledger.ledger import Ledger
from worker.settings import SmtpSettings

KEY = "acme:1001:email:invrec"
WHERE = {"tenant": "acme", "order_id": "1001", "step": "email:invrec"}


class SlowInbox(Inbox):
    """Keeps each message, then holds its "250" until released: the window in which a worker
    that dies leaves an email sent but not recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 10)
        return answer


@pytest.fixture
def slow_smtp() -> Any:
    inbox, port = SlowInbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        inbox.release.set()
        controller.stop()


def _send(port: int) -> Any:
    mailer = Mailer(
        SmtpSettings(
            host="127.0.0.1", port=port, sender="docs@shop.example", starttls=False, timeout_s=10
        )
    )
    return lambda: mailer.send_document(
        "dana@example.com", "Your document 30001", "Attached.", b"%PDF-1.4 fake", "30001.pdf"
    )


async def _die_after_smtp_took_it(ledger: Ledger, port: int, inbox: SlowInbox) -> None:
    async def first_attempt() -> bool:
        return await email_guard(ledger, KEY, "at_least_once", WHERE)(_send(port))

    attempt = asyncio.create_task(first_attempt())
    while not inbox.messages:  # the server has the message; its answer is still on the way
        await asyncio.sleep(0.01)
    attempt.cancel()  # the worker is gone before it can record anything
    inbox.release.set()
    with pytest.raises(asyncio.CancelledError):
        await attempt


@pytest.mark.parametrize(("policy", "emails"), [("at_least_once", 2), ("at_most_once", 1)])
async def test_a_send_cut_off_after_smtp_took_it_follows_the_tenants_choice(
    ledger: Ledger, slow_smtp: Any, policy: EmailRecovery, emails: int
) -> None:
    port, inbox = slow_smtp
    await _die_after_smtp_took_it(ledger, port, inbox)
    sent = await email_guard(ledger, KEY, policy, WHERE)(_send(port))
    assert sent is (policy == "at_least_once")
    assert len(inbox.messages) == emails
    [note] = [a for a in await ledger.attempts(KEY) if a["state"] == "email_outcome_unknown"]
    assert note["policy"] == policy and note["resent"] is (policy == "at_least_once")


async def test_a_send_that_never_reached_smtp_leaves_nothing_to_doubt(ledger: Ledger) -> None:
    guard = email_guard(ledger, KEY, "at_most_once", WHERE)
    with pytest.raises(Retryable):
        await guard(_send(free_port()))  # nothing listens there
    assert await ledger.begin_email(KEY) is False, "the failed send settled its intent"


async def test_a_clean_send_twice_is_not_taken_for_a_cut_off_one(
    ledger: Ledger, slow_smtp: Any
) -> None:
    port, inbox = slow_smtp
    inbox.release.set()
    assert await email_guard(ledger, KEY, "at_most_once", WHERE)(_send(port))
    await ledger.settle_email(KEY)  # what finish_job does when the step is recorded done
    assert await email_guard(ledger, KEY, "at_most_once", WHERE)(_send(port))
    assert len(inbox.messages) == 2
    assert not [a for a in await ledger.attempts(KEY) if a["state"] == "email_outcome_unknown"]
