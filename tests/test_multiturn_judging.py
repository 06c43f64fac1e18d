"""Judging multi-turn questions (issue 18): scripted candidates and judges over HTTP.

Each candidate answers turn k in its own conversation; the judge sees both assistants' whole
conversations up to the judged turn, each kept apart, in both orders, for every turn (``--turns
each``) or the last (``--turns last``); battles and leaderboards come per turn and overall. A
single-turn run keeps its cache keys and files.
"""

from __future__ import annotations

import csv
import json
import math
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from scipy.optimize import minimize_scalar
from test_endpoints import ChatServer  # the recording OpenAI-compatible server
from test_multiturn_generation import SINGLE_YAML, _key, _tasks_dir  # noqa: F401 (_key: autouse fixture)
from test_multiturn_questions import _mt_bench_file

from harness.app.cli import main
from harness.core import rundir
from harness.judges.prompts import load_prompt
from harness.models.cache import cache_key
from harness.stats.bradley_terry import C_PENALTY, PRIOR_SD

MIXED_YAML = """\
language: en
domain: testing
description: Two two-turn questions and a single-turn one.
questions:
  - id: add
    category: arithmetic
    turns: ['What is 3 plus 3?', Now double it.]
    references: ['6', '12']
  - id: poem
    category: writing
    turns: [Write a line about rain., Now about snow.]
    references: [A line about rain., A line about snow.]
  - id: single
    category: arithmetic
    question: What is 2 plus 2?
    reference: '4'
"""
USERS = {"add": ("What is 3 plus 3?", "Now double it."),
         "poem": ("Write a line about rain.", "Now about snow.")}
CONV_1 = ("===== Conversation with Assistant 1 =====", "===== End of the conversation with Assistant 1 =====")
CONV_2 = ("===== Conversation with Assistant 2 =====", "===== End of the conversation with Assistant 2 =====")
LABELS = {True: "Assistant 1 is better than Assistant 2", False: "Assistant 1 is worse than Assistant 2"}


def candidate(body: dict[str, Any]) -> str:
    """An answer that says whose it is, which turn of its conversation, and to what."""
    turn = sum(m["role"] == "user" for m in body["messages"])
    return f"{body['model']} answers turn {turn}: {body['messages'][-1]['content']}"


def section(text: str, marks: tuple[str, str]) -> str:
    start, end = text.index(marks[0]), text.index(marks[1])
    assert start < end
    return text[start + len(marks[0]):end]


def judged_turn(text: str) -> int:
    return int(re.search(r"message number (\d+)", text).group(1))  # type: ignore[union-attr]


def judge(body: dict[str, Any]) -> str:
    """Turn 1 (and single-turn questions): alpha's answer is better; turn 2: beta's."""
    text = body["messages"][-1]["content"]
    if CONV_1[0] not in text:  # the single-turn prompt (assignment_en)
        first = text.split("Assistant 1: ", 1)[1].split("Assistant 2: ", 1)[0]
        return f"Reasoning.\n{LABELS['alpha answers' in first]}"
    wanted = "alpha" if judged_turn(text) == 1 else "beta"
    return f"Reasoning.\n{LABELS[f'{wanted} answers' in section(text, CONV_1)]}"


def reply(body: dict[str, Any]) -> str:
    return judge(body) if body["model"] == "judge" else candidate(body)


