"""A judge panel and single-answer grading, end to end through `harness run` over HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from scripted_server import ScriptedServer

from harness.app.cli import main

QUALITY = {"good": 9, "fair": 6, "poor": 2}


def serve(body: dict[str, Any]) -> str:
    model, text = body["model"], body["messages"][-1]["content"]
    if model in QUALITY:  # a candidate answers
        return f"<{model}> answer"
    if model == "grader":
        found = next(m for m in QUALITY if f"<{m}>" in text)
        return f"Fine.\nRating: [[{QUALITY[found]}]]"
    first = min(QUALITY, key=lambda m: text.find(f"<{m}>") if f"<{m}>" in text else 10**9)
    second = max(QUALITY, key=lambda m: text.find(f"<{m}>"))
    if model == "contrarian":  # prefers the worse answer
        first, second = second, first
    if model == "first_slot":
        return "Assistant 1 is better than Assistant 2"
    verdict = "better than" if QUALITY[first] > QUALITY[second] else "worse than"
    return f"Assistant 1 is {verdict} Assistant 2"


def _run(tmp_path: Path, judges: list[str], prompt: str) -> Path:
    out = tmp_path / "run"
    with ScriptedServer(serve) as server:
        code = main(["run", "--tasks", "en_finance", "--limit", "4", "--out", str(out), "--no-progress",
                     "--models", *[f"{m}=openai:{m}@{server.url}" for m in QUALITY],
                     "--judge", *[f"openai:{j}@{server.url}" for j in judges], "--prompt", prompt])
    assert code == 0
    return out


def test_panel_majority_and_per_judge_leaderboards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(tmp_path, ["fair1", "fair2", "contrarian"], "assignment_en")
    md = capsys.readouterr().out
    judgments = [json.loads(x) for x in (out / "judgments.jsonl").read_text().splitlines()]
    assert len(judgments) == 3 * 3 * 4 * 2  # judges x pairs x questions x orders
    battles = [json.loads(x) for x in (out / "battles.jsonl").read_text().splitlines()]
    assert len(battles) == 12 and {b["judge"] for b in battles} == {"panel"}
    # Two fair judges outvote the contrarian: the better model wins every battle.
    assert all(b["winner"] == ("model_a" if QUALITY[b["model_a"]] > QUALITY[b["model_b"]] else "model_b")
               for b in battles)
    ranking = [line.split(",")[1] for line in (out / "leaderboard.csv").read_text().splitlines()[1:]]
    assert ranking == ["good", "fair", "poor"]
    per_judge = [json.loads(x) for x in (out / "battles_by_judge.jsonl").read_text().splitlines()]
    assert len(per_judge) == 36
    assert "## Judge panel" in md and "Cohen's kappa" in md
    # Each judge alone swept (good beat everyone, or poor did for the contrarian): its own BT gaps are
    # unbounded, and the panel table says so for each of them.
    caption = md.split("## Judge panel", 1)[1].split("\n\n", 2)[1]
    for judge in ("fair1", "fair2", "contrarian"):
        winner, loser = ("poor", "good") if judge == "contrarian" else ("good", "poor")
        assert re.search(rf"openai:{judge}@\S+: Bradley-Terry ratings not estimable from the battles alone: "
                         rf"[^.]*{winner} won every battle against {loser}", caption), caption
    # Agreement in the report's one format: percent with two decimals, then kappa.
    section = md.split("## Agreement between judges", 1)[1].split("\n## ", 1)[0].splitlines()
    agreement = [line for line in section if line.startswith("| openai:fair1") and "fair2" in line]
    # 12 of 12: Wilson [75.75, 100.00]; every resample agrees fully.
    assert agreement and agreement[0].endswith("| 12 | 100.00 [75.75, 100.00] | 1.00 [1.00, 1.00] |")
    contrary = [line for line in section if "fair1" in line and "contrarian" in line]
    assert contrary and "| 12 | 0.00 [0.00, 24.25] |" in contrary[0]


def test_single_grading_run_reports_mean_grades(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(tmp_path, ["grader"], "single_1to10")
    md = capsys.readouterr().out
    grades = [json.loads(x) for x in (out / "grades.jsonl").read_text().splitlines()]
    assert len(grades) == 12 and all(g["score"] == QUALITY[g["model"]] for g in grades)
    assert "| good | 9.00 |" in md and "| poor | 2.00 |" in md
    ranking = [line.split(",")[1] for line in (out / "leaderboard.csv").read_text().splitlines()[1:]]
    assert ranking == ["good", "fair", "poor"]


def test_a_judge_named_twice_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ScriptedServer(serve) as server:
        argv = ["run", "--tasks", "en_finance", "--limit", "1", "--out", str(tmp_path / "r"), "--no-progress",
                "--models", f"good=openai:good@{server.url}", f"poor=openai:poor@{server.url}",
                "--judge", f"openai:j@{server.url}", f"openai:j@{server.url}"]
        assert main(argv) == 2
    assert "is named twice" in capsys.readouterr().err
