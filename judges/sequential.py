"""Pairwise judging that stops a model pair once its leader is known (``--stop-when-decided``).

The run's questions (every task's) are put in one seeded random order (``numpy.random.default_rng(
seed).permutation``, the same order for every pair), and each pair is judged along it. After each
question its battles (both orders combined by :func:`harness.stats.battles.combine`; with a panel
of judges, the majority of :func:`harness.stats.panel.panel_battles`, as the rating makes them)
update the anytime-valid test of :mod:`harness.stats.sequential`, battle by battle (a multi-turn
question's turns in order); once it decides, the pair's remaining questions are not asked. A pair
it cannot decide is judged on every question. The judgments kept are those up to the deciding
question, so ``judgments.jsonl`` and the battles simply hold fewer questions for a stopped pair,
and the rating, the report and ``harness gate`` read them as any others.

**Rounds.** All pairs are judged together, round by round, through :func:`judge_jobs` (so the call
cache, the endpoint's concurrency and a batch router work as in a full judging). A pair's round is
as many questions as the test needs battles before it could decide at all
(:func:`harness.stats.sequential.battles_needed`: 8 questions from the start at alpha 0.05, then
usually 1 to a few): no decision is possible before the round's last question, so a pair stops
exactly where judging one question at a time would stop it, with no call past that question. The
turns of one multi-turn question are judged together: a decision at its first turn still asks the
others (they stay, with their question). A pair that can no longer be decided in the questions it
has left is judged on all of them in one round.

Not handled: single-answer grading prompts (they grade each model's answers, not a pair: refused),
and how the judge is asked (:mod:`harness.judges.pairwise`).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.core.errors import HarnessError
from harness.core.types import Answer, Battle, Judgment, Task
from harness.judges.asking import BuiltJudge
from harness.judges.pairwise import judge_jobs, make_jobs
from harness.judges.prompts import JudgePrompt
from harness.models.cache import CallCache
from harness.stats.battles import combine
from harness.stats.panel import panel_battles
from harness.stats.sequential import TEST, PairStop, battles_needed, log_statistics, sign, threshold

ALPHA = 0.05
"""``--stop-alpha``'s default."""

Item = tuple[str, int]
"""One question: (task id, its index in the task)."""
Pair = tuple[str, str]


@dataclass(frozen=True)
class StopRule:
    """When a pair's judging stops (``--stop-when-decided``)."""

    alpha: float = ALPHA
    """The test's level: two equal models are told apart with probability at most this."""
    seed: int = 0
    """Seeds the order the questions are judged in (the run's seed)."""


@dataclass(frozen=True)
class Stopped:
    """What judging until decided asked and kept."""

    judgments: tuple[Judgment, ...]
    """The kept judgments, in the order a full judging lists them (judge by judge)."""
    pairs: tuple[PairStop, ...]
    rule: StopRule

    def to_row(self) -> dict[str, Any]:
        """``stopping.json``'s content (:func:`harness.core.rundir.write_stopping`)."""
        return {"test": TEST, "alpha": self.rule.alpha, "threshold": threshold(self.rule.alpha),
                "seed": self.rule.seed, "ties": "uninformative: the test counts decisive battles only",
                "pairs": [p.to_row() for p in self.pairs]}


@dataclass
class _State:
    """One pair's progress along the question order."""

    done: int = 0
    """Questions of the order judged and counted so far."""
    wins: int = 0
    ties: int = 0
    losses: int = 0
    leader: str | None = None
    statistic: float = 1.0
    asked: int = 0
    """Judgments asked for the pair."""
    finished: bool = False
    kept: list[Item] = field(default_factory=list)


def judge_until_decided(panel: Sequence[BuiltJudge], *, tasks: Sequence[Task], models: Sequence[str],
                        answers: Sequence[Answer], cache: CallCache, rule: StopRule,
                        make_bar: Callable[[int, str], Callable[[int], None]] | None = None) -> Stopped:
    """Judge every pair of ``models`` along the seeded question order until the test decides it
    (see the module's docstring); one progress bar over every judgment a full judging would ask,
    the ones a stop saves counted when the pair stops."""
    for built in panel:
        check_pairwise(built.settings.spec, built.prompt)
    jobs = [make_jobs(tasks, models, answers, turns=b.settings.turns) for b in panel]
    where: dict[tuple[Pair, Item], list[tuple[int, int]]] = defaultdict(list)
    for k, mine in enumerate(jobs):
        for i, job in enumerate(mine):
            where[((job.model_a, job.model_b), (job.task.id, job.question_index))].append((k, i))
    items = [(t.id, qi) for t in tasks for qi in range(len(t.questions))]
    order = [items[i] for i in np.random.default_rng(rule.seed).permutation(len(items))]
    pairs: list[Pair] = list(itertools.combinations(models, 2))
    total = sum(len(mine) for mine in jobs)
    tick = make_bar(total, "judge (stop when decided)") if make_bar else (lambda n: None)
    judged: list[dict[int, Judgment]] = [{} for _ in panel]
    state = {pair: _State() for pair in pairs}

    # the battles each question can give a pair (its judged turns, over the panel), in order
    turns = {pair: [len({jobs[k][i].turn for k, i in where[(pair, it)]}) for it in order] for pair in pairs}

    while True:
        plan: dict[Pair, list[Item]] = {}
        asked: list[list[int]] = [[] for _ in panel]
        for pair, st in state.items():
            if st.finished:
                continue
            left = order[st.done:]
            if not left:
                st.finished = True
                continue
            counts = turns[pair][st.done:]
            need = battles_needed(wins=st.wins, losses=st.losses, alpha=rule.alpha, limit=sum(counts))
            plan[pair] = left if need is None else _round(left, need, counts)
            for it in plan[pair]:
                for k, i in where[(pair, it)]:
                    asked[k].append(i)
                    st.asked += 1
        if not plan:
            break
        for k, built in enumerate(panel):
            mine = [jobs[k][i] for i in asked[k]]
            for i, verdict in zip(asked[k], judge_jobs(built, mine, cache=cache, progress=tick)):
                judged[k][i] = verdict
        for pair, taken in plan.items():
            _count(state[pair], pair, taken, [_question_battles(panel, judged, where[(pair, it)])
                                              for it in taken], rule.alpha)
    tick(total - sum(st.asked for st in state.values()))  # the saved judgments: the bar ends full
    kept = {(pair, it) for pair, st in state.items() for it in st.kept}
    out = [judged[k][i] for k, mine in enumerate(jobs) for i, job in enumerate(mine)
           if ((job.model_a, job.model_b), (job.task.id, job.question_index)) in kept]
    stops = tuple(_stop(pair, state[pair], len(order), rule.alpha,
                        sum(len(where[(pair, it)]) for it in order)) for pair in pairs)
    return Stopped(tuple(out), stops, rule)


