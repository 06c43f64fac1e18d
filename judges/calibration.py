"""``harness prompts test``: does a judge prompt work with a judge, before it is trusted?

Runs the prompt on a built-in calibration set (clear-cut pairs and pairs of equal answers, in
English and Chinese) and reports the parse rate, the accuracy and the swap consistency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.files import read_yaml
from harness.judges.asking import Ask, Judge, JudgeSettings, ask_judge
from harness.judges.pairwise import winner_for
from harness.judges.prompts import JudgePrompt
from harness.models.cache import CallCache

CALIBRATION_FILE = Path(__file__).with_name("calibration.yaml")


@dataclass(frozen=True)
class Item:
    id: str
    language: str
    question: str
    reference: str
    first: str
    """The better answer (or one of two equal answers)."""
    second: str
    equal: bool
    kind: str = ""
    """How the worse answer was made worse (sanity set items), reported as its own group."""


def load_items(path: Path = CALIBRATION_FILE) -> list[Item]:
    items = []
    for raw in read_yaml(path)["items"]:
        pair = raw["equal"] if "equal" in raw else [raw["better"], raw["worse"]]
        items.append(Item(raw["id"], raw["language"], raw["question"], raw["reference"], pair[0], pair[1],
                          "equal" in raw))
    return items


@dataclass(frozen=True)
class CalibrationResult:
    """The figures for one group of items (a language, or all)."""

    group: str
    judgments: int
    parsed: int
    correct: int
    pairs: int
    """Items with a valid verdict in both orders (pairwise prompts)."""
    consistent: int

    @property
    def parse_rate(self) -> float:
        return self.parsed / self.judgments if self.judgments else float("nan")

    @property
    def accuracy(self) -> float:
        """Correct verdicts among the parsed ones."""
        return self.correct / self.parsed if self.parsed else float("nan")

    @property
    def consistency(self) -> float:
        return self.consistent / self.pairs if self.pairs else float("nan")


def calibrate(prompt: JudgePrompt, backend: Judge, settings: JudgeSettings, cache: CallCache,
              items: Sequence[Item] | None = None) -> list[CalibrationResult]:
    """Judge every calibration item (both orders, or each answer alone) and score the judge.

    Pairwise: a verdict is correct when it names the better answer, or ``equal`` on an equal
    item. Single grading: an item is correct when the better answer gets the higher grade, or
    grades within one point of each other on an equal item.
    """
    items = list(items or load_items())
    asks = []
    for it in items:
        neutral = prompt.render(it.question, "", "", reference=it.reference)
        if prompt.pairwise:
            asks.append(Ask(prompt.render(it.question, it.first, it.second, reference=it.reference),
                            "ab", it.id, neutral, (it.first, it.second), it.reference))
            asks.append(Ask(prompt.render(it.question, it.second, it.first, reference=it.reference),
                            "ba", it.id, neutral, (it.second, it.first), it.reference))
        else:
            for answer in (it.first, it.second):
                asks.append(Ask(prompt.render(it.question, reference=it.reference, answer=answer),
                                "single", it.id, neutral, (answer,), it.reference))
    _, verdicts = ask_judge(asks, backend, prompt, settings, cache)
    meanings = [v[0] for v in verdicts]
    rows = []
    kinds = list(dict.fromkeys(it.kind for it in items if it.kind))
    for group in ["all", *sorted({it.language for it in items}), *kinds]:
        chosen = [k for k, it in enumerate(items) if group in ("all", it.language, it.kind)]
        rows.append(_score(group, [items[k] for k in chosen],
                           [(meanings[2 * k], meanings[2 * k + 1]) for k in chosen], prompt.pairwise))
    return rows


def _score(group: str, items: Sequence[Item], results: Sequence[tuple[object, object]],
           pairwise: bool) -> CalibrationResult:
    judgments = parsed = correct = pairs = consistent = 0
    for it, (one, two) in zip(items, results):
        judgments += 2
        parsed += (one is not None) + (two is not None)
        if pairwise:
            # "model_a" is the first answer (the better one on clear items) in both orders.
            winners = [winner_for(m, order) if m is not None else None  # type: ignore[arg-type]
                       for m, order in ((one, "ab"), (two, "ba"))]
            want = "tie" if it.equal else "model_a"
            correct += sum(w == want for w in winners)
            if None not in winners:
                pairs += 1
                consistent += winners[0] == winners[1]
        elif one is not None and two is not None:
            ok = abs(one - two) <= 1 if it.equal else one > two  # type: ignore[operator]
            correct += 2 * ok  # the pair's two grades are right or wrong together
    return CalibrationResult(group, judgments, parsed, correct, pairs, consistent)
