"""The run directory's format: every file's name, its reader and its writer, and the format version.

A run directory holds one plain file per stage (questions -> answers -> judgments -> battles ->
ratings -> report), so any stage can be inspected, replaced or re-run. This module is the one
place that knows which file holds what: stages call ``read_answers(run_dir)`` and
``write_battles(run_dir, battles)``, never a file name.

Every writer also records the format version in ``run.json``. A directory without it was written
before versions existed and has the current layout; a newer version than this harness reads is an
error naming the file. Not handled here: the call cache (``cache.sqlite``, owned by
``harness.models.cache``) and the report folder's contents (``harness.reports``); only their
names live here.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml

from harness.core import votes
from harness.core.errors import HarnessError
from harness.core.files import (
    NestedTooDeeply,
    atomic_write,
    parse_json,
    read_csv_table,
    read_jsonl,
    read_yaml,
    row_errors,
    short_repr,
    write_csv,
    write_jsonl,
)
from harness.core.numbers import SEED_MAX, Bounds, check_number
from harness.core.text import csv_value
from harness.core.types import (
    Answer,
    Battle,
    BiasCheck,
    Grade,
    HumanLabel,
    Judgment,
    Perturbation,
    Question,
    Rating,
    Task,
    UsageLine,
)

R = TypeVar("R", Judgment, Battle, Grade)

FORMAT_VERSION = 1
"""Bump when a file changes meaning or layout; readers refuse versions newer than this."""

FORMAT = "run.json"
CONFIG = "config.yaml"
QUESTIONS = "questions.jsonl"
ANSWERS = "answers.jsonl"
JUDGMENTS = "judgments.jsonl"
GRADES = "grades.jsonl"
BATTLES = "battles.jsonl"
JUDGE_BATTLES = "battles_by_judge.jsonl"
LEADERBOARD_CSV = "leaderboard.csv"
TURN_LEADERBOARD_CSV = "leaderboard_by_turn.csv"
"""One leaderboard per judged turn of the run's multi-turn questions (only when it has some)."""
LEADERBOARD_MD = "leaderboard.md"
USAGE_CSV = "usage.csv"
HUMAN = "human.jsonl"
BIAS_CSV = "bias.csv"
PERTURBATIONS = "perturbations.jsonl"
PROBE_JUDGMENTS = "probe_judgments.jsonl"
RECHECK = "recheck.jsonl"
"""``harness recheck``'s new verdicts beside the stored ones, one row per re-asked judgment and seed."""
STOPPING = "stopping.json"
"""``--stop-when-decided``: the sequential test's settings and, per model pair, where judging stopped
and why (absent when the run's pairs were judged on every question)."""
CACHE = "cache.sqlite"
VOTES = "votes.sqlite"
"""The votes of ``harness human serve`` (``harness.core.votes`` owns its schema)."""
LOCK = "run.lock"
"""Held by the command writing the run (``harness.core.runlock``)."""
REPORT_DIR = "report"

# The files of a fine-tuned adapter folder (``harness finetune --out DIR``) that reports read.
MANIFEST = "manifest.json"
TRAIN_LOG = "train_log.jsonl"
LOSS_CURVE = "loss_curve.png"

LEADERBOARD_HEADER = ("rank", "model", "bt", "bt_lower", "bt_upper", "elo", "elo_lower", "elo_upper",
                      "wins", "ties", "losses", "battles", "win_rate")
USAGE_HEADER = ("stage", "name", "spec", "calls", "prompt_tokens", "completion_tokens", "cost_usd",
                "calls_without_token_counts", "reasoning_tokens", "cached_tokens", "budget_retries",
                "decided_by_model")
"""``usage.csv``: files written before the last four columns existed read with them empty."""
BIAS_HEADER = ("judge", "check", "value", "lower", "upper", "n", "note")


# --- the format version ---------------------------------------------------------------------

