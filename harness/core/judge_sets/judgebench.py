"""JudgeBench (ScalerLab/JudgeBench): its pair files and its judges' output files.

A row holds ``pair_id``, ``question``, ``response_A``, ``response_B`` and ``label`` (``A>B`` or
``B>A``: which response is correct); an output file (``outputs/...,judge_name=N,judge_model=M.jsonl``)
adds ``judge_name`` and ``judgments``: one object per game, each with a ``decision`` (``A>B``,
``B>A``, ``A=B``, or null when the judge's text held none) and the judge's ``judgment``. The first
game showed the pair as written (``ab``); the second showed it swapped, and its decision is written
about the swapped pair, so ``A>B`` there means ``response_B`` won (JudgeBench's own
``flip_judgment``). A judgment that is null, or a ``--single_game`` file's one game, is read as such.

The judge's name is the file name's ``judge_model=`` part (``o1-mini-2024-09-12``), else
``judge_name``; the prompt is ``judgebench:`` and ``judge_name``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness.core.files import row_errors
from harness.core.interop import Options, Row, _str, files_of, rows_of
from harness.core.judge_sets import GOLD, Pair, Verdict, scalar
from harness.core.types import HumanWinner, JudgmentWinner, Order

NAME = "judgebench"
HELP = "JudgeBench pair files and judge outputs (label, judgments)"
MODELS = ("response_A", "response_B")
FLAGS = ("judge",)
"""The import options this format reads (``--pairs``, ``--swapped``, ``--judge``)."""

_LABELS: dict[str, HumanWinner] = {"A>B": "model_a", "B>A": "model_b", "A=B": "tie"}
_AS_WRITTEN: dict[str, JudgmentWinner] = {"A>B": "model_a", "B>A": "model_b", "A=B": "tie"}
_SWAPPED: dict[str, JudgmentWinner] = {"A>B": "model_b", "B>A": "model_a", "A=B": "tie"}


def judge_of(path: Path) -> str:
    """The judge model named in a JudgeBench output file's name, or ``""``.

    >>> judge_of(Path("dataset=judgebench,judge_name=arena_hard,judge_model=o1-mini.jsonl"))
    'o1-mini'
    """
    found = re.search(r"(?:^|,)judge_model=([^,]+)$", path.stem)
    return found.group(1) if found else ""


def _decision(game: Any, i: int, mapping: Mapping[str, JudgmentWinner]) -> Verdict:
    order: Order = "ab" if i == 0 else "ba"
    if game is None:
        return Verdict(order, "error", "null")
    if not isinstance(game, dict):
        raise ValueError(f"field 'judgments': game {i + 1} is not an object or null")
    decision = game.get("decision")
    if decision is not None and not isinstance(decision, str):
        raise ValueError(f"field 'judgments': game {i + 1}'s decision is {decision!r}, expected text or null")
    text = game.get("judgment")
    raw = text if isinstance(text, str) else (text.get("response") if isinstance(text, dict) else None)
    raw = raw if isinstance(raw, str) else (json.dumps(text, ensure_ascii=False) if text is not None else "")
    winner = mapping.get(decision or "", "error")
    return Verdict(order, winner, decision if decision is not None else "null", raw)


def pair(row: Mapping[str, Any], judge: str) -> Pair:
    """One row of a pair file or an output file."""
    label = row.get("label")
    if "label" in row and label is not None and scalar(label) not in _LABELS:
        raise ValueError(f"field 'label': {label!r} is not one of {', '.join(_LABELS)}")
    verdicts: tuple[Verdict, ...] = ()
    if "judgments" in row:
        games = row["judgments"]
        if not isinstance(games, list) or not 1 <= len(games) <= 2:
            raise ValueError("field 'judgments': expected a list of one or two games")
        verdicts = tuple(_decision(g, i, _AS_WRITTEN if i == 0 else _SWAPPED) for i, g in enumerate(games))
        if len(verdicts) == 1:
            verdicts = (Verdict("once", verdicts[0].winner, verdicts[0].label, verdicts[0].raw),)
    name = _str(row, "judge_name", "")
    return Pair(_str(row, "pair_id"), _str(row, "question"), _str(row, "response_A"), _str(row, "response_B"),
                ((GOLD, _LABELS[label]),) if isinstance(label, str) else (), _str(row, "source", ""),
                verdicts=verdicts, judge=judge or name or NAME, prompt=f"{NAME}:{name}" if name else NAME)


def task(path: Path) -> str:
    """Every JudgeBench file's pairs are one task: pair ids are unique across its sets."""
    return NAME


def pairs(path: Path, opts: Options) -> Iterator[Row[Pair]]:
    for file in files_of(path):
        judge = opts.judge or judge_of(file)
        for where, row in rows_of(file):
            with row_errors(where):
                yield Row(where, pair(row, judge))
