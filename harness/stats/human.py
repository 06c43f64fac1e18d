"""Agreement between human pairwise labels and each judge's battles (percent and Cohen's kappa).

Pure arithmetic on records: reading a label file is the app's (``harness.app.labels``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.core.types import Battle, HumanLabel
from harness.stats.panel import cohen_kappa


@dataclass(frozen=True)
class HumanAgreement:
    """One judge's battles against the human labels on the comparisons both decided."""

    judge: str
    n: int
    """Comparisons with both a human label and a judge battle."""
    agree: int
    decisive: int
    """Of those, the ones where neither the judge nor the person called a tie."""
    agree_decisive: int
    kappa: float

    @property
    def rate(self) -> float:
        return self.agree / self.n if self.n else float("nan")

    @property
    def rate_without_ties(self) -> float:
        return self.agree_decisive / self.decisive if self.decisive else float("nan")


def _oriented(label: HumanLabel, a: str, b: str) -> str:
    """The label's winner as seen from a battle between ``a`` (model_a) and ``b``."""
    if label.model_a == a and label.model_b == b or label.winner == "tie":
        return label.winner
    return {"model_a": "model_b", "model_b": "model_a"}[label.winner]


def human_agreement(labels: Sequence[HumanLabel], by_judge: Mapping[str, Sequence[Battle]]
                    ) -> list[HumanAgreement]:
    """Percent agreement (with and without ties) and Cohen's kappa, per judge.

    Several people labelling one comparison each count once.

    >>> h = [HumanLabel("t", "q1", "x", "y", "model_a"), HumanLabel("t", "q2", "y", "x", "tie")]
    >>> j = {"J": [Battle("x", "y", "model_a", "t", "q1"), Battle("x", "y", "model_b", "t", "q2")]}
    >>> a = human_agreement(h, j)[0]
    >>> (a.n, a.agree, a.decisive, a.agree_decisive)
    (2, 1, 1, 1)
    """
    out = []
    for judge, battles in by_judge.items():
        pairs = []
        by_key = {(b.task, b.question_id, frozenset((b.model_a, b.model_b))): b for b in battles}
        for label in labels:
            battle = by_key.get((label.task, label.question_id, frozenset((label.model_a, label.model_b))))
            if battle is not None:
                tie = "tie (bothbad)"
                pairs.append((_oriented(label, battle.model_a, battle.model_b),
                              "tie" if battle.winner == tie else battle.winner))
        decisive = [(x, y) for x, y in pairs if "tie" not in (x, y)]
        out.append(HumanAgreement(judge, len(pairs), sum(x == y for x, y in pairs), len(decisive),
                                  sum(x == y for x, y in decisive), cohen_kappa(pairs)))
    return out
