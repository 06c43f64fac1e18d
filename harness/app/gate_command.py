"""``harness gate RUN_DIR --model A --over B``: exit 0 only when A's win rate over B is significantly
above a threshold, for CI pipelines that must fail when a fine-tune is not better.

Read-only: the battles are the run's ``battles.jsonl`` (the leaderboard's; with a panel of judges,
the panel's majority verdict), or one judge's own with ``--judge``, through the read model
(:mod:`harness.analysis`); the decision is :func:`harness.stats.power.gate_test`'s. Exit 0: passed;
1: not significantly above; 2: bad input (the usual ``harness: error:`` line).

Not handled: several pairs at once (gate each pair in its own step; no multiplicity correction),
runs still being judged (the battles are read as they stand).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.analysis.figures import Figures
from harness.analysis.files import RunFiles
from harness.app.plan_command import check_share
from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.text import terminal_text
from harness.core.types import Battle
from harness.stats.power import GateDecision, gate_test
from harness.stats.ratings import pair_records

FAILED = 1
"""Exit status when the model is not significantly above the threshold."""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "gate", help="exit 0 only if a model significantly beats another (for CI)",
        description="Pass (exit 0) when --model's win rate over --over (ties count half) is significantly "
        "above --min-win-rate at --alpha, fail (exit 1) otherwise, exit 2 on bad input; one line with "
        "the win rate, its 95% Wilson interval, n and the p-value. At 0.5 the test is the exact "
        "two-sided sign test on the decisive battles (ties left out), the one every pair table prints; "
        "at another threshold m, the exact binomial test (two-sided, equal tails) of the decisive wins "
        "against q0 = (m - T/2) / (1 - T), T the observed tie share. A pass needs p <= alpha and the "
        "split on the model's side.")
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="a judged run directory")
    p.add_argument("--model", required=True, metavar="A", help="the model that must win (say, the fine-tune)")
    p.add_argument("--over", required=True, metavar="B", help="the model it must beat (say, the base)")
    p.add_argument("--alpha", type=float, default=0.05, help="the test's level, in (0, 1) (default 0.05)")
    p.add_argument("--min-win-rate", type=float, default=0.5, metavar="M",
                   help="the win rate A must be significantly above, in (0, 1) (default 0.5: better than B)")
    p.add_argument("--judge", metavar="SPEC",
                   help="one judge's own battles (a panel's member) instead of the leaderboard's")
    return p


def battles_of(run_dir: Path, judge: str | None) -> tuple[Battle, ...]:
    """The run's battles, or ``judge``'s own; a run not yet rated, or an unknown judge, is one error."""
    files = RunFiles(run_dir)
    if not (run_dir / rundir.BATTLES).is_file():
        raise HarnessError(f"{run_dir}: no {rundir.BATTLES}; judge the run first (harness judge {run_dir})")
    if judge is None:
        return files.battles
    by_judge = Figures(files).by_judge
    if judge not in by_judge:
        known = ", ".join(by_judge) or "none"
        raise HarnessError(f"--judge {judge!r}: no battles from it in {run_dir} (judges there: {known})")
    return by_judge[judge]


def decide(battles: tuple[Battle, ...], model: str, over: str, *, alpha: float,
           min_win_rate: float) -> GateDecision:
    """``model`` against ``over`` on ``battles``; an unknown model, or a pair that never met, is one error."""
    if model == over:
        raise HarnessError(f"--model and --over name the same model ({model!r}); give two different ones")
    known = list(dict.fromkeys(m for b in battles for m in (b.model_a, b.model_b)))
    for flag, name in (("--model", model), ("--over", over)):
        if name not in known:
            raise HarnessError(f"{flag} {name!r}: no such model in the battles (models there: "
                               f"{', '.join(known) or 'none'})")
    record = {(r.model, r.opponent): r for r in pair_records(battles, [model, over])}.get((model, over))
    if record is None:
        raise HarnessError(f"{model!r} and {over!r} never met in these battles; nothing to decide")
    return gate_test(wins=record.wins, ties=record.ties, losses=record.losses, min_win_rate=min_win_rate,
                     alpha=alpha)


def run(args: argparse.Namespace) -> int:
    alpha = check_share(args.alpha, "--alpha")
    threshold = check_share(args.min_win_rate, "--min-win-rate")
    found = decide(battles_of(args.run, args.judge), args.model, args.over, alpha=alpha,
                   min_win_rate=threshold)
    print(gate_line(found, args.model, args.over))
    return 0 if found.passed else FAILED


def gate_line(g: GateDecision, model: str, over: str) -> str:
    """The decision in one line: the win rate, its interval, n, the test, its p-value and the verdict.

    >>> from harness.stats.power import gate_test
    >>> gate_line(gate_test(wins=25, ties=10, losses=5), "ft", "base")[:71]
    'gate: ft over base: win rate 0.750 [0.598, 0.858] (95% Wilson), n=40 ba'
    """
    names = f"{terminal_text(model, keep_newlines=False)} over {terminal_text(over, keep_newlines=False)}"
    against = "" if g.min_win_rate == 0.5 else (
        f" against q0={g.null_share:.3f} (win rate {g.min_win_rate:g} at the observed tie share)")
    sign = "<=" if g.p_value <= g.alpha else ">"
    verdict = "PASS" if g.passed else "FAIL"
    if g.p_value <= g.alpha and not g.passed:
        verdict += f" (significant, but below {g.min_win_rate:g})"
    return (f"gate: {names}: win rate {g.win_rate:.3f} [{g.low:.3f}, {g.high:.3f}] (95% Wilson), "
            f"n={g.n} battles ({g.decisive} decisive: {g.wins} wins, {g.losses} losses; {g.ties} ties), "
            f"{g.test}{against}: p={g.p_value:.3g} {sign} alpha {g.alpha:g}: {verdict}")
