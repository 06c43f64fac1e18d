"""LLMBar (princeton-nlp/LLMBar): its ``dataset.json`` files and its evaluators' ``result.json``.

A ``dataset.json`` is a list of ``{input, output_1, output_2, label}`` (``label`` 1 or 2: the output
that is objectively better); an evaluator's ``result.json``
(``Dataset/SET/evaluators/LLM/STRATEGY/result.json``) is the same list with ``results`` added, whose
last entry holds the final verdict in each order: ``"swap = False"`` (``output_1`` shown first) and
``"swap = True"`` (``output_2`` first), each with a ``winner`` already mapped back to the original
numbering (``"1"``, ``"2"``, or null when LLMBar could not parse the judge's text) and a
``completion`` whose first entry is the judge's text.

An ``evaluators/`` folder (or any folder without a ``result.json`` of its own) imports every
``result.json`` below it, each evaluator a judge. The pairs have no ids: an item's id is its
position in the list (1, 2, ...), the same in the dataset and in every evaluator's result. The
judge is ``LLM/STRATEGY`` from the path (every strategy is a judge of its own); the task the set's
folder under ``Dataset/`` (``llmbar-natural``). LLMBar's ``statistics.json`` counts an unparsable
verdict as wrong and keeps it in n, and two of them as the same verdict: that is
``harness agreement --errors wrong``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.files import json_rows, row_errors
from harness.core.interop import Options, Row
from harness.core.judge_sets import GOLD, Pair, Verdict, scalar, text
from harness.core.types import HumanWinner, JudgmentWinner

NAME = "llmbar"
HELP = "LLMBar dataset.json and evaluators' result.json (a file, its folder, or an evaluators/ folder)"
MODELS = ("output_1", "output_2")
FLAGS = ("judge",)
"""The import options this format reads (``--pairs``, ``--swapped``, ``--judge``)."""
RESULT = "result.json"

_LABELS: dict[object, HumanWinner] = {1: "model_a", 2: "model_b"}
_WINNERS: dict[object, JudgmentWinner] = {"1": "model_a", "2": "model_b"}
_ORDERS = (("swap = False", "ab"), ("swap = True", "ba"))


def _files(path: Path) -> list[Path]:
    """``path``; a folder's ``result.json`` or ``dataset.json``; or every ``result.json`` under it
    (an ``evaluators/`` folder: each evaluator a judge)."""
    if path.is_dir():
        for name in (RESULT, "dataset.json"):
            if (path / name).is_file():
                return [path / name]
        found = sorted(path.rglob(RESULT))
        if not found:
            raise HarnessError(f"{path}: no {RESULT} or dataset.json in this folder or below it")
        return found
    if not path.is_file():
        raise HarnessError(f"{path}: no such file")
    return [path]


def _parts(path: Path) -> tuple[list[str], list[str]]:
    """The folders between ``Dataset/`` and ``evaluators/`` (the set), and after it (the judge)."""
    full = path.resolve()
    parts = list(full.parent.parts if full.suffix.lower() == ".json" else full.parts)
    if "evaluators" in parts:
        cut = len(parts) - 1 - parts[::-1].index("evaluators")
        head, judge = parts[:cut], parts[cut + 1:]
    else:
        head, judge = parts, []
    start = len(head) - 1 - head[::-1].index("Dataset") + 1 if "Dataset" in head else max(len(head) - 1, 0)
    return head[start:], judge


def task(path: Path) -> str:
    """``llmbar-`` and the set's folders under ``Dataset/``, lower-cased.

    >>> task(Path("/x/Dataset/LLMBar/Adversarial/GPTInst/evaluators/GPT-4/Vanilla/result.json"))
    'llmbar-adversarial-gptinst'
    """
    folders = [p.lower() for p in _parts(path)[0] if p.lower() != NAME]
    return "-".join([NAME, *folders])


def judge_of(path: Path) -> str:
    """``LLM/STRATEGY`` of an evaluator's result file.

    >>> judge_of(Path("/x/Dataset/LLMBar/Natural/evaluators/ChatGPT/Swap_CoT/result.json"))
    'ChatGPT/Swap_CoT'
    """
    return "/".join(_parts(path)[1]) or NAME


def _verdicts(row: Mapping[str, Any]) -> tuple[Verdict, ...]:
    results = row["results"]
    if not isinstance(results, list) or not results or not isinstance(results[-1], dict):
        raise ValueError("field 'results': expected a list whose last entry holds each order's verdict")
    out = []
    for key, order in _ORDERS:
        game = results[-1].get(key)
        if not isinstance(game, dict) or "winner" not in game:
            raise ValueError(f"field 'results': the last entry has no {key!r} object with a 'winner'")
        winner = game["winner"]
        if winner is not None and scalar(winner) not in _WINNERS:
            raise ValueError(f"field 'results': {key!r} winner {winner!r} is not \"1\", \"2\" or null")
        completion = game.get("completion")
        said = completion[0] if isinstance(completion, list) and completion else ""
        out.append(Verdict(order, _WINNERS.get(winner, "error"), "null" if winner is None else winner,  # type: ignore[arg-type]
                           said if isinstance(said, str) else ""))
    return tuple(out)


def pairs(path: Path, opts: Options) -> Iterator[Row[Pair]]:
    files = _files(path)
    if opts.judge and len(files) > 1:
        raise HarnessError(f"{path}: --judge names one judge, but the folder holds {len(files)} evaluators' "
                           f"{RESULT} files (each is a judge named from its path)")
    for file in files:
        judge = opts.judge or judge_of(file)
        for i, (where, _, row) in enumerate(json_rows(file), 1):
            with row_errors(where):
                label = row.get("label")
                if scalar(label) not in _LABELS:
                    raise ValueError(f"field 'label': {label!r} is not 1 or 2")
                verdicts = _verdicts(row) if "results" in row else ()
                yield Row(where, Pair(str(i), text(row, "input"), text(row, "output_1"),
                                      text(row, "output_2"), ((GOLD, _LABELS[label]),), verdicts=verdicts,
                                      judge=judge, prompt=f"{NAME}:{judge.rsplit('/', 1)[-1]}"))
