"""Judge-evaluation sets (JudgeBench, LLMBar, PandaLM, Auto-J) read as harness records.

A judge-evaluation set is a list of *pairs*: a question, two answers, a gold label saying which
answer is better, and (in a judge's output file) that judge's verdict in one or both answer orders.
Each format is one module of this package exposing ``NAME`` (its ``--format``), ``HELP`` (one line
for ``--help``), ``MODELS`` (the names of answers A and B), ``FLAGS`` (the import options it
reads), ``pairs(path, opts) -> Iterator[Row[Pair]]`` and ``task(path) -> str`` (the task of a
file's pairs when ``--task`` is not given); adding a format is adding a file.

``harness import KIND FILE --format NAME`` turns each pair into records (:func:`records`):

- ``answers``: the question and both answers (the pair's answers are two "models" named by the
  format, such as ``response_A`` / ``response_B``, so the pair is one comparison of the run);
- ``judgments``: the same, and the judge's verdicts, one judgment per answer order (``ab``: answer
  A shown first; ``ba``: swapped, its verdict mapped back to the answers), ``once`` for a judge that
  saw one order;
- ``labels``: the same, and the gold label as a human label of the annotator :data:`GOLD`, so that
  ``harness agreement`` compares every judge with it.

Not handled: a format's own scores beyond the verdicts (reward-model scores, rubric grades); its
free-text rationale is kept as the judgment's ``raw`` text only.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from harness.core.errors import HarnessError
from harness.core.interop import METHOD, Options, Read, Row, TaskQuestion
from harness.core.types import Answer, HumanLabel, HumanWinner, Judgment, JudgmentWinner, Order, Question

GOLD = "gold"
"""The annotator of a set's gold labels (``harness import labels --format judgebench``)."""
KINDS = ("answers", "judgments", "labels")


@dataclass(frozen=True)
class Verdict:
    """A judge's verdict on a pair in one answer order, already read as which answer won."""

    order: Order
    """``ab`` (answer A shown first), ``ba`` (shown swapped) or ``once`` (one order only)."""
    winner: JudgmentWinner
    """``model_a`` (answer A won), ``model_b``, ``tie`` or ``error`` (unparsable, or none given)."""
    label: str
    """The verdict as the file writes it (``A>B``, ``2``, ``null``), for the judgment's label."""
    raw: str = ""
    """The judge's text, when the file keeps it."""


@dataclass(frozen=True)
class Pair:
    """One item of a judge-evaluation set."""

    question_id: str
    question: str
    answer_a: str
    answer_b: str
    labels: tuple[tuple[str, HumanWinner], ...]
    """The set's labels as (annotator, winner): ``model_a`` says answer A is better. One label of
    :data:`GOLD` for a set with an objective answer; PandaLM's three annotators each."""
    category: str = ""
    """The set's own grouping (JudgeBench's ``source``, Auto-J's ``scenario``)."""
    input: str = ""
    """Context for the question (PandaLM's and LLMBar's ``input``)."""
    verdicts: tuple[Verdict, ...] = ()
    """The judge's verdicts, in a judge's output file; empty in the set itself."""
    judge: str = ""
    prompt: str = ""
    """What the judge was asked with (the set's judge name, such as ``judgebench:arena_hard``)."""
    models: tuple[str, str] | None = None
    """The models that wrote answers A and B, where the set names them (PandaLM); else the
    format's ``MODELS``."""


class Format(Protocol):
    """What a format module provides."""

    NAME: str
    HELP: str
    MODELS: tuple[str, str]
    FLAGS: tuple[str, ...]

    def pairs(self, path: Path, opts: Options) -> Iterator[Row[Pair]]: ...

    def task(self, path: Path) -> str: ...


def text(row: Mapping[str, Any], key: str) -> str:
    """A text field that may be empty (sets hold empty answers); missing or not text is an error."""
    if key not in row:
        raise KeyError(key)
    value = row[key]
    if not isinstance(value, str):
        raise ValueError(f"field {key!r}: expected text, got {json.dumps(value)[:40]}")
    return value


def scalar(value: Any) -> str | int | None:
    """A label or verdict value as a lookup key: text or a whole number, else None (a list, an
    object, a boolean or a fraction is no set's label; looking it up must not fail on its type)."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return None


@cache
def _modules() -> dict[str, ModuleType]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[module.NAME] = module
    return dict(sorted(found.items()))


def names() -> tuple[str, ...]:
    """Every judge-evaluation set format (``--format`` choices)."""
    return tuple(_modules())


def helps() -> str:
    """``NAME: HELP`` for each format, for ``--help``."""
    return "; ".join(f"{m.NAME}: {m.HELP}" for m in _modules().values())


Record = Answer | Judgment | TaskQuestion | HumanLabel


def read(kind: str, path: Path, fmt: str, opts: Options) -> Read[Record]:
    """The records of ``kind`` (see the module docstring) from a file of format ``fmt``."""
    module: Format = _modules()[fmt]  # type: ignore[assignment]
    if kind not in KINDS:
        raise HarnessError(f"harness import {kind} has no --format {fmt} (it imports {', '.join(KINDS)})")
    for flag in ("pairs", "swapped", "judge"):
        if getattr(opts, flag) and flag not in module.FLAGS:
            raise HarnessError(f"--{flag} does not apply to --format {fmt} (it reads "
                               f"{', '.join('--' + f for f in module.FLAGS)})")
    task = opts.task or module.task(path)
    out: list[Row[Record]] = []
    for row in module.pairs(path, opts):
        out += [Row(row.where, r) for r in records(kind, row.record, task=task, models=module.MODELS,
                                                   where=row.where)]
    return Read(tuple(out))


def records(kind: str, pair: Pair, *, task: str, models: tuple[str, str], where: str
            ) -> list[Answer | Judgment | TaskQuestion | HumanLabel]:
    """One pair as the records ``harness import KIND`` merges into a run."""
    a, b = pair.models or models
    out: list[Answer | Judgment | TaskQuestion | HumanLabel] = [
        TaskQuestion(task, Question(pair.question_id, pair.question, pair.category, "", input=pair.input)),
        Answer(a, task, pair.question_id, pair.answer_a), Answer(b, task, pair.question_id, pair.answer_b)]
    if kind == "judgments":
        if not pair.verdicts:
            raise HarnessError(f"{where}: no judge verdicts in this row (a set without a judge's output: "
                               "import its answers or labels)")
        out += [Judgment(task, pair.question_id, a, b, v.order, v.winner, v.label, pair.judge, METHOD,
                         pair.prompt, "", v.raw) for v in pair.verdicts]
    elif kind == "labels":
        if not pair.labels:
            raise HarnessError(f"{where}: no label in this row")
        out += [HumanLabel(task, pair.question_id, a, b, winner, who) for who, winner in pair.labels]
    return out
