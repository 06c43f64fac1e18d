"""Question files in the field's common formats, read as tasks without converting them first.

A ``.jsonl``, ``.json`` (a list of objects) or ``.csv`` file in a ``--tasks-dir`` folder is a task,
and ``harness tasks validate FILE`` checks one. The first row's fields say which format the file
is in; every row must then be in that format. Each format maps onto
:class:`~harness.core.types.Question` as follows:

==========================  =================  ==================  ====================  =================
format (told apart by)      ``id``             ``question``        ``category``          ``reference``
==========================  =================  ==================  ====================  =================
generic (``question``)      ``id``             ``question``        ``category``          ``reference``
FastChat / MT-Bench and     ``question_id``    ``turns[0]`` (a     ``cluster`` if any,   ``reference[0]``
Arena-Hard v0.1 (``turns``)                    string, or its      else ``category``     (MT-Bench's
                                               ``content``)                              math and coding)
Arena-Hard v2 (``prompt``)  ``uid``            ``prompt``          ``category``          (none)
AlpacaEval (``instruction``) hash of the text  ``instruction``     ``dataset``           (none)
==========================  =================  ==================  ====================  =================

``input`` (context for the question) comes from the generic format's ``input`` and from an
``input`` field next to ``instruction`` (Alpaca's training format); the other formats have none.
Ids are always strings (FastChat's whole numbers become ``"81"``); two rows with one id are an
error naming both.

A FastChat row with more than one turn is a multi-turn question: its first turn is ``question``
and the others are ``turns``; a ``reference`` list with one entry per turn gives each turn its
reference (the later ones go to ``turn_references``), one with a single entry gives turn 1's only.
What is not carried over, and why:

- **AlpacaEval's** ``output``: the answer of AlpacaEval's baseline model, not a correct answer.
  As a ``reference`` it would make ``reference:chrf`` reward answers for resembling that model and
  show reference-guided judges a model's answer as the right one, so it is left out. Where it
  truly is a gold answer, write the file in the generic format with a ``reference`` column. An
  AlpacaEval id is ``harness.core.interop.question_key`` of the instruction (and input, if any):
  the first 12 hex digits of its SHA-256, the id ``harness import`` gives the same instruction's
  outputs and annotations, so they join; it stays the same when rows are reordered or dropped,
  and an instruction that appears twice is an error.
- **Other formats' extra fields** (``generator``, ``subcategory``, ``language``, ...) are
  ignored: they describe how the other tool used the row. The generic format is harness's own, so
  an unknown field there is an error (a misspelt ``refrence`` would otherwise drop the reference).

A question without a category gets ``general``; one without a reference has an empty one (the
``reference:chrf`` judge then gives that question ``error`` verdicts, never a guess). The task's
id is the file name without its suffix, its domain is ``general``, and its language is detected
from the text (:func:`detect_language`); a YAML task file sets all three explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.files import json_rows, read_csv_table, row_errors
from harness.core.interop import question_key
from harness.core.text import has_chinese
from harness.core.types import Question, Task

SUFFIXES = (".jsonl", ".json", ".csv")
"""File suffixes read by this module (YAML task files are read by :mod:`harness.tasks`)."""
DEFAULT_CATEGORY = "general"
DEFAULT_DOMAIN = "general"
GENERIC_FIELDS = ("id", "question", "input", "category", "reference")

Row = tuple[str, str, Mapping[str, Any]]
"""(where, for an error: ``FILE:LINE``; the short place, for "line 3 has the same"; the row)."""


@dataclass(frozen=True)
class Format:
    """One question format: how to recognise a row of it and how to read one."""

    name: str
    """Shown in the task's description, e.g. ``AlpacaEval``."""
    marker: str
    """The field whose presence in the first row says a file is in this format."""
    parse: Callable[[Mapping[str, Any]], Question]
    """Reads one row; a bad field is a ValueError / KeyError / TypeError naming it."""
    duplicate: str
    """What two rows with one id share, for the error naming both (``{id}`` is the id)."""


def detect_language(texts: Iterable[str]) -> str:
    """``zh`` when at least half of the texts contain a CJK ideograph, else ``en``.

    Half, not any: an English question that quotes one Chinese term is still English.

    >>> detect_language(["什么是合同？", "What is a tort?"])
    'zh'
    >>> detect_language(["What does 合同 mean?", "What is a tort?", "Define negligence."])
    'en'
    """
    texts = list(texts)
    chinese = sum(has_chinese(t) for t in texts)
    return "zh" if texts and 2 * chinese >= len(texts) else "en"


def read_task_file(path: Path, *, name: str | None = None) -> Task:
    """Read a ``.jsonl``, ``.json`` or ``.csv`` question file as a task named ``name`` (its stem)."""
    readers = {".jsonl": _json_rows, ".json": _json_rows, ".csv": _csv_rows}
    if path.suffix not in readers:
        raise HarnessError(f"{path}: not a question file (expected one of {', '.join(SUFFIXES)})")
    return task_from_rows(readers[path.suffix](path), name=name or path.stem, source=str(path),
                          origin=path.name)


def task_from_rows(rows: Iterable[Row], *, name: str, source: str, origin: str) -> Task:
    """A task from rows in any one of the formats (files, or a Hugging Face dataset's rows).

    The first row decides the format; an empty set of rows is an error (a task has at least one
    question).
    """
    fmt: Format | None = None
    questions: list[Question] = []
    seen: dict[str, str] = {}
    for where, place, row in rows:
        with row_errors(where):
            if fmt is None:
                fmt = detect_format(row)
            question = fmt.parse(row)
        if question.id in seen:
            raise HarnessError(f"{where}: duplicate {fmt.duplicate.format(id=question.id)}; "
                               f"{seen[question.id]} has the same")
        seen[question.id] = place
        questions.append(question)
    if fmt is None:
        raise HarnessError(f"{source}: no questions; a task has at least 1")
    return Task(id=name, language=detect_language(q.question for q in questions),
                domain=DEFAULT_DOMAIN, description=f"{fmt.name} questions from {origin}",
                questions=tuple(questions), source=source)


