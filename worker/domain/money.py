"""Exact money: Decimal only, bounded, quantised per ISO 4217 currency exponent in one place.

Currencies come from the ISO 4217 list as the `iso4217` package keeps it (plus a few codes
withdrawn lately, `_WITHDRAWN`); a code with no minor unit there (gold XAU, the test code
XTS, "no currency" XXX, the SDR XDR) is no money an invoice can be written in. Amounts
are read from text of ASCII digits only and kept within bounds that no provider needs
more of, so that every Decimal operation of the worker stays exact and far from overflow
in Decimal's default context (28 digits):

- an amount is at most `MAX_MINOR_UNITS` smallest units of its currency (the canonical
  models check this once the currency is known) and never more than `MAX_AMOUNT` whole
  units nor with more than `MAX_PLACES` decimal places (checked as it is read), so any
  amount holds at most 16 + 12 = 28 digits;
- a quantity is more than 0, at most `MAX_QUANTITY`, with at most `MAX_QUANTITY_PLACES`.

A line's amount (price × quantity) is then below 10^21 whole units, and it too must be at
most `MAX_MINOR_UNITS` (events.Order); quantised to 4 places at most, it has 25 digits.
Unquantised, 12 places of a price times 6 of a quantity could need more than 28 digits:
events.Order refuses a line whose price × quantity (less its discount, plus its tax) would
be rounded in the default context, so `Line.gross` is exact.
The bounds are our own choice (docs/limits.md).

Stripe's API writes amounts with Stripe's own exponents, which differ from ISO 4217's for a
few currencies (ISK, MGA): `stripe_exponent` and `from_stripe_minor_units` read those amounts,
and only those.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from iso4217 import Currency

#: the largest amount, in its currency's smallest units (ours: 10^13 ILS, 10^15 JPY)
MAX_MINOR_UNITS = 10**15
#: the largest amount in whole units of any currency (a currency with exponent 0)
MAX_AMOUNT = Decimal(MAX_MINOR_UNITS)
#: most decimal places an amount may carry (ours; WooCommerce sends up to 6 on lines)
MAX_PLACES = 12
#: the largest quantity of one line (ours)
MAX_QUANTITY = 10**6
#: most decimal places of a quantity (ours; iCash keeps 5: DocumentServiceQty DECIMAL(10,5))
MAX_QUANTITY_PLACES = 6

#: a decimal number written in ASCII: no "_" separators, no other script's digits, no spaces
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,9})?")
_CODE = re.compile(r"[A-Z]{3}")


#: Codes ISO 4217 withdrew lately (its list three), with their minor units: a refund or a
#: late re-delivery of an order taken in one still gets its document. Ours, kept short:
#: BGN (to EUR, 2026-01), HRK (to EUR, 2023-01), ANG (to XCG, 2025), ZWL (to ZWG, 2024),
#: SLL (to SLE), CUC (Cuba, 2021). The iCash sandbox and seeds still use BGN.
_WITHDRAWN = {"BGN": 2, "HRK": 2, "ANG": 2, "ZWL": 2, "SLL": 2, "CUC": 2}


@lru_cache(maxsize=512)
def _minor_unit(code: str) -> int:
    try:
        places = Currency(code).exponent if _CODE.fullmatch(code) else None
    except ValueError:
        places = _WITHDRAWN.get(code)
    if places is None:
        raise ValueError("not an ISO 4217 currency code with a minor unit")
    return int(places)


def currency_code(value: object) -> str:
    """`value` as an upper-case ISO 4217 code that has a minor unit ("ils" → "ILS").

    Raises:
        ValueError: not three letters, not in ISO 4217 (QQQ), or no money (XAU, XXX);
            the message does not echo the value.
    """
    if not isinstance(value, str) or len(value) != 3 or not value.isascii():
        raise ValueError("not a three-letter ISO 4217 currency code")  # "ıls".upper() is ILS
    code = value.upper()
    _minor_unit(code)
    return code


def exponent(currency: str) -> int:
    """Number of decimal places of the currency's smallest unit (JPY 0, ILS 2, BHD 3).

    Raises:
        ValueError: the code is not an ISO 4217 currency with a minor unit.
    """
    return _minor_unit(currency.upper())


@lru_cache(maxsize=256)  # every amount of every mapping is quantised: a hot spot (BENCHMARKS.md)
def quantum(currency: str) -> Decimal:
    """The smallest unit of the currency as a Decimal (0.01 for ILS)."""
    return Decimal(1).scaleb(-exponent(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's smallest unit."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def parse_amount(value: object) -> Decimal:
    """Read a money value from JSON (a decimal string or a number) without going through float.

    Text must be a plain decimal number in ASCII digits ("50.00", "-1.5", "1e3"): "5_0.00",
    " 50", "٥٠" (Arabic-Indic digits), which `Decimal()` would take, are refused.

    Raises:
        ValueError: the value is not a finite decimal number; the message does not echo it.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError("not an amount")
    if type(value) is Decimal:  # the mappings re-read their own Decimals: skip the text trip
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str | float) and _DECIMAL_TEXT.fullmatch(text := str(value)):
        try:
            amount = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise ValueError("not an amount") from None
    else:
        raise ValueError("not an amount: a number, or a decimal string of ASCII digits")
    if not amount.is_finite():
        raise ValueError("not an amount: not a finite number")
    return amount


