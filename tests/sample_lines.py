"""Hypothesis pieces shared by the property tests of the shop samples."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from hypothesis import strategies as st

from worker.domain.money import quantize

PRICES = st.decimals(min_value=0, max_value=2500, places=2).map(str)


def draw_lines(
    draw: st.DrawFn, names: Sequence[str]
) -> tuple[str, list[tuple[str, str, int]], Decimal]:
    """A currency, one to five (name, unit price, quantity) lines named from `names`, and
    their gross in that currency."""
    currency = draw(st.sampled_from(["ILS", "USD", "EUR", "JPY", "KWD"]))
    line = st.tuples(st.sampled_from(names), PRICES, st.integers(1, 12))
    lines = draw(st.lists(line, min_size=1, max_size=5))
    gross = sum((quantize(Decimal(price), currency) * qty for _, price, qty in lines), Decimal(0))
    return currency, lines, gross
