"""What ``harness human serve`` shows each annotator: the run's pairs, ordered, sampled and mixed
with gold pairs and swapped repeats.

A pair is a (task, question, two models) the run has answers for. With ``order="disagreement"``
the pairs where the judges were unsure come first: a judge whose verdict flipped when the answers
swapped, or two judges that disagreed. ``per_annotator`` samples that many pairs per annotator,
taking turns between tasks (stratified). About 10% of an annotator's pairs come back later in the
other order, to measure how consistent they are; gold pairs are spread in unseen.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

from harness.core.types import Answer, Battle, Judgment
from harness.core.votes import Item
from harness.judges.calibration import GoldItem
from harness.stats.battles import last_turns

REPEAT_SHARE = 0.1


@dataclass(frozen=True)
class Pair:
    task: str
    question_id: str
    model_a: str
    model_b: str
    doubt: int = 0
    """How many judges flipped under the swap or disagreed with another judge on it."""


def run_pairs(answers: Sequence[Answer], judgments: Sequence[Judgment] = (),
              battles: Sequence[Battle] = ()) -> list[Pair]:
    """Every comparison the run has answers for (models sorted by name), with its doubt score (from
    the verdicts on a multi-turn question's last judged turn: a person votes on the whole
    conversation, and turns that differ are no doubt)."""
    by_q: dict[tuple[str, str], list[str]] = {}
    for a in answers:
        by_q.setdefault((a.task, a.question_id), []).append(a.model)
    verdicts: dict[tuple[str, str, str, str], dict[str, set[str]]] = {}
    for j in last_turns(judgments):
        if j.winner == "error":
            continue
        lo, hi = sorted((j.model_a, j.model_b))
        won = j.winner if j.winner == "tie" else (j.model_a if j.winner == "model_a" else j.model_b)
        verdicts.setdefault((j.task, j.question_id, lo, hi), {}).setdefault(j.judge, set()).add(won)
    for b in last_turns(battles):
        lo, hi = sorted((b.model_a, b.model_b))
        won = b.model_a if b.winner == "model_a" else b.model_b if b.winner == "model_b" else "tie"
        seen = verdicts.setdefault((b.task, b.question_id, lo, hi), {})
        seen.setdefault(b.judge or "judge", set()).add(won)
    pairs = []
    for (task, qid), models in by_q.items():
        for lo, hi in itertools.combinations(sorted(set(models)), 2):
            seen = verdicts.get((task, qid, lo, hi), {})
            flipped = sum(len(v) > 1 for v in seen.values())
            disagree = len({frozenset(v) for v in seen.values()}) > 1
            pairs.append(Pair(task, qid, lo, hi, flipped + int(disagree)))
    return pairs


def assignment(pairs: Sequence[Pair], rng: random.Random, *, order: str = "disagreement",
               per_annotator: int | None = None, gold: Sequence[GoldItem] = ()) -> list[Item]:
    """One annotator's items in the order they are shown, each with its random side."""
    shuffled = list(pairs)
    rng.shuffle(shuffled)
    if order == "disagreement":
        shuffled.sort(key=lambda p: -p.doubt)  # stable: random within equal doubt
    if per_annotator is not None and per_annotator < len(shuffled):
        by_task: dict[str, list[Pair]] = {}
        for p in shuffled:
            by_task.setdefault(p.task, []).append(p)
        queues = [list(q) for q in by_task.values()]
        chosen: list[Pair] = []
        while len(chosen) < per_annotator:
            for q in queues:
                if q and len(chosen) < per_annotator:
                    chosen.append(q.pop(0))
        keep = set(map(id, chosen))
        shuffled = [p for p in shuffled if id(p) in keep]  # the order above, restricted
    items = [Item("pair", p.task, p.question_id, p.model_a, p.model_b,
                  rng.choice((p.model_a, p.model_b))) for p in shuffled]
    n = len(items)
    repeats = round(n * REPEAT_SHARE) if n >= 5 else 0
    for pos in sorted(rng.sample(range(n), repeats), reverse=True):
        it = items[pos]
        at = rng.randint(min(pos + 2, len(items)), len(items))
        items.insert(at, Item("repeat", it.task, it.question_id, it.model_a, it.model_b, it.shown_second,
                              ref=""))
    for g in gold:
        at = rng.randint(1 if items else 0, len(items))
        items.insert(at, Item("gold", "gold", g.id, "answer_1", "answer_2",
                              rng.choice(("answer_1", "answer_2")), ref=g.id))
    # A repeat names its original by position, known only once every item is in place.
    firsts: dict[tuple[str, str, str, str], int] = {}
    fixed: list[Item] = []
    for it in items:
        key = (it.task, it.question_id, it.model_a, it.model_b)
        if it.kind == "pair":
            firsts[key] = len(fixed)
        if it.kind == "repeat":
            it = Item("repeat", *key, it.shown_first, ref=str(firsts[key]))
        fixed.append(it)
    return fixed
