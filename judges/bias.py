"""``harness bias``: how far one judge can be trusted on a run (the figures are ``harness.stats.bias``).

Position and length figures come from the judge's own order-swapped judgments of the run's pairs
(free when the run already used this judge: they are cached). The perturbation probes judge
each chosen answer against an altered copy in both orders. Everything lands in the run
directory: ``perturbations.jsonl`` (readable copies), ``probe_judgments.jsonl``, ``bias.csv``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from harness.core import rundir, runlock
from harness.core.errors import HarnessError
from harness.core.types import Task
from harness.judges.built import build_judge
from harness.judges.pairwise import JudgeSettings, judge_jobs, make_jobs
from harness.judges.perturb import ALL_PROBES, CONTEXT_PROBE
from harness.judges.probes import (
    choose_answers,
    context_perturbations,
    llm_perturbations,
    rule_perturbations,
    run_probes,
)
from harness.models import endpoints
from harness.models.cache import CallCache
from harness.stats.battles import combine
from harness.stats.bias import BiasResult, summarise


def bias(run_dir: Path, settings: JudgeSettings, *, tasks: Sequence[Task],
         probes: Sequence[str] = ALL_PROBES, prompts_dirs: Sequence[Path] = (),
         perturber: str | None = None, model: str | None = None,
         seed: int = 0, api: endpoints.ApiConfig | None = None) -> BiasResult:
    """Every check for one judge on ``run_dir``; writes the probe files and ``bias.csv``.

    The judge is built here (:func:`harness.judges.built.build_judge`), once the run directory is
    locked and its answers are read, so a run that cannot be probed fails before any prompt is loaded.
    """
    with runlock.hold(run_dir, command="bias"):
        unknown = sorted(set(probes) - set(ALL_PROBES))
        if unknown:
            raise HarnessError(f"unknown probe {unknown[0]!r} (known: {', '.join(ALL_PROBES)})")
        answers = rundir.read_answers(run_dir)
        models = list(dict.fromkeys(a.model for a in answers))
        if len(models) < 2:
            raise HarnessError(f"{run_dir / rundir.ANSWERS}: need answers from at least two models")
        if model is not None and model not in models:
            raise HarnessError(f"--model {model!r}: not in {run_dir / rundir.ANSWERS} "
                               f"(models: {', '.join(models)})")
        judge = build_judge(settings, prompts_dirs=prompts_dirs, tasks=tasks)
        prompt, turn_prompt = judge.prompt, judge.turn_prompt
        labels = rundir.read_human(run_dir)
        with endpoints.session(api), CallCache(run_dir / rundir.CACHE) as cache:
            jobs = make_jobs(tasks, models, answers, turns=settings.turns)
            judgments = judge_jobs(judge, jobs, cache=cache)
            chosen = choose_answers(tasks, answers, model)
            perturbations = rule_perturbations(
                chosen, tasks, probes, seed=seed, labels=prompt.labels if prompt.pairwise else None,
                turn_labels=turn_prompt.labels if turn_prompt is not None and turn_prompt.pairwise else None)
            if perturber:
                perturbations += llm_perturbations(chosen, tasks, probes, spec=perturber, cache=cache)
            if CONTEXT_PROBE in probes:
                altered, unasked = context_perturbations(chosen, tasks, cache=cache, perturber=perturber)
                perturbations += altered
                if unasked:
                    print(f"note: {CONTEXT_PROBE}: {unasked} multi-turn answers have no model spec in "
                          f"{run_dir / rundir.ANSWERS} (imported?); give --perturber SPEC to probe them",
                          file=sys.stderr)
            rows, probe_results = run_probes(judge, perturbations, tasks=tasks, cache=cache,
                                             answers=answers)
        result = summarise(judgments, answers, {settings.spec: combine(judgments)}, labels, probe_results,
                            len(perturbations))
        rundir.write_perturbations(run_dir, perturbations)
        rundir.write_probe_judgments(run_dir, rows)
        kept = [c for c in rundir.read_bias(run_dir) if c.judge != settings.spec]
        rundir.write_bias(run_dir, kept + list(result.checks))
        return result
