"""`invoicebridge jobs` as a real process against a real Redis: tables, --json, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.integration.test_ops import queued, seed, step
from worker.ledger.ledger import Ledger
from worker.ops import actions as ops

pytestmark = pytest.mark.e2e


def write_config(path: Path, redis_url: str) -> Path:
    path.write_text(
        f'[redis]\nurl = "{redis_url}"\n\n[tenants.acme]\nsource = "shopify"\nsecret = "s"\n'
        'provider = "icount"\n\n[tenants.acme.icount]\napi_token = "t"\n'
    )
    return path


@pytest.fixture
def config(tmp_path: Path, redis_url: str) -> Path:
    return write_config(tmp_path / "config.toml", redis_url)


def jobs(config: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    where = ["--config", str(config)] if config else []
    return subprocess.run(
        [sys.executable, "-m", "invoicebridge.cli", "jobs", *args, *where],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def jobs_at_once(config: Path | None, *commands: list[str]) -> list[Any]:
    """Several read-only or independent commands in parallel (each is a Python start-up)."""
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda argv: jobs(config, *argv), commands))


async def test_list_prints_a_table_filters_and_json(ledger: Ledger, config: Path) -> None:
    """A table of matching events; --json is a parseable list; no match exits 1."""
    failed = await seed(ledger, 1001, error="Permanent: iCount refused the VAT id")
    done = await seed(ledger, 1002, "done")
    table, as_json, none, searched = jobs_at_once(
        config,
        ["list"],
        ["list", "--state", "failed,needs_attention", "--json"],
        ["list", "--tenant", "globex", "--json"],
        ["list", "--search", "vat ID", "--since", "1h"],
    )
    assert table.returncode == 0, table.stderr
    for text in ("event", "received", "last error", failed, done, "#1001", "failed", "done"):
        assert text in table.stdout
    assert "Permanent: iCount refused the VAT id" in table.stdout
    assert as_json.returncode == 0
    [row] = json.loads(as_json.stdout)
    assert (row["event_id"], row["state"], row["order_number"]) == (failed, "failed", "#1001")
    assert (none.returncode, json.loads(none.stdout)) == (1, [])
    assert searched.returncode == 0 and failed in searched.stdout and done not in searched.stdout


async def test_show_prints_steps_and_json_and_unknown_exits_1(ledger: Ledger, config: Path) -> None:
    """Steps with states, attempts, errors and document numbers; an unknown id exits 1."""
    eid = await seed(ledger, 1001, error="Permanent: refused")
    await step(ledger, eid, "1001", "invoice", docnum="70001")
    await step(ledger, eid, "1001", "receipt", error="Permanent: refused")
    await step(ledger, eid, "1001", "receipt", error="Permanent: refused again")
    table, as_json, unknown = jobs_at_once(
        config, ["show", eid], ["show", eid, "--json"], ["show", "evt_nope"]
    )
    assert table.returncode == 0, table.stderr
    for text in ("steps", "invoice", "70001", "receipt", "Permanent: refused", "attempts"):
        assert text in table.stdout
    each = table.stdout.partition("each attempt")[2]  # every attempt, oldest first
    assert each.index("invoice 70001") < each.index("refused") < each.index("refused again")
    detail = json.loads(as_json.stdout)
    assert [step["step"] for step in detail["steps"]] == ["invoice", "receipt"]
    assert "payload" not in detail["event"]
    assert unknown.returncode == 1
    assert "no event evt_nope" in unknown.stderr and unknown.stdout == ""


async def test_retry_one_event(ledger: Ledger, config: Path, redis_url: str) -> None:
    """A failed event is queued with one message and the operator's name; a done one exits 1."""
    failed = await seed(ledger, 1001, failures=13)
    done = await seed(ledger, 1002, "done")
    result = jobs(config, "retry", failed, "--as", "dana@ops")
    assert result.returncode == 0, result.stderr
    assert "retried 1, skipped 0" in result.stdout
    assert queued(redis_url) == [failed]
    event = await ledger.event(failed)
    assert (event["state"], event["failures"]) == ("queued", "0")
    [action] = (await ops.event_detail(ledger, failed))["actions"]
    assert (action["action"], action["who"]) == ("retry", "dana@ops")
    refused = jobs(config, "retry", done, "--json")
    assert refused.returncode == 1
    assert f"{done}: done; not retried" in refused.stderr and "jobs replay" in refused.stderr
    assert json.loads(refused.stdout) == {"retried": 0, "skipped": 1}


async def test_bulk_retry_needs_yes_and_sends_each_failed_event(
    ledger: Ledger, config: Path, redis_url: str
) -> None:
    """Without a terminal --yes is required (exit 2); with it every failed event is sent once."""
    failed = [await seed(ledger, 1000 + n) for n in range(50)]
    await seed(ledger, 2000, "done")
    unasked = jobs(config, "retry", "--failed")
    assert unasked.returncode == 2 and "add --yes" in unasked.stderr
    bulk = ["retry", "--failed", "--tenant", "acme", "--since", "1h", "--yes", "--json"]
    result = jobs(config, *bulk)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"retried": 50, "skipped": 0}
    assert sorted(queued(redis_url)) == sorted(failed)
    again = jobs(config, "retry", "--failed", "--yes")
    assert again.returncode == 1 and "nothing to retry" in again.stderr


