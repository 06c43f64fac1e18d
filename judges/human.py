"""Human pairwise labels: imported into a run, then compared with each judge's battles.

A label file is CSV (with a header) or JSONL with ``task, question_id, model_a, model_b, winner``
(``model_a``, ``model_b`` or ``tie``; ``tie (bothbad)`` counts as a tie) and an optional
``annotator``. Every row must name a comparison the run has answers for.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import storage
from harness.errors import HarnessError
from harness.types import Answer, Battle, HumanLabel
from judges.panel import cohen_kappa

FIELDS = ("task", "question_id", "model_a", "model_b", "winner")
WINNERS = {"model_a": "model_a", "model_b": "model_b", "tie": "tie", "tie (bothbad)": "tie"}


def read_labels(path: Path, answers: Sequence[Answer]) -> list[HumanLabel]:
    """Labels from ``path``; a bad row is one error naming the file, line, field and value."""
    if not path.is_file():
        raise HarnessError(f"{path}: no such file")
    known = {(a.task, a.question_id, a.model) for a in answers}
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        labels = storage.read_jsonl(path, lambda row: _label(row, known))
    elif suffix == ".csv":
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise HarnessError(f"{path}: not UTF-8 text") from None
        labels = []
        for i, row in enumerate(csv.DictReader(text.splitlines()), 2):
            with storage.row_errors(f"{path}:{i}"):
                labels.append(_label(row, known))
    else:
        raise HarnessError(f"{path}: expected a .csv or .jsonl file")
    if not labels:
        raise HarnessError(f"{path}: no labels in the file")
    return labels


def _label(row: Mapping[str, Any], known: set[tuple[str, str, str]]) -> HumanLabel:
    """One row as a label; KeyError names a missing field, ValueError says what is wrong."""
    missing = [f for f in FIELDS if not str(row.get(f) or "").strip()]
    if missing:
        raise KeyError(missing[0])
    v = {f: str(row[f]).strip() for f in FIELDS}
    if v["winner"] not in WINNERS:
        raise ValueError(f"winner {v['winner']!r}: use model_a, model_b or tie")
    if v["model_a"] == v["model_b"]:
        raise ValueError(f"model_a and model_b are both {v['model_a']!r}")
    for side in ("model_a", "model_b"):
        if (v["task"], v["question_id"], v[side]) not in known:
            raise ValueError(f"the run has no answer from {v[side]!r} to {v['task']}/{v['question_id']}")
    return HumanLabel(v["task"], v["question_id"], v["model_a"], v["model_b"], WINNERS[v["winner"]],
                      str(row.get("annotator") or "").strip())


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
