"""Other tools' files read as harness records: answers, judgments, battles and questions.

``harness import`` reads a file in one of these formats (``docs/interop.md`` maps every field and
says what each direction loses) and merges the records into a run directory:

- ``generic`` (the default): harness's own field names, one JSON object per line (or CSV);
- ``fastchat``: FastChat ``llm_judge`` (``model_answer/*.jsonl``, ``model_judgment/*_pair.jsonl``);
- ``arena-hard``: Arena-Hard-Auto (``model_answer/*.jsonl``, ``model_judgment/JUDGE/*.jsonl``);
- ``alpaca_eval``: AlpacaEval (``model_outputs.json``, ``annotations.json``).

Each reader returns :class:`Row` s: a record and where it came from (``FILE:LINE``), so that the
merge can name the line of a conflicting duplicate. A bad row is one error naming the file, line
and field. Files people share are untrusted: every field is type-checked, nothing is evaluated.

Why core: the readers turn text into core records and need nothing above core (``files`` and
``types``), and two floors use them (``harness rate`` in the app reads battle files, the import
command writes runs).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from harness.core.errors import HarnessError
from harness.core.files import check_regular, json_rows, read_csv_table, row_errors
from harness.core.types import Answer, Battle, Judgment, JudgmentWinner, Question, turn_number

T = TypeVar("T")

FORMATS = ("generic", "fastchat", "arena-hard", "alpaca_eval")
KINDS = ("questions", "answers", "judgments", "battles")
METHOD = "imported"
"""``Judgment.method`` of every imported verdict (the report's note says the tool's own method is
not known to harness)."""
ARENA_HARD_BASELINE = "gpt-4-0314"
"""Arena-Hard-Auto v0.1's baseline: model A in each row's first game (``show_result.py``)."""
ARENA_HARD_WEIGHT = 3
"""How many battles Arena-Hard counts for a strong verdict (``A>>B``)."""


@dataclass(frozen=True)
class Row(Generic[T]):
    """One record read from another tool's file."""

    where: str
    """``FILE:LINE`` (``FILE: entry N`` for a JSON list), for error messages."""
    record: T


@dataclass(frozen=True)
class TaskQuestion:
    """A question with the task it belongs to (``questions.jsonl`` rows)."""

    task: str
    question: Question
    language: str = ""
    domain: str = ""


@dataclass(frozen=True)
class Options:
    """What a format needs besides the file: names the file does not hold."""

    task: str = ""
    """The task every record belongs to; empty: from the file's folder (see :func:`default_task`)."""
    baseline: str = ARENA_HARD_BASELINE
    weight: int = 1
    """Arena-Hard battles: how many battles a strong verdict counts as."""
    judge: str = ""
    """The judge of every imported verdict, where the file does not name it (or to rename it)."""
    pairs: Path | None = None
    """Judge-evaluation sets whose output file holds only verdicts (Auto-J): the set they answer,
    line by line."""
    swapped: Path | None = None
    """Auto-J: the judge's outputs on the swapped pairs (as written, not mapped back)."""


@dataclass(frozen=True)
class Read(Generic[T]):
    """A file's records, and the rows left out because they compare a model with itself."""

    rows: tuple[Row[T], ...]
    self_rows: int = 0


# --- reading rows ---------------------------------------------------------------------------

def files_of(path: Path) -> list[Path]:
    """``path``, or the ``*.jsonl`` / ``*.json`` files directly in it (a ``model_answer/`` folder)."""
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in (".jsonl", ".json") and p.is_file())
        if not found:
            raise HarnessError(f"{path}: no .jsonl or .json files in this folder")
        return found
    check_regular(path, expected="a .jsonl or .json file")
    return [path]


