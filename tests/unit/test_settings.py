"""Settings: the documented TOML shape loads; mistakes name the bad key; secrets never print."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.settings import RedisSettings, SettingsError, load_settings

GOOD = """
[redis]
url = "redis://127.0.0.1:6399/0"
[tenants.acme]
source = "shopify"
secret = "env:ACME_SHOPIFY_SECRET"
provider = "icount"
[tenants.acme.icount]
base_url = "http://127.0.0.1:9/api/v3.php"
cid = "demo"
user = "api"
pass = "file:{pass_file}"
[tenants.acme.documents]
unpaid_doctype = "none"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_loads_with_env_and_file_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """env:NAME and file:PATH references resolve; the values do not show in repr."""
    monkeypatch.setenv("ACME_SHOPIFY_SECRET", "shh-webhook")
    (tmp_path / "pass").write_text("shh-icount\n")
    settings = load_settings(write(tmp_path, GOOD.format(pass_file=tmp_path / "pass")))
    tenant = settings.tenants["acme"]
    assert tenant.webhook_secrets() == ("shh-webhook",)
    assert tenant.icount is not None and tenant.icount.pass_ is not None
    assert tenant.icount.pass_.get_secret_value() == "shh-icount"
    assert tenant.documents.unpaid_doctype == "none"
    assert "shh" not in repr(settings)


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --config, INVOICEBRIDGE_CONFIG names the file."""
    monkeypatch.setenv("ACME_SHOPIFY_SECRET", "x")
    (tmp_path / "pass").write_text("p")
    monkeypatch.setenv(
        "INVOICEBRIDGE_CONFIG", str(write(tmp_path, GOOD.format(pass_file=tmp_path / "pass")))
    )
    assert "acme" in load_settings().tenants


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('source = "shopify"', 'source = "shopfy"'), "tenants.acme.source"),
        (
            lambda t: t.replace('unpaid_doctype = "none"', 'unpaid_doctyp = "none"'),
            "tenants.acme.documents.unpaid_doctyp",
        ),
        (lambda t: t.replace("ACME_SHOPIFY_SECRET", "MISSING_VAR"), "MISSING_VAR is not set"),
        (lambda t: t + "\n[[broken", "not valid TOML"),
    ],
)
def test_mistakes_name_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: object, message: str
) -> None:
    """A typo, an unknown key, a missing env var or bad TOML is a clear SettingsError."""
    monkeypatch.setenv("ACME_SHOPIFY_SECRET", "x")
    (tmp_path / "pass").write_text("p")
    text = edit(GOOD.format(pass_file=tmp_path / "pass"))  # type: ignore[operator]
    with pytest.raises(SettingsError, match=message.replace(".", r"\.")):
        load_settings(write(tmp_path, text))


def test_no_config_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """No --config and no INVOICEBRIDGE_CONFIG says how to fix it."""
    monkeypatch.delenv("INVOICEBRIDGE_CONFIG", raising=False)
    with pytest.raises(SettingsError, match="INVOICEBRIDGE_CONFIG"):
        load_settings()


ALERTS = """
[tenants.acme.alerts]
webhook_url = "https://ops.example.com/hooks/invoicebridge"
webhook_secret = "whsec_c2VjcmV0LWtleQ=="
email_to = ["oncall@example.com"]
"""

SMTP = """
[tenants.acme.smtp]
host = "127.0.0.1"
sender = "alerts@example.com"
"""


def test_alert_email_needs_the_tenant_smtp_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alerts.email_to without [tenants.<id>.smtp] is refused at start-up, naming the fix;
    with the table it loads, and the alert secret stays hidden."""
    monkeypatch.setenv("ACME_SHOPIFY_SECRET", "x")
    (tmp_path / "pass").write_text("p")
    text = GOOD.format(pass_file=tmp_path / "pass") + ALERTS
    with pytest.raises(SettingsError, match=r"tenants\.acme: alerts\.email_to needs .*smtp"):
        load_settings(write(tmp_path, text))
    settings = load_settings(write(tmp_path, text + SMTP))
    alerts = settings.tenants["acme"].alerts
    assert alerts is not None and alerts.email_to == ("oncall@example.com",)
    assert alerts.on_failure and alerts.failure_rate == 0.25
    assert "c2VjcmV0" not in repr(settings)


