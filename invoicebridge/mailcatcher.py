"""A local mail catcher: an SMTP server that keeps every message and lists them over HTTP.

`invoicebridge sandbox smtp --port P --http-port H` is to email what the provider
sandboxes are to invoicing: the demo and the end-to-end tests point a tenant's
`[smtp]` at it and read `GET /_sandbox/emails` to see what went out.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from email import message_from_bytes
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

MESSAGES = web.AppKey("messages", list)


class _Keep:
    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content)
        files = [part.get_filename() for part in message.walk() if part.get_filename()]
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "subject": message["Subject"],
                "attachments": files,
            }
        )
        return "250 OK"


async def _emails(request: web.Request) -> web.Response:
    return web.json_response(request.app[MESSAGES])


async def _reset(request: web.Request) -> web.Response:
    request.app[MESSAGES].clear()
    return web.json_response({"status": "ok"})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="invoicebridge sandbox smtp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025, help="SMTP port")
    parser.add_argument("--http-port", type=int, default=8026, help="port of GET /_sandbox/emails")
    args = parser.parse_args(argv)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # one line per SMTP command
    messages: list[dict[str, Any]] = []
    controller = Controller(_Keep(messages), hostname=args.host, port=args.port)
    controller.start()
    app = web.Application()
    app[MESSAGES] = messages
    app.router.add_get("/_sandbox/emails", _emails)
    app.router.add_post("/_sandbox/reset", _reset)
    try:
        web.run_app(app, host=args.host, port=args.http_port, print=None)
    finally:
        controller.stop()
    return 0