def rows_of(path: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every row of a JSONL, JSON-list or CSV file with where it is; a row that is not an object
    is an error naming its line."""
    if path.suffix.lower() == ".csv":
        for lineno, row in read_csv_table(path)[1]:
            yield f"{path}:{lineno}", row
        return
    for where, _, row in json_rows(path):
        yield where, row


def _read(path: Path, parse: Callable[[Mapping[str, Any]], Sequence[T] | None]) -> Read[T]:
    """Rows of every file under ``path`` through ``parse`` (None: a self-comparison, skipped)."""
    out: list[Row[T]] = []
    skipped = 0
    for file in files_of(path):
        for where, row in rows_of(file):
            try:  # not row_errors per row: see files.json_rows
                records = parse(row)
            except (KeyError, ValueError, TypeError, RecursionError):
                with row_errors(where):
                    raise
            if records is None:
                skipped += 1
            else:
                out += [Row(where, r) for r in records]
    return Read(tuple(out), skipped)


# --- checking fields ------------------------------------------------------------------------

def _str(row: Mapping[str, Any], key: str, default: str | None = None) -> str:
    """A non-empty text field; FastChat's numeric ids are kept as text."""
    value = row.get(key)
    if value.__class__ is str and value:  # the usual case, first: a million rows pass here six times
        return value
    if key not in row or row[key] is None or row[key] == "":
        if default is not None:
            return default
        raise KeyError(key)
    value = row[key]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"field {key!r}: expected a string, got {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _pick(row: Mapping[str, Any], key: str, mapping: Mapping[str, T]) -> T:
    value = row.get(key)
    if key not in row:
        raise KeyError(key)
    if not isinstance(value, str) or value not in mapping:
        raise ValueError(f"field {key!r}: {_short(value)} is not one of {', '.join(mapping)}")
    return mapping[value]


def question_key(instruction: str) -> str:
    """A question id for formats that have none (AlpacaEval joins on the instruction's text).

    >>> question_key("Say hi")
    '71d5b298ee9f'
    """
    return hashlib.sha256(instruction.encode("utf-8")).hexdigest()[:12]


def default_task(path: Path, fmt: str) -> str:
    """The benchmark folder holding ``model_answer/`` or ``model_judgment/`` (``mt_bench``,
    ``arena-hard-v0.1``), or the format's name.

    >>> default_task(Path("data/mt_bench/model_judgment/gpt-4_pair.jsonl"), "fastchat")
    'mt_bench'
    >>> default_task(Path("annotations.json"), "alpaca_eval")
    'alpaca_eval'
    """
    full = path.resolve() if path.exists() else path
    for parent in (full, *full.parents):  # the file, or a model_answer/ folder given as FILE
        if parent.name in ("model_answer", "model_judgment") and parent.parent.name:
            return parent.parent.name
    return fmt


# --- generic --------------------------------------------------------------------------------

GENERIC_WINNERS: dict[str, JudgmentWinner] = {"model_a": "model_a", "model_b": "model_b", "tie": "tie",
                                              "error": "error"}
_ORDERS = {"ab": "ab", "ba": "ba"}


def generic_answer(row: Mapping[str, Any]) -> list[Answer | TaskQuestion]:
    task, qid = _str(row, "task"), _str(row, "question_id")
    out: list[Answer | TaskQuestion] = [Answer(_str(row, "model"), task, qid, _str(row, "answer"))]
    if row.get("question"):
        out.append(TaskQuestion(task, Question(qid, _str(row, "question"), "", "")))
    return out


def generic_judgment(row: Mapping[str, Any]) -> list[Judgment] | None:
    a, b = _str(row, "model_a"), _str(row, "model_b")
    winner = _pick(row, "winner", GENERIC_WINNERS)
    order = _pick(row, "order", _ORDERS) if row.get("order") not in (None, "") else "once"
    raw = _str(row, "raw", "")
    if a == b:
        return None
    return [Judgment(_str(row, "task"), _str(row, "question_id"), a, b, order, winner,  # type: ignore[arg-type]
                     winner, _str(row, "judge"), METHOD, "generic", "", raw)]


EVENT = ""
"""The source of a battle that is its row alone; the importer prefixes every event's source with
its file and line (:func:`event_source`)."""


def battle_judgment(b: Battle, prompt: str, label: str = "", event: str = EVENT) -> Judgment:
    """A published battle as a verdict seen once: the run's battles are made from judgments, and a
    judgment seen once is its comparison's battle unchanged (``tie (bothbad)`` becomes ``tie``;
    the label keeps it). A battle file's row is an event, not a record of a comparison: ``event``
    says which part of its row this battle is (a game, a weighted copy), and the importer adds the
    row's file and line, so repeated rows all count and a second import of the file adds nothing."""
    winner = "tie" if b.winner == "tie (bothbad)" else b.winner
    return Judgment(b.task, b.question_id, b.model_a, b.model_b, "once", winner, label or b.winner,  # type: ignore[arg-type]
                    b.judge, METHOD, prompt, "", "", source=event)


def event_source(where: str, event: str) -> str:
    """An imported event's source: the row's file name and line, then which part of the row.

    >>> event_source("data/battles.jsonl:17", ""), event_source("/x/judge.jsonl:4", "game2/copy3")
    ('battles.jsonl:17', 'judge.jsonl:4/game2/copy3')
    """
    name = Path(where).name
    return f"{name}/{event}" if event else name


def published_battle(row: Mapping[str, Any]) -> Battle | None:
    """A FastChat battle row, or None when it pits a model against itself (published Arena-Hard and
    Chatbot Arena files hold such rows; they say nothing about a rating)."""
    if "model_a" in row and row.get("model_a") == row.get("model_b"):
        return None
    return Battle.from_row(row)


def read_battle_file(path: Path) -> Read[Battle]:
    """A FastChat-format battle file as published: self-battles skipped and counted."""
    def parse(row: Mapping[str, Any]) -> list[Battle] | None:
        b = published_battle(row)
        return None if b is None else [b]
    return _read(path, parse)


# --- FastChat llm_judge ---------------------------------------------------------------------

_FASTCHAT_WINNERS: dict[str, JudgmentWinner] = {"model_1": "model_a", "model_2": "model_b", "tie": "tie",
                                                "error": "error"}


def _turns(row: Mapping[str, Any]) -> list[str]:
    choices = row.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("field 'choices': expected a list of objects with 'turns'")
    turns = choices[0].get("turns")
    if not isinstance(turns, list) or not turns:
        raise ValueError("field 'choices': its first entry has no 'turns' list")
    out = []
    for t in turns:  # FastChat stores text; Arena-Hard stores {"content": text, "token_len": n}
        text = t.get("content") if isinstance(t, dict) else t
        if not isinstance(text, str):
            raise ValueError(f"field 'choices': a turn is {_short(t)}, expected text")
        out.append(text)
    return out


def model_answer(row: Mapping[str, Any], task: str) -> list[Answer]:
    """FastChat / Arena-Hard ``model_answer`` row: one answer holding every turn's."""
    qid, model = _str(row, "question_id"), _str(row, "model_id")
    first, *later = _turns(row)
    return [Answer(model, task, qid, first, turns=tuple(later))]


def fastchat_judgment(row: Mapping[str, Any], task: str) -> list[Judgment] | None:
    """A ``*_pair.jsonl`` row: game 1 showed model_1 first (``ab``), game 2 swapped (``ba``);
    FastChat already maps both winners back to ``model_1`` / ``model_2``. The row's ``turn`` is the
    judged turn (the importer makes turn 1 of a single-turn question ``None``, as harness judges it)."""
    a, b = _str(row, "model_1"), _str(row, "model_2")
    judge = row.get("judge")
    if isinstance(judge, list) and judge and all(isinstance(x, str) for x in judge):
        name, prompt = judge[0], f"fastchat:{judge[1]}" if len(judge) > 1 else "fastchat"
    else:
        name, prompt = _str(row, "judge"), "fastchat"
    # The ceiling here; the question's own count of turns where the run knows it (the importer).
    turn = turn_number(row.get("turn", 1))
    w1, w2 = _pick(row, "g1_winner", _FASTCHAT_WINNERS), _pick(row, "g2_winner", _FASTCHAT_WINNERS)
    if a == b:
        return None
    qid = _str(row, "question_id")
    return [Judgment(task, qid, a, b, "ab", w1, row["g1_winner"], name, METHOD, prompt, "",
                     _str(row, "g1_judgment", ""), turn=turn),
            Judgment(task, qid, a, b, "ba", w2, row["g2_winner"], name, METHOD, prompt, "",
                     _str(row, "g2_judgment", ""), turn=turn)]


# --- Arena-Hard -----------------------------------------------------------------------------

# Each game's score read as "which slot won, and was it strong"; Arena-Hard drops any other score
# (weight 0), harness keeps it as an ``error`` verdict so the report counts it.
_SCORES = {"A>>B": ("A", True), "A>B": ("A", False), "A=B": ("", False), "B>A": ("B", False),
           "B>>A": ("B", True)}


def _games(row: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    games = row.get("games")
    if "games" not in row:
        raise KeyError("games")
    if not isinstance(games, list) or not 1 <= len(games) <= 2 or not all(isinstance(g, dict) for g in games):
        raise ValueError("field 'games': expected a list of one or two objects")
    out = []
    for i, g in enumerate(games, 1):
        score = g.get("score")
        if score is not None and not isinstance(score, str):
            raise ValueError(f"field 'games': game {i}'s score is {_short(score)}, expected text or null")
        judgment = g.get("judgment") if isinstance(g.get("judgment"), str) else ""
        out.append((score, judgment))
    return out


def _game_winner(score: str | None, game: int) -> tuple[JudgmentWinner, bool]:
    """The winner of one game in the pair (baseline = model_a, candidate = model_b).

    >>> _game_winner("A>>B", 1), _game_winner("A>B", 2), _game_winner(None, 1)
    (('model_a', True), ('model_b', False), ('error', False))
    """
    slot, strong = _SCORES.get(score or "", (None, False))
    if slot is None:
        return "error", False
    if not slot:
        return "tie", False
    # game 1 shows the baseline (model_a) as A; game 2 shows the candidate (model_b) as A
    a_wins = slot == "A"
    return ("model_a" if a_wins == (game == 1) else "model_b"), strong


def _arena_row(row: Mapping[str, Any], opts: Options
               ) -> tuple[str, str, str, list[tuple[str | None, str]]] | None:
    """A ``model_judgment`` row's candidate, judge, question and games; None for the baseline
    judged against itself (a self-comparison, skipped and counted)."""
    model, judge, qid = _str(row, "model"), _str(row, "judge"), _str(row, "question_id")
    games = _games(row)
    return None if model == opts.baseline else (model, judge, qid, games)


def arena_hard_judgment(row: Mapping[str, Any], opts: Options, task: str) -> list[Judgment] | None:
    """One ``model_judgment`` row as two judgments: game 1 put the baseline first (``ab``), game 2
    the candidate (``ba``); the label keeps the score (``A>>B``)."""
    read = _arena_row(row, opts)
    if read is None:
        return None
    model, judge, qid, games = read
    out = []
    for i, (score, text) in enumerate(games, 1):
        winner, _ = _game_winner(score, i)
        # one game (Arena-Hard's first_game_only) has no swap to reconcile: a verdict seen once
        order = "once" if len(games) == 1 else "ab" if i == 1 else "ba"
        out.append(Judgment(task, qid, opts.baseline, model, order, winner,  # type: ignore[arg-type]
                            score or "", judge, METHOD, "arena-hard", "", text))
    return out


def arena_hard_battles(row: Mapping[str, Any], opts: Options, task: str) -> list[Judgment] | None:
    """Arena-Hard's own count (``show_result.py``): each game a battle of its own, a strong verdict
    ``opts.weight`` battles, a score it cannot read none. Each is an event of the row: game and
    copy go into its source (``judge.jsonl:7/game2/copy2``), the question id stays the question's."""
    read = _arena_row(row, opts)
    if read is None:
        return None
    model, judge, qid, games = read
    out = []
    for i, (score, _) in enumerate(games, 1):
        winner, strong = _game_winner(score, i)
        if winner == "error":
            continue
        for copy in range(1, (opts.weight if strong else 1) + 1):
            event = f"game{i}" + (f"/copy{copy}" if copy > 1 else "")
            out.append(battle_judgment(Battle(opts.baseline, model, winner, task, qid, judge),
                                       "arena-hard", score or "", event))
    return out


# --- AlpacaEval -----------------------------------------------------------------------------

def alpaca_answer(row: Mapping[str, Any], task: str) -> list[Answer | TaskQuestion]:
    """A ``model_outputs.json`` entry; the question id is :func:`question_key` of the instruction."""
    instruction = _str(row, "instruction")
    qid = question_key(instruction)
    return [Answer(_str(row, "generator"), task, qid, _str(row, "output")),
            TaskQuestion(task, Question(qid, instruction, _str(row, "dataset", ""), ""))]


def alpaca_preference(value: Any) -> tuple[JudgmentWinner, tuple[float, float, float] | None]:
    """AlpacaEval's ``preference`` (1: output_1 wins, 2: output_2 wins, 1.5 or 0: a draw; weighted
    annotators give the probability of output_2 as a fraction between): the verdict by AlpacaEval's
    own discrete rule (its ``discrete_win_rate``: 1.5 a draw, else the nearest of 1 and 2), and the
    expected outcome kept whole, (P(output_1 wins), P(draw), P(output_2 wins)); null an error.

    >>> alpaca_preference(1.75)
    ('model_b', (0.25, 0.0, 0.75))
    >>> [alpaca_preference(p)[0] for p in (1, 1.3, 1.5, 0, 1.74, 2.0, None)]
    ['model_a', 'model_a', 'tie', 'tie', 'model_b', 'model_b', 'error']
    """
    if value is None:
        return "error", None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (1 <= value <= 2 or value == 0):
        raise ValueError(f"field 'preference': expected a number from 1 to 2 (or 0, a draw) or null, "
                         f"got {_short(value)}")
    if value in (0, 1.5):
        return "tie", (0.0, 1.0, 0.0)
    p = float(value) - 1.0
    return ("model_b" if p > 0.5 else "model_a"), (1.0 - p, 0.0, p)


def alpaca_judgment(row: Mapping[str, Any], task: str) -> list[Judgment] | None:
    """An ``annotations.json`` entry as a verdict seen once (AlpacaEval shuffles the order and
    records only the preference mapped back to ``output_1`` / ``output_2``), its preference kept
    as the verdict's expected outcome (``soft``), not cut."""
    a, b = _str(row, "generator_1"), _str(row, "generator_2")
    if "preference" not in row:
        raise KeyError("preference")
    winner, soft = alpaca_preference(row["preference"])
    qid = question_key(_str(row, "instruction"))
    if a == b:
        return None
    return [Judgment(task, qid, a, b, "once", winner, json.dumps(row["preference"]),
                     _str(row, "annotator", "alpaca_eval"), METHOD, "alpaca_eval", "",
                     _str(row, "raw_completion", "") if isinstance(row.get("raw_completion"), str) else "",
                     soft=soft)]


# --- one entry point ------------------------------------------------------------------------

Record = Answer | Judgment | TaskQuestion


def read(kind: str, path: Path, fmt: str, opts: Options = Options()) -> Read[Record]:
    """Records of one kind (``answers``, ``judgments`` or ``battles``; battles come back as
    judgments seen once) from ``path`` in format ``fmt``. Questions are read by the task readers
    (``harness.tasks.formats``), which ``harness import questions`` uses."""
    task = opts.task or default_task(path, fmt)
    parsers: dict[tuple[str, str], Callable[[Mapping[str, Any]], Sequence[Any] | None]] = {
        ("answers", "generic"): generic_answer,
        ("judgments", "generic"): generic_judgment,
        ("battles", "generic"): lambda r: (None if (b := published_battle(r)) is None
                                           else [battle_judgment(b, "battles")]),
        ("answers", "fastchat"): lambda r: model_answer(r, task),
        ("judgments", "fastchat"): lambda r: fastchat_judgment(r, task),
        ("answers", "arena-hard"): lambda r: model_answer(r, task),
        ("judgments", "arena-hard"): lambda r: arena_hard_judgment(r, opts, task),
        ("battles", "arena-hard"): lambda r: arena_hard_battles(r, opts, task),
        ("answers", "alpaca_eval"): lambda r: alpaca_answer(r, task),
        ("judgments", "alpaca_eval"): lambda r: alpaca_judgment(r, task),
    }
    parse = parsers.get((kind, fmt))
    if parse is None:
        have = ", ".join(f for k, f in parsers if k == kind)
        raise HarnessError(f"harness import {kind} has no --format {fmt} (formats for {kind}: {have})")
    return _read(path, parse)
