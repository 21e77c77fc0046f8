"""`invoicebridge loadgen` flags: bad usage exits 2 before anything is sent; --config supplies
the tenant's secret, source, provider, sandbox and ledger; a run nobody answers exits 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from invoicebridge.cli import build_parser, main
from invoicebridge.loadgen.cli import plan_from

CONFIG = """
[redis]
url = "redis://127.0.0.1:6390/0"
[tenants.acme]
source = "woocommerce"
secret = "wc-secret"
provider = "icount"
[tenants.acme.icount]
base_url = "http://127.0.0.1:8081/api/v3.php"
api_token = "token"
[tenants.dok]
source = "shopify"
secrets = ["old", "new"]
provider = "idoklad"
[tenants.dok.idoklad]
base_url = "http://127.0.0.1:8082/v2"
client_id = "c"
client_secret = "s"
"""


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return str(path)


@pytest.mark.parametrize(
    "args",
    [
        ["--url", "http://192.168.1.10:8080", "--secret", "s", "--source", "shopify"],
        ["--secret", "s", "--source", "shopify", "--duplicates", "1.5"],
        ["--secret", "s", "--source", "shopify", "--count", "0"],
        ["--source", "shopify"],  # no secret, no config
        ["--secret", "s", "--source", "shopify", "--reconcile"],  # nowhere to reconcile
        ["--config", "/nonexistent/config.toml"],
        [
            "--secret",
            "s",
            "--source",
            "shopify",
            "--reconcile",
            "--provider",
            "icount",
            "--redis-url",
            "redis://127.0.0.1:6379",
            "--sandbox-url",
            "http://203.0.113.5:8081",
        ],
    ],
)
def test_bad_usage_exits_2_naming_the_problem(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["loadgen", "--url", "http://127.0.0.1:9", *args]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("invoicebridge") and not out


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["loadgen", "--source", "paypal"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_the_config_gives_secret_source_provider_sandbox_and_ledger(config: str) -> None:
    args = build_parser().parse_args(["loadgen", "--config", config, "--reconcile"])
    plan, checking = plan_from(args)
    assert (plan.tenant, plan.source, plan.secret) == ("acme", "woocommerce", "wc-secret")
    assert checking is not None
    assert checking.provider == "icount" and checking.sandbox_url == "http://127.0.0.1:8081"
    assert checking.redis_url == "redis://127.0.0.1:6390/0"
    args = build_parser().parse_args(
        ["loadgen", "--config", config, "--tenant", "dok", "--reconcile", "--wait", "0"]
    )
    plan, checking = plan_from(args)
    assert (plan.source, plan.secret) == ("shopify", "old")
    assert checking is not None and checking.provider == "idoklad"
    assert checking.sandbox_url == "http://127.0.0.1:8082"


def test_an_unknown_tenant_in_the_config_is_bad_usage(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["loadgen", "--config", config, "--tenant", "nobody"]) == 2
    assert "nobody" in capsys.readouterr().err


def test_orders_nobody_acknowledged_exit_1_with_a_json_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [
        "loadgen",
        "--url",
        "http://127.0.0.1:9",
        "--secret",
        "top-secret",
        "--source",
        "shopify",
        "--count",
        "3",
        "--retries",
        "1",
        "--json",
    ]
    assert main(args) == 1
    out, _ = capsys.readouterr()
    report = json.loads(out)["report"]
    assert report["not_acknowledged"] == 3 and report["statuses"] == {
        "error:ClientConnectorError": 3
    }
    assert "top-secret" not in out