def _run(server: ChatServer, folder: Path, task: str, out: Path, *extra: str) -> list[str]:
    return ["run", "--tasks-dir", str(folder), "--tasks", task, "--out", str(out), "--no-progress",
            "--models", f"a=openai:alpha@{server.url}", f"b=openai:beta@{server.url}",
            "--judge", f"openai:judge@{server.url}", "--report", "none", *extra]


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _bt_two_models(wins: int, losses: int) -> tuple[float, float]:
    """Bradley-Terry for two models, computed apart from harness.stats: maximise the duplicated
    design's log-likelihood (each battle counted twice), minus the Gaussian prior on each
    log-strength only where one model won every battle (no maximum-likelihood estimate exists
    there); by symmetry the two strengths are +t and -t. On the Elo scale."""
    swept = wins == 0 or losses == 0
    ridge = 1.0 / (C_PENALTY * math.log(10) ** 2) + (2.0 / PRIOR_SD**2 if swept else 0.0)

    def loss(t: float) -> float:
        p = 1.0 / (1.0 + math.exp(-2 * t))
        return -2 * (wins * math.log(p) + losses * math.log(1 - p)) + ridge * t * t

    t = minimize_scalar(loss, bounds=(-20, 20), method="bounded", options={"xatol": 1e-10}).x
    return tuple(400 * s / math.log(10) + 1000 for s in (t, -t))  # type: ignore[return-value]


