"""Splitting an order-level amount (a discount, a coupon) over its lines, shared by the
Shopify and WooCommerce samples."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from worker.domain.money import exponent, from_minor_units


def allocate(
    amount: Decimal, weights: Sequence[Decimal], currency: str, *, out_of_range: str
) -> list[Decimal]:
    """Split `amount` over `weights` pro rata in whole minor units, summing to it exactly.

    Largest remainder method, ties to the earlier line; no share exceeds its weight. An
    amount below zero or above the weights' sum raises `ValueError(out_of_range)`.
    """
    scale = exponent(currency)
    units = int(amount.scaleb(scale))
    parts = [int(weight.scaleb(scale)) for weight in weights]
    whole = sum(parts)
    if not 0 <= units <= whole:
        raise ValueError(out_of_range)
    shares = [units * part // whole if whole else 0 for part in parts]
    by_remainder = sorted(range(len(parts)), key=lambda n: (-(units * parts[n] % (whole or 1)), n))
    for n in by_remainder[: units - sum(shares)]:
        shares[n] += 1
    return [from_minor_units(share, currency) for share in shares]
