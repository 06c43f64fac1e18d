"""A checkpoint sweep's figures, from a run directory that judged every checkpoint against the base.

The run's questions (``questions.jsonl``) and battles (``battles.jsonl``) go to
:func:`harness.stats.sweep.sweep`: the checkpoint is picked on one half of the questions and its win
rate against the base estimated on the other half only. :class:`SweepFigures` adds the models'
specs (``answers.jsonl``) and the JSON form ``harness sweep`` writes as ``sweep.json``; what prints
or draws them is the command's and the report's. Not handled here: which checkpoints there are,
generating or judging, writing files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.analysis.files import RunFiles
from harness.core.types import PairRecord
from harness.stats.sweep import Question, Sweep, sweep


@dataclass(frozen=True)
class SweepFigures:
    """A sweep's figures, with each model's spec and the judges whose battles they count."""

    found: Sweep
    specs: Mapping[str, str]
    """Model name -> its spec, as ``answers.jsonl`` records it."""
    judges: tuple[str, ...]
    """The ``judge`` of the battles counted (a panel's majority battles name the panel)."""

    def to_json(self) -> dict[str, Any]:
        """``sweep.json``: every checkpoint's selection-half figure, the one chosen, its held-out
        figure and interval, and the two halves' questions (NaN, a figure with no battle, is null)."""
        s = self.found
        return {
            "baseline": {"model": s.baseline, "spec": self.specs.get(s.baseline)},
            "judges": list(self.judges),
            "seed": s.seed,
            "interval": f"{s.confidence:.0%} Wilson score interval (two-sided, alpha {s.alpha:g}); "
                        "a tie counts half a win",
            "confidence": s.confidence,
            "alpha": s.alpha,
            "questions": {"selection": _questions(s.selection_questions),
                          "held_out": _questions(s.held_out_questions)},
            "checkpoints": [{"step": p.step, "model": p.model, "spec": self.specs.get(p.model),
                             "selection": _record(p.selection, p.lower, p.upper)} for p in s.points],
            "chosen": {"step": s.pick.step, "model": s.pick.model, "spec": self.specs.get(s.pick.model),
                       "rule": "highest selection-half win rate against the baseline; equal rates go "
                               "to the earlier step"},
            "held_out": {**_record(s.held_out, s.lower, s.upper), "verdict": s.verdict},
        }


def sweep_figures(files: RunFiles, *, checkpoints: Sequence[tuple[int, str]], baseline: str, seed: int,
                  confidence: float = 0.95) -> SweepFigures:
    """The sweep of ``checkpoints`` ((step, model name)) against ``baseline`` over the run's
    questions and battles, its halves drawn with ``seed``."""
    questions: list[Question] = [(t.id, q.id) for t in files.tasks for q in t.questions]
    found = sweep(files.battles, checkpoints=checkpoints, baseline=baseline, questions=questions, seed=seed,
                  confidence=confidence)
    models = {baseline, *(m for _, m in checkpoints)}
    specs = {a.model: a.spec for a in files.answers if a.model in models and a.spec}
    judges = tuple(dict.fromkeys(b.judge for b in files.battles if b.judge))
    return SweepFigures(found, specs, judges)


def _questions(qs: Sequence[Question]) -> list[dict[str, str]]:
    return [{"task": task, "question_id": qid} for task, qid in qs]


def _record(r: PairRecord, lower: float, upper: float) -> dict[str, Any]:
    def num(x: float) -> float | None:
        return None if math.isnan(x) else round(x, 6)

    return {"win_rate": num(r.win_rate if r.n else math.nan), "lower": num(lower), "upper": num(upper),
            "n": r.n, "wins": r.wins, "ties": r.ties, "losses": r.losses}
