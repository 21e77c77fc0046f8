"""Group commit for the receiver's hot path: the ledger scripts that concurrent requests call
on one turn of the event loop go to Redis together, as one pipeline (one write, one read),
instead of one round trip each.

Nothing waits to fill a batch: the first call of a turn schedules the send for the end of that
turn (`call_soon`), so a lone request goes out as soon as it would have alone, and requests
that arrived together share the trip. Each caller gets its own script's answer or error; a
connection error fails the whole batch, as it would have failed each call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

Arg = str | int | float | bytes


@dataclass(frozen=True)
class _Call:
    script: AsyncScript
    keys: Sequence[str]
    args: Sequence[Arg]
    answer: asyncio.Future[Any]


class ScriptBatch:
    """Runs registered scripts, batching the calls of one event-loop turn into one pipeline."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._waiting: list[_Call] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """`script(keys, args)`'s answer, sent with whatever else this turn runs."""
        loop = asyncio.get_running_loop()
        call = _Call(script, keys, args, loop.create_future())
        self._waiting.append(call)
        if len(self._waiting) == 1:
            loop.call_soon(self._flush)
        return await call.answer

    def _flush(self) -> None:
        batch, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Call]) -> None:
        try:
            answers = await self._pipeline(batch)
            missing = [n for n, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
            for n in missing:  # Redis restarted or flushed its scripts: load, then run alone
                call = batch[n]
                answers[n] = await call.script(keys=list(call.keys), args=list(call.args))
        except Exception as exc:  # the connection: every call of the batch failed with it
            for call in batch:
                if not call.answer.done():
                    call.answer.set_exception(exc)
            return
        for call, answer in zip(batch, answers, strict=True):
            if call.answer.done():  # its caller was cancelled
                continue
            if isinstance(answer, Exception):
                call.answer.set_exception(answer)
            else:
                call.answer.set_result(answer)

    async def _pipeline(self, batch: list[_Call]) -> list[Any]:
        async with self.client.pipeline(transaction=False) as pipe:
            for call in batch:
                pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
            return list(await pipe.execute(raise_on_error=False))
