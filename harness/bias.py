"""``harness bias``: how far one judge can be trusted on a run, and the bias section of reports.

Position and length figures come from the judge's own order-swapped judgments of the run's pairs
(free when the run already used this judge: they are cached). The perturbation probes judge
each chosen answer against an altered copy in both orders. Everything lands in the run
directory: ``perturbations.jsonl`` (readable copies), ``probe_judgments.jsonl``, ``bias.csv``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import endpoints, storage
from harness.backends import load_backend
from harness.cache import CallCache
from harness.errors import HarnessError
from harness.types import Answer, Battle, BiasCheck, HumanLabel, Judgment, Task
from judges import prompts as prompt_plugins
from judges.battles import combine
from judges.human import HumanAgreement, human_agreement
from judges.length import length_checks, win_by_length_bins
from judges.pairwise import JudgeSettings, judge_jobs, make_jobs
from judges.perturb import PROBES
from judges.position import position_checks, unusable
from judges.probes import choose_answers, llm_perturbations, rule_perturbations, run_probes
from judges.self_preference import self_preference

BIAS_HEADER = ("judge", "check", "value", "lower", "upper", "n", "note")


@dataclass
class BiasResult:
    checks: list[BiasCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    human: list[HumanAgreement] = field(default_factory=list)
    perturbations: int = 0
    length_bins: dict[str, list[tuple[str, int, float]]] = field(default_factory=dict)
    """Per judge: (length difference bin, judgments, share won by the pair's first model)."""


def read_human(run_dir: Path) -> list[HumanLabel]:
    path = run_dir / storage.HUMAN
    return storage.read_jsonl(path, HumanLabel.from_row) if path.is_file() else []


def read_bias_csv(run_dir: Path) -> list[BiasCheck]:
    path = run_dir / storage.BIAS_CSV
    if not path.is_file():
        return []
    checks = []
    for lineno, r in enumerate(storage.read_csv(path, BIAS_HEADER), 2):
        with storage.row_errors(f"{path}:{lineno}"):
            checks.append(BiasCheck(r["judge"], r["check"], float(r["value"]), float(r["lower"]),
                                    float(r["upper"]), int(r["n"]), r["note"]))
    return checks


def write_bias_csv(run_dir: Path, checks: Sequence[BiasCheck]) -> None:
    storage.write_csv(run_dir / storage.BIAS_CSV, BIAS_HEADER, [
        (c.judge, c.check, _num(c.value), _num(c.lower), _num(c.upper), c.n, c.note) for c in checks])


def _num(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.6f}"


def report_checks(run_dir: Path, judgments: Sequence[Judgment], answers: Sequence[Answer],
                  by_judge: Mapping[str, Sequence[Battle]], labels: Sequence[HumanLabel]) -> BiasResult:
    """The bias section of a run report: no model calls, plus probe figures already measured."""
    probes = [c for c in read_bias_csv(run_dir) if c.check.startswith("probe:") and c.judge in by_judge]
    return _summarise(judgments, answers, by_judge, labels, probes)


def _summarise(judgments: Sequence[Judgment], answers: Sequence[Answer],
               by_judge: Mapping[str, Sequence[Battle]], labels: Sequence[HumanLabel],
               probes: Sequence[BiasCheck], perturbations: int = 0) -> BiasResult:
    checks = position_checks(judgments) + length_checks(judgments, answers)
    checks += self_preference(by_judge, answers, labels) + list(probes)
    bins = {j: win_by_length_bins(judgments, answers, judge=j)
            for j in dict.fromkeys(x.judge for x in judgments)}
    return BiasResult(checks, unusable(checks), human_agreement(labels, by_judge) if labels else [],
                      perturbations, bins)


def bias(run_dir: Path, settings: JudgeSettings, task_list: Sequence[Task], probes: Sequence[str] = PROBES,
         prompts_dirs: Sequence[Path] = (), perturber: str | None = None, model: str | None = None,
         seed: int = 0, api: endpoints.ApiConfig | None = None) -> BiasResult:
    """Every check for one judge on ``run_dir``; writes the probe files and ``bias.csv``."""
    unknown = sorted(set(probes) - set(PROBES))
    if unknown:
        raise HarnessError(f"unknown probe {unknown[0]!r} (known: {', '.join(PROBES)})")
    answers = storage.read_jsonl(run_dir / storage.ANSWERS, Answer.from_row)
    models = list(dict.fromkeys(a.model for a in answers))
    if len(models) < 2:
        raise HarnessError(f"{run_dir / storage.ANSWERS}: need answers from at least two models")
    if model is not None and model not in models:
        raise HarnessError(f"--model {model!r}: not in {run_dir / storage.ANSWERS} "
                           f"(models: {', '.join(models)})")
    prompt = prompt_plugins.load_prompt(settings.prompt, prompts_dirs)
    backend = load_backend(settings.spec)
    labels = read_human(run_dir)
    with endpoints.session(api), CallCache(run_dir / storage.CACHE) as cache:
        judgments = judge_jobs(make_jobs(task_list, models, answers), backend, prompt, settings, cache)
        chosen = choose_answers(task_list, answers, model)
        perturbations = rule_perturbations(chosen, task_list, probes, seed)
        if perturber:
            perturbations += llm_perturbations(chosen, task_list, probes, perturber, cache)
        rows, probe_results = run_probes(perturbations, task_list, backend, prompt, settings, cache)
    result = _summarise(judgments, answers, {settings.spec: combine(judgments)}, labels, probe_results,
                        len(perturbations))
    storage.write_jsonl(run_dir / storage.PERTURBATIONS, (p.to_row() for p in perturbations))
    storage.write_jsonl(run_dir / storage.PROBE_JUDGMENTS, rows)
    kept = [c for c in read_bias_csv(run_dir) if c.judge != settings.spec]
    write_bias_csv(run_dir, kept + result.checks)
    return result