def bounded(
    amount: Decimal, limit: Decimal | int = MAX_AMOUNT, places: int = MAX_PLACES
) -> Decimal:
    """`amount` if its size is at most `limit` and it has at most `places` decimal places
    (trailing zeros beyond them are dropped, "1E+3" becomes "1000"), else ValueError.

    Compares exponents only, so `1e999999999` is refused without any arithmetic on it.
    """
    if not amount.is_finite():
        raise ValueError("not a finite number")
    if amount.copy_abs() > limit:
        raise ValueError(f"more than {limit:,f} in size")
    _, digits, exp = amount.as_tuple()
    assert isinstance(exp, int)  # finite
    if exp > 0:  # "1E+3": written out, at most 16 digits after the check above
        return amount.quantize(Decimal(1))
    if -exp <= places:  # the common case ("50.00"): within the places as written
        return amount
    significant = "".join(map(str, digits)).rstrip("0")  # "" for a zero
    zeros = len(digits) - len(significant) if significant else -exp
    if -exp - min(zeros, -exp) > places:
        raise ValueError(f"more than {places} decimal places")
    return amount.quantize(Decimal(1).scaleb(-places)) if -exp > places else amount


#: an amount as the platforms write it ("59.90"): so few digits that it is within
#: `MAX_AMOUNT` and `MAX_PLACES` as written, so `read_amount` takes it as it is
_PLAIN_AMOUNT = re.compile(
    rf"-?[0-9]{{1,{len(str(MAX_MINOR_UNITS)) - 1}}}(?:\.[0-9]{{1,{MAX_PLACES}}})?"
)


def read_amount(value: object) -> Decimal:
    """A received amount: `parse_amount`, then `bounded` (at most `MAX_AMOUNT`, `MAX_PLACES`)."""
    if type(value) is str and _PLAIN_AMOUNT.fullmatch(value):
        return Decimal(value)  # what the two give for it, without their checks
    return bounded(parse_amount(value))


def read_quantity(value: object) -> Decimal:
    """A received quantity: `parse_amount`, then at most `MAX_QUANTITY`, `MAX_QUANTITY_PLACES`."""
    return bounded(parse_amount(value), MAX_QUANTITY, MAX_QUANTITY_PLACES)


def minor_units(amount: Decimal, currency: str) -> Decimal:
    """`amount` in the currency's smallest units (12.34 ILS → 1234), exactly."""
    return amount.scaleb(exponent(currency))


def from_minor_units(units: int, currency: str) -> Decimal:
    """Convert an integer amount in the smallest unit (Stripe style) to a Decimal exactly."""
    return Decimal(units).scaleb(-exponent(currency))


#: Stripe's API amounts: "Zero-decimal currencies" and "Three-decimal currencies" of
#: https://docs.stripe.com/currencies; every other currency is two-decimal there ("unless
#: otherwise noted"), ISK included although ISO 4217 gives it none ("Special cases": ISK 500 is
#: 5 kr, for backwards compatibility; HUF and TWD are two-decimal in charges, zero-decimal only
#: in payouts, which we never read). MGA (ISO: 2) is zero-decimal at Stripe. On ISK also
#: support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds: "ISK will
#: remain a two-decimal currency in the Stripe API" (amounts multiples of 100 since 2023-04-14).
_STRIPE_ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)
_STRIPE_THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())


def stripe_exponent(currency: str) -> int:
    """Decimal places of an amount in Stripe's API (ISK 2, MGA 0, KWD 3): Stripe's own table,
    for Stripe amounts only; everything else keeps ISO 4217 (`exponent`).

    Raises:
        ValueError: the code is not an ISO 4217 currency with a minor unit.
    """
    code = currency_code(currency)
    if code in _STRIPE_ZERO_DECIMAL:
        return 0
    return 3 if code in _STRIPE_THREE_DECIMAL else 2


def from_stripe_minor_units(units: int, currency: str) -> Decimal:
    """A Stripe amount (integer units of `stripe_exponent` places) as a Decimal, exactly, with
    ISO 4217's places whenever that loses nothing: ISK 500 → 5, MGA 5000 → 5000.00. A fraction
    ISO has no room for (a fractional ISK charge from before 2023) is kept: ISK 550 → 5.50."""
    amount = Decimal(units).scaleb(-stripe_exponent(currency))
    iso = amount.quantize(quantum(currency))  # at most 18 + 3 digits: exact in 28
    return iso if iso == amount else amount
