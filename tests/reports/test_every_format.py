"""Issue 30: one read model behind every format.

A run judged by a panel of two judges, on single- and multi-turn questions, with human labels from
two annotators, written with the run-directory writers (no model, no judge). Every table of
``report.json`` appears in ``report.html``, ``report.md`` and the LaTeX report with the same cells;
``harness.load_run`` gives the run's files as DataFrames, one row per line, and the leaderboard
equal to ``leaderboard.csv``.
"""

from __future__ import annotations

import html
import json
import random
import re
from pathlib import Path

import pandas as pd
import pytest
from report_tables import html_tables, tex_rows

import harness
from harness.app.pipeline import rate
from harness.core import rundir
from harness.core.types import Answer, HumanLabel, Judgment, Question, Task, UsageLine
from harness.reports.build import publish
from harness.reports.latex import escape
from harness.reports.sections import SECTIONS, TURNS

MODELS = ("alpha", "beta", "gamma")
JUDGES = ("judge:one", "judge:two")
STRENGTH = {"alpha": 2.0, "beta": 1.0, "gamma": 0.0}


def _questions() -> list[Task]:
    single = tuple(Question(f"q{i}", f"Question {i}?", "law", f"ref {i}") for i in range(1, 9))
    multi = tuple(Question(f"m{i}", f"Plan day {i}.", "travel", "ref", turns=(f"Shorter, day {i}.",),
                           turn_references=("ref 2",)) for i in range(1, 5))
    return [Task("law", "en", "law", "Law questions.", single), Task("trip", "en", "travel", "Trips.", multi)]


def _write_run(run: Path) -> Path:
    rng = random.Random(3)
    run.mkdir()
    tasks = _questions()
    rundir.write_questions(run, tasks)
    answers, judgments = [], []
    for task in tasks:
        for q in task.questions:
            for m in MODELS:  # answer lengths differ, so the length figures have something to show
                answers.append(Answer(m, task.id, q.id, f"{m} answers {q.id}. " * rng.randint(1, 6),
                                      turns=(f"{m} again",) if q.turns else ()))
            for i, a in enumerate(MODELS):
                for b in MODELS[i + 1:]:
                    for turn in ((1, 2) if q.turns else (None,)):
                        for judge in JUDGES:
                            p_a = 1 / (1 + 10 ** (STRENGTH[b] - STRENGTH[a]))
                            first = "model_a" if rng.random() < p_a else "model_b"
                            second = first if rng.random() < 0.8 else "tie"
                            judgments += [
                                Judgment(task.id, q.id, a, b, order, winner, "", judge, "generate",  # type: ignore[arg-type]
                                         "assignment_en", "h", f"reply {order}", turn=turn)
                                for order, winner in (("ab", first), ("ba", second))]
    rundir.write_answers(run, answers)
    rundir.write_judgments(run, judgments)
    labels = [HumanLabel("law", f"q{i}", a, b, w, annotator)  # type: ignore[arg-type]
              for annotator in ("ann", "bob") for i in range(1, 9)
              for a, b, w in (("alpha", "beta", "model_a"), ("beta", "gamma", "model_a" if i % 3 else "tie"))]
    rundir.write_human(run, labels)
    rundir.write_usage(run, [UsageLine("judge", j, j, 10, 1000, 50, None) for j in JUDGES])
    rate(run, bootstrap=60, elo_rounds=10)
    publish(run, formats=("html", "latex", "md"))
    return run


@pytest.fixture(scope="module")
def panel_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_run(tmp_path_factory.mktemp("panel") / "run")


def _md_tables(text: str) -> dict[str, list[list[str]]]:
    """Each table of report.md by the caption line above it: its body rows, cells unescaped."""
    out, lines = {}, text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| ") and (i < 2 or not lines[i - 1].startswith("|")):
            body = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                cells = re.split(r"(?<!\\) \| ", row.strip()[2:-2])
                body.append([c.replace("\\|", "|").replace("**", "") for c in cells])
            out[lines[i - 2]] = body
    return out


def test_every_table_of_report_json_is_in_every_format(panel_run: Path) -> None:
    report = panel_run / "report"
    doc = json.loads((report / "report.json").read_text(encoding="utf-8"))
    tables = doc["tables"]
    keys = [t["key"] for t in tables]
    # the run has what the issue asks for: a panel, human labels of two annotators, turns
    for key in ("leaderboard", "turn1", "turn2", "pairs", "significance", "tasks", "panel", "agreement",
                "judges", "human", "human_annotators", "human_leaderboard", "usage"):
        assert key in keys, key
    # report.json lists them in the sections' order
    order = [k for s in SECTIONS for k in s.tables]
    assert keys == sorted(keys, key=lambda k: order.index(TURNS if re.fullmatch(r"turn\d+", k) else k))
    in_html = html_tables(panel_run)
    md = (report / "report.md").read_text(encoding="utf-8")
    in_md = _md_tables(md)
    tex = (report / "latex" / "report.tex").read_text(encoding="utf-8")
    for t in tables:
        rows = [[str(c) for c in row] for row in t["rows"]]
        notes = t["notes"]
        with_notes = [[*row, note] for row, note in zip(rows, notes)] if notes else rows
        # HTML: the table by its id, every cell (notes as a last column)
        assert in_html[f"table-{t['key']}"] == with_notes, t["key"]
        assert html.escape(t["title"], quote=False) in (report / "report.html").read_text(encoding="utf-8")
        # Markdown: under its caption, the same cells
        assert t["title"] in md, t["key"]
        assert in_md[t["caption"]] == with_notes, t["key"]
        # LaTeX: its own file, input by report.tex, the same cells (notes left out)
        assert f"\\input{{{t['key']}}}" in tex, t["key"]
        bold = {(i, j) for i, j in t["bold"]}
        assert tex_rows(report / "latex" / f"{t['key']}.tex") == [
            [f"\\textbf{{{escape(c)}}}" if (i, j) in bold else escape(c) for j, c in enumerate(row)]
            for i, row in enumerate(rows)], t["key"]


def test_load_run_gives_the_files_as_dataframes(panel_run: Path) -> None:
    run = harness.load_run(panel_run)
    pd.testing.assert_frame_equal(run.leaderboard, pd.read_csv(panel_run / rundir.LEADERBOARD_CSV))
    for frame, name in ((run.judgments, rundir.JUDGMENTS), (run.battles, rundir.BATTLES),
                        (run.answers, rundir.ANSWERS)):
        lines = (panel_run / name).read_text(encoding="utf-8").splitlines()
        assert len(frame) == len(lines) > 0, name
        first = json.loads(lines[0])
        assert {k: v for k, v in frame.iloc[0].to_dict().items() if not pd.isna(v)} == first
    assert set(run.leaderboard_by_turn) == {1, 2}
    assert len(run.results) == 2 * len(run.battles)
    # a win rate by task in one groupby: the leaderboard's win rate over all tasks, per model
    by_task = run.results.groupby(["task", "model"]).score.mean().unstack("task")
    overall = run.results.groupby("model").score.mean()
    for row in run.leaderboard.itertuples():
        assert overall[row.model] == pytest.approx(row.win_rate, abs=5e-5)
        assert by_task.loc[row.model].between(0, 1).all()
    assert set(run.panel.judge) == set(JUDGES)
    assert run.human_leaderboard is not None and list(run.human_leaderboard.model)[0] == "alpha"
    assert len(run.sign_tests) == len(MODELS) * (len(MODELS) - 1)
    assert repr(run) == f"harness.load_run({str(panel_run)!r})"
