"""``questions.jsonl``: the questions a run answered, so the run directory explains itself.

Reports show each judged pair with its question; reading the text from the run directory (not
from the task files, which may have changed since) keeps old runs reportable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.core import storage
from harness.core.types import Question, Task


def write_questions(path: Path, task_list: Sequence[Task]) -> None:
    storage.write_jsonl(path, ({"task": t.id, "language": t.language, "domain": t.domain,
                                "id": q.id, "question": q.question, "category": q.category,
                                "reference": q.reference, "input": q.input}
                               for t in task_list for q in t.questions))


def _parse(row: dict[str, Any]) -> tuple[str, str, str, Question]:
    for key in ("task", "language", "domain", "id", "question"):
        if not isinstance(row[key], str):
            raise ValueError(f"field {key!r}: expected a string, got {row[key]!r}")
    q = Question(row["id"], row["question"], str(row.get("category", "")), str(row.get("reference", "")),
                 str(row.get("input", "")))
    return row["task"], row["language"], row["domain"], q


def read_questions(path: Path) -> list[Task]:
    """The tasks of ``questions.jsonl``, questions in file order."""
    tasks: dict[str, tuple[str, str, list[Question]]] = {}
    for task, language, domain, q in storage.read_jsonl(path, _parse):
        tasks.setdefault(task, (language, domain, []))[2].append(q)
    return [Task(t, lang, dom, "", tuple(qs), str(path)) for t, (lang, dom, qs) in tasks.items()]
