"""Exact money: Decimal only, quantised per ISO-4217 currency exponent in one place."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

#: ISO-4217 minor-unit exponents that differ from the default of 2.
_EXPONENTS: dict[str, int] = {
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}  # fmt: skip


def exponent(currency: str) -> int:
    """Number of decimal places of the currency's smallest unit (JPY 0, ILS 2, BHD 3)."""
    return _EXPONENTS.get(currency.upper(), 2)


@lru_cache(maxsize=256)  # every amount of every mapping is quantised: a hot spot (BENCHMARKS.md)
def quantum(currency: str) -> Decimal:
    """The smallest unit of the currency as a Decimal (0.01 for ILS)."""
    return Decimal(1).scaleb(-exponent(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's smallest unit."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def parse_amount(value: object) -> Decimal:
    """Read a money value from JSON (a decimal string or a number) without going through float.

    Raises:
        ValueError: the value is not a finite decimal number.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    if type(value) is Decimal:  # the mappings re-read their own Decimals: skip the text trip
        amount = value
    else:
        try:
            amount = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return amount


def from_minor_units(units: int, currency: str) -> Decimal:
    """Convert an integer amount in the smallest unit (Stripe style) to a Decimal exactly."""
    return Decimal(units).scaleb(-exponent(currency))
