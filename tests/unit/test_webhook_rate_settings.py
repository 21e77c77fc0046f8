"""A tenant's webhook rate limit: none unless set; a burst of a minute's worth by default;
a burst without a rate is refused (it would otherwise be silently ignored)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from worker.domain.rates import WebhookRate
from worker.settings import TenantSettings

TENANT = {"source": "shopify", "secret": "s", "provider": "icount", "icount": {"api_token": "t"}}


def tenant(**keys: Any) -> TenantSettings:
    return TenantSettings.model_validate(TENANT | keys)


def test_no_limit_unless_one_is_set() -> None:
    """The default: no limit, so the receiver passes no rate and Redis does no GCRA work."""
    plain = tenant()
    assert (plain.rate_limit_per_s, plain.rate_limit_burst) == (None, None)
    assert plain.webhook_rate() is None


@pytest.mark.parametrize(
    ("keys", "rate"),
    [
        ({"rate_limit_per_s": 100, "rate_limit_burst": 6000}, WebhookRate(100, 6000)),
        ({"rate_limit_per_s": 50}, WebhookRate(50, 3000)),  # a minute's worth
        ({"rate_limit_per_s": 0.01}, WebhookRate(0.01, 1)),  # never below one
    ],
)
def test_a_set_limit_and_its_burst(keys: dict[str, float], rate: WebhookRate) -> None:
    assert tenant(**keys).webhook_rate() == rate


def test_a_flash_sale_fits_the_default_burst_of_a_modest_limit() -> None:
    """1,200 deliveries at once fit the default burst of a 20/s limit (1,200)."""
    rate = tenant(rate_limit_per_s=20).webhook_rate()
    assert rate is not None and rate.burst >= 1_200


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"rate_limit_burst": 500}, "rate_limit_burst needs rate_limit_per_s"),
        ({"rate_limit_per_s": 0}, "greater than 0"),
        ({"rate_limit_per_s": 10, "rate_limit_burst": 0.5}, "greater than or equal to 1"),
    ],
)
def test_a_limit_that_cannot_mean_anything_is_refused(keys: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        tenant(**keys)
