"""The contamination guard: training data must not contain the test questions.

Overlap is the share of a test question's word n-grams (CJK characters count as words) that also
appear in a training prompt, after lower-casing and dropping punctuation, so a verbatim copy
scores 1.0 and a light paraphrase still scores high. A multi-turn question scores as its most
copied turn. A question with an ``input`` (a passage, a case) is also scored on its own text and on
its input alone, so copying either one is caught however long the other is.

Not handled: a question's own text, or its input, shorter than :data:`MIN_PART_GRAMS` n-grams is
not scored alone ("Summarise the following." shares its only n-grams with countless innocent
instructions); together with its input it still is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness.core.types import Task
from harness.finetune.data import Example

_TOKENS = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]")
THRESHOLD = 0.5
MIN_PART_GRAMS = 4
"""The fewest n-grams a question's text or input needs to be scored on its own."""


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """Word n-grams of normalised text.

    >>> sorted(ngrams("What is a Bond?", 3))
    [('is', 'a', 'bond'), ('what', 'is', 'a')]
    """
    tokens = _TOKENS.findall(text.lower())
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def gram_size(language: str) -> int:
    return 4 if language.startswith("zh") else 3  # a Chinese character carries less than a word


@dataclass(frozen=True)
class Overlap:
    where: str
    task: str
    question_id: str
    score: float


class Guard:
    """The test questions' n-grams, computed once, so records can be checked one at a time (as
    ``harness synth`` keeps them) as cheaply as a whole file at once."""

    def __init__(self, tasks: Sequence[Task], threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        self._tests = []
        for task in tasks:
            n = gram_size(task.language)
            self._tests.append((task.id, n, [(q.id, _parts(q.all_turns, q.input, n))
                                             for q in task.questions]))

    def overlaps(self, text: str, where: str) -> list[Overlap]:
        """Every test question whose overlap with ``text`` reaches the threshold, in task order."""
        found = []
        for task_id, n, tests in self._tests:
            grams = ngrams(text, n)
            for qid, turns in tests:
                score = max((len(grams & test) / len(test) for test in turns if test), default=0.0)
                if score >= self.threshold:
                    found.append(Overlap(where, task_id, qid, score))
        return found


def _parts(turns: Sequence[str], given: str, n: int) -> list[set[tuple[str, ...]]]:
    """The n-gram sets a question is scored against: each turn (the first with its input) and,
    when there is an input, the first turn and the input each alone. Scored as one, a long input
    would dilute a copied question below the threshold (and a long question a copied input); each
    turn on its own catches a copied later turn however long the other turns are."""
    parts = [ngrams(f"{text} {given}" if k == 0 else text, n) for k, text in enumerate(turns)]
    if given:
        parts += [g for g in (ngrams(turns[0], n), ngrams(given, n)) if len(g) >= MIN_PART_GRAMS]
    return parts


def find_overlaps(examples: Sequence[Example], tasks: Sequence[Task],
                  threshold: float = THRESHOLD) -> list[Overlap]:
    """Every (training record, test question) pair whose overlap reaches ``threshold``, task by
    task, records in file order."""
    guard = Guard(tasks, threshold)
    found = [o for ex in examples for o in guard.overlaps(ex.prompt_text, ex.where)]
    order = {t.id: i for i, t in enumerate(tasks)}
    return sorted(found, key=lambda o: order[o.task])
