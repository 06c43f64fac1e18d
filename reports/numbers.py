"""How numbers read, one formatter per kind: a percentage, a rating, an interval, a p-value, a
coefficient. Every table, report and command prints its figures through these, so a kind of number
looks the same wherever it stands; "n/a" stands for a figure that does not apply (NaN or None).

Not handled: counts (printed as they are) and the leaderboard's own digits, which are
``leaderboard.csv``'s strings (:func:`percent` moves a share's decimal point without rounding it
again).
"""

from __future__ import annotations

import math
from decimal import Decimal

NA = "n/a"


def _missing(x: float | None) -> bool:
    return x is None or math.isnan(x)


def percent(x: float | str | None, *, decimals: int = 2, sign: bool = False) -> str:
    """A share (0.5417) as a percentage: ``decimals`` places, with a ``%`` sign where the column's
    header does not say it. A share spelled as ``leaderboard.csv`` spells it (a string) keeps
    exactly its digits, the point moved; a float is rounded once, from its four-decimal spelling as
    the CSV writes shares, so a computed win rate prints as the CSV's would.

    >>> percent("0.5417"), percent(0.54166), percent(0.97912, decimals=1, sign=True)
    ('54.17', '54.17', '97.9%')
    >>> percent(0.5, decimals=0, sign=True)
    '50%'
    >>> percent(float("nan")), percent(None, sign=True)
    ('n/a', 'n/a')
    """
    if not isinstance(x, str):
        if _missing(x):
            return NA
        if decimals == 2 and not sign:
            x = f"{x:.4f}"
        else:
            return f"{100 * x:.{decimals}f}" + ("%" if sign else "")  # type: ignore[operator]
    return str((Decimal(x) * 100).quantize(Decimal(1).scaleb(-decimals))) + ("%" if sign else "")


def share_of(x: float | None) -> str:
    """A rate that stands alone (agreement, consistency, a flip rate): :func:`percent` with one
    decimal and its sign; a win rate keeps two decimals in a column whose header says (%).

    >>> share_of(0.97912), share_of(None)
    ('97.9%', 'n/a')
    """
    return percent(x, decimals=1, sign=True)


def rating(x: float) -> str:
    """A rating on the Elo scale, one decimal (as ``leaderboard.csv`` writes them).

    >>> rating(1142.349), rating(float("nan"))
    ('1142.3', 'n/a')
    """
    return NA if _missing(x) else f"{x:.1f}"


def interval(lower: str, upper: str) -> str:
    """An interval of figures already formatted (by the formatter of their kind).

    >>> interval(rating(1120.41), rating(1166.0)), interval("n/a", "n/a")
    ('[1120.4, 1166.0]', 'n/a')
    """
    return NA if lower == NA else f"[{lower}, {upper}]"


def with_interval(text: str, lower: str, upper: str) -> str:
    """A figure and its 95% interval in one cell; the figure alone where there is none.

    >>> with_interval("0.62", "0.48", "0.75"), with_interval("n/a", "n/a", "n/a")
    ('0.62 [0.48, 0.75]', 'n/a')
    """
    return text if lower == NA else f"{text} {interval(lower, upper)}"


def p_value(p: float) -> str:
    """A p-value, three significant digits.

    >>> p_value(0.041389), p_value(1.0)
    ('0.0414', '1')
    """
    return NA if _missing(p) else f"{p:.3g}"


def coefficient(x: float | None) -> str:
    """A coefficient (Cohen's or Fleiss' kappa, Kendall's tau, macro-F1), two decimals; a rounding
    error's sign says nothing, so -0.00 is 0.00.

    >>> coefficient(0.6234), coefficient(-0.001), coefficient(float("nan"))
    ('0.62', '0.00', 'n/a')
    """
    if _missing(x):
        return NA
    text = f"{x:.2f}"
    return "0.00" if text == "-0.00" else text


def signed(x: float) -> str:
    """A slope or a weight in log-odds, two decimals, always signed.

    >>> signed(0.5), signed(-1.234)
    ('+0.50', '-1.23')
    """
    return NA if _missing(x) else f"{x:+.2f}"
