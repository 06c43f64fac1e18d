"""A judged run as pandas DataFrames, for notebooks: :func:`load_run` (``harness.load_run``).

``run.judgments``, ``run.battles``, ``run.answers`` and ``run.grades`` have one row per line of
their files (the fields of each line as columns; optional fields such as ``turn`` are empty where a
line has none); ``run.leaderboard`` is ``leaderboard.csv``; ``run.results`` has one row per model per
battle (the battle seen from each side), which makes a win rate by anything one ``groupby``::

    run = harness.load_run("runs/default")
    run.results.groupby(["task", "model"]).score.mean().unstack("task")

Every other figure a report shows is on ``run.figures`` (:class:`~harness.analysis.figures.Figures`),
computed on first use, the same numbers the report prints. Not handled: writing; a run's files are
read once, when first asked for, so a run changed afterwards needs a new :func:`load_run`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.analysis.figures import Figures, LeaderRow, load_figures
from harness.core import rundir
from harness.core.types import Rating
from harness.stats.ratings import SCORE

if TYPE_CHECKING:
    import pandas as pd

NUMBERS = [c for c in rundir.LEADERBOARD_HEADER if c != "model"]


def _frame(rows: Iterable[Mapping[str, Any]], columns: Iterable[str] = ()) -> pd.DataFrame:
    import pandas as pd

    # pandas infers each column's type from the values (ids such as "001" stay text: nothing is parsed)
    return pd.DataFrame(list(rows), columns=list(columns) or None)


def _board(board: Iterable[LeaderRow]) -> pd.DataFrame:
    """A leaderboard's rows as ``leaderboard.csv`` reads in pandas: numbers as numbers."""
    import pandas as pd

    frame = _frame((r.fields for r in board), rundir.LEADERBOARD_HEADER)
    for column in NUMBERS:
        frame[column] = pd.to_numeric(frame[column])
    return frame


def _ratings(ratings: Iterable[Rating], **first: str) -> list[dict[str, Any]]:
    return [{**first, **dict(zip(rundir.LEADERBOARD_HEADER, (r.rank, r.model, r.bt, r.bt_lower, r.bt_upper,
                                                             r.elo, r.elo_lower, r.elo_upper, r.wins, r.ties,
                                                             r.losses, r.battles, r.win_rate)))}
            for r in ratings]


class Run:
    """One judged run directory, its files as DataFrames and its figures (:attr:`figures`)."""

    def __init__(self, figures: Figures) -> None:
        self.figures = figures
        """Every figure of the report (leaderboards per judge and per turn, pairs, sign tests, bias,
        agreement, the human leaderboard, usage, health), computed on first use."""

    @property
    def run_dir(self) -> Path:
        return self.figures.run_dir

    @functools.cached_property
    def leaderboard(self) -> pd.DataFrame:
        """``leaderboard.csv``: numbers as numbers, the model names as the CSV's readers give them."""
        return _board(self.figures.leaderboard)

    @functools.cached_property
    def leaderboard_by_turn(self) -> dict[int, pd.DataFrame]:
        """Each judged turn's leaderboard of the multi-turn questions (``leaderboard_by_turn.csv``)."""
        return {turn: _board(board) for turn, board in self.figures.turns.items()}

    @functools.cached_property
    def judgments(self) -> pd.DataFrame:
        """``judgments.jsonl``, one row per line."""
        return _frame(j.to_row() for j in self.figures.judgments)

    @functools.cached_property
    def battles(self) -> pd.DataFrame:
        """``battles.jsonl``, one row per line (the battles the leaderboard rates)."""
        return _frame(b.to_row() for b in self.figures.battles)

    @functools.cached_property
    def answers(self) -> pd.DataFrame:
        """``answers.jsonl``, one row per line."""
        return _frame(a.to_row() for a in self.figures.answers)

    @functools.cached_property
    def grades(self) -> pd.DataFrame:
        """``grades.jsonl``, one row per line (empty unless a grading prompt judged the run)."""
        return _frame(g.to_row() for g in self.figures.grades)

    @functools.cached_property
    def results(self) -> pd.DataFrame:
        """Each battle from each side: ``model``, ``opponent``, ``score`` (1 win, 0.5 tie, 0 loss),
        ``task``, ``question_id``, ``turn``, ``judge``; two rows per battle."""
        rows = []
        for b in self.figures.battles:
            score = SCORE[b.winner]
            where = {"task": b.task, "question_id": b.question_id, "turn": b.turn, "judge": b.judge}
            rows += [{"model": b.model_a, "opponent": b.model_b, "score": score, **where},
                     {"model": b.model_b, "opponent": b.model_a, "score": 1 - score, **where}]
        return _frame(rows, ("model", "opponent", "score", "task", "question_id", "turn", "judge"))

    @functools.cached_property
    def panel(self) -> pd.DataFrame:
        """With several judges, each judge's own leaderboard (a ``judge`` column first); empty with
        one judge."""
        rows = [row for judge, board in self.figures.panel.items() for row in _ratings(board, judge=judge)]
        return _frame(rows, ("judge", *rundir.LEADERBOARD_HEADER))

    @functools.cached_property
    def human_leaderboard(self) -> pd.DataFrame | None:
        """Bradley-Terry on the human labels, best first (``rank``, ``model``, ``bt``, ``bt_lower``,
        ``bt_upper``); None without labels."""
        board = self.figures.human_board
        if board is None:
            return None
        ranks = board.rank()
        order = sorted(range(len(board.models)), key=lambda k: -board.ratings[k])
        return _frame([{"rank": ranks[k], "model": board.models[k], "bt": float(board.ratings[k]),
                        "bt_lower": float(board.lower[k]), "bt_upper": float(board.upper[k])} for k in order],
                      ("rank", "model", "bt", "bt_lower", "bt_upper"))

    @functools.cached_property
    def sign_tests(self) -> pd.DataFrame:
        """Every ordered pair: wins, ties, losses, the win rate with its Wilson interval, and the
        exact sign test's p (the report's sign-test table, unrounded)."""
        columns = ("model", "opponent", "wins", "ties", "losses", "win_rate", "ci_low", "ci_high", "p_value",
                   "separable")
        return _frame(({c: getattr(t, c) for c in columns} for t in self.figures.sign_tests), columns)

    @functools.cached_property
    def bias(self) -> pd.DataFrame:
        """Each judge's bias checks (position, length, self-preference, probes) with intervals."""
        columns = ("judge", "check", "value", "lower", "upper", "n", "note")
        return _frame(({c: getattr(b, c) for c in columns} for b in self.figures.bias.checks), columns)

    @functools.cached_property
    def usage(self) -> pd.DataFrame:
        """``usage.csv``: calls, tokens and cost (USD; None where the price is unknown) per model and
        judge."""
        columns = ("stage", "name", "calls", "prompt_tokens", "completion_tokens", "cost")
        return _frame(({c: getattr(u, c) for c in columns} for u in self.figures.usage), columns)

    def __repr__(self) -> str:
        return f"harness.load_run({str(self.run_dir)!r})"


def load_run(run_dir: str | Path, *, tasks_dirs: Iterable[str | Path] = ()) -> Run:
    """A judged run directory as DataFrames and figures. The leaderboard, battles, judgments,
    answers and questions are read and checked now (a missing or malformed file is one
    :class:`~harness.core.errors.HarnessError` naming it); everything else on first use."""
    return Run(load_figures(Path(run_dir), [Path(d) for d in tasks_dirs]))
