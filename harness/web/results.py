"""The owner's results page of ``harness human serve``: votes and quality per annotator, agreement
between annotators and of each judge with the people, and the human leaderboard; and the rows of
``harness human export``.

Quality per annotator: gold accuracy (their verdict on the ``--gold`` pairs against the gold
label) and repeat consistency (the same verdict, by winner, on a pair shown again swapped).

Every figure but the votes comes from the read model (:class:`harness.analysis.figures.Figures`),
the one ``harness report`` and ``harness agreement`` print: the page and the report show the same
agreement and the same human leaderboard, digit for digit.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from statistics import median
from typing import Any

from harness.analysis.figures import Figures
from harness.analysis.files import RunFiles
from harness.core.votes import VoteStore, winner
from harness.judges.calibration import GoldItem
from harness.reports.numbers import share_of
from harness.reports.tables import Table, human_leaderboard_table, human_tables


def _pct(k: int, n: int) -> str:
    return f"{share_of(k / n)} ({k}/{n})" if n else "-"


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
    figures = Figures(RunFiles(run_dir))
    if figures.files.human:
        tables += human_tables(figures.agreement())
    if figures.human_board is not None:
        tables.append(human_leaderboard_table(figures.human_board))
    return tables


def vote_rows(store: VoteStore) -> list[dict[str, Any]]:
    """Every annotator's current vote on every item, for ``harness human export``."""
    rows = []
    for name in sorted(set(store.annotators()) | {v.annotator for v in store.history()}):
        items = store.items(name)
        for pos, v in sorted(store.current(name).items()):
            if pos >= len(items):
                continue
            it = items[pos]
            rows.append({"annotator": name, "position": pos, "kind": it.kind, "task": it.task,
                         "question_id": it.question_id, "model_a": it.model_a, "model_b": it.model_b,
                         "shown_first": it.shown_first, "choice": v.choice, "winner": winner(it, v.choice),
                         "reason": v.reason, "seconds": v.seconds, "ref": it.ref, "created": v.created})
    return rows
