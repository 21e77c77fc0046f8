"""The SMTP sender: a document's PDF to the customer when the provider cannot email, and
plain-text alerts to a tenant's people."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage

import aiosmtplib

from worker.errors import OutcomeUnknown, Permanent, Retryable
from worker.settings import SmtpSettings


class Mailer:
    """Sends one message per call through the tenant's SMTP server."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def send_document(
        self, to: str, subject: str, text: str, pdf: bytes, filename: str
    ) -> None:
        """Email `pdf` as an attachment. SMTP 5xx answers are permanent, the rest retryable."""
        message = self._message(to, subject, text)
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
        await self._send(message)

    async def send_text(self, to: Sequence[str], subject: str, text: str) -> None:
        """One plain-text message to every address in `to`; errors as for `send_document`."""
        await self._send(self._message(", ".join(to), subject, text))

    def _message(self, to: str, subject: str, text: str) -> EmailMessage:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.settings.sender, to, subject
        message.set_content(text)
        return message

    async def _send(self, message: EmailMessage) -> None:
        smtp = self.settings
        password = smtp.password.get_secret_value() if smtp.password else None
        try:
            await aiosmtplib.send(
                message,
                hostname=smtp.host,
                port=smtp.port,
                username=smtp.username,
                password=password,
                start_tls=smtp.starttls,
                timeout=smtp.timeout_s,
            )
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise Permanent(f"SMTP refused: {exc.code}", reason="smtp_refused") from None
            raise Retryable(f"SMTP answered {exc.code}") from None
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPReadTimeoutError) as exc:
            # the server may have taken the message before the line went quiet
            raise OutcomeUnknown(f"SMTP answer lost: {type(exc).__name__}") from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise Retryable(f"SMTP unreachable: {type(exc).__name__}") from None
