"""The SMTP fallback: send a document's PDF to the customer when the provider cannot email."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from worker.errors import Permanent, Retryable
from worker.settings import SmtpSettings


class Mailer:
    """Sends one message per call through the tenant's SMTP server."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def send_document(self, to: str, subject: str, text: str, pdf: bytes,
                            filename: str) -> None:  # fmt: skip
        """Email `pdf` as an attachment. SMTP 5xx answers are permanent, the rest retryable."""
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.settings.sender, to, subject
        message.set_content(text)
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
        smtp = self.settings
        password = smtp.password.get_secret_value() if smtp.password else None
        try:
            await aiosmtplib.send(
                message, hostname=smtp.host, port=smtp.port, username=smtp.username,
                password=password, start_tls=smtp.starttls, timeout=smtp.timeout_s,
            )  # fmt: skip
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise Permanent(f"SMTP refused: {exc.code}", reason="smtp_refused") from None
            raise Retryable(f"SMTP answered {exc.code}") from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise Retryable(f"SMTP unreachable: {type(exc).__name__}") from None