def test_every_turn_is_judged_in_both_orders_with_both_conversations_apart(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, out = _tasks_dir(tmp_path, MIXED_YAML, "mixed"), tmp_path / "run"
    with ChatServer(reply=reply) as server:
        assert main(_run(server, folder, "mixed", out)) == 0
        requests = list(server.requests)
        capsys.readouterr()
        assert main(_run(server, folder, "mixed", out)) == 0  # re-running asks nothing
        assert len(server.requests) == len(requests)
        assert "model calls: none" in capsys.readouterr().err
    asked = [r for r in requests if r["model"] != "judge"]
    judged = [r["messages"][-1]["content"] for r in requests if r["model"] == "judge"]

    # Candidates: turn 2 holds turn 1's question and that candidate's own turn-1 answer.
    for r in asked:
        if len(r["messages"]) == 3:
            t1, t2 = next(pair for pair in USERS.values() if pair[0] == r["messages"][0]["content"])
            assert r["messages"] == [{"role": "user", "content": t1},
                                     {"role": "assistant", "content": f"{r['model']} answers turn 1: {t1}"},
                                     {"role": "user", "content": t2}]
    assert len(asked) == 2 * (2 * 2 + 1)

    # Judge: every multi-turn request shows both conversations in full up to the judged turn,
    # each one model's, one after the other (never interleaved); nothing after the judged turn.
    seen = set()
    for text in judged:
        if CONV_1[0] not in text:
            continue
        turn = judged_turn(text)
        one, two = section(text, CONV_1), section(text, CONV_2)
        assert text.index(CONV_1[1]) < text.index(CONV_2[0])
        qid = next(q for q, users in USERS.items() if users[0] in one)
        first = "alpha" if "alpha answers" in one else "beta"
        second = "beta" if first == "alpha" else "alpha"
        for conv, model, other in ((one, first, second), (two, second, first)):
            assert other not in conv
            for k in range(1, 3):
                user = USERS[qid][k - 1]
                assert (user in conv) == (k <= turn)
                assert (f"{model} answers turn {k}: {user}" in conv) == (k <= turn)
        seen.add((qid, turn, first))
    # Both orders of every turn of both multi-turn questions; the single-turn one in both orders.
    assert seen == {(q, t, m) for q in USERS for t in (1, 2) for m in ("alpha", "beta")}
    assert len(judged) == 2 * 2 * 2 + 2

    judgments = _rows(out / rundir.JUDGMENTS)
    assert sorted((j["question_id"], j.get("turn"), j["order"]) for j in judgments) == sorted(
        [(q, t, o) for q in USERS for t in (1, 2) for o in ("ab", "ba")] + [("single", None, "ab"),
                                                                           ("single", None, "ba")])
    assert {j["prompt"] for j in judgments if "turn" in j} == {"multiturn_en"}
    assert {j["prompt"] for j in judgments if "turn" not in j} == {"assignment_en"}

    # Battles, by hand: alpha wins turn 1 and the single question, beta wins turn 2.
    battles = {(b["question_id"], b.get("turn")): b["winner"] for b in _rows(out / rundir.BATTLES)}
    assert battles == {("add", 1): "model_a", ("poem", 1): "model_a", ("add", 2): "model_b",
                       ("poem", 2): "model_b", ("single", None): "model_a"}

    # Leaderboards: overall (3 wins to 2) and per turn (2-0 each way), against an independent fit.
    overall = {r["model"]: r for r in _csv(out / rundir.LEADERBOARD_CSV)}
    assert [(overall[m]["wins"], overall[m]["losses"]) for m in "ab"] == [("3", "2"), ("2", "3")]
    a_bt, b_bt = _bt_two_models(3, 2)
    assert float(overall["a"]["bt"]) == pytest.approx(a_bt, abs=0.051)
    assert float(overall["b"]["bt"]) == pytest.approx(b_bt, abs=0.051)
    by_turn = {(r["turn"], r["model"]): r for r in _csv(out / rundir.TURN_LEADERBOARD_CSV)}
    assert sorted(by_turn) == [(t, m) for t in "12" for m in "ab"]
    sweep_bt = _bt_two_models(2, 0)
    for turn, winner, loser in (("1", "a", "b"), ("2", "b", "a")):
        assert (by_turn[(turn, winner)]["wins"], by_turn[(turn, winner)]["losses"]) == ("2", "0")
        assert (by_turn[(turn, loser)]["wins"], by_turn[(turn, loser)]["losses"]) == ("0", "2")
        assert float(by_turn[(turn, winner)]["bt"]) == pytest.approx(sweep_bt[0], abs=0.051)
        assert float(by_turn[(turn, loser)]["bt"]) == pytest.approx(sweep_bt[1], abs=0.051)
        assert by_turn[(turn, winner)]["rank"] == "1"


def test_turns_last_judges_only_the_last_turn_with_the_whole_conversation(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, out = _tasks_dir(tmp_path, MIXED_YAML, "mixed"), tmp_path / "run"
    with ChatServer(reply=reply) as server:
        assert main(_run(server, folder, "mixed", out, "--turns", "last")) == 0
        judged = [r["messages"][-1]["content"] for r in server.requests if r["model"] == "judge"]
    capsys.readouterr()
    turns = [judged_turn(t) for t in judged if CONV_1[0] in t]
    assert turns == [2] * 4  # two questions, both orders, the last turn only
    for text in judged:
        if CONV_1[0] in text:
            assert all(u in section(text, CONV_1) and u in section(text, CONV_2) for u in
                       next(us for us in USERS.values() if us[0] in text))
    battles = {(b["question_id"], b.get("turn")): b["winner"] for b in _rows(out / rundir.BATTLES)}
    assert battles == {("add", 2): "model_b", ("poem", 2): "model_b", ("single", None): "model_a"}
    assert [r["turn"] for r in _csv(out / rundir.TURN_LEADERBOARD_CSV)] == ["2", "2"]
    assert yaml.safe_load((out / rundir.CONFIG).read_text(encoding="utf-8"))["judge"][0]["turns"] == "last"


def grader(body: dict[str, Any]) -> str:
    """A single-answer grader: alpha's answers get 9 at turn 1 and 3 at turn 2, beta's the reverse."""
    if body["model"] != "judge":
        return candidate(body)
    text = body["messages"][-1]["content"]
    alpha = "alpha answers" in text
    turn = judged_turn(text) if "===== Conversation =====" in text else 1
    return f"Fine.\nRating: [[{9 if alpha == (turn == 1) else 3}]]"


def test_single_answer_grading_works_per_turn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, out = _tasks_dir(tmp_path, MIXED_YAML, "mixed"), tmp_path / "run"
    with ChatServer(reply=grader) as server:
        assert main(_run(server, folder, "mixed", out, "--prompt", "single_1to10")) == 0
        judged = [r["messages"][-1]["content"] for r in server.requests if r["model"] == "judge"]
    capsys.readouterr()
    # One grade per model and judged turn (2 questions x 2 turns) plus the single question's.
    assert len(judged) == 2 * (2 * 2 + 1)
    for text in judged:
        if "===== Conversation =====" in text:
            conv = section(text, ("===== Conversation =====", "===== End of the conversation ====="))
            assert conv.count("answers turn") == judged_turn(text)
    grades = {(g["model"], g["question_id"], g.get("turn")): g["score"] for g in _rows(out / rundir.GRADES)}
    assert grades[("a", "add", 1)] == 9 and grades[("a", "add", 2)] == 3
    assert grades[("b", "poem", 1)] == 3 and grades[("b", "poem", 2)] == 9
    assert {g["prompt"] for g in _rows(out / rundir.GRADES) if "turn" in g} == {"multiturn_single_en"}
    battles = {(b["question_id"], b.get("turn")): b["winner"] for b in _rows(out / rundir.BATTLES)}
    assert battles == {("add", 1): "model_a", ("poem", 1): "model_a", ("add", 2): "model_b",
                       ("poem", 2): "model_b", ("single", None): "model_a"}


def test_a_fastchat_question_file_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _mt_bench_file(tmp_path / "tasks")
    out = tmp_path / "run"

    def mt_judge(body: dict[str, Any]) -> str:
        if body["model"] != "judge":
            return candidate(body)
        text = body["messages"][-1]["content"]
        return f"Ok.\n{LABELS['alpha answers' in section(text, CONV_1)]}"

    with ChatServer(reply=mt_judge) as server:
        assert main(_run(server, path.parent, "mt_bench", out)) == 0
    capsys.readouterr()
    judgments = _rows(out / rundir.JUDGMENTS)
    assert sorted((j["question_id"], j["turn"], j["order"]) for j in judgments) == sorted(
        (q, t, o) for q in ("81", "111") for t in (1, 2) for o in ("ab", "ba"))
    answers = {a.question_id: a.all_turns for a in rundir.read_answers(out) if a.model == "a"}
    assert answers["111"] == ("alpha answers turn 1: What is 12 times 12?", "alpha answers turn 2: And plus 1?")
    assert [(r["model"], r["wins"]) for r in _csv(out / rundir.LEADERBOARD_CSV)] == [("a", "4"), ("b", "0")]
    assert sorted((r["turn"], r["model"], r["wins"]) for r in _csv(out / rundir.TURN_LEADERBOARD_CSV)) == [
        ("1", "a", "2"), ("1", "b", "0"), ("2", "a", "2"), ("2", "b", "0")]


def test_a_single_turn_run_keeps_its_files_and_cache_keys(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    folder, out = _tasks_dir(tmp_path, SINGLE_YAML, "single"), tmp_path / "run"
    with ChatServer(reply=reply) as server:
        assert main(_run(server, folder, "single", out)) == 0
        assert len(server.requests) == 4
        capsys.readouterr()
        assert main(_run(server, folder, "single", out)) == 0
        assert len(server.requests) == 4  # the cached run re-runs with zero calls
        assert "model calls: none; cached: 4" in capsys.readouterr().err
    # Rows as before turns existed: no "turn" anywhere, no per-turn leaderboard, no new config keys.
    for name in (rundir.JUDGMENTS, rundir.BATTLES):
        assert all("turn" not in row for row in _rows(out / name))
    assert not (out / rundir.TURN_LEADERBOARD_CSV).exists()
    judge_config = yaml.safe_load((out / rundir.CONFIG).read_text(encoding="utf-8"))["judge"][0]
    assert "turns" not in judge_config and "turn_prompt" not in judge_config
    # The judge's cache keys, computed as the code before multi-turn judging computed them.
    prompt = load_prompt("assignment_en")
    base = {"judge": f"openai:judge@{server.url}", "method": "generate", "prompt": "assignment_en",
            "prompt_hash": prompt.hash, "decoding": {"max_new_tokens": 512, "temperature": 0.0, "top_k": 0,
                                                     "top_p": 1.0, "num_beams": 1, "seed": 0}}
    answers = {"a": "alpha answers turn 1: What is 2 plus 2?", "b": "beta answers turn 1: What is 2 plus 2?"}
    expected = {cache_key("judge", {**base, "order": order,
                                    "messages": prompt.render("What is 2 plus 2?", answers[x], answers[y],
                                                              reference="4")})
                for order, x, y in (("ab", "a", "b"), ("ba", "b", "a"))}
    with sqlite3.connect(out / rundir.CACHE) as con:
        keys = {row[0] for row in con.execute("SELECT key FROM calls")}
    assert expected <= keys and len(keys) == 4


def test_a_turn_prompt_of_the_wrong_kind_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, out = _tasks_dir(tmp_path, MIXED_YAML, "mixed"), tmp_path / "run"
    for extra, message in (
            (["--turn-prompt", "assignment_en"], "turn prompt 'assignment_en' is a pairwise prompt; multi-turn "
             "questions need a pairwise_turns or single_turns prompt (e.g. multiturn_en)"),
            (["--turn-prompt", "multiturn_single_en"], "turn prompt 'multiturn_single_en' (single_turns) and "
             "judge prompt 'assignment_en' (pairwise) give different kinds of verdict; pick a matching pair")):
        code = main(["run", "--tasks-dir", str(folder), "--tasks", "mixed", "--out", str(out), "--no-progress",
                     "--judge", "openai:judge@http://127.0.0.1:9/v1", *extra])
        assert code == 2
        assert capsys.readouterr().err.strip() == f"harness: error: {message}"
        assert not out.exists()


MT_ONLY_YAML = MIXED_YAML.split("  - id: single")[0].replace("Two two-turn questions and a single-turn one.",
                                                            "Two two-turn questions.")


def last_answer(conv: str, slot: str) -> str:
    return conv.rsplit(f"[Assistant {slot}, answer ", 1)[1]


def reads_context(body: dict[str, Any]) -> str:
    """A judge that reads the conversation: the better answer to turn k is the one given as turn k."""
    if body["model"] != "judge":
        return candidate(body)
    text = body["messages"][-1]["content"]
    wanted = f"answers turn {judged_turn(text)}:"
    return f"Hm.\n{LABELS[wanted in last_answer(section(text, CONV_1), '1')]}"


def ignores_context(body: dict[str, Any]) -> str:
    """A judge that reads the last answers alone and prefers one that reads as a fresh question."""
    if body["model"] != "judge":
        return candidate(body)
    text = body["messages"][-1]["content"]
    return f"Hm.\n{LABELS['answers turn 1:' in last_answer(section(text, CONV_1), '1')]}"


@pytest.mark.parametrize(("judge_reply", "rate"), [(reads_context, 0.0), (ignores_context, 1.0)])
def test_the_ignores_earlier_turns_probe_catches_a_judge_that_ignores_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], judge_reply: Any, rate: float) -> None:
    folder, out = _tasks_dir(tmp_path, MT_ONLY_YAML, "mt"), tmp_path / "run"
    with ChatServer(reply=judge_reply) as server:
        assert main(_run(server, folder, "mt", out)) == 0
        sent = len(server.requests)
        assert main(["bias", "--run", str(out), "--judge", f"openai:judge@{server.url}", "--tasks-dir",
                     str(folder), "--probes", "ignores_earlier_turns", "--no-progress"]) == 0
        later = server.requests[sent:]
    capsys.readouterr()
    # The altered answers: each multi-turn question's last turn, asked alone of the model that
    # answered it (alpha's answers are probed: the first model), through the cache.
    alone = [r for r in later if r["model"] != "judge"]
    assert sorted(r["messages"][-1]["content"] for r in alone) == sorted(u[1] for u in USERS.values())
    assert all(len(r["messages"]) == 1 for r in alone)
    perturbations = _rows(out / rundir.PERTURBATIONS)
    assert {(p["question_id"], p["turn"], p["original"], p["perturbed"]) for p in perturbations} == {
        (q, 2, f"alpha answers turn 2: {u[1]}", f"alpha answers turn 1: {u[1]}") for q, u in USERS.items()}
    # Judged in both orders, each request showing both conversations with the same first turn.
    rows = _rows(out / rundir.PROBE_JUDGMENTS)
    assert sorted((r["question_id"], r["order"]) for r in rows) == sorted(
        (q, o) for q in USERS for o in ("original first", "perturbed first"))
    checks = {r["check"]: r for r in _csv(out / rundir.BIAS_CSV)}
    probe = checks["probe: ignores_earlier_turns"]
    assert float(probe["value"]) == rate and probe["n"] == "4"


ZH_YAML = """\
language: zh
domain: testing
description: 两轮对话。
questions:
  - id: add
    category: arithmetic
    turns: [三加三等于几？, 再乘以二呢？]
    references: ['6', '12']
"""


def test_a_chinese_run_judges_turns_with_the_chinese_prompt(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    folder, out = _tasks_dir(tmp_path, ZH_YAML, "zh_mt"), tmp_path / "run"
    marks = ("===== 与助手1的对话 =====", "===== 与助手1的对话结束 =====")

    def zh_judge(body: dict[str, Any]) -> str:
        if body["model"] != "judge":
            return candidate(body)
        text = body["messages"][-1]["content"]
        turn = int(re.search(r"第 (\d+) 条消息（展示的最后一条）", text).group(1))  # type: ignore[union-attr]
        first = section(text, marks)
        assert first.count("answers turn") == turn and ("再乘以二呢？" in text) == (turn == 2)
        wanted = "alpha" if turn == 1 else "beta"
        return f"理由。\n{'助手1优于助手2' if f'{wanted} answers' in first else '助手1劣于助手2'}"

    with ChatServer(reply=zh_judge) as server:
        assert main(_run(server, folder, "zh_mt", out, "--prompt", "assignment_zh")) == 0
    capsys.readouterr()
    judgments = _rows(out / rundir.JUDGMENTS)
    assert {j["prompt"] for j in judgments} == {"multiturn_zh"} and len(judgments) == 4
    battles = {b["turn"]: b["winner"] for b in _rows(out / rundir.BATTLES)}
    assert battles == {1: "model_a", 2: "model_b"}


@pytest.mark.slow
def test_the_embedded_model_runs_the_built_in_multi_turn_task_offline(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    """The default candidates (the embedded model decoding three ways) and the embedded judge."""
    assert main(["run", "--tasks", "en_finance_mt", "--limit", "1", "--judge", "embedded", "--out", str(out),
                 "--no-progress", "--report", "none"]) == 0
    capsys.readouterr()
    answers = rundir.read_answers(out)
    assert len(answers) == 3 and all(len(a.all_turns) == 2 and all(a.all_turns) for a in answers)
    judgments = _rows(out / rundir.JUDGMENTS)
    assert sorted((j["turn"], j["order"]) for j in judgments) == sorted(
        [(t, o) for t in (1, 2) for o in ("ab", "ba")] * 3)
    assert {(j["prompt"], j["method"]) for j in judgments} == {("multiturn_en", "likelihood")}
    assert all(j["winner"] != "error" for j in judgments)
    assert sorted(r["turn"] for r in _csv(out / rundir.TURN_LEADERBOARD_CSV)) == ["1"] * 3 + ["2"] * 3


def test_people_and_doubt_scores_read_the_last_judged_turn() -> None:
    """A person votes on the whole conversation, which the judge saw at the last turn: alpha wins
    turn 1 and beta turn 2, the person says beta, so they agree; the differing turns are no doubt."""
    from harness.core.types import Answer, HumanLabel, Judgment
    from harness.stats.agreement import agreement
    from harness.web.items import run_pairs

    def said(turn: int, order: str, winner: str) -> Judgment:
        return Judgment("t", "q1", "a", "b", order, winner, "", "j", "generate", "p", "h", "",  # type: ignore[arg-type]
                        turn=turn)

    judgments = [said(1, o, "model_a") for o in ("ab", "ba")] + [said(2, o, "model_b") for o in ("ab", "ba")]
    report = agreement(labels=[HumanLabel("t", "q1", "a", "b", "model_b", "ann")], judgments=judgments)
    row = report.judges[0]
    assert (row.n, row.agree) == (1, 1)
    answers = [Answer(m, "t", "q1", "x", turns=("y",)) for m in "ab"]
    assert [p.doubt for p in run_pairs(answers, judgments)] == [0]
    assert [p.doubt for p in run_pairs(answers, judgments[:2] + [said(2, "ab", "model_b"),
                                                                 said(2, "ba", "model_a")])] == [1]


def test_a_misspelt_turn_prompt_is_an_error_even_without_multi_turn_questions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    for command in (["run", "--tasks", "en_law", "--limit", "1", "--dry-run"],
                    ["run", "--tasks", "en_law", "--limit", "1"]):
        assert main([*command, "--out", str(out), "--no-progress", "--turn-prompt", "multiturn_eng"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("harness: error: unknown judge prompt 'multiturn_eng'; known: ") and "\n" not in err
        assert not out.exists()


def rich_lover(body: dict[str, Any]) -> str:
    """A judge fooled by formatting: the answer with a Markdown header wins; without one, the first."""
    if body["model"] != "judge":
        return candidate(body)
    text = body["messages"][-1]["content"]
    if CONV_1[0] in text:
        first, second = last_answer(section(text, CONV_1), "1"), last_answer(section(text, CONV_2), "2")
    else:
        first, second = text.split("Assistant 1: ", 1)[1].split("Assistant 2: ", 1)
    header = re.compile(r"(?:^|\n)#+ ")
    return f"Hm.\n{LABELS[bool(header.search(first)) or not header.search(second)]}"


def test_rule_probes_alter_the_last_turn_of_a_conversation(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A rule probe on a multi-turn answer alters its last turn and is judged with the turns prompt,
    both conversations shown with the same earlier turns; single-turn answers are altered whole."""
    folder, out = _tasks_dir(tmp_path, MIXED_YAML, "mixed"), tmp_path / "run"
    with ChatServer(reply=rich_lover) as server:
        assert main(_run(server, folder, "mixed", out)) == 0
        sent = len(server.requests)
        assert main(["bias", "--run", str(out), "--judge", f"openai:judge@{server.url}", "--tasks-dir",
                     str(folder), "--probes", "rich_content", "prompt_injection", "--no-progress"]) == 0
        probes = [r["messages"][-1]["content"] for r in server.requests[sent:]
                  if r["model"] == "judge"]
    capsys.readouterr()
    perturbations = {(p["probe"], p["question_id"]): p for p in _rows(out / rundir.PERTURBATIONS)}
    for qid, users in USERS.items():
        p = perturbations[("rich_content", qid)]
        assert p["turn"] == 2 and p["original"] == f"alpha answers turn 2: {users[1]}"
        assert p["perturbed"] != p["original"] and p["perturbed"].startswith("#")
        # prompt_injection speaks the turns prompt's labels (the judge reads those in a conversation).
        assert perturbations[("prompt_injection", qid)]["turn"] == 2
    assert "turn" not in perturbations[("rich_content", "single")]
    # Each judge request on an altered turn: turn 1 the same in both conversations, turn 2 altered
    # in one of them.
    altered = perturbations[("rich_content", "add")]["perturbed"]
    shown = [t for t in probes if CONV_1[0] in t and altered.splitlines()[0] in t and "What is 3 plus 3?" in t]
    assert len(shown) == 2
    for text in shown:
        one, two = section(text, CONV_1), section(text, CONV_2)
        assert one.split("[Assistant 1, answer 2]")[0].replace("Assistant 1", "X") == \
            two.split("[Assistant 2, answer 2]")[0].replace("Assistant 2", "X")
        assert (altered.splitlines()[0] in one) != (altered.splitlines()[0] in two)
    rows = [r for r in _rows(out / rundir.PROBE_JUDGMENTS) if r["probe"] == "rich_content"]
    assert {r.get("turn") for r in rows} == {None, 2}
    rate = {r["check"]: float(r["value"]) for r in _csv(out / rundir.BIAS_CSV)}["probe: rich_content"]
    assert rate == 1.0  # the header wins in both orders, on every question
