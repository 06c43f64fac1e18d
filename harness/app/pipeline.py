"""Run orchestration: generate -> judge -> battles -> ratings -> leaderboard, in a run directory.

Each stage reads the previous stage's plain file, so ``answers.jsonl`` may be edited or replaced
(say, by ChatGPT answers made elsewhere) before :func:`judge` runs.
"""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import tasks as task_plugins
from harness.app.config import REPORT_FORMATS, RunConfig
from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.types import Answer, Battle, Grade, Judgment, PairRecord, Rating, Task, UsageLine
from harness.judges import prompts as prompt_plugins
from harness.judges.asking import resolve_method
from harness.judges.pairwise import JudgeSettings, judge_jobs, make_jobs
from harness.judges.single import grade_answers
from harness.models import endpoints
from harness.models.backends import Streamer, check_spec, load_backend
from harness.models.budget import load_prices, no_price
from harness.models.cache import CallCache
from harness.models.generate import generate_answers
from harness.models.usage import model_price_name, usage_lines
from harness.reports.build import ReportFiles, write_report
from harness.reports.leaderboard import Panel, render_markdown
from harness.reports.markdown import bias_markdown
from harness.stats.battles import JudgeStats, combine, judge_stats
from harness.stats.bias import BiasResult, report_checks
from harness.stats.grades import battles_from_grades, mean_scores
from harness.stats.panel import agreements, panel_battles
from harness.stats.ratings import leaderboard, pair_records
from harness.stats.significance import pair_tests


@dataclass
class RunResult:
    """What a run produced, and how many model calls it took."""

    run_dir: Path
    ratings: list[Rating] = field(default_factory=list)
    records: list[PairRecord] = field(default_factory=list)
    stats: list[JudgeStats] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    """Requests sent to a model, by stage (``generate``, ``judge``); zero on a cached re-run."""
    hits: Counter[str] = field(default_factory=Counter)
    """Requests answered from the cache, by stage."""
    report: ReportFiles | None = None
    """The report files written at the end (None when no format was asked for)."""
    usage: list[UsageLine] = field(default_factory=list)
    """Calls, tokens and cost per model and judge (all runs on this run directory)."""
    bias: BiasResult = field(default_factory=BiasResult)
    """Judge bias figures (position, length, self-preference, probes, human agreement)."""
    markdown: str = ""


