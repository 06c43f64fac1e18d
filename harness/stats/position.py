"""Position bias, measured for free from the run's own order-swapped judgments.

Every comparison is judged twice, once with each answer shown first, so no extra judge calls are
needed: a judge that reads the answers gives the same verdict both times (*swap consistency*), and
across many verdicts the answer shown first wins about half the time (*first-slot preference*).
Both figures come with a Wilson 95% interval, because with 20 questions per task a run holds only
tens to hundreds of comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.core.types import BiasCheck, CheckKind, Judgment
from harness.stats.battles import judge_stats
from harness.stats.significance import wilson_interval

SWAP_CONSISTENCY = CheckKind.SWAP_CONSISTENCY.value
FIRST_SLOT = CheckKind.FIRST_SLOT.value
USABLE_CONSISTENCY = 0.6
"""Below this swap consistency a judge's verdicts track the order more than a leaderboard can bear."""

SWAP_NOTE = "verdict unchanged when the answers swap places; a trustworthy judge is near 100%"
ONE_ORDER_NOTE = "n/a (one order): the judge saw each pair once, so there is no swap to compare"
FIRST_SLOT_NOTE = "share of decisive verdicts won by the answer shown first; 50% means no position bias"


def proportion_check(judge: str, kind: CheckKind, successes: float, n: int, note: str,
                     subject: str = "") -> BiasCheck:
    """A share with its Wilson 95% interval; all three are nan when there is nothing to count.

    >>> c = proportion_check("j", CheckKind.LONGER_WINS, 15, 20, "")
    >>> c.value, round(c.lower, 4), round(c.upper, 4), c.n
    (0.75, 0.5313, 0.8881, 20)
    >>> proportion_check("j", CheckKind.LONGER_WINS, 0, 0, "").value
    nan
    """
    if n == 0:
        # wilson_interval answers (0, 1) for n == 0; an empty count has no figure, not a vague one
        return BiasCheck(judge, kind, math.nan, math.nan, math.nan, 0, note, subject)
    low, high = wilson_interval(successes, n)
    return BiasCheck(judge, kind, successes / n, low, high, n, note, subject)


def position_checks(judgments: Sequence[Judgment]) -> list[BiasCheck]:
    """Swap consistency and first-slot preference per judge, in order of the judge's first appearance.

    Swap consistency counts the comparisons with a valid verdict in both orders; ``winner`` is already
    mapped back to the pair, so a consistent judge names the same winner (or a tie) both times.
    First-slot preference counts the valid decisive judgments (errors and ties left out).

    >>> j = lambda q, order, w: Judgment("t", q, "x", "y", order, w, "", "J", "generate", "p", "h", "")
    >>> run = [j("q1", "ab", "model_a"), j("q1", "ba", "model_b"), j("q2", "ab", "tie"), j("q2", "ba", "tie")]
    >>> [(c.check, c.value, c.n) for c in position_checks(run)]
    [('position: swap consistency', 0.5, 2), ('position: prefers first slot', 1.0, 2)]
    """
    out = []
    for s in judge_stats(judgments):
        out.append(proportion_check(s.judge, CheckKind.SWAP_CONSISTENCY, s.consistent, s.pairs,
                                    ONE_ORDER_NOTE if s.one_order else SWAP_NOTE))
        out.append(proportion_check(s.judge, CheckKind.FIRST_SLOT, s.first_slot, s.decisive, FIRST_SLOT_NOTE))
    return out


def unusable(checks: Sequence[BiasCheck], threshold: float = USABLE_CONSISTENCY) -> list[str]:
    """One plain-words warning per judge whose swap consistency is below ``threshold``.

    Other checks in ``checks`` are ignored, so the whole bias table can be passed in.

    >>> low = BiasCheck("J", CheckKind.SWAP_CONSISTENCY, 0.36, 0.2, 0.55, 25)
    >>> unusable([low, BiasCheck("K", CheckKind.SWAP_CONSISTENCY, 0.9, 0.8, 0.95, 25)])  # doctest: +ELLIPSIS
    ['Judge J changed its verdict in 64% of 25 comparisons when the two answers swapped places ...]
    """
    out = []
    for c in checks:
        # nan (no comparison in both orders) says nothing either way, and nan < threshold is False
        if c.kind is not CheckKind.SWAP_CONSISTENCY or not c.value < threshold:
            continue
        changed = 1 - c.value
        # "mostly" is only true past one half; between that and the threshold the order still sways it
        reflects = ("its verdicts mostly reflect the order, not the answers" if changed > 0.5
                    else "its verdicts reflect the order too often to rank the answers")
        out.append(f"Judge {c.judge} changed its verdict in {changed:.0%} of {c.n} comparisons when the two "
                   f"answers swapped places (a usable judge keeps it in at least {threshold:.0%}), so "
                   f"{reflects}: do not trust its leaderboard")
    return out
