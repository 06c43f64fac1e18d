"""AlpacaEval 2.0's length-controlled win rates for ``harness rate FILE --baseline MODEL``.

The fit (:mod:`harness.stats.alpaca_lc`) needs what a battle file does not hold: each answer's
length and each instruction's place in the evaluation set. A run directory's ``battles.jsonl`` has
both beside it (``answers.jsonl``, ``questions.jsonl``); a bare battle file has neither, and the
output says the figure was not computed, and why, in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.core import rundir
from harness.core.types import Battle
from harness.stats.alpaca_lc import LengthControlled, rates, read_gamed


@dataclass(frozen=True)
class Rates:
    """Each model's length-controlled win rate against the baseline, and the line that says how."""

    line: str
    variant: str | None = None
    """The GLM fitted (``length_controlled_v1`` or ``length_controlled_minimal``); None when none was."""
    rates: dict[str, LengthControlled] = field(default_factory=dict)


def length_controlled_rates(battles: Sequence[Battle], baseline: str, *, run_dir: Path,
                            gamed: Path | None) -> Rates:
    """The figures for every model with battles against ``baseline`` whose answers the run holds."""
    if not (run_dir / rundir.ANSWERS).is_file():
        return Rates(f"length-controlled win rate not computed: {run_dir} has no {rundir.ANSWERS} (it needs "
                     "each answer's length: rate a run directory's battles.jsonl)")
    features = None if gamed is None else read_gamed(gamed)
    got = rates(battles, baseline, answers=rundir.read_answers(run_dir),
                tasks=rundir.read_questions(run_dir) or (), gamed=features, source=str(gamed))
    line = f"length-controlled win rate: {got.variant.describe(gamed)}{got.skipped_note()}"
    return Rates(line, got.variant.value, got.rates)
