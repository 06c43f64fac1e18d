"""The reference judge (`reference:chrf`): the sanity set, order-independence, no reference, panels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scripted_server import ScriptedServer

from harness import tasks as task_plugins
from harness.app.cli import main
from harness.core import rundir
from harness.core.types import Answer, Question, Task
from harness.judges.asking import BuiltJudge, JudgeSettings
from harness.judges.pairwise import judge_jobs, make_jobs
from harness.judges.prompts import load_prompt
from harness.judges.reference import ReferenceJudge, create
from harness.judges.sanity import load_sanity_items
from harness.models.cache import CallCache

JUDGE = create("reference:chrf")
MIRROR = {"better": "worse", "worse": "better", "equal": "equal"}


def _rows(capsys: pytest.CaptureFixture[str]) -> dict[str, list[str]]:
    lines = capsys.readouterr().out.splitlines()
    return {r.split()[0]: r.split()[1:] for r in lines[3:] if r.strip()}


def test_sanity_set_accuracy_and_consistency_in_each_language(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompts", "test", "assignment_en", "--judge", "reference:chrf", "--set", "sanity",
                 "--out", str(tmp_path)]) == 0
    rows = _rows(capsys)
    for language in ("en", "zh"):
        judgments, parse_rate, accuracy, consistency = rows[language]
        assert judgments == "60" and parse_rate == "100.0%"
        assert float(accuracy.rstrip("%")) >= 95.0, rows[language]
        assert float(consistency.rstrip("%")) >= 90.0, rows[language]


def test_the_verdict_follows_the_reference_not_fluency() -> None:
    """Scored against the off-topic answer's own reference, the off-topic answer wins: the judge
    rewards agreement with the reference, not well-formed text as such."""
    items = load_sanity_items()
    own_reference = {it.first: it.reference for it in items}
    off_topic = [it for it in items if it.kind == "off_topic"]
    assert all(JUDGE.compare(it.first, it.second, it.reference)[0] == "better" for it in off_topic)
    flipped = [JUDGE.compare(it.first, it.second, own_reference[it.second])[0] for it in off_topic]
    assert flipped.count("worse") >= 0.9 * len(off_topic), flipped


@given(st.text(max_size=80), st.text(max_size=80), st.text(min_size=1, max_size=80))
def test_a_verdict_mirrors_when_the_answers_swap(one: str, two: str, reference: str) -> None:
    first, second = JUDGE.compare(one, two, reference)[0], JUDGE.compare(two, one, reference)[0]
    if reference.strip():
        assert first is not None and second == MIRROR[first]
    else:
        assert first is None and second is None


def test_scores_and_ties() -> None:
    ref = "A credit lowers the tax itself; a deduction lowers the income that is taxed."
    assert JUDGE.score(ref, ref) == 100.0 and JUDGE.score("   ", ref) == 0.0
    verdict, raw, attempts = JUDGE.compare(ref, ref + " ", ref)
    assert verdict == "equal" and "tie margin 2" in raw and attempts == 1
    assert ReferenceJudge("reference:chrf", margin=0.0).compare(ref, ref[:-1], ref)[0] == "better"
    with pytest.raises(Exception, match="unknown reference metric 'bleu'"):
        create("reference:bleu")


def test_a_question_without_a_reference_gets_an_error_verdict(tmp_path: Path) -> None:
    task = Task("t", "en", "finance", "", (Question("q1", "What is a bond?", "bonds", ""),
                                           Question("q2", "What is a stock?", "stocks", "A share of a company.")))
    answers = [Answer(m, "t", q, text) for m, texts in (("x", ("A loan.", "A share of a company.")),
                                                         ("y", ("Gibberish", "Nothing")))
               for q, text in zip(("q1", "q2"), texts)]
    with CallCache(tmp_path / "c.sqlite") as cache:
        judgments = judge_jobs(BuiltJudge(JudgeSettings(), JUDGE, load_prompt("assignment_en")),
                               make_jobs([task], ["x", "y"], answers), cache=cache)
        assert sum(cache.calls.values()) == 0  # no model is asked
    by_q = {(j.question_id, j.order): j for j in judgments}
    assert by_q[("q1", "ab")].winner == "error" and "no reference answer" in by_q[("q1", "ab")].raw
    assert by_q[("q2", "ab")].winner == by_q[("q2", "ba")].winner == "model_a"
    assert {j.method for j in judgments} == {"reference"} and {j.prompt for j in judgments} == {"reference:chrf"}


def _scripted(body: dict[str, Any]) -> str:
    return "Assistant 1 is better than Assistant 2"  # a judge that always prefers the first slot


def test_a_panel_of_the_reference_judge_and_an_api_judge_shows_their_agreement(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The reference judge sits in a panel like any judge; the report explains what it measures."""
    task = task_plugins.load_task("en_finance")
    run = tmp_path / "run"
    run.mkdir()
    rows = []
    for q in task.questions[:4]:
        rows.append(Answer("copy", task.id, q.id, q.reference or "").to_row())
        rows.append(Answer("noise", task.id, q.id, "Zq vlorp trasp ke wunn ot fibble.").to_row())
    (run / rundir.ANSWERS).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with ScriptedServer(_scripted) as server:
        assert main(["judge", str(run), "--no-progress", "--report", "md", "--judge", "reference:chrf",
                     f"openai:first@{server.url}"]) == 0
    md = (run / rundir.LEADERBOARD_MD).read_text(encoding="utf-8")
    per_judge = [json.loads(x) for x in (run / "battles_by_judge.jsonl").read_text().splitlines()]
    assert {b["winner"] for b in per_judge if b["judge"] == "reference:chrf"} == {"model_a"}  # copy wins
    assert "## Agreement between judges" in md and "| reference:chrf | openai:first" in md
    assert "none (reference:chrf scores each answer against the reference answer)" in md
    reliability = md.split("## Judge reliability", 1)[1]
    assert "| reference:chrf | 8 | 0 | 4 | 100% (4) |" in reliability
    assert "It cannot see whether a fluent answer is correct" in reliability


def test_a_single_grading_prompt_is_refused_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", "--tasks", "en_law", "--limit", "1", "--prompt", "single_1to10", "--out", str(out),
                 "--no-progress"]) == 2
    assert "cannot grade single answers" in capsys.readouterr().err
    assert not (out / rundir.ANSWERS).exists()  # refused before a single answer was generated
