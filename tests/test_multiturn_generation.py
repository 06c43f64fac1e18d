"""Generation of multi-turn questions (issue 18, second slice): each model answers turn k in one
conversation holding the earlier user turns and its own earlier answers; each turn is a cached call
of its own; ``answers.jsonl`` keeps every turn's answer; single-turn runs are unchanged."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from test_endpoints import ChatServer  # the recording OpenAI-compatible server

from harness.app.cli import main
from harness.core import rundir
from harness.core.types import Answer, DecodingParams, Question
from harness.models.cache import cache_key
from harness.models.generate import question_messages, turn_messages

TWO_TURN_YAML = """\
language: en
domain: testing
description: A two-turn task.
questions:
  - id: add
    category: arithmetic
    turns:
      - What is 3 plus 3?
      - Now double it.
    references: ['6', '12']
  - id: poem
    category: writing
    turns:
      - Write a line about rain.
      - Now about snow.
"""

FIRST_TURNS_YAML = """\
language: en
domain: testing
description: Turn 1 of the two-turn task.
questions:
  - id: add
    category: arithmetic
    question: What is 3 plus 3?
    reference: '6'
  - id: poem
    category: writing
    question: Write a line about rain.
    reference: A line.
"""

SINGLE_YAML = """\
language: en
domain: testing
description: A single-turn task.
questions:
  - id: q1
    category: arithmetic
    question: What is 2 plus 2?
    reference: '4'
