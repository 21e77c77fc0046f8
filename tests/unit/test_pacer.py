"""The pacer waits out short 429s in line, holds every caller, and leaves long ones to the queue."""

from __future__ import annotations

import asyncio

import pytest

from worker.errors import RateLimited
from worker.providers import pacer
from worker.providers.pacer import Pacer


async def test_short_limits_are_waited_out_then_the_call_succeeds() -> None:
    """Two 429s of 10 ms, then success: the caller gets the answer, no error."""
    answers: list[RateLimited | str] = [
        RateLimited("x", delay_ms=10),
        RateLimited("x", delay_ms=10),
        "ok",
    ]

    async def send() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert await Pacer().call(send) == "ok"


async def test_keeps_refusing_or_long_waits_reach_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """After INLINE_WAITS refusals, or one wait longer than the inline limit: RateLimited."""
    monkeypatch.setattr(pacer, "INLINE_WAITS", 2)
    calls = 0

    async def always_limited() -> None:
        nonlocal calls
        calls += 1
        raise RateLimited("x", delay_ms=5)

    with pytest.raises(RateLimited):
        await Pacer().call(always_limited)
    assert calls == 3

    async def long_limit() -> None:
        raise RateLimited("x", delay_ms=60_000)

    with pytest.raises(RateLimited) as raised:
        await Pacer().call(long_limit)
    assert raised.value.delay_ms == 60_000


async def test_a_refusal_holds_every_caller_of_the_account() -> None:
    """After a 429 with a 200 ms wait, another caller of the same account waits too."""
    shared = Pacer()
    shared.hold(0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await shared.wait()
    assert loop.time() - started >= 0.18
