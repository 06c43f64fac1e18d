"""Everything a report shows, read from the run directory's plain files (no model calls).

The leaderboard's numbers are kept as the strings ``leaderboard.csv`` holds, so every format
prints exactly what the CSV says; counts per pair and per task come from ``battles.jsonl``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.reports.leaderboard import CSV_HEADER
from harness.tasks import answered_tasks

from harness.core import storage
from harness.core.errors import HarnessError, SpecError
from harness.core.questions import read_questions
from harness.core.storage import read_bias_csv, read_human
from harness.core.types import Answer, Battle, Grade, Judgment, Task
from harness.models.backends import parse_spec
from harness.stats.bias import BiasResult, report_checks

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
NUMERIC = CSV_HEADER[2:]


@dataclass(frozen=True)
class LeaderRow:
    """One ``leaderboard.csv`` row, every field as the CSV spells it."""

    fields: Mapping[str, str]

    def __getitem__(self, key: str) -> str:
        return self.fields[key]

    def num(self, key: str) -> float:
        return float(self.fields[key])

    @property
    def model(self) -> str:
        return self.fields["model"]


@dataclass(frozen=True)
class Finetune:
    """A candidate that is a LoRA adapter, with what its fine-tune wrote (when the folder is found)."""

    model: str
    adapter: Path
    manifest: Mapping[str, Any]
    log: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class ReportData:
    run_dir: Path
    leaderboard: tuple[LeaderRow, ...]
    battles: tuple[Battle, ...]
    judgments: tuple[Judgment, ...]
    answers: tuple[Answer, ...]
    tasks: tuple[Task, ...]
    usage: tuple[Mapping[str, str], ...]
    bias: BiasResult
    finetunes: tuple[Finetune, ...]
    missing_adapters: tuple[str, ...] = ()
    grades: tuple[Grade, ...] = ()
    """Single-answer grades (runs judged with a grading prompt)."""

    @property
    def models(self) -> list[str]:
        """Leaderboard order (best first)."""
        return [r.model for r in self.leaderboard]

    @property
    def judges(self) -> list[str]:
        return list(dict.fromkeys(j.judge for j in self.judgments))

    def has_cjk(self) -> bool:
        """Chinese (or Japanese) text anywhere a report may print it."""
        if any(t.language == "zh" for t in self.tasks):
            return True
        texts = [*self.models, *(a.answer for a in self.answers), *(t.id for t in self.tasks),
                 *(q.question for t in self.tasks for q in t.questions)]
        return any(CJK.search(s) for s in texts)


def _leader_row(path: Path, lineno: int, row: Mapping[str, str]) -> LeaderRow:
    for key in NUMERIC:
        try:
            float(row[key])
        except ValueError:
            raise HarnessError(f"{path}:{lineno}: field {key!r}: not a number: {row[key]!r}") from None
    return LeaderRow({k: row[k] for k in CSV_HEADER})


def adapter_dirs(answers: Sequence[Answer]) -> list[tuple[str, Path]]:
    """Each fine-tuned candidate (a ``BASE+lora:DIR`` spec) with its adapter folder."""
    out = []
    for model, spec in dict.fromkeys((a.model, a.spec) for a in answers if a.spec):
        try:
            adapter = parse_spec(spec).adapter
        except SpecError:
            continue
        if adapter is not None:
            out.append((model, Path(adapter).expanduser()))
    return out


def _finetunes(answers: Sequence[Answer]) -> tuple[list[Finetune], list[str]]:
    found, missing = [], []
    for model, folder in adapter_dirs(answers):
        manifest_path, log_path = folder / storage.MANIFEST, folder / storage.TRAIN_LOG
        if not manifest_path.is_file():
            missing.append(f"{model} ({folder})")
            continue
        manifest = _json(manifest_path)
        log = storage.read_jsonl(log_path, lambda r: r) if log_path.is_file() else []
        found.append(Finetune(model, folder, manifest, tuple(log)))
    return found, missing


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise HarnessError(f"{path}: expected a JSON object")
    return value


def _tasks(run_dir: Path, tasks_dirs: Sequence[Path]) -> list[Task]:
    path = run_dir / storage.QUESTIONS
    if path.is_file():
        return read_questions(path)
    return answered_tasks(run_dir, tasks_dirs)  # a run made before questions.jsonl existed


def load(run_dir: Path, tasks_dirs: Sequence[Path] = ()) -> ReportData:
    """Read a judged run directory; a missing or malformed file is one error naming it."""
    if not run_dir.is_dir():
        raise HarnessError(f"{run_dir}: no such run directory")
    lb_path = run_dir / storage.LEADERBOARD_CSV
    if not lb_path.is_file():
        raise HarnessError(f"{lb_path}: no such file (judge the run first: harness judge {run_dir})")
    leaderboard = [_leader_row(lb_path, i, r)
                   for i, r in enumerate(storage.read_csv(lb_path, CSV_HEADER), 2)]
    battles = storage.read_jsonl(run_dir / storage.BATTLES, Battle.from_row)
    jpath = run_dir / storage.JUDGMENTS
    judgments = storage.read_jsonl(jpath, Judgment.from_row) if jpath.is_file() else []
    answers = storage.read_jsonl(run_dir / storage.ANSWERS, Answer.from_row)
    upath = run_dir / storage.USAGE_CSV
    usage = storage.read_csv(upath, ("stage", "name", "calls", "prompt_tokens", "completion_tokens",
                                     "cost_usd")) if upath.is_file() else []
    bpath = run_dir / storage.JUDGE_BATTLES
    per_judge = storage.read_jsonl(bpath, Battle.from_row) if bpath.is_file() else battles
    by_judge: dict[str, list[Battle]] = {}
    for b in per_judge:
        by_judge.setdefault(b.judge or (judgments[0].judge if judgments else "judge"), []).append(b)
    bias = report_checks(judgments, answers, by_judge, read_human(run_dir), read_bias_csv(run_dir))
    finetunes, missing = _finetunes(answers)
    gpath = run_dir / storage.GRADES
    grades = storage.read_jsonl(gpath, Grade.from_row) if gpath.is_file() else []
    return ReportData(run_dir, tuple(leaderboard), tuple(battles), tuple(judgments), tuple(answers),
                      tuple(_tasks(run_dir, tasks_dirs)), tuple(usage), bias, tuple(finetunes),
                      tuple(missing), tuple(grades))
