"""Idempotency keys, derived only from stable business identifiers (never time or randomness)."""

from __future__ import annotations

import base64
import hashlib

#: iCount refuses a `sanity_string` longer than this (providers.md A, doc/create).
SANITY_STRING_MAX = 30


def _digest(*parts: str, length: int) -> str:
    raw = hashlib.sha256("\x1f".join(parts).encode()).digest()
    # base32 turns each 5 bytes into 8 characters on its own: only the blocks the first
    # `length` characters come from are encoded (the stdlib's encoder is a Python loop)
    blocks = raw[: 5 * -(-length // 8)]
    return base64.b32encode(blocks).decode().rstrip("=").lower()[:length]


def event_id(tenant: str, source: str, dedupe_key: str) -> str:
    """The ledger id of an inbound event: equal for every re-delivery of the same event."""
    return "evt_" + _digest(tenant, source, dedupe_key, length=26)


def job_key(tenant: str, order_id: str, step: str) -> str:
    """The ledger key of one step for one order, e.g. ``acme:1001:invrec``."""
    return f"{tenant}:{order_id}:{step}"


def sanity_string(tenant: str, order_id: str, document_kind: str) -> str:
    """iCount's duplicate guard for one document: 27 characters, the same on every attempt.

    120 bits of SHA-256 over (tenant, order, kind), so two tenants or two kinds
    never collide in practice, and the value fits iCount's 30-character limit.
    """
    return "ib-" + _digest(tenant, order_id, document_kind, length=24)
