"""`harness prompts test` against scripted judges served over HTTP, with the expected figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scripted_server import ScriptedServer

from harness.app.cli import main
from harness.judges.calibration import load_items

ITEMS = load_items()
BETTER = {it.first for it in ITEMS if not it.equal}
ANSWERS = {it.first for it in ITEMS} | {it.second for it in ITEMS}
CLEAR = sum(not it.equal for it in ITEMS)


def _slots(body: dict[str, Any]) -> tuple[str, str]:
    """The two answers in the order the prompt shows them."""
    text = body["messages"][-1]["content"]
    shown = sorted((text.index(a), a) for a in ANSWERS if a in text)
    return shown[0][1], shown[1][1]


def fair_en(body: dict[str, Any]) -> str:
    one, two = _slots(body)
    verdict = "better than" if one in BETTER else "worse than" if two in BETTER else "equal to"
    return f"I compared them.\nAssistant 1 is {verdict} Assistant 2"


def fair_zh(body: dict[str, Any]) -> str:
    one, two = _slots(body)
    return "分析完毕。\n" + ("助手1优于助手2" if one in BETTER else "助手1劣于助手2" if two in BETTER
                         else "助手1与助手2相当")


def first_slot(body: dict[str, Any]) -> str:
    return "Assistant 1 is better than Assistant 2"


def mumbler(body: dict[str, Any]) -> str:
    return "Both answers have their merits."


def grader(body: dict[str, Any]) -> str:
    text = body["messages"][-1]["content"]
    answer = next(a for a in ANSWERS if a in text)
    equal = any(it.equal and answer in (it.first, it.second) for it in ITEMS)
    return "Rating: [[7]]" if equal else "Rating: [[9]]" if answer in BETTER else "Rating: [[3]]"


def _prompts_test(reply, prompt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                  extra: tuple[str, ...] = ()) -> dict[str, list[str]]:
    with ScriptedServer(reply) as server:
        code = main(["prompts", "test", prompt, "--judge", f"openai:scripted@{server.url}",
                     "--out", str(tmp_path / "cache"), *extra])
    assert code == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[3:]]
    return {r[0]: r[1:] for r in rows}


def test_a_fair_judge_scores_full_marks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _prompts_test(fair_en, "assignment_en", tmp_path, capsys)
    assert rows["all"] == [str(2 * len(ITEMS)), "100.0%", "100.0%", "100.0%"]
    assert set(rows) == {"all", "en", "zh"}


def test_a_fair_chinese_judge_with_the_chinese_prompt(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    rows = _prompts_test(fair_zh, "assignment_zh", tmp_path, capsys)
    assert rows["all"] == [str(2 * len(ITEMS)), "100.0%", "100.0%", "100.0%"]


def test_a_first_slot_judge_is_exposed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _prompts_test(first_slot, "assignment_en", tmp_path, capsys)
    # Right only when the better answer happens to come first: CLEAR of 2 * len(ITEMS) verdicts.
    accuracy = f"{100 * CLEAR / (2 * len(ITEMS)):.1f}%"
    assert rows["all"] == [str(2 * len(ITEMS)), "100.0%", accuracy, "0.0%"]


def test_a_judge_without_labels_has_zero_parse_rate(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    rows = _prompts_test(mumbler, "mtbench_pairwise", tmp_path, capsys)
    assert rows["all"] == [str(2 * len(ITEMS)), "0.0%", "n/a", "n/a"]


def test_single_grading_prompt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _prompts_test(grader, "single_1to10", tmp_path, capsys)
    assert rows["all"][:3] == [str(2 * len(ITEMS)), "100.0%", "100.0%"]


def test_a_new_user_prompt_is_listed_and_used_by_harness_run(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "my_prompts"
    assert main(["prompts", "new", "house_style", "--dir", str(folder)]) == 0
    assert main(["prompts", "list", "--prompts-dir", str(folder)]) == 0
    assert "house_style" in capsys.readouterr().out

    def serve(body: dict[str, Any]) -> str:
        if body["model"] != "judge":  # the candidates
            return f"{body['model']} says: a careful answer."
        text = body["messages"][-1]["content"]
        return "Answer 1 is better" if text.index("good says") < text.index("bad says") else \
            "Answer 2 is better"

    with ScriptedServer(serve) as server:
        out = tmp_path / "run"
        code = main(["run", "--tasks", "en_law", "--limit", "3", "--out", str(out), "--no-progress",
                     "--models", f"good=openai:good@{server.url}", f"bad=openai:bad@{server.url}",
                     "--judge", f"openai:judge@{server.url}", "--prompt", "house_style",
                     "--prompts-dir", str(folder)])
    assert code == 0
    judgments = [json.loads(x) for x in (out / "judgments.jsonl").read_text().splitlines()]
    assert len(judgments) == 6 and {j["prompt"] for j in judgments} == {"house_style"}
    assert {j["winner"] for j in judgments} == {"model_a"}
    rows = (out / "leaderboard.csv").read_text().splitlines()
    assert rows[1].split(",")[1] == "good"