def test_alert_webhook_must_be_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A webhook_url that is not http(s) names the key."""
    monkeypatch.setenv("ACME_SHOPIFY_SECRET", "x")
    (tmp_path / "pass").write_text("p")
    text = (
        GOOD.format(pass_file=tmp_path / "pass")
        + '[tenants.acme.alerts]\nwebhook_url = "ftp://x"\n'
    )
    with pytest.raises(SettingsError, match=r"tenants\.acme\.alerts\.webhook_url"):
        load_settings(write(tmp_path, text))


ADMIN = """
[[admin.tokens]]
name = "oncall"
token = "env:IB_ONCALL_TOKEN"
[[admin.tokens]]
name = "auditor"
token = "a-viewer-token-of-length"
role = "viewer"
"""


def test_admin_tokens_load_hidden_with_roles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ACME_SHOPIFY_SECRET", "x")
    monkeypatch.setenv("IB_ONCALL_TOKEN", "an-operator-token-0123")
    (tmp_path / "pass").write_text("p")
    settings = load_settings(write(tmp_path, ADMIN + GOOD.format(pass_file=tmp_path / "pass")))
    roles = [(t.name, t.role) for t in settings.admin.tokens]
    assert roles == [("oncall", "operator"), ("auditor", "viewer")]
    assert "an-operator-token-0123" not in repr(settings) + str(settings)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("a-viewer-token-of-length", "short"), r"admin\.tokens\.1.*at least 16"),
        (('name = "auditor"', 'name = "oncall"'), r"admin: .*unique"),
        (('role = "viewer"', 'role = "root"'), r"admin\.tokens\.1\.role"),
    ],
)
def test_bad_admin_tokens_name_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: tuple[str, str], named: str
) -> None:
    monkeypatch.setenv("ACME_SHOPIFY_SECRET", "x")
    monkeypatch.setenv("IB_ONCALL_TOKEN", "an-operator-token-0123")
    (tmp_path / "pass").write_text("p")
    text = ADMIN.replace(*change) + GOOD.format(pass_file=tmp_path / "pass")
    with pytest.raises(SettingsError, match=named):
        load_settings(write(tmp_path, text))


def test_the_example_configuration_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/config.example.toml is what people copy: it must load as it stands."""
    for name in ("ACME_SHOPIFY_SECRET", "ICOUNT_PASS", "ICOUNT_TOKEN", "IB_ONCALL_TOKEN"):
        monkeypatch.setenv(name, "a-long-enough-secret-value")
    example = Path(__file__).resolve().parents[2] / "deploy" / "config.example.toml"
    assert "acme" in load_settings(example).tenants


def test_the_queue_on_rabbitmq_needs_its_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """queue.broker = "rabbitmq" without [rabbitmq] is refused; with it the URL stays secret."""
    monkeypatch.setenv("ACME_SHOPIFY_SECRET", "x")
    (tmp_path / "pass").write_text("p")
    text = '[queue]\nbroker = "rabbitmq"\n' + GOOD.format(pass_file=tmp_path / "pass")
    with pytest.raises(SettingsError, match=r"no \[rabbitmq\] table"):
        load_settings(write(tmp_path, text))
    url = "amqp://invoicebridge:s3cret-pass@mq:5672/%2F"
    settings = load_settings(write(tmp_path, f'[rabbitmq]\nurl = "{url}"\n' + text))
    assert settings.rabbitmq is not None and settings.rabbitmq.url.get_secret_value() == url
    assert "s3cret-pass" not in repr(settings)


SENTINEL = """
[redis]
sentinels = ["10.0.0.1:26379", "10.0.0.2:26379", "sentinel-3.internal:26379"]
service = "ledger"
password = "env:REDIS_PASSWORD"
sentinel_password = "s3ntinel-pass"
min_replicas = 1
"""


