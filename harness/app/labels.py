"""Human pairwise labels: imported into a run, then compared with each judge's battles.

A label file is CSV (with a header) or JSONL with ``task, question_id, model_a, model_b, winner``
(``model_a``, ``model_b`` or ``tie``; ``tie (bothbad)`` counts as a tie) and an optional
``annotator``. Every row must name a comparison the run has answers for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.core import files, rundir
from harness.core.errors import HarnessError
from harness.core.types import Answer, HumanLabel, HumanWinner

FIELDS = ("task", "question_id", "model_a", "model_b", "winner")
WINNERS: dict[str, HumanWinner] = {"model_a": "model_a", "model_b": "model_b", "tie": "tie",
                                   "tie (bothbad)": "tie"}


def read_labels(path: Path, answers: Sequence[Answer],
                judged: Sequence[tuple[str, str, str]] = ()) -> list[HumanLabel]:
    """Labels from ``path``; a bad row is one error naming the file, line, field and value.

    ``judged``: (task, question_id, model) the run has judgments for but no answer text (imported
    judgments), so that people's labels can be compared with them too."""
    files.check_regular(path, expected="a label file")
    known = {(a.task, a.question_id, a.model) for a in answers} | set(judged)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        labels = files.read_jsonl(path, lambda row: _label(row, known), key=rundir.human_key, what=_LABEL)
    elif suffix == ".csv":
        # Excel's "CSV UTF-8" starts with a byte-order mark; read_csv_table accepts it, and makes
        # a short or long row an error rather than a label with a missing or shifted field.
        labels = []
        seen: dict[object, int] = {}
        for i, row in files.read_csv_table(path)[1]:
            with files.row_errors(f"{path}:{i}"):
                label = _label(row, known)
            key = rundir.human_key(label)
            if key is not None and key in seen:
                raise HarnessError(f"{path}:{i}: duplicate {_LABEL}; line {seen[key]} has the same")
            seen.setdefault(key, i)
            labels.append(label)
    else:
        raise HarnessError(f"{path}: expected a .csv or .jsonl file")
    if not labels:
        raise HarnessError(f"{path}: no labels in the file")
    return labels


_LABEL = "label (annotator, task, question_id, models)"


def merge_labels(run_dir: Path, labels: Sequence[HumanLabel], *, source: str) -> str:
    """Add ``labels`` to the run's imported labels (another annotator's file, say); importing a
    file twice adds nothing the second time, and a person's other verdict on a comparison they
    already labelled is one error with nothing written. Returns the line to print."""
    merged, line = labels_merged(run_dir, labels, source=source)
    rundir.write_human(run_dir, merged)
    return line


def labels_merged(run_dir: Path, labels: Sequence[HumanLabel], *, source: str
                  ) -> tuple[list[HumanLabel], str]:
    """What :func:`merge_labels` would write, and its line, without writing: an import that brings
    questions and answers too checks all of it before it writes any file."""
    existing = rundir.read_human_file(run_dir)  # not the served votes: they stay in votes.sqlite
    seen = set(existing)
    new = list(dict.fromkeys(h for h in labels if h not in seen))
    held = {rundir.human_key(h): h for h in existing if rundir.human_key(h) is not None}
    for h in new:
        before = held.get(rundir.human_key(h))
        if before is not None:  # the same person, the same comparison, another verdict: which is meant?
            raise HarnessError(f"{source}: {h.annotator!r} labelled {h.task}/{h.question_id} "
                               f"({h.model_a} vs {h.model_b}) {h.winner}, but {run_dir / rundir.HUMAN} "
                               f"already holds their label {before.winner}; nothing was imported")
    return existing + new, (f"imported {len(new)} new human labels ({len(labels) - len(new)} already "
                            f"there) into {run_dir / rundir.HUMAN}; it holds {len(existing) + len(new)}")


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