"""


def reply(body: dict[str, Any]) -> str:
    """Depends on the model and the whole conversation, so every answer tells whose it is."""
    return f"{body['model']} answers turn {sum(m['role'] == 'user' for m in body['messages'])}: " \
           f"{body['messages'][-1]['content']}"


def _tasks_dir(tmp_path: Path, text: str, name: str) -> Path:
    folder = tmp_path / "tasks"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


def _generate(server: ChatServer, folder: Path, task: str, out: Path, *extra: str) -> list[str]:
    return ["generate", "--tasks-dir", str(folder), "--tasks", task, "--out", str(out), "--no-progress",
            "--models", f"a=openai:alpha@{server.url}", f"b=openai:beta@{server.url}", *extra]


def _cache_keys(run_dir: Path) -> set[str]:
    with sqlite3.connect(run_dir / rundir.CACHE) as con:
        return {row[0] for row in con.execute("SELECT key FROM calls")}


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def test_turn_messages_alternate_user_turns_with_the_models_own_answers() -> None:
    q = Question("q", "First?", "c", "r", "some context", ("Second?", "Third?"))
    assert turn_messages(q, [], "Be brief.") == question_messages(q, "Be brief.")
    assert turn_messages(q, ["A1", "A2"]) == [
        {"role": "user", "content": "First?\n\nsome context"}, {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Second?"}, {"role": "assistant", "content": "A2"},
        {"role": "user", "content": "Third?"}]
    with pytest.raises(ValueError, match="has 3 turns; 3 are answered already"):
        turn_messages(q, ["A1", "A2", "A3"])


def test_generate_asks_each_turn_with_that_models_own_earlier_answers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _tasks_dir(tmp_path, TWO_TURN_YAML, "mt")
    out = tmp_path / "run"
    with ChatServer(reply=reply) as server:
        assert main(_generate(server, folder, "mt", out)) == 0
        first = list(server.requests)
        # Two questions x two candidates x two turns.
        assert len(first) == 8
        turn_1 = [r for r in first if len(r["messages"]) == 1]
        turn_2 = [r for r in first if len(r["messages"]) == 3]
        assert len(turn_1) == len(turn_2) == 4
        questions = {"add": ("What is 3 plus 3?", "Now double it."),
                     "poem": ("Write a line about rain.", "Now about snow.")}
        for model in ("alpha", "beta"):
            for t1, t2 in questions.values():
                own = f"{model} answers turn 1: {t1}"
                assert [r["messages"] for r in turn_2 if r["model"] == model and
                        r["messages"][0]["content"] == t1] == [[
                            {"role": "user", "content": t1}, {"role": "assistant", "content": own},
                            {"role": "user", "content": t2}]]

        rows = [json.loads(line) for line in (out / rundir.ANSWERS).read_text(encoding="utf-8").splitlines()]
        got = {(r["model"], r["question_id"]): (r["answer"], r["turns"]) for r in rows}
        assert got == {
            (name, qid): (f"{model} answers turn 1: {t1}", [f"{model} answers turn 2: {t2}"])
            for name, model in (("a", "alpha"), ("b", "beta")) for qid, (t1, t2) in questions.items()}
        back = {(a.model, a.question_id): a.all_turns for a in rundir.read_answers(out)}
        assert back == {k: (v[0], *v[1]) for k, v in got.items()}
        assert len(_cache_keys(out)) == 8  # each turn is a cached call of its own
        capsys.readouterr()

        before = (out / rundir.ANSWERS).read_bytes()
        assert main(_generate(server, folder, "mt", out)) == 0
        assert len(server.requests) == 8  # a re-run makes zero calls
        assert "model calls: none; cached: 8" in capsys.readouterr().err
        assert (out / rundir.ANSWERS).read_bytes() == before


def test_an_interrupted_multi_turn_run_resumes_from_the_cache(tmp_path: Path) -> None:
    """Turn 1 is cached by a first run; a second run asks turn 2 only."""
    folder = _tasks_dir(tmp_path, TWO_TURN_YAML, "mt")
    out = tmp_path / "run"
    with ChatServer(reply=reply) as server:
        # Turn 1 of both questions for alpha only, as a run stopped after it would leave them.
        single = _tasks_dir(tmp_path, FIRST_TURNS_YAML, "mt_first")
        assert main(["generate", "--tasks-dir", str(single), "--tasks", "mt_first", "--out", str(out),
                     "--no-progress", "--models", f"a=openai:alpha@{server.url}"]) == 0
        assert len(server.requests) == 2
        assert main(_generate(server, folder, "mt", out)) == 0
        later = server.requests[2:]
    assert sorted((r["model"], len(r["messages"])) for r in later) == [
        ("alpha", 3), ("alpha", 3), ("beta", 1), ("beta", 1), ("beta", 3), ("beta", 3)]


def test_a_single_turn_run_keeps_its_rows_and_cache_keys(tmp_path: Path) -> None:
    folder = _tasks_dir(tmp_path, SINGLE_YAML, "single")
    out = tmp_path / "run"
    with ChatServer(reply=reply) as server:
        assert main(_generate(server, folder, "single", out)) == 0
        assert [r["messages"] for r in server.requests] == [[{"role": "user", "content": "What is 2 plus 2?"}]] * 2
    decoding = DecodingParams().to_row()
    # The rows and keys the code before multi-turn generation wrote.
    old_rows = [{"model": name, "task": "single", "question_id": "q1",
                 "answer": f"{model} answers turn 1: What is 2 plus 2?",
                 "spec": f"openai:{model}@{server.url}", "decoding": decoding}
                for name, model in (("a", "alpha"), ("b", "beta"))]
    expected = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in old_rows)
    assert (out / rundir.ANSWERS).read_text(encoding="utf-8") == expected
    assert _cache_keys(out) == {
        cache_key("generate", {"spec": f"openai:{model}@{server.url}", "decoding": decoding,
                               "messages": [{"role": "user", "content": "What is 2 plus 2?"}]})
        for model in ("alpha", "beta")}


def test_answer_turns_round_trip_and_are_type_checked(tmp_path: Path) -> None:
    single = Answer("m", "t", "q1", "A.")
    assert "turns" not in single.to_row() and single.all_turns == ("A.",)
    multi = Answer("m", "t", "q2", "A.", turns=("B.", "C."))
    assert multi.to_row()["turns"] == ["B.", "C."]
    run = tmp_path / "run"
    rundir.write_answers(run, [single, multi])
    assert rundir.read_answers(run) == [single, multi]
    for bad in ("B.", [1], {"a": "b"}):
        with pytest.raises(ValueError, match="field 'turns': expected a list of strings"):
            Answer.from_row({**single.to_row(), "turns": bad})


def test_a_bad_turns_field_in_answers_jsonl_is_one_line(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    rundir.write_answers(run, [Answer(m, "t", "q1", "A.") for m in ("a", "b")])
    path = run / rundir.ANSWERS
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[1]["turns"] = "B."
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["judge", str(run), "--judge", "reference:chrf", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"harness: error: {path}:2: ") and "'turns'" in err[0], err
