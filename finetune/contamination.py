"""The contamination guard: training data must not contain the test questions.

Overlap is the share of a test question's word n-grams (CJK characters count as words) that also
appear in a training prompt, after lower-casing and dropping punctuation, so a verbatim copy
scores 1.0 and a light paraphrase still scores high. A multi-turn question scores as its most
copied turn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness.core.types import Task
from harness.finetune.data import Example

_TOKENS = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]")
THRESHOLD = 0.5


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


def find_overlaps(examples: Sequence[Example], tasks: Sequence[Task],
                  threshold: float = THRESHOLD) -> list[Overlap]:
    """Every (training record, test question) pair whose overlap reaches ``threshold``."""
    found = []
    for task in tasks:
        n = gram_size(task.language)
        # Each turn of a multi-turn question is checked on its own (turn 1 with its input), so a
        # record copying a later turn is caught however long the other turns are.
        tests = [(q.id, [ngrams(f"{text} {q.input}" if k == 0 else text, n)
                         for k, text in enumerate(q.all_turns)]) for q in task.questions]
        for ex in examples:
            grams = ngrams(ex.prompt_text, n)
            for qid, turns in tests:
                score = max((len(grams & test) / len(test) for test in turns if test), default=0.0)
                if score >= threshold:
                    found.append(Overlap(ex.where, task.id, qid, score))
    return found
