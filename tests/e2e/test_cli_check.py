"""`invoicebridge check` logs in to each tenant's provider (the three sandboxes here): exit 0
when every tenant's credentials work, 1 with the provider's own message when one's do not."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from invoicebridge.stack.config import SANDBOX_ICASH_ACCOUNT
from sandboxes.icash.app import serve_sandbox as serve_icash
from sandboxes.icount.app import serve_sandbox as serve_icount
from sandboxes.idoklad.app import serve_sandbox as serve_idoklad

#: the sandboxes' default accounts (sandboxes/*/state.py)
GOOD = {
    "icount_pass": "sandbox-pass",
    "icount_token": "API3E8-sandbox-token",
    "idoklad": "sandbox-secret",
    "icash": "sandbox-secret",
}


def _config(urls: dict[str, str], secrets: dict[str, str]) -> str:
    """Four tenants: iCount by password and by token, iDoklad, iCash."""
    head = 'source = "shopify"\nsecret = "s"\n'
    return f"""
[tenants.il-pass]
{head}provider = "icount"
[tenants.il-pass.icount]
base_url = "{urls["icount"]}"
cid = "demo"
user = "api"
pass = "{secrets["icount_pass"]}"
timeout_s = 5

[tenants.il-token]
{head}provider = "icount"
[tenants.il-token.icount]
base_url = "{urls["icount"]}"
api_token = "{secrets["icount_token"]}"
timeout_s = 5

[tenants.cz]
{head}provider = "idoklad"
[tenants.cz.idoklad]
base_url = "{urls["idoklad"]}"
token_url = "{urls["idoklad_token"]}"
client_id = "demo-client"
client_secret = "{secrets["idoklad"]}"
timeout_s = 5

[tenants.bg]
{head}provider = "icash"
[tenants.bg.icash]
base_url = "{urls["icash"]}"
api_key = "sandbox-key"
secret_key = "{secrets["icash"]}"
warehouse_id = 1
{SANDBOX_ICASH_ACCOUNT}user_id = 1
timeout_s = 5
[tenants.bg.documents]
email = false
"""


@pytest.fixture
async def urls() -> AsyncIterator[dict[str, str]]:
    async with AsyncExitStack() as stack:
        icount = await stack.enter_async_context(serve_icount())
        idoklad = await stack.enter_async_context(serve_idoklad())
        icash = await stack.enter_async_context(serve_icash())
        yield {
            "icount": icount.api_url,
            "idoklad": idoklad.api_url,
            "idoklad_token": idoklad.token_url,
            "icash": icash.api_url,
        }


async def _check(config: Path, *args: str) -> tuple[int, str, str]:
    """The CLI as a process, while the sandboxes keep serving on this loop."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "invoicebridge",
        "check",
        "--config",
        str(config),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _lines(out: str) -> dict[str, str]:
    """tenant -> its line (`ok   <tenant> <provider> <what>` or `FAIL ...`)."""
    return {line.split()[1]: line for line in out.splitlines() if line.strip()}


async def test_good_credentials_pass_for_every_provider(
    urls: dict[str, str], tmp_path: Path
) -> None:
    """Given every tenant's right credentials, each line says ok and the exit code is 0."""
    config = tmp_path / "config.toml"
    config.write_text(_config(urls, GOOD))
    code, out, err = await _check(config)
    lines = _lines(out)
    assert code == 0, out + err
    assert sorted(lines) == ["bg", "cz", "il-pass", "il-token"]
    assert all(line.startswith("ok ") for line in lines.values()), out
    assert "Sandbox Ltd" in lines["il-token"] and "cid/user/pass" in lines["il-pass"]


async def test_bad_credentials_fail_with_the_providers_message(
    urls: dict[str, str], tmp_path: Path
) -> None:
    """Given a wrong token, password and secrets, each tenant fails with what its provider said
    (and the secret itself is never printed); exit 1."""
    bad = {name: f"wrong-{name}" for name in GOOD}
    config = tmp_path / "config.toml"
    config.write_text(_config(urls, bad))
    code, out, err = await _check(config)
    lines = _lines(out)
    assert code == 1, out + err
    assert all(line.startswith("FAIL ") for line in lines.values()), out
    assert "the API token is not valid" in lines["il-token"]
    assert "company id, user or password is wrong" in lines["il-pass"]
    assert "invalid_client" in lines["cz"]
    assert "Authentication Error" in lines["bg"]
    assert "wrong-" not in out + err


async def test_one_tenant_and_an_unknown_one(urls: dict[str, str], tmp_path: Path) -> None:
    """--tenant checks that tenant alone; a tenant the settings do not name is a usage error."""
    config = tmp_path / "config.toml"
    config.write_text(_config(urls, {**GOOD, "icash": "wrong"}))
    code, out, _ = await _check(config, "--tenant", "cz")
    assert (code, list(_lines(out))) == (0, ["cz"])
    code, out, err = await _check(config, "--tenant", "nobody")
    assert code == 2 and "no tenant 'nobody'" in err and out == ""


async def test_icash_settings_naming_what_the_account_lacks_fail(
    urls: dict[str, str], tmp_path: Path
) -> None:
    """Right credentials, but a cash register and a sale item the iCash account does not
    have: the check names both (it reads get-cash-registers and get-sale-items); exit 1."""
    config = tmp_path / "config.toml"
    text = _config(urls, GOOD).replace("cash_register_id = 1", "cash_register_id = 9")
    config.write_text(text.replace('"20" = 101', '"20" = 999'))
    code, out, err = await _check(config, "--tenant", "bg")
    assert code == 1, out + err
    line = _lines(out)["bg"]
    assert line.startswith("FAIL ") and "cash register 9" in line and "sale item 999" in line
