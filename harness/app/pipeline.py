"""Run orchestration: generate -> judge -> battles -> ratings -> leaderboard and report, in a run directory.

Each stage reads the previous stage's plain file, so ``answers.jsonl`` may be edited or replaced
(say, by ChatGPT answers made elsewhere) before :func:`judge` runs, and :func:`rate` re-rates
whatever ``judgments.jsonl`` and ``grades.jsonl`` hold. Each stage returns its own frozen result;
none changes another's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import tasks as task_plugins
from harness.app.config import RunConfig
from harness.core import rundir, runlock
from harness.core.errors import HarnessError
from harness.core.types import Answer, Battle, Grade, Judgment, PairRecord, Rating, Task, UsageLine
from harness.judges import prompts as prompt_plugins
from harness.judges.asking import BuiltJudge, check_judge, load_judge, resolve_method
from harness.judges.built import build_judges
from harness.judges.conversation import judged_turns, turn_prompt_for
from harness.judges.pairwise import JudgeSettings, judge_jobs, make_jobs
from harness.judges.sequential import Stopped, StopRule, check_pairwise, check_sending, judge_until_decided
from harness.judges.single import grade_answers
from harness.models import calls, endpoints
from harness.models.backends import Streamer, check_spec
from harness.models.batch_api import ProviderBatches
from harness.models.budget import load_prices, no_price
from harness.models.cache import CallCache
from harness.models.generate import generate_answers
from harness.models.usage import model_price_name, usage_lines
from harness.reports.build import REPORT_FORMATS, ReportFiles, publish
from harness.stats.battles import JudgeStats, combine, judge_stats
from harness.stats.bias import BiasResult
from harness.stats.grades import battles_from_grades
from harness.stats.health import JudgeHealth
from harness.stats.panel import panel_battles
from harness.stats.ratings import by_turn, leaderboard, pair_records


@dataclass(frozen=True)
class Generated:
    """What :func:`generate` wrote, and the model calls it took."""

    run_dir: Path
    answers: tuple[Answer, ...]
    calls: Counter[str]
    """Requests sent to a model (``generate``); zero on a cached re-run."""
    hits: Counter[str]
    """Requests answered from the cache."""


@dataclass(frozen=True)
class Rated:
    """What :func:`rate` made of the run's judgments and grades."""

    battles: tuple[Battle, ...]
    """The leaderboard's battles (with several judges, the panel's majority verdict)."""
    by_judge: Mapping[str, tuple[Battle, ...]]
    """Each judge's own battles."""
    ratings: tuple[Rating, ...]
    """Best first, as ``leaderboard.csv`` holds them."""
    records: tuple[PairRecord, ...]
    stats: tuple[JudgeStats, ...]
    """Each pairwise judge's errors, swap consistency and first-slot preference."""
    by_turn: Mapping[int, tuple[Rating, ...]] = dataclasses.field(default_factory=dict)
    """A leaderboard per judged turn of the multi-turn questions (empty without any)."""


@dataclass(frozen=True)
class RunResult:
    """What a run (or :func:`judge`) produced, and how many model calls it took."""

    run_dir: Path
    ratings: tuple[Rating, ...]
    records: tuple[PairRecord, ...]
    stats: tuple[JudgeStats, ...]
    calls: Counter[str]
    """Requests sent to a model, by stage (``generate``, ``judge``); zero on a cached re-run."""
    hits: Counter[str]
    """Requests answered from the cache, by stage."""
    usage: tuple[UsageLine, ...]
    """Calls, tokens and cost per model and judge (all runs on this run directory)."""
    bias: BiasResult
    """Judge bias figures (position, length, self-preference, probes, human agreement)."""
    markdown: str
    """``leaderboard.md``."""
    report: ReportFiles | None = None
    """The report files written at the end (None when no format was asked for)."""
    health: tuple[JudgeHealth, ...] = ()
    """Each judge's one-word verdict (:mod:`harness.stats.health`), as the reports print it."""