def test_redis_through_sentinel_loads_with_its_passwords_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_SHOPIFY_SECRET", "x")
    monkeypatch.setenv("REDIS_PASSWORD", "r3dis-pass")
    (tmp_path / "pass").write_text("p")
    text = SENTINEL + GOOD.format(pass_file=tmp_path / "pass").replace(
        '[redis]\nurl = "redis://127.0.0.1:6399/0"\n', ""
    )
    redis = load_settings(write(tmp_path, text)).redis
    assert redis.sentinels[2] == "sentinel-3.internal:26379" and redis.min_replicas == 1
    assert redis.password is not None and redis.password.get_secret_value() == "r3dis-pass"
    assert "pass" not in repr(redis).replace("password", "")
    assert redis.where() == (
        "sentinel service 'ledger' via 10.0.0.1:26379, 10.0.0.2:26379, sentinel-3.internal:26379"
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('url = "redis://h:6379/0"\nsentinels = ["h:26379"]\n', "either url or sentinels"),
        ('url = "redis://h:6379/0"\npassword = "p"\n', "go with sentinels"),
        ('sentinels = ["h"]\n', r"redis\.sentinels\.0"),
        ('sentinels = ["h:26379"]\nmin_replicas = -1\n', r"redis\.min_replicas"),
    ],
)
def test_bad_redis_tables_name_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str, message: str
) -> None:
    monkeypatch.setenv("ACME_SHOPIFY_SECRET", "x")
    (tmp_path / "pass").write_text("p")
    text = GOOD.format(pass_file=tmp_path / "pass").replace(
        'url = "redis://127.0.0.1:6399/0"\n', table
    )
    with pytest.raises(SettingsError, match=message):
        load_settings(write(tmp_path, text))


def test_where_hides_a_password_in_the_url() -> None:
    assert RedisSettings(url="redis://:hunter2@db:6379/0").where() == "redis://***@db:6379/0"


RABBIT = (
    '[queue]\nbroker = "rabbitmq"\n[rabbitmq]\nurl = "amqp://mq/"\nconsumer_timeout_ms = 100000\n'
)


@pytest.mark.parametrize(
    ("head", "refused", "fix"),
    [
        # a time limit that cuts every slow provider call off mid-flight
        (
            "[queue]\ntime_limit_ms = 15000\n",
            r"time_limit_ms \(15000\) .* acme's .*20 s",
            ('cid = "demo"', 'cid = "demo"\ntimeout_s = 10'),
        ),
        # a job RabbitMQ would take back and redeliver while it still runs
        (
            RABBIT.replace("[rabbitmq]", "time_limit_ms = 120000\n[rabbitmq]"),
            r"consumer_timeout_ms \(100000\)",
            ("time_limit_ms = 120000", "time_limit_ms = 60000"),
        ),
        # a rescue sooner than an event's longest backoff and run: live events sent twice
        (
            "[receiver]\nrescue_after_s = 300\n",
            r"rescue_after_s \(300\) .* \(420 s\)",
            ("rescue_after_s = 300", "rescue_after_s = 421"),
        ),
        ("[receiver]\nrescue_after_s = 300\n", r"rescue_after_s", ("= 300", "= 0")),  # off
        # a heartbeat timeout a live worker can miss: its running messages run twice
        (
            "[queue]\nheartbeat_timeout_ms = 1500\n",
            r"heartbeat_timeout_ms \(1500\) must be",
            ("= 1500", "= 3000"),
        ),
    ],
)
def test_combinations_that_run_work_twice_are_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    head: str,
    refused: str,
    fix: tuple[str, str],
) -> None:
    """Startup refuses them, naming the keys and figures; the fixed file loads."""
    monkeypatch.setenv("ACME_SHOPIFY_SECRET", "x")
    (tmp_path / "pass").write_text("p")
    text = head + GOOD.format(pass_file=tmp_path / "pass")
    with pytest.raises(SettingsError, match=refused):
        load_settings(write(tmp_path, text))
    assert load_settings(write(tmp_path, text.replace(*fix))).tenants["acme"]