def check_pairwise(spec: str, prompt: JudgePrompt) -> None:
    """A grading prompt cannot stop a pair (it grades each model's answers): one error naming it."""
    if not prompt.pairwise:
        raise HarnessError(f"--stop-when-decided: judge {spec!r} grades single answers (prompt "
                           f"{prompt.name!r}); the test needs pairwise verdicts: use a pairwise prompt, or "
                           "judge without --stop-when-decided")


def check_sending(*, batch_api: bool) -> None:
    """Refuse ``--batch-api`` with ``--stop-when-decided``: each round would be one provider batch
    (up to 24 hours each), and the rounds after the first are about one question per pair."""
    if batch_api:
        raise HarnessError("--stop-when-decided judges in rounds of a few questions, and with --batch-api "
                           "each round would be one provider batch that may take up to 24 hours: use one or "
                           "the other")


def plan_note(alpha: float) -> str:
    """What a dry run adds for ``--stop-when-decided``: its call counts are the most it can take.

    >>> print(plan_note(0.05))  # doctest: +ELLIPSIS
    --stop-when-decided: the judge calls above are the most this can take; ... after 8 questions ...
    """
    first = battles_needed(wins=0, losses=0, alpha=alpha, limit=10_000)
    return (f"--stop-when-decided: the judge calls above are the most this can take; a pair stops once the "
            f"{TEST} names its leader at alpha {alpha:g}, at the earliest after {first} questions (every "
            "decisive battle won by one side), and a pair it cannot decide is judged on every question")


def _round(left: Sequence[Item], need: int, turns: Sequence[int]) -> list[Item]:
    """The next questions to judge (``turns``: each one's battles): every question that starts
    before the ``need``-th battle from now; none of them can decide before then, so none is asked
    past the stopping point.

    >>> _round([("t", 0), ("t", 1), ("t", 2)], 2, [1, 1, 1])
    [('t', 0), ('t', 1)]
    >>> _round([("t", 0), ("t", 1), ("t", 2)], 2, [3, 3, 3])
    [('t', 0)]
    """
    out: list[Item] = []
    before = 0
    for it, count in zip(left, turns):
        if before >= need:
            break
        out.append(it)
        before += count
    return out


def _question_battles(panel: Sequence[BuiltJudge], judged: Sequence[dict[int, Judgment]],
                      jobs: Sequence[tuple[int, int]]) -> list[Battle]:
    """One question's battles for one pair, as the rating makes them, in turn order."""
    by_judge = {panel[k].settings.spec: combine([judged[j][i] for j, i in jobs if j == k])
                for k in range(len(panel))}
    battles = next(iter(by_judge.values())) if len(by_judge) == 1 else panel_battles(by_judge)
    return sorted(battles, key=lambda b: b.turn or 0)


def _count(st: _State, pair: Pair, taken: Sequence[Item], battles: Sequence[Sequence[Battle]],
           alpha: float) -> None:
    """Update the pair's test with a round's questions, battle by battle; at a decision the pair
    stops (its question kept whole, the test's counts as they were at the deciding battle)."""
    bound = math.log(threshold(alpha))
    for item, mine in zip(taken, battles):
        st.done += 1
        st.kept.append(item)
        for b in mine:
            s = sign(b.winner)
            st.wins, st.ties, st.losses = st.wins + (s > 0), st.ties + (s == 0), st.losses + (s < 0)
            log_a, log_b = (float(x) for x in log_statistics(st.wins, st.losses))
            st.statistic = math.exp(min(max(log_a, log_b), 700.0))
            if max(log_a, log_b) >= bound:
                st.leader = pair[0] if log_a >= log_b else pair[1]
                st.finished = True
                return


def _stop(pair: Pair, st: _State, total: int, alpha: float, judgments_total: int) -> PairStop:
    return PairStop(pair[0], pair[1], st.leader, st.done, total, st.wins, st.ties, st.losses, st.statistic,
                    alpha, st.asked, judgments_total)

