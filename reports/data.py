"""Everything a report shows, read from the run directory's plain files (no model calls).

The leaderboard's numbers are kept as the strings ``leaderboard.csv`` holds, so every format
prints exactly what the CSV says; counts per pair and per task come from ``battles.jsonl``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.core import rundir
from harness.core.errors import HarnessError, SpecError
from harness.core.files import NestedTooDeeply, parse_json
from harness.core.types import Answer, Battle, Grade, Judgment, Rating, Task, UsageLine
from harness.models.backends import parse_spec
from harness.stats.alpaca_lc import Rates as AlpacaRates
from harness.stats.alpaca_lc import rates as alpaca_rates
from harness.stats.bias import BiasResult, report_checks
from harness.stats.bradley_terry import RatingResult, pair_counts, parse_prior_sd, unbounded_note
from harness.stats.health import JudgeHealth, judge_health
from harness.stats.human_board import human_leaderboard
from harness.stats.ratings import HeadToHead, by_turn, head_to_head
from harness.stats.ratings import leaderboard as rate_battles
from harness.stats.soft import SoftBoard, soft_board
from harness.stats.style import StyleFit, style_controlled
from harness.tasks import answered_tasks

STYLE_ROUNDS = 200
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


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
    usage: tuple[UsageLine, ...]
    bias: BiasResult
    finetunes: tuple[Finetune, ...]
    missing_adapters: tuple[str, ...] = ()
    grades: tuple[Grade, ...] = ()
    """Single-answer grades (runs judged with a grading prompt)."""
    by_judge: Mapping[str, tuple[Battle, ...]] = field(default_factory=dict)
    """Each judge's own battles (with one judge, the run's battles)."""
    panel: Mapping[str, tuple[Rating, ...]] = field(default_factory=dict)
    """With several judges, each judge's own ratings (the run's bootstrap rounds and seed); empty
    with one judge."""
    human_board: RatingResult | None = None
    """Bradley-Terry on the human labels (``harness.stats.human_board``); None without labels."""
    prior_sd: float | None = None
    """The run's Bradley-Terry prior setting (its config's ``prior_sd``; None: the default)."""
    turns: Mapping[int, tuple[LeaderRow, ...]] = field(default_factory=dict)
    """Each judged turn's leaderboard of the multi-turn questions, turn 1 first, as
    ``leaderboard_by_turn.csv`` spells it (rated with the overall leaderboard, by the same call);
    empty for a single-turn run."""

    @property
    def models(self) -> list[str]:
        """Leaderboard order (best first)."""
        return [r.model for r in self.leaderboard]

    @property
    def judges(self) -> list[str]:
        return list(dict.fromkeys(j.judge for j in self.judgments))

    @functools.cached_property
    def style(self) -> StyleFit | None:
        """Style-controlled ratings and the judge's style weights (:mod:`harness.stats.style`); None
        with too few battles. Fitted on first use: only the report's tables show it, so a run whose
        report is current (or that writes ``leaderboard.md`` alone) never pays for the resamples."""
        # STYLE_ROUNDS resamples (each a logistic fit), fewer than the leaderboard's bootstrap: the
        # intervals are about the weights, which settle sooner.
        return style_controlled(self.battles, self.answers, self.models, bootstrap=STYLE_ROUNDS,
                                seed=_rating_settings(self.run_dir).get("seed", 0))

    @functools.cached_property
    def soft(self) -> SoftBoard | None:
        """The probability-weighted leaderboard (:mod:`harness.stats.soft`); None unless a
        ``logprobs`` judge gave the battles probabilities. Fitted on first use, as :attr:`style`."""
        settings = _rating_settings(self.run_dir)
        return soft_board(self.battles, self.judgments, self.models,
                          bootstrap=settings.get("bootstrap", 1000), seed=settings.get("seed", 0),
                          prior_sd=self.prior_sd)

    @functools.cached_property
    def baseline(self) -> str | None:
        """The model every battle pits the others against, when the run is built that way (as
        AlpacaEval and Arena-Hard build theirs): one model in every battle, and at least two others.
        None for any other design (a round robin, two models)."""
        if not self.battles:
            return None
        common = set.intersection(*({b.model_a, b.model_b} for b in self.battles))
        others = {m for b in self.battles for m in (b.model_a, b.model_b)} - common
        return next(iter(common)) if len(common) == 1 and len(others) >= 2 else None

    @functools.cached_property
    def against_baseline(self) -> tuple[list[HeadToHead], AlpacaRates] | None:
        """AlpacaEval's figures of each model against :attr:`baseline` (``get_winrate``'s, and the
        length-controlled win rate without the hub's files: ``length_controlled_minimal``); None
        without a baseline."""
        if self.baseline is None:
            return None
        return (head_to_head(self.battles, self.baseline),
                alpaca_rates(self.battles, self.baseline, answers=self.answers, tasks=self.tasks))

    @functools.cached_property
    def health(self) -> list[JudgeHealth]:
        """Each judge's one-word verdict (:mod:`harness.stats.health`), in leaderboard judge order;
        computed once, though every format prints it."""
        failures: dict[str, tuple[int, int]] = {}
        for judge, bad in [*((j.judge, j.winner == "error") for j in self.judgments),
                           *((g.judge, g.score is None) for g in self.grades)]:
            errors, total = failures.get(judge, (0, 0))
            failures[judge] = (errors + bad, total + 1)
        judges = list(dict.fromkeys([*self.by_judge, *failures]))
        return judge_health(judges, failures, self.bias.checks, self.bias.human)

    def has_cjk(self) -> bool:
        """Chinese (or Japanese) text anywhere a report may print it."""
        if any(t.language == "zh" for t in self.tasks):
            return True
        texts = [*self.models, *(s for a in self.answers for s in a.all_turns), *(t.id for t in self.tasks),
                 *(s for t in self.tasks for q in t.questions for s in q.all_turns)]
        return any(CJK.search(s) for s in texts)


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
        manifest_path = folder / rundir.MANIFEST
        if not manifest_path.is_file():
            missing.append(f"{model} ({folder})")
            continue
        manifest = _json(manifest_path)
        found.append(Finetune(model, folder, manifest, tuple(rundir.read_train_log(folder))))
    return found, missing


def _json(path: Path) -> dict[str, Any]:
    try:
        value = parse_json(path.read_text(encoding="utf-8-sig"))
    except NestedTooDeeply as exc:
        raise HarnessError(f"{path}:{exc.line}: {exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise HarnessError(f"{path}: expected a JSON object")
    return value


def _tasks(run_dir: Path, tasks_dirs: Sequence[Path]) -> list[Task]:
    questions = rundir.read_questions(run_dir)
    if questions is not None:
        return questions
    return answered_tasks(run_dir, tasks_dirs)  # a run made before questions.jsonl existed


def load(run_dir: Path, tasks_dirs: Sequence[Path] = ()) -> ReportData:
    """Read a judged run directory; a missing or malformed file is one error naming it."""
    if not run_dir.is_dir():
        raise HarnessError(f"{run_dir}: no such run directory")
    leaderboard = [LeaderRow(r) for r in rundir.read_leaderboard(run_dir)]
    battles = rundir.read_battles(run_dir)
    judgments = rundir.read_judgments(run_dir)
    answers = rundir.read_answers(run_dir)
    usage = rundir.read_usage(run_dir)
    per_judge = rundir.read_judge_battles(run_dir) or battles
    by_judge: dict[str, list[Battle]] = {}
    for b in per_judge:
        by_judge.setdefault(b.judge or (judgments[0].judge if judgments else "judge"), []).append(b)
    # The one place a report computes the bias figures.
    labels = rundir.read_human(run_dir)
    bias = report_checks(judgments, answers, by_judge, labels, rundir.read_bias(run_dir))
    # A leaderboard whose BT gaps the battles do not bound says so where every format puts its
    # warnings (once, at the top of leaderboard.md), rather than printing the figures bare.
    prior = _prior(run_dir)
    unbounded = unbounded_note(pair_counts(battles), prior) if battles else ""
    if unbounded:
        bias = replace(bias, warnings=(unbounded, *bias.warnings))
    traces = only_trace_notes(answers)
    if traces:
        bias = replace(bias, warnings=(*bias.warnings, *traces))
    finetunes, missing = _finetunes(answers)
    grades = rundir.read_grades(run_dir)
    panel: dict[str, tuple[Rating, ...]] = {}
    if len(by_judge) > 1:
        models, settings = [r.model for r in leaderboard], _rating_settings(run_dir)
        panel = {j: tuple(rate_battles(bs, models, **settings, prior_sd=prior)) for j, bs in by_judge.items()}
    settings = _rating_settings(run_dir)
    people = human_leaderboard(labels=labels, models=[r.model for r in leaderboard], prior_sd=prior,
                               **{k: v for k, v in settings.items() if k in ("bootstrap", "seed")})
    return ReportData(run_dir, tuple(leaderboard), tuple(battles), tuple(judgments), tuple(answers),
                      tuple(_tasks(run_dir, tasks_dirs)), tuple(usage), bias, tuple(finetunes),
                      tuple(missing), tuple(grades), {j: tuple(bs) for j, bs in by_judge.items()}, panel,
                      people, prior, _turn_leaderboards(run_dir, battles))


def only_trace_notes(answers: Sequence[Answer]) -> list[str]:
    """One line per model whose answers were only a reasoning trace (the model reasoned and never
    answered): the judge saw those answers as empty."""
    notes = []
    for model in dict.fromkeys(a.model for a in answers):
        mine = [a for a in answers if a.model == model]
        empty = [a for a in mine if a.only_trace]
        if empty:
            notes.append(f"{model}: {len(empty)} of {len(mine)} answers are only a reasoning trace, with "
                         "no answer after it (answers.jsonl keeps the trace in 'reasoning'); the judge saw "
                         "them as empty answers.")
    return notes


def _turn_leaderboards(run_dir: Path, battles: Sequence[Battle]) -> dict[int, tuple[LeaderRow, ...]]:
    """``leaderboard_by_turn.csv`` per turn; it must rate exactly the turns ``battles.jsonl`` holds
    (both are written by one rating, so a mismatch means a file was changed or left behind)."""
    path = run_dir / rundir.TURN_LEADERBOARD_CSV
    turns = sorted(by_turn(battles))
    found = rundir.read_turn_leaderboards(run_dir)
    if turns and not found:
        raise HarnessError(f"{path}: no such file, but {rundir.BATTLES} has multi-turn battles "
                           f"(re-rate the run: harness judge {run_dir})")
    if sorted(found) != turns:
        raise HarnessError(f"{path}: rates turns {sorted(found)}, but {rundir.BATTLES} has battles of turns "
                           f"{turns} (re-rate the run: harness judge {run_dir})")
    return {t: tuple(LeaderRow(row) for row in found[t]) for t in turns}


def _prior(run_dir: Path) -> float | None:
    """The run config's Bradley-Terry prior (None: the default; a config that says something else
    is one error naming the file)."""
    value = (rundir.read_config(run_dir) or {}).get("prior_sd")
    where = f"{run_dir / rundir.CONFIG}: field 'prior_sd'"
    return None if value is None else parse_prior_sd(value, where=where)


def _rating_settings(run_dir: Path) -> dict[str, int]:
    """The run config's bootstrap rounds, Elo rounds and seed (defaults for runs without one)."""
    config = rundir.read_config(run_dir) or {}
    out = {}
    for key in ("bootstrap", "elo_rounds", "seed"):
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            out[key] = value
    return out