def detect_format(row: Mapping[str, Any]) -> Format:
    """The format a row is in, from its fields; a row of none of them is a ValueError."""
    for fmt in FORMATS:
        if fmt.marker in row:
            return fmt
    known = "; ".join(f"{f.name}: {f.marker!r}" for f in FORMATS)
    shown = ", ".join(repr(k) for k in list(row)[:8]) or "none"
    raise ValueError(f"cannot tell the question format from the fields ({shown}); a first row has "
                     f"one of these fields ({known})")


# --- one parser per format ------------------------------------------------------------------

def _text(row: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    """A string field, stripped; an optional one may be absent or null."""
    if key not in row:
        if required:
            raise KeyError(key)
        return ""
    value = row[key]
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"field {key!r}: expected a string, got {_kind(value)}")
    if required and not value.strip():
        raise ValueError(f"field {key!r}: must not be empty")
    return value.strip()


def _id(row: Mapping[str, Any], key: str) -> str:
    value = row[key]
    # bool is an int to Python, but `true` is no id
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"field {key!r}: expected a non-empty string or a whole number, got {_kind(value)}")
    return value.strip()


def _kind(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _generic(row: Mapping[str, Any]) -> Question:
    for key in row:
        if key not in GENERIC_FIELDS:
            raise ValueError(f"unknown field {key!r} (allowed: {', '.join(GENERIC_FIELDS)})")
    return Question(id=_id(row, "id"), question=_text(row, "question"),
                    category=_text(row, "category", required=False) or DEFAULT_CATEGORY,
                    reference=_text(row, "reference", required=False),
                    input=_text(row, "input", required=False))


def _fastchat(row: Mapping[str, Any]) -> Question:
    qid = _id(row, "question_id")
    turns = row["turns"]
    if not isinstance(turns, list) or not turns:
        raise ValueError(f"field 'turns': expected a non-empty list of turns, got {_kind(turns)}")
    texts = [_turn(turn, i, len(turns)) for i, turn in enumerate(turns, 1)]
    reference = row.get("reference")
    if reference is None:
        reference = []
    if not isinstance(reference, list) or not all(isinstance(r, str) for r in reference):
        raise ValueError(f"field 'reference': expected a list of strings (one per turn), got "
                         f"{_kind(reference)}")
    references = [r.strip() for r in reference]
    # One reference is turn 1's; more must be one per turn, or which turn each belongs to is a
    # guess. (A single-turn row keeps reading reference[0], whatever follows it, as before.)
    if len(texts) > 1 and len(references) > 1 and len(references) != len(texts):
        raise ValueError(f"field 'reference': {len(references)} references for {len(texts)} turns; "
                         "give one per turn, or one for turn 1 only")
    # Arena-Hard v0.1's category is the benchmark's name, the same on every row; its cluster is
    # the topic, which is what a per-category breakdown wants.
    category = (_text(row, "cluster", required=False) or _text(row, "category", required=False)
                or DEFAULT_CATEGORY)
    later_refs = tuple(references[1:]) if len(texts) > 1 else ()
    return Question(id=qid, question=texts[0], category=category,
                    reference=references[0] if references else "", turns=tuple(texts[1:]),
                    turn_references=later_refs if any(later_refs) else ())


def _turn(turn: Any, index: int, count: int) -> str:
    """One user message of ``turns``: text, or Arena-Hard v0.1's ``{"content": text}``."""
    if isinstance(turn, Mapping) and "content" in turn:
        turn = turn["content"]
    if not isinstance(turn, str) or not turn.strip():
        which = "the turn" if count == 1 else f"turn {index}"
        raise ValueError(f"field 'turns': {which} must be non-empty text (or {{'content': text}}), "
                         f"got {_kind(turn)}")
    return turn.strip()


def _arena_v2(row: Mapping[str, Any]) -> Question:
    return Question(id=_id(row, "uid"), question=_text(row, "prompt"),
                    category=_text(row, "category", required=False) or DEFAULT_CATEGORY, reference="")


def _alpaca(row: Mapping[str, Any]) -> Question:
    instruction = _text(row, "instruction")
    context = _text(row, "input", required=False)
    _text(row, "output", required=False)  # not used (see the module docstring), but must be text
    # The id `harness import` gives the same instruction's outputs and annotations, so they join.
    digest = question_key(f"{instruction}\n{context}" if context else instruction)
    return Question(id=digest, question=instruction,
                    category=_text(row, "dataset", required=False) or DEFAULT_CATEGORY,
                    reference="", input=context)


FORMATS = (
    Format("FastChat (MT-Bench, Arena-Hard v0.1)", "turns", _fastchat, "question_id {id!r}"),
    Format("Arena-Hard v2", "prompt", _arena_v2, "uid {id!r}"),
    Format("AlpacaEval", "instruction", _alpaca, "instruction (and input; id {id!r})"),
    Format("generic", "question", _generic, "id {id!r}"),
)
"""Checked in order: a row with ``turns`` is FastChat's whatever else it has."""


# --- the rows of each kind of file ----------------------------------------------------------

def _json_rows(path: Path) -> Iterator[Row]:
    return json_rows(path, expected="a question file")


def _csv_rows(path: Path) -> Iterator[Row]:
    _, rows = read_csv_table(path)
    for lineno, row in rows:
        yield f"{path}:{lineno}", f"line {lineno}", row
