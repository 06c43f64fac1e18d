"""``harness prompts test``: does a judge prompt work with a judge, before it is trusted?

Runs the prompt on a built-in calibration set (clear-cut pairs and pairs of equal answers, in
English and Chinese) and reports the parse rate, the accuracy and the swap consistency; or, with
``--gold FILE``, on a set people labelled (:func:`load_gold`, :func:`judge_gold`), scored with the
agreement statistics of ``harness.stats.agreement``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.files import read_jsonl, read_yaml
from harness.core.types import HumanLabel, Judgment
from harness.judges.asking import Ask, BuiltJudge, ask_judge
from harness.judges.pairwise import winner_for
from harness.judges.prompts import JudgePrompt
from harness.models.cache import CallCache
from harness.stats.agreement import AgreementReport, agreement

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


def calibrate(judge: BuiltJudge, *, cache: CallCache, items: Sequence[Item] | None = None
              ) -> list[CalibrationResult]:
    """Judge every calibration item (both orders, or each answer alone) with ``judge.prompt`` and
    score the judge (the built-in set when ``items`` is None).

    Pairwise: a verdict is correct when it names the better answer, or ``equal`` on an equal
    item. Single grading: an item is correct when the better answer gets the higher grade, or
    grades within one point of each other on an equal item.
    """
    prompt = judge.prompt
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
    _, verdicts = ask_judge(judge, asks, cache=cache)
    meanings = [v.meaning for v in verdicts]
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


GOLD_TASK = "gold"
GOLD_LABELS = {"1": "model_a", "2": "model_b", "tie": "tie"}
"""A gold label (``1``: answer_1 is better, ``2``: answer_2, ``tie``) as a pairwise winner, with
answer_1 in the ``model_a`` seat."""


@dataclass(frozen=True)
class GoldItem:
    """One pair people labelled: the question, two answers and which is better."""

    id: str
    question: str
    answer_1: str
    answer_2: str
    label: str
    """``model_a`` (answer_1 is better), ``model_b`` or ``tie``."""
    input: str = ""
    reference: str = ""


def _gold(row: dict[str, Any], line: list[int]) -> GoldItem:
    line[0] += 1
    for key in ("question", "answer_1", "answer_2"):
        if not isinstance(row[key], str) or not row[key].strip():
            raise ValueError(f"field {key!r}: expected non-empty text")
    for key in ("input", "reference", "id"):
        if key in row and not _plain(row[key]):
            raise ValueError(f"field {key!r}: expected text")
    label = str(row["label"]) if _plain(row["label"]) else None
    if label not in GOLD_LABELS:
        raise ValueError(f"field 'label': {row['label']!r} is not one of 1, 2, tie")
    return GoldItem(str(row.get("id", line[0])), row["question"], row["answer_1"], row["answer_2"],
                    GOLD_LABELS[label], str(row.get("input", "")), str(row.get("reference", "")))


def _plain(value: Any) -> bool:
    """Text, or a whole number written without quotes (``"label": 1``, ``"id": 7``)."""
    return isinstance(value, str) or isinstance(value, int) and not isinstance(value, bool)


def load_gold(path: Path) -> list[GoldItem]:
    """A gold-labelled pairwise set: JSONL rows with ``question``, ``answer_1``, ``answer_2``,
    ``label`` (``1``, ``2`` or ``tie``) and optional ``id``, ``input``, ``reference``; a bad row is
    one error naming the file, line and field, and ids must be unique."""
    counter = [0]
    items = read_jsonl(path, lambda row: _gold(row, counter))
    if not items:
        raise HarnessError(f"{path}: no labelled pairs")
    seen: dict[str, int] = {}
    for k, it in enumerate(items):
        if it.id in seen:
            raise HarnessError(f"{path}: id {it.id!r} is used by pair {seen[it.id] + 1} and pair {k + 1}")
        seen[it.id] = k
    return items


def gold_asks(prompt: JudgePrompt, items: Sequence[GoldItem]) -> list[Ask]:
    """Each pair in both orders (answer_1 first, then second), as :func:`judge_gold` asks them."""
    if not prompt.pairwise:
        raise HarnessError(f"prompt {prompt.name!r} grades single answers; --gold needs a pairwise prompt")
    asks = []
    for it in items:
        neutral = prompt.render(it.question, "", "", input=it.input, reference=it.reference)
        for order, pair in (("ab", (it.answer_1, it.answer_2)), ("ba", (it.answer_2, it.answer_1))):
            asks.append(Ask(prompt.render(it.question, *pair, input=it.input, reference=it.reference),
                            order, it.id, neutral, pair, it.reference))
    return asks


def judge_gold(judge: BuiltJudge, items: Sequence[GoldItem], *, cache: CallCache) -> list[tuple[str, str]]:
    """The judge's winner for each pair in each order (``model_a`` = answer_1, ``error`` when no
    label could be read), as ``(ab, ba)``, asked with ``judge.prompt``; every call goes through
    the cache."""
    _, verdicts = ask_judge(judge, gold_asks(judge.prompt, items), cache=cache)
    winners = [winner_for(v.meaning, order) if v.meaning is not None else "error"  # type: ignore[arg-type]
               for v, order in zip(verdicts, ["ab", "ba"] * len(items))]
    return [(winners[2 * k], winners[2 * k + 1]) for k in range(len(items))]


def gold_agreement(items: Sequence[GoldItem], verdicts: Sequence[tuple[str, str]], *,
                   judge: str) -> AgreementReport:
    """The judge's verdicts (:func:`judge_gold`) against the gold labels, with the statistics a run
    gets against its human labels (``harness agreement``): the gold set is one annotator, ``gold``,
    and each pair a comparison of ``answer_1`` (the ``model_a`` seat) with ``answer_2``."""
    labels = [HumanLabel(GOLD_TASK, it.id, "answer_1", "answer_2", it.label, "gold")  # type: ignore[arg-type]
              for it in items]
    judgments = [Judgment(GOLD_TASK, it.id, "answer_1", "answer_2", order, winner,  # type: ignore[arg-type]
                          winner, judge, "", "", "", "")
                 for it, pair in zip(items, verdicts) for order, winner in zip(("ab", "ba"), pair)]
    return agreement(labels=labels, judgments=judgments)
