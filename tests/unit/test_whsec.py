"""Standard Webhooks secrets: padded or not they are one key, and a secret that is not base64
is a start-up error naming the tenant and the key, never the secret."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from worker.domain.whsec import whsec_key
from worker.settings import SettingsError, load_settings

KEY = bytes(range(1, 33))  #: 32 bytes: base64 ends in one "="
PADDED = base64.b64encode(KEY).decode()
BAD = [
    "whsec_",
    "whsec_a",
    "whsec_ab=",
    "whsec_abcd==",
    "whsec_ab-_cd",
    "whsec_ab cd",
    "whsec_abc\n",
    "whsec_שלום",
    "whsec_====",
]

TENANT = """
[tenants.shop-a]
source = "{source}"
{secrets}
provider = "icount"
[tenants.shop-a.icount]
base_url = "http://127.0.0.1:9/api/v3.php"
api_token = "token"
"""


@pytest.mark.parametrize(
    "secret", ["whsec_" + PADDED, "whsec_" + PADDED.rstrip("="), PADDED, PADDED.rstrip("=")]
)
def test_padded_or_not_with_or_without_prefix_is_one_key(secret: str) -> None:
    assert whsec_key(secret) == KEY


@pytest.mark.parametrize("length", range(1, 8))
def test_every_unpadded_length_decodes(length: int) -> None:
    """Base64 of 1 to 7 bytes, its padding dropped, decodes to those bytes."""
    data = bytes(range(200, 200 + length))
    assert whsec_key("whsec_" + base64.b64encode(data).decode().rstrip("=")) == data


@pytest.mark.parametrize("secret", BAD)
def test_not_base64_is_refused_without_the_secret(secret: str) -> None:
    """Stray characters (which the reference library would drop), wrong padding, an impossible
    length or nothing at all after the prefix: refused, the message never holding it."""
    with pytest.raises(ValueError, match=r"^not whsec_ followed by base64 \(padded or not\)$"):
        whsec_key(secret)


def write(tmp_path: Path, source: str, secrets: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(TENANT.format(source=source, secrets=secrets))
    return path


def test_an_unpadded_secret_loads(tmp_path: Path) -> None:
    """A Standard Webhooks tenant may write its secret without the base64 padding."""
    unpadded = "whsec_" + PADDED.rstrip("=")
    settings = load_settings(write(tmp_path, "standard", f'secret = "{unpadded}"'))
    assert settings.tenants["shop-a"].webhook_secrets() == (unpadded,)


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("field", ["secret", "secrets"])
def test_a_bad_secret_is_a_settings_error_naming_the_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str, field: str
) -> None:
    """Refused at start-up, not with a 401 on every delivery: the error names the tenant and
    the key (the rotation list's index too), never the value, even from an env: reference."""
    monkeypatch.setenv("SHOP_A_OLD_SECRET", bad)
    if field == "secret":
        secrets, key = 'secret = "env:SHOP_A_OLD_SECRET"', "secret"
    else:
        secrets, key = f'secrets = ["whsec_{PADDED}", "env:SHOP_A_OLD_SECRET"]', "secrets.1"
    path = write(tmp_path, "standard", secrets)
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    problem = f"tenants.shop-a: {key} is not whsec_ followed by base64 (padded or not)"
    assert str(caught.value) == f"{path}: {problem}"  # that and nothing else: no secret


def test_other_sources_keep_any_secret(tmp_path: Path) -> None:
    """Stripe keys its HMAC with the whsec_ text itself, so it need not be base64."""
    settings = load_settings(write(tmp_path, "stripe", 'secret = "whsec_not-base64_at-all"'))
    assert settings.tenants["shop-a"].webhook_secrets() == ("whsec_not-base64_at-all",)


def test_an_alert_webhook_secret_unpadded_signs_as_padded_and_a_bad_one_is_refused(
    tmp_path: Path,
) -> None:
    """The alerts' own `whsec_` secret reads as the receiver's does; a bad one is a start-up
    error that shows no secret."""
    from worker.alerts.delivery import sign

    padded, unpadded = "whsec_" + PADDED, "whsec_" + PADDED.rstrip("=")
    assert sign(padded, "m1", 1, b"{}") == sign(unpadded, "m1", 1, b"{}")
    alerts = '[tenants.shop-a.alerts]\nwebhook_url = "http://127.0.0.1:9/hook"\n'
    good = write(tmp_path, "stripe", 'secret = "s"')
    good.write_text(good.read_text() + alerts + f'webhook_secret = "{unpadded}"\n')
    assert load_settings(good).tenants["shop-a"].alerts is not None
    good.write_text(good.read_text().replace(unpadded, "whsec_ab-_cd"))
    with pytest.raises(SettingsError) as caught:
        load_settings(good)
    assert "webhook_secret is not whsec_" in str(caught.value)
    assert "ab-_cd" not in str(caught.value)
