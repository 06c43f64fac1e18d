"""``--dry-run``: the calls, tokens and cost a run would take, counted before anything is sent.

Requests already in the run directory's cache cost nothing and are counted apart. Answers that
do not exist yet are assumed to take their full ``max_new_tokens``, and every reply its maximum,
so the figures are upper bounds (re-asks of unparseable verdicts come on top; the note says so).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analysis.files import RunFiles
from harness.app.config import RunConfig
from harness.app.plan_command import DEFAULT_TIE_RATE, plan_line
from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.types import Answer, Task
from harness.judges import prompts as prompt_plugins
from harness.judges.asking import JudgeSettings, load_judge, planned_requests, resolve_method
from harness.judges.calibration import GoldItem, gold_asks
from harness.judges.conversation import judged_turns, turn_prompt_for
from harness.judges.pairwise import make_jobs, pair_asks, prompt_groups
from harness.judges.prompts import JudgePrompt
from harness.judges.single import grade_asks
from harness.models.adapt import Shape
from harness.models.budget import Prices, estimate_tokens, load_prices
from harness.models.cache import CallCache
from harness.models.calls import as_reply
from harness.models.endpoints import ApiConfig
from harness.models.generate import generation_request, turn_messages
from harness.models.usage import cost_of, reply_budget
from harness.reports.markdown import markdown_table
from harness.stats.power import MAX_BATTLES, SIGN_TEST, plan


@dataclass(frozen=True)
class PlanLine:
    stage: str
    name: str
    spec: str
    calls: int
    cached: int
    prompt_tokens: int
    """Estimated prompt tokens of the calls still to send."""
    reply_tokens: int
    """The most reply tokens those calls may take."""
    cost: float | None
    """Upper bound in USD; None when the model has no known price."""
    reasoning: bool = False
    """A reasoning model: each reply is counted with its budget to think."""


def _line(stage: str, name: str, spec: str, requests: Sequence[dict[str, Any]], cache: CallCache | None,
          kind: str, max_new_tokens: int, prices: Prices, api: ApiConfig) -> PlanLine:
    todo = [r for r in requests if cache is None or not cache.has(kind, r)]
    learned = {(e, m): Shape.from_row(row) for e, m, row in cache.shapes()} if cache else {}
    max_reply, reasoning = reply_budget(spec, max_new_tokens, api, learned)
    prompt = sum(estimate_tokens(r["messages"]) for r in todo)
    reply = sum(0 if "labels" in r else max_reply for r in todo)  # likelihood judges write nothing
    # Nothing to send costs nothing, priced or not (a reference judge calls no model).
    cost = cost_of(spec, prompt, reply, prices) if todo else 0.0
    return PlanLine(stage, name, spec, len(requests), len(requests) - len(todo), prompt, reply, cost,
                    reasoning)


def plan_run(config: RunConfig, task_list: Sequence[Task]) -> list[PlanLine]:
    """Generation for every model, then judging by every judge, for ``config``."""
    prices = load_prices(config.api.prices)
    if config.batch_api:
        prices = prices.for_batch()
    with _existing_cache(config.run_dir) as cache:
        lines, answers = [], []
        for model in config.models:
            requests = []
            for task in task_list:
                for q in task.questions:
                    texts: list[str] = []
                    for _ in q.all_turns:  # a later turn's request holds the earlier answers
                        request = generation_request(model, turn_messages(q, texts, model.system_prompt))
                        requests.append(request)
                        known = cache.peek("generate", request) if cache else None
                        # Not answered yet: assume the longest answer the model may give.
                        texts.append(as_reply(known).text if known is not None
                                     else "x" * (3 * model.decoding.max_new_tokens))
                    answers.append(Answer(model.name, task.id, q.id, texts[0], turns=tuple(texts[1:])))
            lines.append(_line("generate", model.name, model.spec, requests, cache, "generate",
                               model.decoding.max_new_tokens, prices, config.api))
        models = [m.name for m in config.models]
        lines += _plan_judges(config.judges, task_list, models, answers, config.prompts_dirs, cache, prices,
                              config.api)
    return lines


def plan_judging(run_dir: Path, judges: Sequence[JudgeSettings], task_list: Sequence[Task],
                 prompts_dirs: Sequence[Path], prices: Prices,
                 api: ApiConfig | None = None) -> list[PlanLine]:
    """Judging an existing ``answers.jsonl`` (``harness judge --dry-run``)."""
    answers = rundir.read_answers(run_dir)
    models = list(dict.fromkeys(a.model for a in answers))
    with _existing_cache(run_dir) as cache:
        return _plan_judges(judges, task_list, models, answers, prompts_dirs, cache, prices,
                            api or ApiConfig())


@contextlib.contextmanager
def _existing_cache(run_dir: Path) -> Iterator[CallCache | None]:
    """The run directory's cache if there is one; a dry run creates nothing."""
    path = run_dir / rundir.CACHE
    if not path.exists():
        yield None
        return
    with CallCache(path) as cache:
        yield cache


