"""The receiver's parsers, handed to the workers: they read in full the deliveries the
receiver recorded as they came (DESIGN, step 5; `worker.jobs.reading`). `worker` never
imports `handlers`, so the composition root joins them."""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from handlers.deliveries import refusal, reparse
from handlers.errors import InboundError
from worker.domain.events import IgnoredDelivery, OrderEvent
from worker.jobs.reading import NotReadable

log = structlog.get_logger("worker.jobs")


def read_delivery(fields: Mapping[str, str]) -> OrderEvent | IgnoredDelivery:
    """What a received delivery (its ledger fields) reads as, under its own event id.

    Raises:
        NotReadable: the parser refuses it (the reason names the field, never its value),
            or fails: a parser bug must not cost a signed delivery either.
    """
    try:
        return reparse(fields)
    except InboundError as exc:
        raise NotReadable(refusal(exc)) from None
    except Exception as exc:
        log.exception("parser_error", source=fields.get("source"))
        raise NotReadable(refusal(exc)) from None
