"""The TOML configuration a LocalStack writes for its processes: every tenant on a sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoicebridge.stack.sentinel import settings_toml

if TYPE_CHECKING:
    from invoicebridge.stack.local import LocalStack

SANDBOX_CID, SANDBOX_USER, SANDBOX_PASS = "demo", "api", "sandbox-pass"


#: where the iCash sandbox's default account sells (its register, store, catalogue items per
#: VAT rate, pay types and fiscal device), as `[tenants.<id>.icash]` settings
SANDBOX_ICASH = {
    "cash_register_id": 1,
    "store_id": 1,
    "fiscal_device_number": 50_000_001,
    "sale_items": {"20": 101, "9": 102, "0": 103},
    "pay_types": {"card": 2, "paypal": 2, "cash": 1, "bank_transfer": 4},
}
#: the same as TOML lines
SANDBOX_ICASH_ACCOUNT = (
    "cash_register_id = 1\nstore_id = 1\nfiscal_device_number = 50000001\n"
    'sale_items = { "20" = 101, "9" = 102, "0" = 103 }\n'
    "pay_types = { card = 2, paypal = 2, cash = 1, bank_transfer = 4 }\n"
)


def stack_tenants(first: str) -> dict[str, tuple[str, str]]:
    """Tenant id -> (source, provider): one shop per source, one per provider."""
    return {
        first: ("shopify", "icount"),
        "woo": ("woocommerce", "icount"),
        "pay": ("stripe", "icount"),
        "dok": ("shopify", "idoklad"),
        "cash": ("shopify", "icash"),
        "std": ("standard", "icount"),
    }


def _optional(key: str, value: object) -> str:
    """A `key = value` line, or nothing for None (the settings' default then holds)."""
    return "" if value is None else f"{key} = {value}\n"


def render_config(stack: LocalStack) -> str:
    """The whole file: Redis, queue knobs for quick tests, metrics, admin tokens, tenants."""
    o = stack.options
    optional = _optional("maintenance_chance", o.maintenance_chance) + _optional(
        "order_lock_ttl_ms", o.order_lock_ttl_ms
    )
    head = f"""# written by invoicebridge.stack.local for a local run
{_redis(stack)}[queue]
time_limit_ms = {o.time_limit_ms}
heartbeat_timeout_ms = {o.heartbeat_timeout_ms}
{optional}min_backoff_ms = {o.min_backoff_ms}
max_backoff_ms = {o.max_backoff_ms}
{_broker(stack)}[receiver]
requeue_after_s = 2
rescue_after_s = {o.rescue_after_s}
[logging]
level = "{o.log_level}"
[metrics]
worker_enabled = {str(o.worker_metrics).lower()}
worker_port = {stack.worker_metrics_port}
[[admin.tokens]]
name = "oncall"
token = "{stack.admin_token}"
role = "operator"
[[admin.tokens]]
name = "viewer"
token = "{stack.viewer_token}"
role = "viewer"
"""
    tenants = stack_tenants(stack.tenant).items()
    return head + "".join(_tenant(stack, t, source, provider) for t, (source, provider) in tenants)


def _redis(stack: LocalStack) -> str:
    """One Redis by URL, or the sentinels (webhooks answered once on a replica)."""
    if not stack.sentinel_ports:
        return f'[redis]\nurl = "{stack.redis_url}"\n'
    return settings_toml(stack.db_host, stack.sentinel_ports, min_replicas=1)


def _broker(stack: LocalStack) -> str:
    """The queue on RabbitMQ (when the stack runs one), after the [queue] table's knobs."""
    if stack.options.broker != "rabbitmq":
        return ""
    return f'broker = "rabbitmq"\n[rabbitmq]\nurl = "{stack.rabbitmq_url}"\n'


def _tenant(stack: LocalStack, tenant: str, source: str, provider: str) -> str:
    timeout = stack.options.icount_timeout_s
    urls = stack.urls
    tables = {
        "icount": f'base_url = "{urls["icount"]}/api/v3.php"\ncid = "{SANDBOX_CID}"\n'
        f'user = "{SANDBOX_USER}"\npass = "{SANDBOX_PASS}"\nbank_account_id = 1\n',
        "idoklad": f'base_url = "{urls["idoklad"]}/v2"\n'
        f'token_url = "{urls["idoklad"]}/server/connect/token"\n'
        'client_id = "demo-client"\nclient_secret = "sandbox-secret"\n',
        "icash": f'base_url = "{urls["icash"]}/clientapi/v1"\napi_key = "sandbox-key"\n'
        'secret_key = "sandbox-secret"\nwarehouse_id = 1\nuser_id = 1\n'
        f"{SANDBOX_ICASH_ACCOUNT}",
    }
    smtp = (
        f'[tenants.{tenant}.smtp]\nhost = "{stack.db_host}"\nport = {stack.smtp_port}\n'
        f'sender = "invoices@shop.example"\nstarttls = false\n'
        f"timeout_s = {timeout}\n"
    )
    secret = stack.whsec if source == "standard" else stack.secret
    documents = (
        f"[tenants.{tenant}.documents]\n"
        f"payment_details_wait_s = {stack.options.payment_details_wait_s}\n"
    )
    # the Standard Webhooks tenant is the one whose orders may ask for a card charge
    charging = f"charge_stored_cards = true\ncharge_settle_s = {stack.options.charge_settle_s}\n"
    limit = stack.options.rate_limit_per_s
    rate = (
        ""
        if limit is None
        else f"rate_limit_per_s = {limit}\nrate_limit_burst = {max(200.0, limit * 2)}\n"
    )
    return (
        f'[tenants.{tenant}]\nsource = "{source}"\nsecret = "{secret}"\n{rate}'
        f'provider = "{provider}"\n[tenants.{tenant}.{provider}]\n{tables[provider]}'
        f"timeout_s = {timeout}\n"
        + (smtp if provider == "icash" else "")
        + documents
        + (charging if source == "standard" else "")
    )
