"""Auto-J (GAIR-NLP/auto-j): its pairwise test set and a judge's outputs on it, in both orders.

The test set (``data/test/testdata_pairwise.jsonl``) holds ``{scenario, label, prompt, "response 1",
"response 2"}`` per line, ``label`` 0 (response 1 is preferred), 1 (response 2) or 2 (a tie). A
judge's outputs are two files of ``{"output": N}`` lines in the test set's order, N read the same
way: one for the pairs as written, one for the pairs with the responses swapped, its verdicts as
the judge gave them (Auto-J's ``pairwise_eval.py`` maps them back; so does this reader). Import them
as ``harness import judgments OUTPUT --format autoj --pairs TESTSET --swapped EXCHANGE_OUTPUT``
(without ``--swapped``, one order: ``once``). A pair's id is its line in the test set (1, 2, ...);
the judge is the output file's name (``--judge`` to name it). An output other than 0, 1 or 2 (Auto-J's
parser writes -1) is an unparsable verdict.

Auto-J's published pairwise agreement is both orders right over every pair, its consistency both
orders the same: ``harness agreement``'s ``both_correct`` and ``positional_agreement``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.files import json_rows, row_errors
from harness.core.interop import Options, Row
from harness.core.judge_sets import GOLD, Pair, Verdict, scalar, text
from harness.core.types import HumanWinner, JudgmentWinner, Order

NAME = "autoj"
HELP = "Auto-J pairwise test set (labels), outputs with --pairs TESTSET [--swapped FILE]"
MODELS = ("response 1", "response 2")
FLAGS = ("pairs", "swapped", "judge")
"""The import options this format reads (``--pairs``, ``--swapped``, ``--judge``)."""

_LABELS: dict[object, HumanWinner] = {0: "model_a", 1: "model_b", 2: "tie"}
_SWAPPED: dict[object, JudgmentWinner] = {0: "model_b", 1: "model_a", 2: "tie"}


def task(path: Path) -> str:
    return NAME


def _item(where: str, index: int, row: Mapping[str, Any]) -> Pair:
    label = row.get("label")
    if scalar(label) not in _LABELS:
        raise ValueError(f"field 'label': {label!r} is not 0, 1 or 2")
    scenario = row.get("scenario")
    return Pair(str(index), text(row, "prompt"), text(row, "response 1"), text(row, "response 2"),
                ((GOLD, _LABELS[label]),), scenario if isinstance(scenario, str) else "")


def _outputs(path: Path, order: Order, swapped: bool) -> list[tuple[str, Verdict]]:
    out = []
    for where, _, row in json_rows(path):
        with row_errors(where):
            if "output" not in row:
                raise KeyError("output")
            value = row["output"]
            ok = scalar(value) in _LABELS
            winner: JudgmentWinner = "error" if not ok else (_SWAPPED if swapped else _LABELS)[value]
            out.append((where, Verdict(order, winner, json.dumps(value))))
    return out


def pairs(path: Path, opts: Options) -> Iterator[Row[Pair]]:
    rows = list(json_rows(path))
    if not rows or "prompt" in rows[0][2]:  # the test set itself
        for i, (where, _, row) in enumerate(rows, 1):
            with row_errors(where):
                yield Row(where, _item(where, i, row))
        return
    if opts.pairs is None:
        raise HarnessError(f"{path}: Auto-J outputs hold only verdicts; name the test set they answer "
                           "with --pairs (Auto-J's data/test/testdata_pairwise.jsonl)")
    items = []
    for i, (where, _, row) in enumerate(json_rows(opts.pairs), 1):
        with row_errors(where):
            items.append(_item(where, i, row))
    games = [_outputs(path, "ab" if opts.swapped else "once", False)]
    if opts.swapped is not None:
        games.append(_outputs(opts.swapped, "ba", True))
    for file, verdicts in zip((path, opts.swapped), games):
        if len(verdicts) != len(items):
            raise HarnessError(f"{file}: {len(verdicts)} outputs for the {len(items)} pairs of {opts.pairs} "
                               "(one output line per pair, in the test set's order)")
    judge = opts.judge or path.stem
    for i, item in enumerate(items):
        seen = tuple(g[i][1] for g in games)
        yield Row(games[0][i][0], replace(item, labels=(), verdicts=seen, judge=judge, prompt=NAME))
