"""The SMTP fallback against a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import pytest

from tests.smtp_server import smtp_server
from worker.errors import Retryable
from worker.jobs.mailer import Mailer
from worker.settings import SmtpSettings

PDF = b"%PDF-1.4\n% test\n"


async def test_document_is_sent_as_a_pdf_attachment() -> None:
    """One message, to the customer, from the tenant's sender, with the PDF attached intact."""
    with smtp_server() as (port, inbox):
        settings = SmtpSettings(
            host="127.0.0.1", port=port, sender="shop@example.com", starttls=False
        )
        await Mailer(settings).send_document(
            "dana@example.com", "Your invoice 2026001", "Attached.", PDF, "2026001.pdf"
        )
        [message] = inbox.messages
    assert (message["To"], message["From"]) == ("dana@example.com", "shop@example.com")
    [attachment] = [part for part in message.walk() if part.get_filename()]
    assert attachment.get_filename() == "2026001.pdf"
    assert attachment.get_payload(decode=True) == PDF


async def test_unreachable_server_is_retryable() -> None:
    """No SMTP server listening: a retryable error, so the job tries again later."""
    from tests.conftest import free_port

    settings = SmtpSettings(
        host="127.0.0.1", port=free_port(), sender="s@example.com", starttls=False, timeout_s=2
    )
    with pytest.raises(Retryable):
        await Mailer(settings).send_document("a@example.com", "s", "t", PDF, "x.pdf")
