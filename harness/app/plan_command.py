"""``harness plan --questions N --tie-rate T``: what a run of N battles per pair can detect, before it runs.

Prints the smallest true win rate (ties count half) that the exact two-sided sign test at
``--alpha`` detects with probability ``--power`` (:func:`harness.stats.power.plan`); ``harness run
--dry-run`` prints the same line for the run it would make (:func:`plan_line`).

Not handled: the statistics (:mod:`harness.stats.power`); several pairs at once (the figure is per
pair, with no correction for testing many pairs).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from harness.core.errors import HarnessError
from harness.stats.power import MAX_BATTLES, PowerPlan, plan

DEFAULT_TIE_RATE = 0.3
"""The tie rate ``run --dry-run`` assumes when the run has no battles to measure it from: between a
decisive judge (0.1) and a hesitant one (0.5); a flip between the two answer orders counts as a tie."""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "plan", help="the smallest win rate N questions can detect (power of the sign test)",
        description="Before a run: the smallest true win rate (ties count half) that N battles per pair "
        "detect with probability --power. Each battle is a tie with probability --tie-rate, otherwise a "
        "win with probability q (win rate = (1 - T) q + T / 2); the test is the exact two-sided sign "
        "test at --alpha on the decisive battles, counted as a detection when it rejects in the model's "
        "favour. Exact binomial sums, no simulation.")
    p.add_argument("--questions", type=int, required=True, metavar="N",
                   help="battles per pair of models (questions judged, both answer orders combined)")
    p.add_argument("--tie-rate", type=float, required=True, metavar="T",
                   help="share of battles the judge calls a tie, in [0, 1) (a run's own: harness report)")
    p.add_argument("--alpha", type=float, default=0.05, help="the test's level, in (0, 1) (default 0.05)")
    p.add_argument("--power", type=float, default=0.8,
                   help="the chance of detection wanted, in (0, 1) (default 0.8)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    return p


def check_share(value: float, flag: str, *, closed_low: bool = False) -> float:
    """``value`` if it lies in (0, 1) (``[0, 1)`` with ``closed_low``), else one error naming ``flag``."""
    inside = (0 <= value < 1) if closed_low else (0 < value < 1)
    if not inside:  # NaN fails both comparisons, so it lands here too
        low = "[" if closed_low else "("
        raise HarnessError(f"{flag}: {value!r} is out of range; it must be in {low}0, 1)")
    return value


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.questions <= MAX_BATTLES:
        raise HarnessError(f"--questions: {args.questions} is out of range; it must be in [1, {MAX_BATTLES}]")
    found = plan(n=args.questions, tie_rate=check_share(args.tie_rate, "--tie-rate", closed_low=True),
                 alpha=check_share(args.alpha, "--alpha"), power=check_share(args.power, "--power"))
    if args.format == "json":
        print(json.dumps(found.to_json(), indent=1, allow_nan=False))
    else:
        print(plan_line(found))
    return 0


def plan_line(p: PowerPlan, *, tie_note: str = "") -> str:
    """The plan in one line, stating the test, n and alpha; ``tie_note`` says where the tie rate
    came from (``" (assumed)"``, ``" (measured on 120 battles)"``).

    >>> from harness.stats.power import plan
    >>> plan_line(plan(n=5, tie_rate=0.0)).split(": ", 2)[2][:40]
    'no true win rate is detected with power '
    """
    head = (f"power: n={p.n} battles per pair, tie rate {p.tie_rate:.2f}{tie_note}, {p.test} at alpha "
            f"{p.alpha:g}: ")
    w, q = p.win_rate, p.decisive_share
    if w is None or q is None:
        return head + (f"no true win rate is detected with power {p.power:g}; even a model that wins every "
                       f"decisive battle is detected with probability {p.power_at_sweep:.2f} (judge more "
                       "questions)")
    return head + (f"a true win rate of {w:.3f} or more (ties half; {q:.3f} of the decisive battles) is "
                   f"detected with probability {p.power:g}; a smaller true edge will often read as not "
                   "significant")