def format_version(run_dir: Path) -> int:
    """The run's format version (the current one for runs written before versions existed)."""
    path = run_dir / FORMAT
    if not path.is_file():
        return FORMAT_VERSION
    try:
        row = parse_json(path.read_text(encoding="utf-8-sig"))
        version = row["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"version {version!r}: expected a positive integer")
    except NestedTooDeeply as exc:
        raise HarnessError(f"{path}:{exc.line}: nested too deeply") from None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        detail = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        raise HarnessError(f"{path}: not a harness run format file ({detail})") from None
    if version > FORMAT_VERSION:
        raise HarnessError(f"{path}: run directory format {version} is newer than this harness reads "
                           f"({FORMAT_VERSION}); upgrade harness")
    return version


def _mark(run_dir: Path) -> None:
    """Record the format version before a writer adds a file (once per directory)."""
    format_version(run_dir)  # never overwrite a newer run's files
    path = run_dir / FORMAT
    if not path.is_file():
        atomic_write(path, json.dumps({"format": "harness run directory", "version": FORMAT_VERSION})
                     + "\n")


def _checked(run_dir: Path, name: str) -> Path:
    format_version(run_dir)
    return run_dir / name


def _write_rows(run_dir: Path, name: str, rows: Iterable[Mapping[str, Any]]) -> Path:
    _mark(run_dir)
    write_jsonl(run_dir / name, rows)
    return run_dir / name


def _write_table(run_dir: Path, name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    _mark(run_dir)
    write_csv(run_dir / name, header, rows)
    return run_dir / name


def _write_text(run_dir: Path, name: str, text: str) -> Path:
    _mark(run_dir)
    atomic_write(run_dir / name, text)
    return run_dir / name


# --- all or nothing -------------------------------------------------------------------------

_MERGED = (FORMAT, QUESTIONS, ANSWERS, JUDGMENTS, GRADES, BATTLES, JUDGE_BATTLES, LEADERBOARD_CSV,
           TURN_LEADERBOARD_CSV, HUMAN)
"""The files a merge into a run (``harness import``) writes, the rating after it included."""


@contextlib.contextmanager
def all_or_nothing(run_dir: Path) -> Iterator[None]:
    """Put every file of :data:`_MERGED` back as it was (byte for byte, or absent) if the block
    fails, so that a refused import has changed nothing.

    Callers still check everything before they write: this covers what fails after the first
    write (the re-rating, a full disk, Ctrl-C), which checking cannot foresee."""
    before = {name: ((run_dir / name).read_bytes(), (run_dir / name).stat().st_mode)
              if (run_dir / name).is_file() else None for name in _MERGED}
    try:
        yield
    except BaseException:
        for name, held in before.items():
            path = run_dir / name
            if held is None:
                path.unlink(missing_ok=True)
            elif not path.is_file() or path.read_bytes() != held[0]:
                _put_bytes(path, *held)
        raise


def _put_bytes(path: Path, data: bytes, mode: int) -> None:
    """``data`` as ``path``'s content, replaced in one step (readers see the old file or this)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, mode & 0o7777)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- config.yaml ----------------------------------------------------------------------------

def write_config(run_dir: Path, row: Mapping[str, Any]) -> Path:
    """The resolved run configuration (``RunConfig.to_row()``), as YAML."""
    return _write_text(run_dir, CONFIG, yaml.safe_dump(dict(row), allow_unicode=True, sort_keys=False))


RUN_BOUNDS: Mapping[str, Bounds] = {
    "limit": Bounds(int, low=1),
    "batch_size": Bounds(int, low=1),
    # 0 rounds would leave every Elo at its initial value, outside its own bootstrap interval.
    "elo_rounds": Bounds(int, low=1),
    "bootstrap": Bounds(int, low=0),  # 0: no intervals (each is the point itself)
    "seed": Bounds(int, low=0, high=SEED_MAX),  # numpy refuses negative seeds
    # --stop-when-decided's level: above 1/2 it would name a leader on a coin's evidence.
    "stop_alpha": Bounds(float, low=0, high=0.5, low_open=True),
}
"""The run-wide numbers of a config (``harness.app.config`` checks its flags and ``--config`` files
with these; :func:`read_config` checks a run's ``config.yaml`` with them, however it was edited)."""


def read_config(run_dir: Path) -> dict[str, Any] | None:
    """The run's configuration as written, or None when the run has none (answers made elsewhere).

    Every run-wide number (:data:`RUN_BOUNDS`) is checked here, so each command that re-rates or
    re-seeds from ``config.yaml`` (import, compare-judges, recheck, report) refuses a hand-edited
    ``seed: -5`` in one line naming the file, line and field, before it writes anything. The other
    sections (models, judges, api) are checked by whoever reads them (``harness.app.config``)."""
    path = _checked(run_dir, CONFIG)
    if not path.is_file():
        return None
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a mapping")
    for key, bounds in RUN_BOUNDS.items():
        if data.get(key) is not None:
            try:
                data[key] = check_number(data[key], bounds=bounds, field=key, where=f"{path}: field {key!r}")
            except HarnessError:  # the same refusal again, naming the key's line (found only now)
                check_number(data[key], bounds=bounds, field=key,
                             where=f"{path}:{_key_line(path, key)}: field {key!r}")
                raise
    return data


def _key_line(path: Path, key: str) -> int:
    """The line of a top-level key of a YAML file that :func:`read_yaml` has read (1 if not found)."""
    node = yaml.compose(path.read_text(encoding="utf-8-sig"), Loader=yaml.SafeLoader)
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return int(k.start_mark.line) + 1
    return 1


# --- questions.jsonl ------------------------------------------------------------------------

def write_questions(run_dir: Path, task_list: Sequence[Task]) -> Path:
    """The questions the run answers, so the run directory explains itself."""
    return _write_rows(run_dir, QUESTIONS, (_question_row(t, q) for t in task_list for q in t.questions))


def _question_row(t: Task, q: Question) -> dict[str, Any]:
    row: dict[str, Any] = {"task": t.id, "language": t.language, "domain": t.domain, "id": q.id,
                           "question": q.question, "category": q.category, "reference": q.reference,
                           "input": q.input}
    # Only a multi-turn question has these, so a single-turn run's file is what it always was.
    if q.turns:
        row["turns"] = list(q.turns)
    if q.turn_references:
        row["turn_references"] = list(q.turn_references)
    return row


def _question(row: dict[str, Any]) -> tuple[str, str, str, Question]:
    for key in ("task", "language", "domain", "id", "question"):
        if not isinstance(row[key], str):
            raise ValueError(f"field {key!r}: expected a string, got {row[key]!r}")
    later = {}
    for key in ("turns", "turn_references"):
        value = row.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"field {key!r}: expected a list of strings")
        later[key] = tuple(value)
    q = Question(row["id"], row["question"], str(row.get("category", "")), str(row.get("reference", "")),
                 str(row.get("input", "")), **later)
    return row["task"], row["language"], row["domain"], q


def read_questions(run_dir: Path) -> list[Task] | None:
    """The tasks of ``questions.jsonl``, questions in file order; None for runs made before it existed
    (the task files then say what the questions were)."""
    path = _checked(run_dir, QUESTIONS)
    if not path.is_file():
        return None
    tasks: dict[str, tuple[str, str, list[Question]]] = {}
    rows = read_jsonl(path, _question, key=lambda r: (r[0], r[3].id), what="question (task, id)")
    for task, language, domain, q in rows:
        tasks.setdefault(task, (language, domain, []))[2].append(q)
    return [Task(t, lang, dom, "", tuple(qs), str(path)) for t, (lang, dom, qs) in tasks.items()]


def check_inputs(run_dir: Path) -> None:
    """Read every file besides ``answers.jsonl`` that a person may have edited and that the report
    after judging reads (questions, human labels, bias figures), so that a mistake in one is an
    error before the first judge call instead of after the last."""
    read_questions(run_dir)
    read_human(run_dir)
    read_bias(run_dir)


# --- answers, judgments, grades, battles ----------------------------------------------------

def write_answers(run_dir: Path, answers: Iterable[Answer]) -> Path:
    return _write_rows(run_dir, ANSWERS, (a.to_row() for a in answers))


def read_answers(run_dir: Path) -> list[Answer]:
    """Every answer; the file must exist (it is what a run judges). Two answers by one model to one
    question are an error naming both lines."""
    return read_jsonl(_checked(run_dir, ANSWERS), Answer.from_row,
                      key=lambda a: (a.model, a.task, a.question_id),
                      what="answer (model, task, question_id)")


# What makes two rows of one file the same comparison: one verdict per judge, question, turn, pair
# and order; one battle per judge, question, turn and pair, whichever model it names first.

def judgment_key(j: Judgment) -> tuple[str | int | None, ...]:
    """The comparison and its order; an imported event's source row too (the order stays last)."""
    return (j.judge, j.task, j.question_id, j.turn, j.model_a, j.model_b, j.source, j.order)


def _battle_key(b: Battle) -> tuple[str | int | None, ...]:
    return (b.judge, b.task, b.question_id, b.turn, *sorted((b.model_a, b.model_b)), b.source)


def _grade_key(g: Grade) -> tuple[str | int | None, ...]:
    return (g.judge, g.task, g.question_id, g.turn, g.model)


def human_key(h: HumanLabel) -> tuple[str, ...] | None:
    """What makes two labels one person's two verdicts on one comparison (None: unsigned labels,
    which may come from different people, are never duplicates)."""
    return (h.annotator, h.task, h.question_id, *sorted((h.model_a, h.model_b))) if h.annotator else None


JUDGMENT_KEY = "judgment (judge, task, question_id, turn, model_a, model_b, source, order)"
_BATTLE = "battle (judge, task, question_id, turn, models, source)"


def write_judgments(run_dir: Path, judgments: Iterable[Judgment]) -> Path:
    return _write_rows(run_dir, JUDGMENTS, (j.to_row() for j in judgments))


def read_judgments(run_dir: Path, *, turns: Mapping[tuple[str, str], int] | None = None) -> list[Judgment]:
    """Every pairwise judgment (none for runs judged only by grading prompts); a turn past its
    question's turns is an error naming the line (:func:`check_turn`; ``turns``, where given, is
    the run's :func:`question_turns`, so a reader of several files reads the questions once)."""
    path = _checked(run_dir, JUDGMENTS)
    if not path.is_file():
        return []
    return read_jsonl(path, _turn_checked(run_dir, Judgment.from_row, turns), key=judgment_key,
                      what=JUDGMENT_KEY)


def write_grades(run_dir: Path, grades: Iterable[Grade]) -> Path:
    return _write_rows(run_dir, GRADES, (g.to_row() for g in grades))


def read_grades(run_dir: Path, *, turns: Mapping[tuple[str, str], int] | None = None) -> list[Grade]:
    path = _checked(run_dir, GRADES)
    return read_jsonl(path, _turn_checked(run_dir, Grade.from_row, turns), key=_grade_key,
                      what="grade (judge, task, question_id, turn, model)") if path.is_file() else []


def write_battles(run_dir: Path, battles: Iterable[Battle]) -> Path:
    """The battles the leaderboard is rated from (the panel's majority with several judges)."""
    return _write_rows(run_dir, BATTLES, (b.to_row() for b in battles))


def read_battles(run_dir: Path, *, turns: Mapping[tuple[str, str], int] | None = None) -> list[Battle]:
    return read_jsonl(_checked(run_dir, BATTLES), _turn_checked(run_dir, Battle.from_row, turns),
                      key=_battle_key, what=_BATTLE)


def write_judge_battles(run_dir: Path, by_judge: Mapping[str, Sequence[Battle]]) -> Path:
    """Each judge's own battles (written for a panel of judges)."""
    return _write_rows(run_dir, JUDGE_BATTLES, (b.to_row() for bs in by_judge.values() for b in bs))


def read_judge_battles(run_dir: Path, *, turns: Mapping[tuple[str, str], int] | None = None
                       ) -> list[Battle] | None:
    """Each judge's own battles, or None when the run had one judge."""
    path = _checked(run_dir, JUDGE_BATTLES)
    if not path.is_file():
        return None
    return read_jsonl(path, _turn_checked(run_dir, Battle.from_row, turns), key=_battle_key, what=_BATTLE)


class Turned(Protocol):
    """A record of one judged turn of one question (judgments, battles, grades)."""

    @property
    def task(self) -> str: ...
    @property
    def question_id(self) -> str: ...
    @property
    def turn(self) -> int | None: ...


def question_turns(tasks: Iterable[Task] | None) -> dict[tuple[str, str], int]:
    """How many turns each question has, by (task, question id); empty when the run does not know
    its questions (``questions.jsonl`` absent)."""
    return {(t.id, q.id): len(q.all_turns) for t in tasks or () for q in t.questions}


def check_turn(record: Turned, turns: Mapping[tuple[str, str], int]) -> None:
    """ValueError when ``record`` judges a turn its question does not have (``turns``: from
    :func:`question_turns`). A question the run does not know has only the records' own ceiling
    (``harness.core.types.MAX_TURN``): without it, one hand-edited turn of millions makes every
    screen that shows the conversation up to the judged turn build millions of rows.

    >>> b = Battle("x", "y", "tie", "t", "q1", turn=3)
    >>> check_turn(b, {("t", "q1"): 2})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: field 'turn': 3 is past the last turn of question 't'/'q1', which has 2 turns in ...
    >>> check_turn(b, {})
    """
    count = turns.get((record.task, record.question_id))
    if record.turn is not None and count is not None and record.turn > count:
        raise ValueError(f"field 'turn': {record.turn} is past the last turn of question "
                         f"{short_repr(record.task, 60)}/{short_repr(record.question_id, 60)}, which "
                         f"has {count} turn{'s' if count != 1 else ''} in {QUESTIONS}")


def _turn_checked(run_dir: Path, parse: Callable[[dict[str, Any]], R],
                  turns: Mapping[tuple[str, str], int] | None = None) -> Callable[[dict[str, Any]], R]:
    """``parse`` followed by :func:`check_turn` against the run's questions (``turns``: their
    :func:`question_turns`, read from ``questions.jsonl`` when not given)."""
    if turns is None:
        turns = question_turns(read_questions(run_dir))

    def checked(row: dict[str, Any]) -> R:
        record = parse(row)
        check_turn(record, turns)
        return record
    return checked


def _csv_rows(path: Path, columns: Sequence[str], unique: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """A run's CSV rows with their line numbers; a missing column, or two rows with the same
    ``unique`` fields (say, one model twice on the leaderboard), is an error naming the lines."""
    header, raw = read_csv_table(path)
    # write_csv put a ' before cells a spreadsheet would run (=cmd...); a model's name must read back
    # exactly as the run's other files spell it.
    table = [(lineno, {k: csv_value(v) for k, v in row.items()}) for lineno, row in raw]
    missing = [c for c in columns if c not in header]
    if missing:
        raise HarnessError(f"{path}: missing column {missing[0]!r}")
    seen: dict[tuple[str, ...], int] = {}
    for lineno, row in table:
        key = tuple(row[c] for c in unique)
        if key in seen:
            shown = ", ".join(f"{c} {v!r}" for c, v in zip(unique, key))
            raise HarnessError(f"{path}:{lineno}: duplicate row ({shown}); line {seen[key]} has the same")
        seen[key] = lineno
    return table


# --- leaderboard.csv / leaderboard.md -------------------------------------------------------

def leaderboard_row(r: Rating) -> tuple[str, ...]:
    """One ``leaderboard.csv`` row as text; ``rank`` is the interval-based rank (models may share it)."""
    return (str(r.rank), r.model, f"{r.bt:.1f}", f"{r.bt_lower:.1f}", f"{r.bt_upper:.1f}", f"{r.elo:.1f}",
            f"{r.elo_lower:.1f}", f"{r.elo_upper:.1f}", str(r.wins), str(r.ties), str(r.losses),
            str(r.battles), f"{r.win_rate:.4f}")


def write_leaderboard(run_dir: Path, ratings: Sequence[Rating]) -> Path:
    return _write_table(run_dir, LEADERBOARD_CSV, LEADERBOARD_HEADER, (leaderboard_row(r) for r in ratings))


def write_turn_leaderboards(run_dir: Path, by_turn: Mapping[int, Sequence[Rating]]) -> Path | None:
    """``leaderboard_by_turn.csv`` (a ``turn`` column, then ``leaderboard.csv``'s), or no file when
    the run has no multi-turn battles (one left by an earlier rating is removed: it would be stale)."""
    if not by_turn:
        (run_dir / TURN_LEADERBOARD_CSV).unlink(missing_ok=True)
        return None
    rows = ((str(turn), *leaderboard_row(r)) for turn, rs in sorted(by_turn.items()) for r in rs)
    return _write_table(run_dir, TURN_LEADERBOARD_CSV, ("turn", *LEADERBOARD_HEADER), rows)


def read_leaderboard(run_dir: Path) -> list[dict[str, str]]:
    """The leaderboard rows as the CSV spells them (reports print these strings digit for digit);
    a field that should be a number and is not is one error naming the file, line and field."""
    path = _checked(run_dir, LEADERBOARD_CSV)
    if not path.is_file():
        raise HarnessError(f"{path}: no such file (judge the run first: harness judge {run_dir})")
    table = _csv_rows(path, LEADERBOARD_HEADER, unique=("model",))
    if not table:  # a run always rates at least two models; a bare header was emptied by hand
        raise HarnessError(f"{path}: no ratings, only a header (re-rate the run: harness judge {run_dir})")
    return [_rating_fields(path, lineno, row) for lineno, row in table]


def read_turn_leaderboards(run_dir: Path) -> dict[int, list[dict[str, str]]]:
    """``leaderboard_by_turn.csv``'s rows per turn, as :func:`read_leaderboard` reads its file;
    empty when there is no such file (a single-turn run)."""
    path = _checked(run_dir, TURN_LEADERBOARD_CSV)
    if not path.is_file():
        return {}
    out: dict[int, list[dict[str, str]]] = {}
    for lineno, row in _csv_rows(path, ("turn", *LEADERBOARD_HEADER), unique=("turn", "model")):
        try:
            turn = int(row["turn"])
        except ValueError:
            raise HarnessError(f"{path}:{lineno}: field 'turn': not a whole number: "
                               f"{row['turn']!r}") from None
        out.setdefault(turn, []).append(_rating_fields(path, lineno, row))
    return dict(sorted(out.items()))


def _rating_fields(path: Path, lineno: int, row: Mapping[str, str]) -> dict[str, str]:
    """One leaderboard row's fields, each number checked to be one."""
    try:
        int(row["rank"])
    except ValueError:
        raise HarnessError(f"{path}:{lineno}: field 'rank': not a whole number: {row['rank']!r}") from None
    for key in LEADERBOARD_HEADER[2:]:
        try:
            float(row[key])
        except ValueError:
            raise HarnessError(f"{path}:{lineno}: field {key!r}: not a number: {row[key]!r}") from None
    return {k: row[k] for k in LEADERBOARD_HEADER}


def write_leaderboard_md(run_dir: Path, text: str) -> Path:
    return _write_text(run_dir, LEADERBOARD_MD, text)


# --- usage.csv ------------------------------------------------------------------------------

def write_usage(run_dir: Path, lines: Sequence[UsageLine]) -> Path:
    return _write_table(run_dir, USAGE_CSV, USAGE_HEADER, [
        (u.stage, u.name, u.spec, u.calls, u.prompt_tokens, u.completion_tokens,
         "" if u.cost is None else f"{u.cost:.6f}", u.unreported, u.reasoning_tokens, u.cached_tokens,
         u.budget_retries, " ".join(u.not_sent)) for u in lines])


def read_usage(run_dir: Path) -> list[UsageLine]:
    """Calls, tokens and cost per model and judge (none for runs made before usage was kept)."""
    path = _checked(run_dir, USAGE_CSV)
    if not path.is_file():
        return []
    out = []
    for lineno, r in _csv_rows(path, USAGE_HEADER[:7], unique=("stage", "name", "spec")):
        with row_errors(f"{path}:{lineno}"):
            out.append(UsageLine(r["stage"], r["name"], r["spec"], int(r["calls"]), int(r["prompt_tokens"]),
                                 int(r["completion_tokens"]), float(r["cost_usd"]) if r["cost_usd"] else None,
                                 int(r.get("calls_without_token_counts") or 0),
                                 int(r.get("reasoning_tokens") or 0), int(r.get("cached_tokens") or 0),
                                 int(r.get("budget_retries") or 0),
                                 tuple((r.get("decided_by_model") or "").split())))
    return out


# --- human labels, bias figures, probes -----------------------------------------------------

def write_human(run_dir: Path, labels: Iterable[HumanLabel]) -> Path:
    return _write_rows(run_dir, HUMAN, (h.to_row() for h in labels))


def read_human(run_dir: Path) -> list[HumanLabel]:
    """The run's human labels: the imported ones (``human.jsonl``) and the current vote on every
    comparison people voted on in ``harness human serve`` (``votes.sqlite``); none when nobody
    labelled yet.

    One person has one verdict on a comparison: where an annotator both voted in the browser and
    has an imported label on the same comparison, the vote counts (the person can still change it;
    the import is a copy of something said before), so no one's verdict counts twice. Unsigned
    imported labels are never merged (they may come from different people)."""
    voted = votes.read_labels(_checked(run_dir, VOTES))
    live = {human_key(v) for v in voted}
    return [h for h in read_human_file(run_dir) if human_key(h) not in live] + voted


def read_human_file(run_dir: Path) -> list[HumanLabel]:
    """The labels ``harness human import`` wrote (``human.jsonl`` only)."""
    path = _checked(run_dir, HUMAN)
    return read_jsonl(path, HumanLabel.from_row, key=human_key,
                      what="label (annotator, task, question_id, models)") if path.is_file() else []


def read_bias(run_dir: Path) -> list[BiasCheck]:
    """The figures ``harness bias`` measured; none when it never ran."""
    path = _checked(run_dir, BIAS_CSV)
    if not path.is_file():
        return []
    checks = []
    for lineno, r in _csv_rows(path, BIAS_HEADER, unique=("judge", "check")):
        with row_errors(f"{path}:{lineno}"):
            checks.append(BiasCheck.named(r["judge"], r["check"], float(r["value"]), float(r["lower"]),
                                          float(r["upper"]), int(r["n"]), r["note"]))
    return checks


def write_bias(run_dir: Path, checks: Sequence[BiasCheck]) -> Path:
    return _write_table(run_dir, BIAS_CSV, BIAS_HEADER, [
        (c.judge, c.check, _num(c.value), _num(c.lower), _num(c.upper), c.n, c.note) for c in checks])


def _num(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.6f}"


def write_perturbations(run_dir: Path, perturbations: Iterable[Perturbation]) -> Path:
    """The altered answers the probes judged, readable by people."""
    return _write_rows(run_dir, PERTURBATIONS, (p.to_row() for p in perturbations))


def write_probe_judgments(run_dir: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """The judge's verdicts on each original-vs-altered pair, in both orders."""
    return _write_rows(run_dir, PROBE_JUDGMENTS, rows)


def recheck_cache(run_dir: Path, seed: int) -> Path:
    """The cache of one recheck's calls (the run's own cache would answer them with the old replies)."""
    return run_dir / f"recheck-{seed}.sqlite"


def write_recheck(run_dir: Path, seed: int, rows: Sequence[Mapping[str, Any]]) -> Path:
    """``recheck.jsonl``: this seed's rows replace its earlier ones; other seeds' rows are kept."""
    path = _checked(run_dir, RECHECK)
    kept = read_jsonl(path, lambda row: row, key=None, what="recheck row") if path.is_file() else []
    return _write_rows(run_dir, RECHECK, [*(r for r in kept if r.get("seed") != seed), *rows])


# --- stopping.json --------------------------------------------------------------------------

_STOP_FIELDS: Mapping[str, tuple[type, ...]] = {
    "model_a": (str,), "model_b": (str,), "leader": (str, type(None)), "questions": (int,), "total": (int,),
    "wins": (int,), "ties": (int,), "losses": (int,), "statistic": (int, float), "alpha": (int, float),
    "judgments": (int,), "judgments_total": (int,)}
"""Each pair's row of ``stopping.json`` (``harness.stats.sequential.PairStop.to_row``)."""


def write_stopping(run_dir: Path, stopping: Mapping[str, Any] | None) -> Path | None:
    """``stopping.json`` (``test``, ``alpha``, ``seed``, ``pairs``: one row per model pair), or no
    file when the run was judged on every question (one left by an earlier judging is removed:
    it would describe battles the run no longer has)."""
    if stopping is None:
        (run_dir / STOPPING).unlink(missing_ok=True)
        return None
    return _write_text(run_dir, STOPPING, json.dumps(dict(stopping), ensure_ascii=False, indent=1) + "\n")


def read_stopping(run_dir: Path) -> dict[str, Any] | None:
    """``stopping.json`` with every field checked (a wrong one is one error naming the file, the
    pair and the field), or None when the run did not stop early."""
    path = _checked(run_dir, STOPPING)
    if not path.is_file():
        return None
    try:
        data = parse_json(path.read_text(encoding="utf-8-sig"))
    except NestedTooDeeply as exc:
        raise HarnessError(f"{path}:{exc.line}: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("pairs"), list):
        raise HarnessError(f"{path}: expected an object with a list 'pairs'")
    for i, row in enumerate(data["pairs"]):
        if not isinstance(row, dict):
            raise HarnessError(f"{path}: pairs[{i}]: expected an object")
        for key, kinds in _STOP_FIELDS.items():
            value = row.get(key, _MISSING)
            if value is _MISSING:
                raise HarnessError(f"{path}: pairs[{i}]: missing field {key!r}")
            fine = isinstance(value, kinds) and not isinstance(value, bool)
            if fine and isinstance(value, (int, float)):
                fine = math.isfinite(value) and value >= 0 and (key != "alpha" or 0 < value <= 0.5)
            if not fine:
                raise HarnessError(f"{path}: pairs[{i}]: field {key!r}: {short_repr(value, 60)} is not "
                                   f"{_STOP_KINDS.get(key, 'a whole number >= 0')}")
        if row["leader"] not in (None, row["model_a"], row["model_b"]):
            raise HarnessError(f"{path}: pairs[{i}]: field 'leader': {short_repr(row['leader'], 60)} is "
                               "neither model of the pair")
        if row["questions"] > row["total"]:
            raise HarnessError(f"{path}: pairs[{i}]: field 'questions': {row['questions']} is more than "
                               f"the pair's {row['total']} questions")
    return data


_MISSING = object()
_STOP_KINDS = {"model_a": "a string", "model_b": "a string", "leader": "a model name or null",
               "statistic": "a number >= 0", "alpha": "a number in (0, 0.5]"}


# --- adapter folders ------------------------------------------------------------------------

def read_train_log(adapter_dir: Path) -> list[dict[str, Any]]:
    """An adapter folder's loss log (one JSON object per logged step); empty if it has none."""
    path = adapter_dir / TRAIN_LOG
    return read_jsonl(path, lambda r: r) if path.is_file() else []
