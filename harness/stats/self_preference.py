"""Self-preference: does a judge favour its own model's answers?

When the judge's spec also produced a candidate's answers, that candidate's win rate under this
judge is set beside its win rate under the other judges and under the human labels, if the run
has any. A judge that rates itself clearly higher than the others do is biased toward itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.core.types import Answer, Battle, BiasCheck, CheckKind, HumanLabel
from harness.stats.significance import wilson_interval


def win_share(battles: Sequence[Battle], model: str) -> tuple[float, int]:
    """(wins + ties / 2, battles) of ``model``.

    >>> win_share([Battle("x", "y", "model_a", "t", "q"), Battle("y", "x", "tie", "t", "q2")], "x")
    (1.5, 2)
    """
    score, n = 0.0, 0
    for b in battles:
        if model not in (b.model_a, b.model_b):
            continue
        n += 1
        if b.winner.startswith("tie"):
            score += 0.5
        elif (b.winner == "model_a") == (b.model_a == model):
            score += 1
    return score, n


def self_preference(by_judge: Mapping[str, Sequence[Battle]], answers: Sequence[Answer],
                    labels: Sequence[HumanLabel] = ()) -> list[BiasCheck]:
    """One check per (judge, model) where the model's answers came from the judge's own spec."""
    specs = {a.model: a.spec for a in answers if a.spec}
    out = []
    for judge, battles in by_judge.items():
        for model in sorted(m for m, s in specs.items() if s == judge):
            score, n = win_share(battles, model)
            low, high = wilson_interval(score, n)
            others = [f"{_pct(*win_share(b, model))} under {j}" for j, b in by_judge.items() if j != judge]
            if labels:
                human = [Battle(h.model_a, h.model_b, h.winner, h.task, h.question_id)  # type: ignore[arg-type]
                         for h in labels]
                others.append(f"{_pct(*win_share(human, model))} by the human labels")
            compare = "; ".join(others) if others else "no other judge or human labels to compare with"
            out.append(BiasCheck(judge, CheckKind.SELF_PREFERENCE, score / n if n else float("nan"),
                                 low, high, n, f"win rate of the judge's own model as judged by itself; "
                                 f"compare: {compare}", model))
    return out


def _pct(score: float, n: int) -> str:
    return f"{score / n:.0%} (n={n})" if n else "n/a (no battles)"
