"""Counting what a test's Redis clients write: one socket write is one round trip."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.connection import Connection


def count_writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """What each write to a Redis socket sends from now on (asyncio clients)."""
    sent: list[bytes] = []
    send = Connection.send_packed_command

    async def counted(self: Connection, command: Any, check_health: bool = True) -> None:
        sent.append(b"".join(command) if isinstance(command, list) else bytes(command))
        await send(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    return sent
