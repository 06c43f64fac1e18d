"""Every figure a screen or file shows about a judged run, computed once, on first use (:class:`Figures`).

The report's formats, ``leaderboard.md``, the commands that print figures and the voting app's owner
page all take their numbers from one :class:`Figures`, so the same labels print the same human
leaderboard everywhere, digit for digit. The leaderboard's numbers are kept as the strings
``leaderboard.csv`` holds, so every format prints exactly what the CSV says. Each figure is a
cached property: a screen that shows three of them computes three.

The names below the imports are the figures' types and the words that explain them; the formats
import them from here, not from :mod:`harness.stats`, which they never call.

Not handled: formatting (``harness.reports``), reading files (:mod:`harness.analysis.files`).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness import stats
from harness.analysis import files as files_module
from harness.analysis.files import Finetune, RunFiles
from harness.analysis.losses import LIMIT as LOSS_LIMIT
from harness.analysis.losses import NEAREST, Lost, Neighbour, PairLosses, Training, losses
from harness.analysis.pairs import JudgedOrder, JudgedPair, case_studies, judged_pairs
from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.text import has_chinese
from harness.core.types import Answer, Battle, Grade, Judgment, PairRecord, Rating, Task, UsageLine
from harness.stats.agreement import MAJORITY_RULE, AgreementReport, Errors, agreement
from harness.stats.alpaca_lc import Rates as AlpacaRates
from harness.stats.alpaca_lc import rates as alpaca_rates
from harness.stats.battles import JudgeStats, combine, judge_stats
from harness.stats.bias import BiasResult, report_checks
from harness.stats.bradley_terry import RatingResult, pair_counts, unbounded_note
from harness.stats.compare import JudgeComparison, compare_judges
from harness.stats.grades import MeanScore, battles_from_grades, mean_scores
from harness.stats.health import THRESHOLDS, JudgeHealth, judge_health
from harness.stats.human_board import human_leaderboard
from harness.stats.panel import Agreement, agreements
from harness.stats.ppi import CalibratedRate, calibrated_win_rates
from harness.stats.ratings import OVERALL_TURNS, HeadToHead, by_turn, head_to_head, leaderboard, pair_records
from harness.stats.sequential import PairStop
from harness.stats.significance import PairTest, pair_tests
from harness.stats.soft import SoftBoard, soft_board
from harness.stats.style import FEATURES, StyleFit, style_controlled

__all__ = [
    "CODE", "FEATURES", "MAJORITY_RULE", "OVERALL_TURNS", "STYLE_ROUNDS", "THRESHOLDS", "Agreement",
    "AgreementReport", "AlpacaRates", "BiasResult", "Figures", "Finetune", "HeadToHead", "JudgeComparison",
    "JudgeHealth",
    "JudgeStats", "JudgedOrder", "JudgedPair", "LeaderRow", "MeanScore", "PairTest", "RatingResult",
    "SoftBoard", "StyleFit", "load_figures",
]
__all__ += ["LOSS_LIMIT", "NEAREST", "Lost", "Neighbour", "PairLosses", "Training"]  # why a model lost

CODE = tuple(Path(str(m.__file__)).parent for m in (rundir, stats, files_module))
"""The folders whose code the figures come from (the run-file format, the statistics, this read
model): a report fingerprints them, so a change of the code that computes a figure redraws it."""

STYLE_ROUNDS = 200
"""Resamples of the style-controlled fit (each a logistic fit): fewer than the leaderboard's
bootstrap, since the intervals are about the weights, which settle sooner."""


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


def _by_judge(battles: Sequence[Battle], judgments: Sequence[Judgment]) -> dict[str, tuple[Battle, ...]]:
    """Battles per judge; a one-judge run's battles name no judge: they are its judge's."""
    out: dict[str, list[Battle]] = {}
    for b in battles:
        out.setdefault(b.judge or (judgments[0].judge if judgments else "judge"), []).append(b)
    return {j: tuple(bs) for j, bs in out.items()}


class Figures:
    """The figures of one judged run, each computed from :class:`RunFiles` on first use."""

    def __init__(self, files: RunFiles) -> None:
        self.files = files
        self._agreement: dict[Errors, AgreementReport] = {}

    # --- what the run holds -----------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return self.files.run_dir

    @property
    def battles(self) -> tuple[Battle, ...]:
        return self.files.battles

    @property
    def judgments(self) -> tuple[Judgment, ...]:
        return self.files.judgments

    @property
    def answers(self) -> tuple[Answer, ...]:
        return self.files.answers

    @property
    def tasks(self) -> tuple[Task, ...]:
        return self.files.tasks

    @property
    def grades(self) -> tuple[Grade, ...]:
        """Single-answer grades (runs judged with a grading prompt)."""
        return self.files.grades

    @property
    def usage(self) -> tuple[UsageLine, ...]:
        return self.files.usage

    @property
    def prior_sd(self) -> float | None:
        """The run's Bradley-Terry prior setting (its config's ``prior_sd``; None: the default)."""
        return self.files.settings.prior_sd

    @property
    def finetunes(self) -> tuple[Finetune, ...]:
        return self.files.finetunes[0]

    @property
    def missing_adapters(self) -> tuple[str, ...]:
        return self.files.finetunes[1]

    # --- leaderboards -------------------------------------------------------------------------
    @functools.cached_property
    def leaderboard(self) -> tuple[LeaderRow, ...]:
        return tuple(LeaderRow(r) for r in self.files.leaderboard)

    @property
    def models(self) -> list[str]:
        """Leaderboard order (best first)."""
        return [r.model for r in self.leaderboard]

    @functools.cached_property
    def judges(self) -> list[str]:
        return list(dict.fromkeys(j.judge for j in self.judgments))

    @functools.cached_property
    def turns(self) -> dict[int, tuple[LeaderRow, ...]]:
        """Each judged turn's leaderboard of the multi-turn questions, turn 1 first, as
        ``leaderboard_by_turn.csv`` spells it; empty for a single-turn run. It must rate exactly the
        turns ``battles.jsonl`` holds (one rating writes both, so a mismatch means a file was
        changed or left behind)."""
        path = self.run_dir / rundir.TURN_LEADERBOARD_CSV
        turns = sorted(self.battles_by_turn)
        found = self.files.turn_leaderboards
        if turns and not found:
            raise HarnessError(f"{path}: no such file, but {rundir.BATTLES} has multi-turn battles "
                               f"(re-rate the run: harness judge {self.run_dir})")
        if sorted(found) != turns:
            raise HarnessError(f"{path}: rates turns {sorted(found)}, but {rundir.BATTLES} has battles of "
                               f"turns {turns} (re-rate the run: harness judge {self.run_dir})")
        return {t: tuple(LeaderRow(row) for row in found[t]) for t in turns}

    @functools.cached_property
    def battles_by_turn(self) -> dict[int, list[Battle]]:
        """The battles of each judged turn of the multi-turn questions (none for single-turn ones)."""
        return by_turn(self.battles)

    @functools.cached_property
    def by_judge(self) -> dict[str, tuple[Battle, ...]]:
        """Each judge's own battles (with one judge, the run's battles)."""
        found = self.files.judge_battles
        if found is None:  # one judge; a run with judgments that was never rated has no battles yet
            found = self.battles if (self.run_dir / rundir.BATTLES).is_file() else ()
        return _by_judge(found, self.judgments)

    @functools.cached_property
    def panel(self) -> dict[str, tuple[Rating, ...]]:
        """With several judges, each judge's own ratings (the run's bootstrap rounds and seed);
        empty with one judge."""
        if len(self.by_judge) <= 1:
            return {}
        s = self.files.settings
        return {j: tuple(leaderboard(bs, self.models, bootstrap=s.bootstrap, elo_rounds=s.elo_rounds,
                                     seed=s.seed, prior_sd=s.prior_sd))
                for j, bs in self.by_judge.items()}

    @functools.cached_property
    def panel_unbounded(self) -> list[str]:
        """Each judge's own ratings can be unbounded where the panel's are not (one judge's sweep):
        one note per such judge."""
        return [f"{judge}: {note}" for judge in self.panel
                if (note := unbounded_note(pair_counts(self.by_judge.get(judge, ())), self.prior_sd)
                    if self.by_judge.get(judge) else "")]

    @functools.cached_property
    def panel_agreements(self) -> list[Agreement]:
        """How far each pair of judges agree on the comparisons both decided."""
        return agreements(self.by_judge) if self.panel else []

    @functools.cached_property
    def human_board(self) -> RatingResult | None:
        """Bradley-Terry on the human labels (the run's bootstrap rounds, seed and prior, the
        leaderboard's model order where the run is rated); None without labels."""
        s = self.files.settings
        models = self.models if self.files.has_leaderboard else []
        return human_leaderboard(labels=self.files.human, models=models, bootstrap=s.bootstrap, seed=s.seed,
                                 prior_sd=s.prior_sd)

    @functools.cached_property
    def calibrated(self) -> list[CalibratedRate]:
        """Each pair's human-calibrated win rate (prediction-powered inference,
        :mod:`harness.stats.ppi`) beside the judge's own, from the run's battles and the human
        labels on some of its comparisons; empty without labels or battles."""
        if not self.files.human or not (self.run_dir / rundir.BATTLES).is_file():
            return []
        models = self.models if self.files.has_leaderboard else []
        return calibrated_win_rates(battles=self.battles, labels=self.files.human, models=models)

    @functools.cached_property
    def style(self) -> StyleFit | None:
        """Style-controlled ratings and the judge's style weights (:mod:`harness.stats.style`); None
        with too few battles."""
        return style_controlled(self.battles, self.answers, self.models, bootstrap=STYLE_ROUNDS,
                                seed=self.files.settings.seed)

    @functools.cached_property
    def soft(self) -> SoftBoard | None:
        """The probability-weighted leaderboard (:mod:`harness.stats.soft`); None unless a
        ``logprobs`` judge gave the battles probabilities."""
        s = self.files.settings
        return soft_board(self.battles, self.judgments, self.models, bootstrap=s.bootstrap, seed=s.seed,
                          prior_sd=s.prior_sd)

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
        """AlpacaEval's figures of each model against :attr:`baseline`; None without a baseline."""
        if self.baseline is None:
            return None
        return (head_to_head(self.battles, self.baseline),
                alpaca_rates(self.battles, self.baseline, answers=self.answers, tasks=self.tasks))

    # --- pairs and tasks ----------------------------------------------------------------------
    def records(self, battles: Sequence[Battle] | None = None) -> dict[tuple[str, str], PairRecord]:
        """Win/tie/lose of a model against an opponent, keyed both ways round (pairs that met
        only); of the run's battles unless others are given."""
        if battles is None:
            return self._records
        return {(r.model, r.opponent): r for r in pair_records(battles, self.models)}

    @functools.cached_property
    def _records(self) -> dict[tuple[str, str], PairRecord]:
        return {(r.model, r.opponent): r for r in pair_records(self.battles, self.models)}

    @functools.cached_property
    def records_by_turn(self) -> dict[int, dict[tuple[str, str], PairRecord]]:
        return {turn: self.records(bs) for turn, bs in self.battles_by_turn.items()}

    @functools.cached_property
    def task_records(self) -> dict[str, dict[str, PairRecord]]:
        """Per task (in the run's task order), each model's battles against all the others."""
        by_task: dict[str, list[Battle]] = defaultdict(list)
        for b in self.battles:
            by_task[b.task].append(b)
        known = [t.id for t in self.tasks]
        out: dict[str, dict[str, PairRecord]] = {}
        for task in [t for t in known if t in by_task] + sorted(set(by_task) - set(known)):
            mine = pair_records(by_task[task], self.models)
            out[task] = {m: PairRecord(m, "all", *(sum(getattr(r, k) for r in mine if r.model == m)
                                                  for k in ("wins", "ties", "losses")))
                         for m in self.models}
        return out

    @functools.cached_property
    def stopping(self) -> tuple[PairStop, ...]:
        """``--stop-when-decided``: per model pair, where judging stopped and why
        (``stopping.json``, :mod:`harness.stats.sequential`); empty when every pair was judged on
        every question."""
        found = rundir.read_stopping(self.run_dir)
        return () if found is None else tuple(PairStop.from_row(row) for row in found["pairs"])

    @functools.cached_property
    def sign_tests(self) -> list[PairTest]:
        """Every ordered pair with its win rate interval and an exact sign test."""
        return pair_tests(pair_records(self.battles, self.models))

    @functools.cached_property
    def judge_stats(self) -> list[JudgeStats]:
        """Judge errors and swap consistency (:func:`harness.stats.battles.judge_stats`)."""
        return judge_stats(self.judgments)

    @functools.cached_property
    def judge_methods(self) -> dict[str, list[str]]:
        """Each judge's methods (a prompt's verdict, log-probabilities, a reference metric)."""
        methods: dict[str, list[str]] = defaultdict(list)
        for j in self.judgments:
            if j.method not in methods[j.judge]:
                methods[j.judge].append(j.method)
        return dict(methods)

    @functools.cached_property
    def mean_grades(self) -> list[MeanScore]:
        return mean_scores(self.grades, self.models)

    @functools.cached_property
    def judged_pairs(self) -> list[JudgedPair]:
        """Every judged pair for reading: question, answers, each order's reply, the outcome."""
        return judged_pairs(tasks=self.tasks, answers=self.answers, judgments=self.judgments)

    @functools.cached_property
    def case_studies(self) -> list[JudgedPair]:
        return case_studies(self.judged_pairs)

    @functools.cached_property
    def losses(self) -> list[PairLosses]:
        """Per pair, the questions one model lost in both orders (at most ``LOSS_LIMIT`` shown),
        with a fine-tuned loser's nearest training records (:mod:`harness.analysis.losses`)."""
        return losses(pairs=self.judged_pairs, models=self.models if self.files.has_leaderboard else [],
                      finetunes=self.finetunes, adapters=files_module.adapter_dirs(self.answers))

    # --- judges -------------------------------------------------------------------------------
    @functools.cached_property
    def bias(self) -> BiasResult:
        """The bias section: position, length, self-preference, the probes of ``bias.csv``, the
        agreement with human labels, and every warning the report puts first (an unbounded
        leaderboard, answers that were only a reasoning trace)."""
        bias = report_checks(self.judgments, self.answers, self.by_judge, self.files.human, self.files.bias)
        unbounded = unbounded_note(pair_counts(self.battles), self.prior_sd) if self.battles else ""
        if unbounded:
            bias = replace(bias, warnings=(unbounded, *bias.warnings))
        traces = only_trace_notes(self.answers)
        if traces:
            bias = replace(bias, warnings=(*bias.warnings, *traces))
        return bias

    @functools.cached_property
    def answered_models(self) -> list[str]:
        """The models of ``answers.jsonl``, in the order it lists them."""
        return list(dict.fromkeys(a.model for a in self.answers))

    @functools.cached_property
    def verdict_judges(self) -> list[str]:
        """Every judge with a verdict in ``judgments.jsonl`` or ``grades.jsonl``, in file order."""
        return list(dict.fromkeys([*(j.judge for j in self.judgments), *(g.judge for g in self.grades)]))

    def verdict_battles(self, judge: str) -> list[Battle]:
        """``judge``'s battles from its own verdicts, as the rate stage makes them: both orders of a
        comparison combined, grades compared question by question."""
        return (combine([j for j in self.judgments if j.judge == judge])
                + battles_from_grades([g for g in self.grades if g.judge == judge], self.answered_models))

    def compare_judges(self, old: str, new: str) -> JudgeComparison:
        """Two judges on the comparisons both decided (:mod:`harness.stats.compare`), with the run's
        seed; a judge without verdicts here, or no shared comparison, is one error."""
        for spec in (old, new):
            if spec not in self.verdict_judges:
                known = ", ".join(self.verdict_judges) or "none"
                raise HarnessError(f"--judge {spec!r}: no verdicts from it in {self.run_dir} (judges there: "
                                   f"{known}; judge with both: harness judge {self.run_dir} --judge OLD NEW)")
        found = compare_judges(self.verdict_battles(old), self.verdict_battles(new), self.answered_models,
                               old_name=old, new_name=new, seed=self.files.settings.seed)
        if not found.n:
            raise HarnessError(f"{self.run_dir}: judges {old!r} and {new!r} share no decided comparison")
        return found

    def agreement(self, *, errors: Errors = Errors.EXCLUDE) -> AgreementReport:
        """Each judge against the human labels, and the annotators among themselves (under the
        ``errors`` rule); a run without labels is one error saying how to add them."""
        if not self.files.human:
            raise HarnessError(f"{self.run_dir}: no human labels; import them with "
                               f"`harness human import FILE --run {self.run_dir}`")
        if errors not in self._agreement:  # the report's bias section computes the same (bias.human)
            self._agreement[errors] = agreement(labels=self.files.human, judgments=self.judgments,
                                                battles=self.by_judge, errors=errors)
        return self._agreement[errors]

    @functools.cached_property
    def health(self) -> list[JudgeHealth]:
        """Each judge's one-word verdict (:mod:`harness.stats.health`), in leaderboard judge order."""
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
        return any(has_chinese(s) for s in texts)


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


def load_figures(run_dir: Path, tasks_dirs: Sequence[Path] = ()) -> Figures:
    """The figures of a judged run directory. The files that every screen needs (the leaderboard,
    its battles, the judgments, the answers and the questions) are read and checked here, so a
    missing or malformed one is one error naming it before anything is printed."""
    figures = Figures(RunFiles(run_dir, tuple(tasks_dirs)))
    figures.leaderboard, figures.battles, figures.judgments, figures.answers, figures.tasks  # noqa: B018
    figures.turns  # noqa: B018
    return figures
