"""The owner's results page of ``harness human serve``: votes and quality per annotator, agreement
between annotators and of each judge with the people, and the human leaderboard.

Quality per annotator: gold accuracy (their verdict on the ``--gold`` pairs against the gold
label) and repeat consistency (the same verdict, by winner, on a pair shown again swapped).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from statistics import median

from harness.app import agreement_command
from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.votes import VoteStore, winner
from harness.judges.calibration import GoldItem
from harness.reports.tables import Table, human_tables


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f}% ({k}/{n})" if n else "-"


def annotator_table(store: VoteStore, gold: Mapping[str, GoldItem]) -> Table:
    rows = []
    for name in sorted(set(store.annotators()) | {v.annotator for v in store.history()}):
        items = store.items(name)
        current = store.current(name)
        history = store.history(name)
        gold_n = gold_ok = rep_n = rep_ok = 0
        for pos, v in current.items():
            it = items[pos]
            if it.kind == "gold" and it.ref in gold:
                gold_n += 1
                gold_ok += winner(it, v.choice) == gold[it.ref].label
            elif it.kind == "repeat" and int(it.ref) in current:
                rep_n += 1
                rep_ok += winner(it, v.choice) == winner(items[int(it.ref)], current[int(it.ref)].choice)
        seconds = [v.seconds for v in current.values() if v.seconds is not None]
        rows.append((name, str(len(items)), str(len(current)), str(len(history)),
                     str(sum(v.undone for v in history)), _pct(gold_ok, gold_n), _pct(rep_ok, rep_n),
                     f"{median(seconds):.1f}" if seconds else "-"))
    return Table("human_votes", "Votes per annotator",
                 "Items assigned, answered, votes cast (re-votes and undone votes included), gold accuracy "
                 "and consistency on pairs shown again swapped, and median seconds per item.",
                 ("Annotator", "Items", "Answered", "Votes cast", "Undone", "Gold accuracy",
                  "Repeat consistency", "Median s"), "lrrrrrrr", tuple(rows))


def results(run_dir: Path, store: VoteStore, gold: Mapping[str, GoldItem]) -> list[Table]:
    """Every table of the owner's page (those with something to show)."""
    tables = [annotator_table(store, gold)]
    labels = rundir.read_human(run_dir)
    try:
        tables += human_tables(agreement_command.load(run_dir))
    except HarnessError:  # no labels yet
        pass
    try:  # the human leaderboard arrives with harness.stats.human_board
        from harness.reports.tables import human_leaderboard_table  # type: ignore[attr-defined]
        from harness.stats.human_board import human_leaderboard  # type: ignore[import-not-found]
    except ImportError:
        return tables
    board = human_leaderboard(labels=labels, bootstrap=200, seed=0) if labels else None
    if board is not None:
        tables.append(human_leaderboard_table(board))
    return tables
