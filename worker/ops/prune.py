"""Retention: finished events older than a cut-off leave the ledger, so Redis stops growing.

What goes: a finished event's record (its payload, the bulk of it), its action log and its
place in the indexes. What stays: every order's steps and documents, its newest snapshot,
its refunds and the payment details kept for it (ledger_keys.PAYMENT). Those are what keep a
late refund, a replay or a shop's very late re-delivery from making a second document (the
planner finds the steps done, the receipt its transaction id), so they are never pruned
here. Events that still need someone (failed, needs_attention) or still have work ahead of
them are never pruned either.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from worker.ledger.keys import EVENT, EVENTS, STATE
from worker.ledger.ledger import Ledger
from worker.ops.actions import ACTIONS, ACTIONS_CAP, ALL_ACTIONS, action_entry

#: the states an event may be pruned in: nothing more will happen to it
PRUNABLE = ("done", "ignored", "resolved", "discarded")
#: shops and payment processors re-deliver for up to about three days (Stripe); an event
#: younger than this is kept, so a re-delivery still meets its record
MIN_AGE_S = 3 * 86_400
CHUNK = 1_000

# ARGV: cut-off, offset, count, ",states,", dry run 1|0. Walks the oldest events first; each
# in a prunable state is deleted (or, dry, counted). Returns {scanned, kept, state, n, ...}.
_PRUNE = f"""
local ids = redis.call('ZRANGEBYSCORE', '{EVENTS}', '-inf', ARGV[1], 'LIMIT',
                       tonumber(ARGV[2]), tonumber(ARGV[3]))
local kept, by_state = 0, {{}}
for _, id in ipairs(ids) do
  local key = '{EVENT.format("")}' .. id
  local state = redis.call('HGET', key, 'state') or ''
  if state ~= '' and string.find(ARGV[4], ',' .. state .. ',', 1, true) then
    by_state[state] = (by_state[state] or 0) + 1
    if ARGV[5] == '0' then
      redis.call('DEL', key, '{ACTIONS.format("")}' .. id)
      redis.call('ZREM', '{EVENTS}', id)
      redis.call('ZREM', '{STATE.format("")}' .. state, id)
    end
  else
    kept = kept + 1
  end
end
local out = {{#ids, kept}}
for state, n in pairs(by_state) do table.insert(out, state); table.insert(out, n) end
return out
"""


class TooRecent(ValueError):
    """The cut-off would prune events a source may still re-deliver."""


@dataclass(frozen=True)
class Pruned:
    """What a prune removed (or, dry, would remove), by state."""

    by_state: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_state.values())


async def prune(
    ledger: Ledger,
    before: float,
    *,
    who: str,
    dry_run: bool = False,
    now: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Pruned:
    """Remove (or count, `dry_run`) the finished events received before `before` (unix s);
    `on_progress(scanned, total)` hears how many of the `total` events received before it
    (finished or not) have been looked at, at the start and after each chunk.

    Raises:
        TooRecent: `before` is less than `MIN_AGE_S` ago; nothing was touched.
    """
    now = time.time() if now is None else now
    if before > now - MIN_AGE_S:
        raise TooRecent(
            f"events younger than {MIN_AGE_S // 86_400} days are kept: a shop may "
            "still deliver them again"
        )
    cutoff = f"{before:.6f}"
    total = int(await ledger.redis.zcount(EVENTS, "-inf", cutoff))
    if on_progress is not None:
        on_progress(0, total)
    states = ",".join(("", *PRUNABLE, ""))
    found: Counter[str] = Counter()
    offset = seen = 0
    while True:  # an oldest event that is kept stays in front: step past those
        out = await ledger.redis.eval(_PRUNE, 0, cutoff, offset, CHUNK, states, int(dry_run))
        scanned, kept, *pairs = out
        found.update({str(s): int(n) for s, n in zip(pairs[::2], pairs[1::2], strict=True)})
        offset += int(kept) if not dry_run else int(scanned)
        seen += int(scanned)
        if on_progress is not None:
            on_progress(seen, max(total, seen))
        if int(scanned) < CHUNK:
            break
    result = Pruned(dict(found))
    if result.total and not dry_run:
        await _log_prune(ledger, result, before, who, now)
    return result


async def _log_prune(ledger: Ledger, pruned: Pruned, before: float, who: str, now: float) -> None:
    """One entry in the global action log: who pruned how many, received before when."""
    cutoff = datetime.fromtimestamp(before, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    note = f"{pruned.total} finished events received before {cutoff}"
    async with ledger.redis.pipeline(transaction=False) as pipe:
        pipe.lpush(ALL_ACTIONS, action_entry("prune", who, f"{now:.6f}", note))
        pipe.ltrim(ALL_ACTIONS, 0, ACTIONS_CAP - 1)
        await pipe.execute()