async def test_discard_resolve_and_replay(ledger: Ledger, config: Path, redis_url: str) -> None:
    """Discard and resolve take a note and are final; replay queues a done event again."""
    dropped = await seed(ledger, 1001)
    fixed = await seed(ledger, 1002, "needs_attention")
    done = await seed(ledger, 1003, "done")
    discard, resolve, replay, no_note = jobs_at_once(
        config,
        ["discard", dropped, "--note", "test order", "--as", "dana"],
        ["resolve", fixed, "--note", "issued by hand", "--json"],
        ["replay", done],
        ["discard", fixed],
    )
    assert discard.returncode == 0 and f"{dropped} discarded by dana" in discard.stdout
    assert resolve.returncode == 0 and json.loads(resolve.stdout)["action"] == "resolve"
    assert replay.returncode == 0 and "queued for replay" in replay.stdout
    assert no_note.returncode == 2 and "--note" in no_note.stderr
    states = {dropped: "discarded", fixed: "resolved", done: "queued"}
    assert await ops.states_of(ledger, [dropped, fixed, done]) == states
    assert queued(redis_url) == [done]
    final = jobs(config, "resolve", dropped, "--note", "again")
    assert final.returncode == 1 and "is discarded; cannot resolve" in final.stderr


async def test_pause_and_resume(ledger: Ledger, config: Path) -> None:
    """The flag is set and cleared; an unknown tenant cannot be paused (exit 1)."""
    paused = jobs(config, "pause", "acme", "--json")
    assert paused.returncode == 0
    assert json.loads(paused.stdout) == {"tenant": "acme", "paused": True, "changed": True}
    assert await ops.is_paused(ledger, "acme")
    again, unknown = jobs_at_once(config, ["pause", "acme"], ["pause", "initech"])
    assert again.returncode == 0 and "acme was already paused" in again.stdout
    assert unknown.returncode == 1 and "no tenant 'initech'" in unknown.stderr
    resumed = jobs(config, "resume", "acme")
    assert resumed.returncode == 0 and "acme running" in resumed.stdout
    assert not await ops.is_paused(ledger, "acme")


def test_exit_codes_for_bad_usage_bad_configuration_and_redis_down(
    config: Path, tmp_path: Path
) -> None:
    """2 for a bad --since, --state, missing or broken config; 3 when Redis does not answer."""
    down = write_config(tmp_path / "down.toml", f"redis://127.0.0.1:{free_port()}/0")
    broken = tmp_path / "broken.toml"
    broken.write_text("[redis\n")
    good = ["--config", str(config)]
    since, state, both, missing, bad = jobs_at_once(
        None,
        ["list", "--since", "yesterday", *good],
        ["list", "--state", "borked", *good],
        ["retry", "evt_a", "--failed", *good],
        ["list", "--config", str(tmp_path / "nope.toml")],
        ["list", "--config", str(broken)],
    )
    assert since.returncode == 2 and "'yesterday' is not an age" in since.stderr
    assert state.returncode == 2 and "unknown state borked" in state.stderr
    assert both.returncode == 2 and "EVENT_IDs, or --failed" in both.stderr
    assert missing.returncode == 2 and "nope.toml: cannot read" in missing.stderr
    assert bad.returncode == 2 and "not valid TOML" in bad.stderr
    [unreachable, retry_down] = jobs_at_once(down, ["list"], ["retry", "--failed", "--yes"])
    for result in (unreachable, retry_down):
        assert result.returncode == 3 and "Redis unreachable" in result.stderr
        assert "Traceback" not in result.stderr


async def test_unreadable_deliveries_are_listed_and_replayed_by_the_current_parser(
    ledger: Ledger, config: Path
) -> None:
    """Two deliveries an older parser could not read, kept raw: `list --state unreadable`
    shows both; `replay` reads one the current parser knows into a queued order event, and
    says of the other that it is still unreadable (exit 1, nothing changed)."""
    from handlers.deliveries import unreadable
    from invoicebridge.samples import shopify as samples

    known = json.dumps(samples.shopify_order(4401)).encode()
    unknown = json.dumps({**samples.shopify_order(4402), "total_price": {"amount": "1"}}).encode()
    headers = {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Event-Id": "e-44",
        "X-Shopify-Hmac-Sha256": "x",
    }
    kept = [
        unreadable(body, headers, "acme", "shopify", "Invalid payload: older parser")
        for body in (known, unknown)
    ]
    for item in kept:
        assert await ledger.record(item) == "new"
    (listed,) = jobs_at_once(config, ["list", "--state", "unreadable", "--json"])
    assert listed.returncode == 0, listed.stderr
    assert {row["event_id"] for row in json.loads(listed.stdout)} == {k.event_id for k in kept}
    read, still = jobs_at_once(config, ["replay", kept[0].event_id], ["replay", kept[1].event_id])
    assert read.returncode == 0, read.stdout + read.stderr
    fields = await ledger.event(kept[0].event_id)
    assert (fields["state"], fields["order_id"], fields["kind"]) == (
        "queued",
        "4401",
        "order.created",
    )
    assert still.returncode == 1 and "still unreadable" in still.stdout + still.stderr
    assert (await ledger.event(kept[1].event_id))["state"] == "unreadable"
