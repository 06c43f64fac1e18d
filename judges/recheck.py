"""Re-asking a seeded sample of a run's judge calls, to see whether the judge still says the same.

Judge snapshots change behind the same name and old ones disappear, so a stored verdict may not be
what the judge says today. :func:`recheck` re-renders a sample of one judge's judgments (same
prompt, same order, same conversation) and asks again, bypassing the run's cache: the new replies
go to a cache of their own per seed (``recheck-SEED.sqlite``), so re-running one recheck repeats
no call and a new seed draws a new sample with new calls. The old verdicts are never replaced.

Not handled: a judge whose prompt file changed since the run (refused: the figures would measure
the edit, not the judge); reference judges (deterministic: nothing to recheck).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.core.errors import HarnessError
from harness.core.types import Answer, Judgment, Task
from harness.judges.asking import BuiltJudge
from harness.judges.pairwise import Job, comparison_jobs, judge_jobs
from harness.judges.reference import is_reference
from harness.models.cache import CallCache
from harness.stats.panel import cohen_kappa
from harness.stats.significance import wilson_interval


@dataclass(frozen=True)
class RecheckResult:
    """How far a judge's new replies agree with its stored verdicts."""

    judge: str
    seed: int
    fraction: float
    n: int
    """Judgments re-asked (each one order of one comparison)."""
    flips: int
    """Of those, the ones whose new verdict differs from the stored one (an unreadable new reply counts)."""
    lower: float
    upper: float
    """95% Wilson interval of the flip rate."""
    kappa: float
    """Cohen's kappa between stored and new verdicts (model_a / model_b / tie / error)."""
    rows: tuple[dict[str, Any], ...]
    """One row per re-asked judgment: its key, the stored and the new verdict and the new reply."""

    @property
    def flip_rate(self) -> float:
        return self.flips / self.n if self.n else math.nan

    @property
    def agreement(self) -> float:
        return 1 - self.flip_rate


def refuse_reference(spec: str) -> None:
    """A reference judge calls no model and always gives the same verdict: nothing to recheck."""
    if is_reference(spec):
        raise HarnessError(f"judge {spec!r} calls no model and always gives the same verdict; "
                           "there is nothing to recheck")


def sample(judgments: Sequence[Judgment], judge: str, fraction: float, seed: int) -> list[Judgment]:
    """A seeded sample of ``judge``'s judgments with a valid verdict (at least one), in file order.

    >>> js = [Judgment("t", f"q{i}", "a", "b", "ab", "tie", "", "j", "generate", "p", "h", "")
    ...       for i in range(40)]
    >>> sample(js, "j", 0.05, 0) == sample(js, "j", 0.05, 0) != sample(js, "j", 0.05, 1)
    True
    >>> len(sample(js, "j", 0.05, 0)), len(sample(js, "j", 1.0, 0))
    (2, 40)
    """
    mine = [j for j in judgments if j.judge == judge and j.winner != "error"]
    if not mine:
        raise HarnessError(f"judge {judge!r} has no readable verdict in the run to recheck")
    count = min(len(mine), max(1, round(fraction * len(mine))))
    picked = set(random.Random(seed).sample(range(len(mine)), count))
    return [j for i, j in enumerate(mine) if i in picked]


def _job(j: Judgment, tasks: dict[str, Task], answers: dict[tuple[str, str, str], Answer]) -> Job:
    """The job the run judged for ``j``: the same question, pair, order and turn."""
    task = tasks.get(j.task)
    qi = next((i for i, q in enumerate(task.questions) if q.id == j.question_id), None) if task else None
    if task is None or qi is None:
        raise HarnessError(f"judgment on {j.task}/{j.question_id}: the question is not in the run's tasks")
    try:
        a, b = answers[(j.model_a, j.task, j.question_id)], answers[(j.model_b, j.task, j.question_id)]
    except KeyError as exc:
        raise HarnessError(f"answers: no answer from model {exc.args[0][0]!r} to {j.task}/{j.question_id}") \
            from None
    ab, ba = comparison_jobs(task, qi, a, b, j.turn)
    return ab if j.order == "ab" else ba


def recheck(judge: BuiltJudge, judgments: Sequence[Judgment], *, tasks: Sequence[Task],
            answers: Sequence[Answer], cache: CallCache, fraction: float, seed: int) -> RecheckResult:
    """Re-ask a seeded ``fraction`` of ``judge``'s judgments through ``cache`` (the recheck's own,
    not the run's) and compare the new verdicts with the stored ones. ``judge``'s prompt and turns
    prompt must be the ones the run recorded (same name and hash)."""
    spec = judge.spec
    refuse_reference(spec)
    chosen = [j for j in sample(judgments, spec, fraction, seed) if j.order in ("ab", "ba")]
    if not chosen:
        raise HarnessError(f"judge {spec!r}: its verdicts were imported without an order; "
                           "they cannot be asked again as they were")
    known = {p.name: p for p in (judge.prompt, judge.turn_prompt) if p is not None}
    for j in chosen:
        used = known.get(j.prompt)
        if used is None or used.hash != j.prompt_hash:
            raise HarnessError(f"judge prompt {j.prompt!r} is not the one the run used (hash "
                               f"{j.prompt_hash}, now {used.hash if used else 'not loaded'}); recheck "
                               "with the run's prompt (--prompt, --turn-prompt, --prompts-dir)")
    by_task = {t.id: t for t in tasks}
    by_answer = {(a.model, a.task, a.question_id): a for a in answers}
    new = judge_jobs(judge, [_job(j, by_task, by_answer) for j in chosen], cache=cache)
    pairs = [(old.winner, fresh.winner) for old, fresh in zip(chosen, new)]
    flips = sum(x != y for x, y in pairs)
    lower, upper = wilson_interval(flips, len(pairs))
    rows = []
    for old, fresh in zip(chosen, new):
        row: dict[str, Any] = {"task": old.task, "question_id": old.question_id, "model_a": old.model_a,
                               "model_b": old.model_b, "order": old.order, "judge": old.judge, "seed": seed,
                               "old_winner": old.winner, "new_winner": fresh.winner, "raw": fresh.raw}
        if old.turn is not None:
            row["turn"] = old.turn
        rows.append(row)
    return RecheckResult(spec, seed, fraction, len(pairs), flips, lower, upper, cohen_kappa(pairs),
                         tuple(rows))
