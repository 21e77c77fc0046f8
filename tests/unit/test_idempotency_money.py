"""Idempotency keys are stable and short; money parsing never goes through float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.domain import money
from worker.domain.idempotency import SANITY_STRING_MAX, event_id, job_key, sanity_string

ids = st.text(min_size=1, max_size=80)


@given(ids, ids, st.sampled_from(["invoice", "invrec", "receipt", "refund"]))
def test_sanity_string_fits_icount_and_is_deterministic(tenant: str, order: str, kind: str) -> None:
    """Any tenant/order/kind gives the same sanity string every time, within 30 characters."""
    value = sanity_string(tenant, order, kind)
    assert len(value) <= SANITY_STRING_MAX
    assert value == sanity_string(tenant, order, kind)


def test_sanity_string_differs_per_tenant_order_and_kind() -> None:
    """Changing any one part gives another document's guard."""
    values = {
        sanity_string("acme", "1", "invrec"),
        sanity_string("acme2", "1", "invrec"),
        sanity_string("acme", "2", "invrec"),
        sanity_string("acme", "1", "invoice"),
    }
    assert len(values) == 4


def test_parts_cannot_be_shifted_between_fields() -> None:
    """("a:b", "c") and ("a", "b:c") are different orders and must not share a key."""
    assert event_id("a:b", "c", "d") != event_id("a", "b:c", "d")
    assert sanity_string("a:b", "c", "invoice") != sanity_string("a", "b:c", "invoice")


def test_job_key_reads_as_tenant_order_step() -> None:
    """The job key is meant for humans in the ledger."""
    assert job_key("acme", "1001", "invrec") == "acme:1001:invrec"


@pytest.mark.parametrize(("currency", "places"), [("ILS", 2), ("JPY", 0), ("BHD", 3), ("eur", 2)])
def test_exponent_per_currency(currency: str, places: int) -> None:
    """ISO-4217 exponents: JPY 0, BHD 3, the rest 2."""
    assert money.exponent(currency) == places
    assert money.quantize(Decimal("1.23456"), currency) == Decimal("1.23456").quantize(
        Decimal(1).scaleb(-places), rounding="ROUND_HALF_UP"
    )


def test_parse_amount_is_exact_and_strict() -> None:
    """Strings and numbers become exact Decimals; junk is refused."""
    assert money.parse_amount("0.10") + money.parse_amount("0.20") == Decimal("0.30")
    assert money.parse_amount(117) == Decimal(117)
    for junk in ("abc", None, True, "NaN", "Infinity", ""):
        with pytest.raises(ValueError):
            money.parse_amount(junk)


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["JPY", "ILS", "BHD"]))
def test_minor_units_round_trip(units: int, currency: str) -> None:
    """Stripe-style integer minor units convert exactly both ways."""
    amount = money.from_minor_units(units, currency)
    assert int(amount.scaleb(money.exponent(currency))) == units
