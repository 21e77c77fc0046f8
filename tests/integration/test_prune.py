"""Retention on a real Redis: old finished events go; their orders' steps, recent events and
events that still need someone stay; the CLI asks first and says what it did."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_ops import seed, step
from worker.ledger.keys import EVENT, EVENTS, JOB, ORDER
from worker.ledger.ledger import Ledger
from worker.ops import prune
from worker.ops.actions import ACTIONS, ALL_ACTIONS

DAY = 86_400.0
OLD = time.time() - 100 * DAY


async def test_old_finished_events_go_and_their_orders_stay(ledger: Ledger) -> None:
    done = await seed(ledger, 1, "done", at=OLD)
    await step(ledger, done, "1", "invrec", docnum="5001")
    await ledger.redis.rpush(ACTIONS.format(done), "{}")
    ignored = await seed(ledger, 2, "ignored", at=OLD)
    failed = await seed(ledger, 3, "failed", at=OLD)  # someone must still look at it
    retrying = await seed(ledger, 4, "retrying", at=OLD)  # work ahead of it
    recent = await seed(ledger, 5, "done", at=time.time() - 10 * DAY)
    before = time.time() - 30 * DAY

    counted = await prune.prune(ledger, before, who="ops", dry_run=True)
    assert counted.by_state == {"done": 1, "ignored": 1}
    assert await ledger.redis.exists(EVENT.format(done))  # a dry run changes nothing

    gone = await prune.prune(ledger, before, who="ops")
    assert gone.by_state == {"done": 1, "ignored": 1} and gone.total == 2
    for event_id in (done, ignored):
        assert not await ledger.redis.exists(EVENT.format(event_id), ACTIONS.format(event_id))
        assert await ledger.redis.zscore(EVENTS, event_id) is None
    assert await ledger.redis.zcard("ib:state:done") == 1  # only the recent one
    for event_id in (failed, retrying, recent):
        assert await ledger.redis.exists(EVENT.format(event_id))
    # the order keeps its document: a late refund or re-delivery still finds the step done
    assert await ledger.redis.hget(ORDER.format("acme", "1"), "invrec") == "done"
    assert await ledger.redis.hget(JOB.format("acme:1:invrec"), "docnum") == "5001"
    [entry] = [json.loads(e) for e in await ledger.redis.lrange(ALL_ACTIONS, 0, -1)]
    assert entry["action"] == "prune" and entry["who"] == "ops" and "2 finished" in entry["note"]
    assert (await prune.prune(ledger, before, who="ops")).total == 0


async def test_more_than_a_chunk_past_kept_events(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The oldest events are kept (failed): the walk steps past them to the prunable ones."""
    monkeypatch.setattr(prune, "CHUNK", 3)
    for n in range(4):
        await seed(ledger, n, "failed", at=OLD - 10 + n)
    for n in range(4, 11):
        await seed(ledger, n, "done", at=OLD + n)
    before = time.time() - 30 * DAY
    assert (await prune.prune(ledger, before, who="ops", dry_run=True)).total == 7
    assert (await prune.prune(ledger, before, who="ops")).total == 7
    assert await ledger.redis.zcard(EVENTS) == 4


async def test_recent_events_are_never_pruned(ledger: Ledger) -> None:
    await seed(ledger, 1, "done", at=time.time() - DAY)
    with pytest.raises(prune.TooRecent, match="3 days"):
        await prune.prune(ledger, time.time() - DAY, who="ops")
    assert await ledger.redis.zcard(EVENTS) == 1


def jobs(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "invoicebridge.cli", "jobs", *args, "--config", str(config)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


async def test_the_cli_counts_asks_and_prunes(
    ledger: Ledger, redis_url: str, tmp_path: Path
) -> None:
    for n in range(3):
        await seed(ledger, n, "done", at=OLD)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[redis]\nurl = "{redis_url}"\n[tenants.acme]\nsource = "shopify"\n'
        'secret = "s"\nprovider = "icount"\n[tenants.acme.icount]\n'
        'api_token = "t"\n'
    )
    dry = jobs(config, "prune", "--before", "30d", "--dry-run")
    assert dry.returncode == 0 and "would prune 3: 3 done" in dry.stdout
    unasked = jobs(config, "prune", "--before", "30d")  # not a terminal: no prompt, no prune
    assert unasked.returncode == 2 and "add --yes" in unasked.stderr
    too_soon = jobs(config, "prune", "--before", "1d", "--yes")
    assert too_soon.returncode == 2 and "3 days" in too_soon.stderr
    assert await ledger.redis.zcard(EVENTS) == 3
    done = jobs(config, "prune", "--before", "30d", "--yes", "--json", "--as", "cron")
    assert done.returncode == 0 and json.loads(done.stdout) == {"pruned": {"done": 3}}
    again = jobs(config, "prune", "--before", "30d", "--yes")
    assert again.returncode == 0 and "nothing to prune" in again.stdout  # a quiet night
