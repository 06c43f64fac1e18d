"""The judges' sanity set: coherent answers against degraded copies, in English and Chinese.

Each coherent answer of ``sanity.yaml`` (two questions of each built-in task, written for this
project) is paired with five copies made worse by rule, the failures a small model's output shows:

- ``gibberish``: fragments of its own words glued into unreadable tokens, as high-temperature
  sampling writes them (Chinese copies mix in Latin fragments);
- ``truncated``: cut off mid-sentence at under half its length (mid-word where the cut falls in one);
- ``off_topic``: the coherent answer to a question of another domain, same language;
- ``wrong_language``: the answer to the same-numbered question of the same domain in the other
  language;
- ``repeated_question``: the question itself, twice.

The coherent answer is always the better one, so a judge's accuracy here is how often it prefers
coherent text; ``harness prompts test NAME --judge SPEC --set sanity`` reports it with the swap
consistency. Not covered: subtle errors between two fluent answers (the calibration set has some,
and ``harness bias`` probes more).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path

from harness import tasks as task_plugins
from harness.core.files import read_yaml, row_errors
from harness.core.text import HAN, has_chinese
from harness.core.types import Question, Task
from harness.judges.calibration import Item
from harness.models.generate import user_text

SANITY_FILE = Path(__file__).with_name("sanity.yaml")
KINDS = ("gibberish", "truncated", "off_topic", "wrong_language", "repeated_question")
HAN_CHAR = re.compile(f"[{HAN}]")


def load_sanity_items(path: Path = SANITY_FILE, seed: int = 0) -> list[Item]:
    """Every coherent answer against each of its degraded copies (``len(KINDS)`` items each)."""
    entries = []
    for i, raw in enumerate(read_yaml(path)["answers"]):
        with row_errors(f"{path}: answers[{i}]"):
            task = task_plugins.load_task(raw["task"])
            question = next((q for q in task.questions if q.id == raw["question_id"]), None)
            if question is None:
                raise ValueError(f"task {task.id!r} has no question {raw['question_id']!r}")
            entries.append((task, question, str(raw["answer"]).strip()))
    items = []
    for k, (task, question, answer) in enumerate(entries):
        rng = random.Random(f"{seed}:{task.id}:{question.id}")
        copies = {"gibberish": gibberish(answer, rng), "truncated": truncated(answer),
                  "off_topic": _off_topic(entries, k), "wrong_language": _wrong_language(entries, k),
                  "repeated_question": f"{question.question} {question.question}"}
        for kind in KINDS:
            items.append(Item(f"{task.id}-{question.id}-{kind}", task.language,
                              user_text(question.question, question.input), question.reference, answer,
                              copies[kind], False, kind))
    return items


def gibberish(text: str, rng: random.Random) -> str:
    """About as long as ``text``, made of its own letters in fragments no reader can parse.

    >>> g = gibberish("Diversification spreads money across many assets.", random.Random(0))
    >>> g != "Diversification spreads money across many assets." and abs(len(g) - 50) < 15
    True
    """
    if has_chinese(text):
        chars = [c for c in text if HAN_CHAR.match(c)]
        latin = ["Reduc", "WARR", "antech", "ferred", "Mach", "ulat", "CHIA", "pose"]
        out: list[str] = []
        while len(out) < len(text) * 0.8:
            out.append(rng.choice(latin) if rng.random() < 0.25 else "".join(rng.sample(chars, 2)))
        return "".join(out)
    words_in = re.findall(r"[A-Za-z]{4,}", text)
    pieces = [w[i:i + rng.randint(2, 5)] for w in words_in for i in range(0, len(w), 3)]
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < len(text):
        word = "".join(rng.choice(pieces) for _ in range(rng.randint(2, 4)))
        shout, title = rng.random() < 0.15, rng.random() < 0.4
        words.append(word.upper() if shout else word.capitalize() if title else word)
    return " ".join(words)


def truncated(text: str) -> str:
    """Cut before the middle (inside a word if it falls in one), without closing punctuation.

    >>> truncated("A deduction lowers taxable income; a credit lowers the tax itself.")
    'A deduction lowers taxable in'
    """
    cut = int(len(text) * 0.45)
    if " " in text[:cut] and cut < len(text) and text[cut - 1].isalpha() and text[cut].isalpha():
        return text[:cut].rstrip(" ,;:")
    return text[:cut].rstrip(" ,;:，；：。.")


def _off_topic(entries: Sequence[tuple[Task, Question, str]], k: int) -> str:
    task = entries[k][0]
    others = [e for e in entries if e[0].language == task.language and e[0].domain != task.domain]
    return others[k % len(others)][2]


def _wrong_language(entries: Sequence[tuple[Task, Question, str]], k: int) -> str:
    task, question, _ = entries[k]
    twins = [e for e in entries if e[0].language != task.language and e[0].domain == task.domain]
    same = [e for e in twins if e[1].id == question.id]
    return (same or twins)[0][2]