def progress_factory(enabled: bool, unit: str = "q") -> Callable[[int, str], Callable[[int], None]] | None:
    """``make(total, desc)`` -> a tick function for one progress bar on standard error (closed
    when it reaches ``total``), or None when progress is off."""
    if not enabled:
        return None

    def make(total: int, desc: str) -> Callable[[int], None]:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=desc, unit=unit, leave=True, file=sys.stderr,
                   disable=not sys.stderr.isatty())

        def tick(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()

        return tick

    return make


def select_tasks(config: RunConfig) -> list[Task]:
    """The run's tasks, each cut to ``--limit`` questions."""
    loaded = task_plugins.load_tasks(list(config.tasks) or None, config.tasks_dirs)
    if config.limit is not None:
        loaded = [Task(t.id, t.language, t.domain, t.description, t.questions[: config.limit], t.source)
                  for t in loaded]
    return loaded


def run_tasks(run_dir: Path, tasks_dirs: Sequence[Path] = ()) -> list[Task]:
    """The questions ``answers.jsonl`` answers, as ``harness judge`` and ``harness bias`` judge them.

    From the run's own ``questions.jsonl`` when it holds every answered question (as the report and
    the voting pages read them), so a run made from imported or custom task files needs no
    ``--tasks-dir``; otherwise from the task files (:func:`harness.tasks.answered_tasks`: a run made
    before ``questions.jsonl`` existed, or answers added by hand for questions it lacks).
    """
    held = rundir.read_questions(run_dir)
    if held is None:
        return task_plugins.answered_tasks(run_dir, tasks_dirs)
    answers = rundir.read_answers(run_dir)
    answered = {(a.task, a.question_id) for a in answers}
    known = {(t.id, q.id) for t in held for q in t.questions}
    stray = next((a for a in answers if (a.task, a.question_id) not in known), None)
    if stray is None:
        out = [dataclasses.replace(t, questions=tuple(q for q in t.questions if (t.id, q.id) in answered))
               for t in held]
        return [t for t in out if t.questions]
    try:
        return task_plugins.answered_tasks(run_dir, tasks_dirs)
    except HarnessError as exc:  # one line saying both where the question was looked for
        raise HarnessError(f"{run_dir / rundir.ANSWERS}: model {stray.model!r} answered question "
                           f"{stray.question_id!r} of task {stray.task!r}, which "
                           f"{run_dir / rundir.QUESTIONS} does not hold, and the task files failed too: "
                           f"{exc}") from None


def check(config: RunConfig, *, judging: bool = True, tasks: Sequence[Task] | None = None) -> None:
    """Fail fast, before any model is loaded, on unknown names and malformed specs; with
    ``judging`` (a run, which judges what it generates) also on the prompts for multi-turn questions.
    ``tasks``: :func:`select_tasks`' result, when the caller has it (read otherwise)."""
    task_list = select_tasks(config) if tasks is None else tasks
    for model in config.models:
        check_spec(model.spec)
    for settings in config.judges:
        judge = load_judge(settings.spec)  # a bad spec is reported before a bad prompt name
        prompt = prompt_plugins.load_prompt(settings.prompt, config.prompts_dirs)
        check_judge(settings, judge, prompt)
        if judging and config.stop_when_decided:
            check_pairwise(settings.spec, prompt)
            check_sending(batch_api=config.batch_api)
        if judging:
            turn_prompt_for(settings, prompt, task_list, config.prompts_dirs)
    check_prices([m.spec for m in config.models] + [j.spec for j in config.judges], config.api)


def check_prices(specs: Sequence[str], api: endpoints.ApiConfig) -> None:
    """With --max-cost, every paid model needs a price, known before anything is sent."""
    if api.max_cost is None:
        return
    prices = load_prices(api.prices)
    for spec in specs:
        model = model_price_name(spec)
        if model is not None and isinstance(load_judge(spec), Streamer) and prices.lookup(model) is None:
            raise no_price(spec, f"model {model!r}")


def generate(config: RunConfig, *, tasks: Sequence[Task] | None = None) -> Generated:
    """Stage 1: every model of ``config`` answers every question; writes ``config.yaml``,
    ``questions.jsonl`` and ``answers.jsonl`` into ``config.run_dir``. ``tasks``: the config's
    tasks (:func:`select_tasks`), when the caller has them already: the task files are read once."""
    task_list = select_tasks(config) if tasks is None else list(tasks)
    check(config, judging=False, tasks=task_list)
    run_dir = config.run_dir
    router = ProviderBatches(poll=config.batch_poll) if config.batch_api else None
    with runlock.hold(run_dir, command="generate", create=True):
        rundir.write_config(run_dir, config.to_row())
        rundir.write_questions(run_dir, task_list)
        with endpoints.session(config.api), CallCache(run_dir / rundir.CACHE) as cache, \
                sent_through(router):
            answers = generate_answers(task_list, config.models, cache, config.batch_size,
                                       progress_factory(config.progress))
            calls, hits = Counter(cache.calls), Counter(cache.hits)
        rundir.write_answers(run_dir, answers)
    return Generated(run_dir, tuple(answers), calls, hits)


def judge(run_dir: Path, *, judges: Sequence[JudgeSettings], tasks: Sequence[Task],
          prompts_dirs: Sequence[Path] = (), models: Sequence[str] | None = None,
          bootstrap: int = 1000, elo_rounds: int = 100, seed: int = 0, progress: bool = True,
          api: endpoints.ApiConfig | None = None, report: Sequence[str] = REPORT_FORMATS,
          tasks_dirs: Sequence[Path] = (), prior_sd: float | None = None,
          batch_api: bool = False, batch_poll: float = 30.0, stop: StopRule | None = None) -> RunResult:
    """Stages 2-5: every judge of the panel judges ``answers.jsonl`` on ``tasks``; then
    :func:`rate`, ``leaderboard.md`` and the report (formats ``report``; empty for none).

    Args:
        run_dir: a run directory with ``answers.jsonl``.
        judges: one judge, or a panel whose majority verdict makes the battles.
        tasks: the questions to judge (the answers' tasks, possibly limited).
        models: whose answers to compare (default: every model in ``answers.jsonl``).
        api: limits, retries, keys and budget for remote judges.
        batch_api: send remote judges' calls through their endpoint's Batch API (resumable),
            checking a pending batch every ``batch_poll`` seconds.
        stop: judge each pair until an anytime-valid test decides it (``--stop-when-decided``:
            :mod:`harness.judges.sequential`), writing ``stopping.json``; None judges every question
            (and removes a ``stopping.json`` an earlier judging left).

    Holds the run directory's lock (``harness.core.runlock``) throughout.
    """
    if stop is not None:
        check_sending(batch_api=batch_api)
    with runlock.hold(run_dir, command="judge"):
        answers = rundir.read_answers(run_dir)
        rundir.check_inputs(run_dir)  # a bad hand-edited file fails now, not after the paid calls
        if models is None:
            models = list(dict.fromkeys(a.model for a in answers))
        if len(models) < 2:
            raise HarnessError(f"{run_dir / rundir.ANSWERS}: need answers from at least two models, "
                               f"found {len(models)}")
        specs = [s.spec for s in judges]
        if len(set(specs)) != len(specs):
            raise HarnessError(f"judge {next(s for s in specs if specs.count(s) > 1)!r} is named twice")
        panel = build_judges(judges, prompts_dirs=prompts_dirs, tasks=tasks)
        for built in panel:
            resolve_method(built.settings, built.backend)
        with endpoints.session(api) as sess, CallCache(run_dir / rundir.CACHE) as cache, \
                sent_through(ProviderBatches(poll=batch_poll) if batch_api else None):
            stopped: Stopped | None = None
            if stop is None:
                judgments, grades = ask_panel(panel, tasks=tasks, models=models, answers=answers, cache=cache,
                                               make_bar=progress_factory(progress))
            else:  # pairs judged in a seeded order until decided; grading prompts were refused
                stopped = judge_until_decided(panel, tasks=tasks, models=models, answers=answers, cache=cache,
                                              rule=stop, make_bar=progress_factory(progress))
                judgments, grades = list(stopped.judgments), []
            usage = usage_lines(cache, sess.prices)
            calls, hits = Counter(cache.calls), Counter(cache.hits)
        rundir.write_usage(run_dir, usage)
        rundir.write_judgments(run_dir, judgments)
        rundir.write_stopping(run_dir, None if stopped is None else stopped.to_row())
        if grades:
            rundir.write_grades(run_dir, grades)
        rated = rate(run_dir, models=models, bootstrap=bootstrap, elo_rounds=elo_rounds, seed=seed,
                     judges=specs, prior_sd=prior_sd)
        summary = publish(run_dir, formats=report, tasks_dirs=tasks_dirs)
        return RunResult(run_dir, rated.ratings, rated.records, rated.stats, calls, hits, tuple(usage),
                         summary.data.bias, summary.markdown, summary.report, tuple(summary.data.health))


def sent_through(router: calls.Router | None) -> contextlib.AbstractContextManager[None]:
    """Cache misses inside the block go to ``router`` (None: each backend's own calls)."""
    return calls.routed(router) if router is not None else contextlib.nullcontext()


def ask_panel(panel: Sequence[BuiltJudge], *, tasks: Sequence[Task], models: Sequence[str],
               answers: Sequence[Answer], cache: CallCache,
               make_bar: Callable[[int, str], Callable[[int], None]] | None
               ) -> tuple[list[Judgment], list[Grade]]:
    """Every judge's judgments (pairwise prompts) and grades (single-answer prompts), judge by
    judge in panel order, each with its own progress bar when ``make_bar`` is given."""
    judgments: list[Judgment] = []
    grades: list[Grade] = []
    for built in panel:
        settings = built.settings
        if built.prompt.pairwise:
            jobs = make_jobs(tasks, models, answers, turns=settings.turns)
            tick = make_bar(len(jobs), f"judge {settings.spec}") if make_bar else (lambda n: None)
            judgments += judge_jobs(built, jobs, cache=cache, progress=tick)
        else:
            total = len(models) * sum(len(judged_turns(q, settings.turns))
                                      for t in tasks for q in t.questions)
            tick = make_bar(total, f"grade {settings.spec}") if make_bar else (lambda n: None)
            grades += grade_answers(built, tasks=tasks, models=models, answers=answers, cache=cache,
                                    progress=tick)
    return judgments, grades


def rate(run_dir: Path, *, models: Sequence[str] | None = None, bootstrap: int = 1000,
         elo_rounds: int = 100, seed: int = 0, judges: Sequence[str] | None = None,
         prior_sd: float | None = None, judgments: Sequence[Judgment] | None = None) -> Rated:
    """Stages 3-4: battles from ``judgments.jsonl`` (both orders combined) and ``grades.jsonl``, the
    panel's majority when there are several judges, then ratings; writes ``battles.jsonl``,
    ``battles_by_judge.jsonl`` (panels), ``leaderboard.csv`` and, for multi-turn questions,
    ``leaderboard_by_turn.csv`` (overall counts each judged turn as a battle: ``OVERALL_TURNS``).

    ``judges`` orders the panel (default: as the files list them); ``models`` defaults to every
    model in ``answers.jsonl``. ``judgments``: what ``judgments.jsonl`` holds, when the caller has
    them already (an import that just wrote them), so they are not read again.
    """
    if judgments is None:
        judgments = rundir.read_judgments(run_dir)
    grades = rundir.read_grades(run_dir)
    if models is None:
        models = list(dict.fromkeys(a.model for a in rundir.read_answers(run_dir)))
    by_judge: dict[str, list[Battle]] = {}
    for spec in dict.fromkeys([*(judges or ()), *(j.judge for j in judgments), *(g.judge for g in grades)]):
        mine = [j for j in judgments if j.judge == spec]
        graded = [g for g in grades if g.judge == spec]
        if mine or graded:
            by_judge[spec] = combine(mine) + battles_from_grades(graded, models)
    if not by_judge:
        raise HarnessError(f"{run_dir / rundir.JUDGMENTS}: no judgments to rate (judge the run first)")
    battles = next(iter(by_judge.values())) if len(by_judge) == 1 else panel_battles(by_judge)
    rundir.write_battles(run_dir, battles)
    if len(by_judge) > 1:
        rundir.write_judge_battles(run_dir, by_judge)
    ratings = leaderboard(battles, models, bootstrap=bootstrap, elo_rounds=elo_rounds, seed=seed,
                          prior_sd=prior_sd)
    rundir.write_leaderboard(run_dir, ratings)
    turns = {turn: tuple(leaderboard(bs, models, bootstrap=bootstrap, elo_rounds=elo_rounds, seed=seed,
                                     prior_sd=prior_sd))
             for turn, bs in by_turn(battles).items()}
    rundir.write_turn_leaderboards(run_dir, turns)
    return Rated(tuple(battles), {j: tuple(bs) for j, bs in by_judge.items()}, tuple(ratings),
                 tuple(pair_records(battles, models)), tuple(judge_stats(judgments)), turns)


def run(config: RunConfig) -> RunResult:
    """The whole pipeline for one config; re-running it makes no model call that already ran.

    One endpoint session spans both stages, so ``--max-cost`` and the endpoint limits cover the
    whole run.
    """
    task_list = select_tasks(config)  # read once: checking, generating and judging all use them
    check(config, tasks=task_list)  # before the lock makes the run directory
    with runlock.hold(config.run_dir, command="run", create=True), endpoints.session(config.api):
        generated = generate(config, tasks=task_list)
        judged = judge(config.run_dir, judges=config.judges, tasks=task_list,
                       prompts_dirs=config.prompts_dirs, models=[m.name for m in config.models],
                       bootstrap=config.bootstrap, elo_rounds=config.elo_rounds, seed=config.seed,
                       progress=config.progress, api=config.api, report=config.report,
                       tasks_dirs=config.tasks_dirs, prior_sd=config.prior_sd, batch_api=config.batch_api,
                       batch_poll=config.batch_poll,
                       stop=StopRule(config.stop_alpha, config.seed) if config.stop_when_decided else None)
    return RunResult(judged.run_dir, judged.ratings, judged.records, judged.stats,
                     generated.calls + judged.calls, generated.hits + judged.hits, judged.usage,
                     judged.bias, judged.markdown, judged.report, judged.health)
