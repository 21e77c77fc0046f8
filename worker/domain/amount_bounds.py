"""The amount bounds of the canonical events: every amount within `MAX_MINOR_UNITS` of its
currency, and each line's arithmetic exact in Decimal's default context. Split from
`worker.domain.events`, whose Refund and Order validators call `refuse_large`.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Context, Decimal, Inexact
from typing import TYPE_CHECKING

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from worker.domain.money import MAX_MINOR_UNITS, exponent

if TYPE_CHECKING:
    from worker.domain.events import Line


Located = tuple[tuple[str | int, ...], Decimal]

#: the precision of Decimal's default context, which the worker's arithmetic runs in
DEFAULT_PRECISION = 28
#: wide enough for any product of amounts within the bounds (28 digits × 13), exactly
WIDE_CONTEXT = Context(prec=60, traps=[])


def line_amounts(lines: tuple[Line, ...]) -> Iterator[Located]:
    """Each line's money fields, and its price × quantity (located at its `quantity`),
    computed exactly."""
    for index, line in enumerate(lines):
        for name in ("unit_price", "discount", "tax"):
            yield ("lines", index, name), getattr(line, name)
        yield ("lines", index, "quantity"), WIDE_CONTEXT.multiply(line.unit_price, line.quantity)


def rounds(line: Line) -> bool:
    """Whether price × quantity, less the discount and plus the tax (`Line.gross`), would be
    rounded in Decimal's default context: 12 places of a price times 6 of a quantity can
    need more than its 28 significant digits (12778.333333333335 × 999999.999997)."""
    context = Context(prec=DEFAULT_PRECISION, traps=[])
    context.add(
        context.subtract(context.multiply(line.unit_price, line.quantity), line.discount), line.tax
    )
    return bool(context.flags[Inexact])


def refuse_large(currency: str, amounts: list[Located], lines: tuple[Line, ...] = ()) -> None:
    """Raise a ValidationError at each amount over `MAX_MINOR_UNITS` of `currency`, and at
    the quantity of each of `lines` whose amount is not exact in Decimal's default context.

    The amounts are already within `money.MAX_AMOUNT` (and a price × quantity within
    10^21), so the scaling is exact and cannot overflow."""
    limit = f"{MAX_MINOR_UNITS:.0e}".replace("e+", "e")
    # the bound in the currency's whole units, exactly: one comparison per amount
    largest = Decimal(MAX_MINOR_UNITS).scaleb(-exponent(currency)) if amounts else Decimal(0)
    errors = [
        InitErrorDetails(
            type=PydanticCustomError(
                "amount_too_large",
                "more than {limit} smallest units of {currency}"
                + (" (price × quantity)" if loc[-1] == "quantity" else ""),
                {"limit": limit, "currency": currency},
            ),
            loc=loc,
            input=str(amount),
        )
        for loc, amount in amounts
        if abs(amount) > largest
    ]
    errors += [
        InitErrorDetails(
            type=PydanticCustomError(
                "amount_not_exact",
                "price × quantity (less the discount, plus the tax) needs more than {digits}"
                " significant digits",
                {"digits": DEFAULT_PRECISION},
            ),
            loc=("lines", index, "quantity"),
            input=str(line.quantity),
        )
        for index, line in enumerate(lines)
        if rounds(line)
    ]
    if errors:
        raise ValidationError.from_exception_data("amount", errors)