def _plan_judges(judges: Sequence[JudgeSettings], task_list: Sequence[Task], models: Sequence[str],
                 answers: Sequence[Answer], prompts_dirs: Sequence[Path], cache: CallCache | None,
                 prices: Prices, api: ApiConfig) -> list[PlanLine]:
    lines = []
    for settings in judges:
        prompt = prompt_plugins.load_prompt(settings.prompt, prompts_dirs)
        turn_prompt = turn_prompt_for(settings, prompt, task_list, prompts_dirs)
        method = resolve_method(settings, load_judge(settings.spec))
        if prompt.pairwise:
            jobs = make_jobs(task_list, models, answers, settings.turns)
            groups = [(used, pair_asks(used, [jobs[i] for i in wanted]))
                      for used, wanted in prompt_groups(jobs, prompt, turn_prompt)]
        else:
            groups = [(used, grade_asks(task_list, models, answers, used, turns=settings.turns,
                                        single_turn=single)[1])
                      for used, single in ((prompt, True), (turn_prompt or prompt, False))]
        requests = [r for used, asks in groups for r in planned_requests(asks, settings, used, method)]
        lines.append(_line("judge", settings.spec, settings.spec, requests, cache, "judge",
                           settings.decoding.max_new_tokens, prices, api))
    return lines


def plan_gold(settings: JudgeSettings, prompt: JudgePrompt, items: Sequence[GoldItem],
              out: Path, prices: Prices, api: ApiConfig | None = None) -> list[PlanLine]:
    """Judging a gold-labelled set in both orders (``harness prompts test --gold --dry-run``)."""
    method = resolve_method(settings, load_judge(settings.spec))
    requests = planned_requests(gold_asks(prompt, items), settings, prompt, method)
    with _existing_cache(out) as cache:
        return [_line("judge", settings.spec, settings.spec, requests, cache, "judge",
                      settings.decoding.max_new_tokens, prices, api or ApiConfig())]


def render_plan(lines: Sequence[PlanLine], max_attempts: int, how: str | None = None) -> str:
    """The plan as a table and its total; ``how`` replaces the sentence on how it was counted."""
    rows = [(p.stage, p.name, p.calls, p.cached, p.calls - p.cached, f"{p.prompt_tokens:,}",
             f"{p.reply_tokens:,}", "unknown price" if p.cost is None else f"${p.cost:.4f}") for p in lines]
    known = [p.cost for p in lines if p.cost is not None]
    total = f"${sum(known):.4f}" + (" plus models without a known price" if len(known) < len(lines) else "")
    return "\n".join([
        "# dry run: nothing was sent", "",
        *markdown_table(("stage", "model / judge", "calls", "cached", "to send", "prompt tokens (est.)",
                "reply tokens (max)", "cost (max)"), rows),
        "", f"Total, at most: {total}. " + (how or (
            "Each reply is counted at its token limit and answers not yet generated at their longest; a "
            f"judge reply with no verdict is asked again (up to {max_attempts} attempts), which is not "
            "counted.")) + _reasoning_sentence(lines) + " Prices: the built-in prices file or --prices FILE.",
    ])


def _reasoning_sentence(lines: Sequence[PlanLine]) -> str:
    """How a reasoning model's replies were counted, when the plan has one."""
    names = [p.name for p in lines if p.reasoning]
    if not names:
        return ""
    return (f" Reasoning models ({', '.join(dict.fromkeys(names))}) are counted with their budget to "
            "think (max_new_tokens plus --reasoning-budget, or what the run found they need); a reply "
            "cut off while reasoning is asked again with a larger budget, up to --reasoning-cap, which "
            "is not counted.")


def power_line(config: RunConfig, task_list: Sequence[Task]) -> str | None:
    """What the run can detect per pair of models (``harness plan``'s line), with n the battles each
    pair gets (a question's judged turns, as the first judge judges them) and the tie rate measured
    on the run's ``battles.jsonl`` where it has one (else :data:`DEFAULT_TIE_RATE`, said to be
    assumed); None with fewer than two models."""
    turns = config.judges[0].turns if config.judges else "each"
    n = min(sum(len(judged_turns(q, turns)) for t in task_list for q in t.questions), MAX_BATTLES)
    if len(config.models) < 2 or n < 1:
        return None
    tie_rate, note = DEFAULT_TIE_RATE, " (assumed; no battles measured yet)"
    if (config.run_dir / rundir.BATTLES).is_file():
        try:
            battles = RunFiles(config.run_dir).battles
        except HarnessError as exc:  # a dry run still counts the calls; the line says why it assumed
            note = f" (assumed; {rundir.BATTLES} unreadable: {exc})"
        else:
            if battles:
                ties = sum(b.winner in ("tie", "tie (bothbad)") for b in battles)
                if ties == len(battles):
                    return (f"power: n={n} battles per pair, {SIGN_TEST} at alpha 0.05: the judge called "
                            f"all {ties} measured battles a tie, so the test has no decisive battle to go on")
                tie_rate, note = ties / len(battles), f" (measured on {len(battles)} battles)"
    return plan_line(plan(n=n, tie_rate=tie_rate), tie_note=note)