def _progress_factory(enabled: bool) -> Callable[[int, str], Callable[[int], None]] | None:
    if not enabled:
        return None

    def make(total: int, desc: str) -> Callable[[int], None]:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=desc, unit="q", leave=True, file=sys.stderr,
                   disable=not sys.stderr.isatty())

        def tick(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()

        return tick

    return make


def select_tasks(config: RunConfig) -> list[Task]:
    loaded = task_plugins.load_tasks(list(config.tasks) or None, config.tasks_dirs)
    if config.limit is None:
        return loaded
    return [Task(t.id, t.language, t.domain, t.description, t.questions[: config.limit], t.source)
            for t in loaded]


@contextlib.contextmanager
def _open_cache(run_dir: Path, result: RunResult) -> Iterator[CallCache]:
    cache = CallCache(run_dir / rundir.CACHE)
    try:
        yield cache
    finally:
        result.calls.update(cache.calls)
        result.hits.update(cache.hits)
        cache.close()


def check(config: RunConfig) -> None:
    """Fail fast, before any model is loaded, on unknown names and malformed specs."""
    select_tasks(config)
    for model in config.models:
        check_spec(model.spec)
    for settings in config.judges:
        check_spec(settings.spec)
        prompt_plugins.load_prompt(settings.prompt, config.prompts_dirs)
    check_prices([m.spec for m in config.models] + [j.spec for j in config.judges], config.api)


def check_prices(specs: Sequence[str], api: endpoints.ApiConfig) -> None:
    """With --max-cost, every paid model needs a price, known before anything is sent."""
    if api.max_cost is None:
        return
    prices = load_prices(api.prices)
    for spec in specs:
        model = model_price_name(spec)
        if model is not None and isinstance(load_backend(spec), Streamer) and prices.lookup(model) is None:
            raise no_price(spec, f"model {model!r}")


def generate(config: RunConfig, result: RunResult | None = None) -> RunResult:
    """Stage 1: write ``answers.jsonl``."""
    result = result or RunResult(config.run_dir)
    check(config)
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    rundir.write_config(run_dir, config.to_row())
    task_list = select_tasks(config)
    rundir.write_questions(run_dir, task_list)
    with endpoints.session(config.api), _open_cache(run_dir, result) as cache:
        answers = generate_answers(task_list, config.models, cache, config.batch_size,
                                   _progress_factory(config.progress))
    rundir.write_answers(run_dir, answers)
    return result


def judge(run_dir: Path, judges: Sequence[JudgeSettings], task_list: Sequence[Task],
          prompts_dirs: Sequence[Path] = (), models: Sequence[str] | None = None,
          elo_rounds: int = 100, seed: int = 0, progress: bool = True,
          result: RunResult | None = None, bootstrap: int = 1000,
          api: endpoints.ApiConfig | None = None, report: Sequence[str] = REPORT_FORMATS) -> RunResult:
    """Stages 2-5: judge ``answers.jsonl`` (every judge of the panel), combine, rate, report."""
    with endpoints.session(api) as sess:
        result = _judge(run_dir, judges, task_list, prompts_dirs, models, elo_rounds, seed, progress,
                        result or RunResult(run_dir), bootstrap, sess)
    if report:
        result.report = write_report(run_dir, report)
    return result


def _judge(run_dir: Path, judges: Sequence[JudgeSettings], task_list: Sequence[Task],
           prompts_dirs: Sequence[Path], models: Sequence[str] | None, elo_rounds: int, seed: int,
           progress: bool, result: RunResult, bootstrap: int, sess: endpoints.Session) -> RunResult:
    answers = rundir.read_answers(run_dir)
    if models is None:
        models = list(dict.fromkeys(a.model for a in answers))
    if len(models) < 2:
        raise HarnessError(f"{run_dir / rundir.ANSWERS}: need answers from at least two models, "
                           f"found {len(models)}")
    specs = [s.spec for s in judges]
    if len(set(specs)) != len(specs):
        raise HarnessError(f"judge {next(s for s in specs if specs.count(s) > 1)!r} is named twice")
    prompts = [prompt_plugins.load_prompt(s.prompt, prompts_dirs) for s in judges]
    backends = [load_backend(s.spec) for s in judges]
    for settings, backend in zip(judges, backends):
        resolve_method(settings, backend)
    make_bar = _progress_factory(progress)
    judgments: list[Judgment] = []
    grades: list[Grade] = []
    by_judge: dict[str, list[Battle]] = {}
    with _open_cache(run_dir, result) as cache:
        for settings, prompt, backend in zip(judges, prompts, backends):
            if prompt.pairwise:
                jobs = make_jobs(task_list, models, answers)
                tick = make_bar(len(jobs), f"judge {settings.spec}") if make_bar else (lambda n: None)
                mine = judge_jobs(jobs, backend, prompt, settings, cache, tick)
                judgments += mine
                by_judge[settings.spec] = combine(mine)
            else:
                total = len(models) * sum(len(t.questions) for t in task_list)
                tick = make_bar(total, f"grade {settings.spec}") if make_bar else (lambda n: None)
                mine_g = grade_answers(task_list, models, answers, backend, prompt, settings, cache, tick)
                grades += mine_g
                by_judge[settings.spec] = battles_from_grades(mine_g, models)
        result.usage = usage_lines(cache, sess.prices)
    rundir.write_usage(run_dir, result.usage)
    rundir.write_judgments(run_dir, judgments)
    if grades:
        rundir.write_grades(run_dir, grades)
    return rate(run_dir, judgments, grades, by_judge, models, elo_rounds, seed, bootstrap, result, answers)


def rate(run_dir: Path, judgments: Sequence[Judgment], grades: Sequence[Grade],
         by_judge: dict[str, list[Battle]], models: Sequence[str], elo_rounds: int, seed: int,
         bootstrap: int, result: RunResult, answers: Sequence[Answer] = ()) -> RunResult:
    """Stages 3-4: the (panel's) battles, then ratings and the leaderboard files."""
    battles = next(iter(by_judge.values())) if len(by_judge) == 1 else panel_battles(by_judge)
    rundir.write_battles(run_dir, battles)
    result.ratings = leaderboard(battles, models, bootstrap=bootstrap, elo_rounds=elo_rounds, seed=seed)
    result.records = pair_records(battles, models)
    result.stats = judge_stats(judgments)
    rundir.write_leaderboard(run_dir, result.ratings)
    panel = None
    if len(by_judge) > 1:
        rundir.write_judge_battles(run_dir, by_judge)
        panel = Panel({j: leaderboard(bs, models, bootstrap=bootstrap, elo_rounds=elo_rounds, seed=seed)
                       for j, bs in by_judge.items()}, agreements(by_judge))
    tasks_seen = sorted({j.task for j in judgments} | {g.task for g in grades})
    prompts_used = sorted({f"{j.prompt} ({j.method})" for j in judgments}
                          | {f"{g.prompt} ({g.method})" for g in grades})
    notes = [f"run directory: `{run_dir}`", f"tasks: {', '.join(tasks_seen)}",
             f"judges: {', '.join(by_judge)}" + (" (panel: majority verdict)" if panel else ""),
             f"judge prompt: {', '.join(prompts_used)}"]
    result.bias = report_checks(judgments, answers, by_judge, rundir.read_human(run_dir),
                                rundir.read_bias(run_dir))
    result.markdown = render_markdown("harness leaderboard", result.ratings,
                                      pair_tests(result.records), result.stats, notes, bootstrap,
                                      scores=mean_scores(grades, models) if grades else None,
                                      panel=panel, usage=result.usage,
                                      bias=bias_markdown(result.bias.checks, result.bias.warnings,
                                                         result.bias.human, result.bias.length_bins))
    rundir.write_leaderboard_md(run_dir, result.markdown)
    return result


def run(config: RunConfig) -> RunResult:
    """The whole pipeline for one config; re-running it makes no model call that already ran.

    One session spans both stages, so ``--max-cost`` and the endpoint limits cover the whole run.
    """
    with endpoints.session(config.api):
        result = generate(config)
        return judge(config.run_dir, config.judges, select_tasks(config), config.prompts_dirs,
                     [m.name for m in config.models], config.elo_rounds, config.seed,
                     config.progress, result, config.bootstrap, config.api, config.report)
