"""PandaLM (WeOpenML/PandaLM): its human-annotated test set and its judges' outputs on it.

The test set (``data/testset-v1.json``) is a list of ``{idx, cmp_key, instruction, input,
response1, response2, annotator1, annotator2, annotator3}``: ``cmp_key`` names the two models
(``bloom-7b_llama-7b``; ``response1`` is the first's) and each annotator's label is 1 (response 1 is
better), 2 or 0 (a tie). A judge's output (``data/gpt-3.5-turbo-testset-v1.json``) is a list of
``{idx, X_result, X_reason, ...}`` with the verdict in ``X_result`` (1, 2, 0 or ``Tie``; ``garbage``
where PandaLM could not parse the judge's text), one order only (``once``). Import the judge's
output with ``--pairs`` naming the test set; the judge is the file name before ``-testset``.

The three annotators' labels are imported as annotators ``annotator1`` .. ``annotator3``, so
``harness agreement`` compares each judge with each and with their majority (PandaLM's gold
label). PandaLM's published figures count ``garbage`` as a tie: ``harness agreement --errors tie``.
Six responses of the published test set are JSON ``true``, not text: they are read as the text
``true``, as PandaLM's own pipeline prints them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.files import json_rows, row_errors
from harness.core.interop import Options, Row, files_of
from harness.core.judge_sets import Pair, Verdict, scalar, text
from harness.core.types import HumanWinner, JudgmentWinner

NAME = "pandalm"
HELP = "PandaLM test set (labels) and judge outputs (with --pairs TESTSET)"
MODELS = ("response1", "response2")
FLAGS = ("pairs", "judge")
"""The import options this format reads (``--pairs``, ``--swapped``, ``--judge``)."""
ANNOTATORS = ("annotator1", "annotator2", "annotator3")

_LABELS: dict[object, HumanWinner] = {1: "model_a", 2: "model_b", 0: "tie"}
_VERDICTS: dict[object, JudgmentWinner] = {1: "model_a", 2: "model_b", 0: "tie", "1": "model_a",
                                           "2": "model_b", "0": "tie", "Tie": "tie", "tie": "tie"}


def task(path: Path) -> str:
    return NAME


def judge_of(path: Path) -> str:
    """The judge named by an output file's name.

    >>> judge_of(Path("data/gpt-3.5-turbo-testset-v1.json")), judge_of(Path("mine.json"))
    ('gpt-3.5-turbo', 'mine')
    """
    return re.sub(r"-testset(-v\d+)?$", "", path.stem)


def _response(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    if isinstance(value, bool):
        return json.dumps(value)
    return text(row, key)


def _idx(row: Mapping[str, Any]) -> str:
    idx = row.get("idx")
    if not isinstance(idx, int) or isinstance(idx, bool):
        raise ValueError(f"field 'idx': expected a whole number, got {idx!r}")
    return str(idx)


def _item(row: Mapping[str, Any]) -> Pair:
    labels = []
    for name in ANNOTATORS:
        if name in row:
            value = row[name]
            if scalar(value) not in _LABELS:
                raise ValueError(f"field {name!r}: {value!r} is not 0, 1 or 2")
            labels.append((name, _LABELS[value]))
    key = text(row, "cmp_key")
    models = tuple(key.split("_"))
    if len(models) != 2 or not all(models) or models[0] == models[1]:
        raise ValueError(f"field 'cmp_key': {key!r} is not two model names joined by '_'")
    return Pair(_idx(row), text(row, "instruction"), _response(row, "response1"), _response(row, "response2"),
                tuple(labels), _str_or_empty(row, "motivation_app"), _str_or_empty(row, "input"),
                models=(models[0], models[1]))


def _str_or_empty(row: Mapping[str, Any], key: str) -> str:
    return text(row, key) if key in row else ""


def _verdict(row: Mapping[str, Any]) -> tuple[str, Verdict]:
    fields = [k for k in row if k.endswith("_result")]
    if len(fields) != 1:
        raise ValueError("expected one field ending in '_result' (the judge's verdict), found "
                         f"{len(fields)}")
    value = row[fields[0]]
    reason = row.get(fields[0].replace("_result", "_reason"))
    winner = _VERDICTS.get(scalar(value), "error")
    return _idx(row), Verdict("once", winner, json.dumps(value), reason if isinstance(reason, str) else "")


def pairs(path: Path, opts: Options) -> Iterator[Row[Pair]]:
    files = files_of(path)
    first = next(iter(json_rows(files[0])), None)
    if first is None or "cmp_key" in first[2]:  # the test set itself
        for file in files:
            for where, _, row in json_rows(file):
                with row_errors(where):
                    yield Row(where, _item(row))
        return
    if opts.pairs is None:
        raise HarnessError(f"{path}: a PandaLM judge output holds only verdicts; name the test set they "
                           "answer with --pairs (PandaLM's data/testset-v1.json)")
    items = {}
    for where, _, row in json_rows(opts.pairs):
        with row_errors(where):
            item = _item(row)
        items[item.question_id] = item
    for file in files:
        judge = opts.judge or judge_of(file)
        for where, _, row in json_rows(file):
            with row_errors(where):
                idx, verdict = _verdict(row)
                if idx not in items:
                    raise ValueError(f"field 'idx': {idx} is not in {opts.pairs}")
            item = items[idx]
            yield Row(where, replace(item, labels=(), verdicts=(verdict,), judge=judge,
                                     prompt=f"{NAME}:{judge}"))
