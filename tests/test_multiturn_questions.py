"""Questions with turns (issue 18, first slice): task files and question files load them,
``questions.jsonl`` keeps them, ``harness tasks show`` shows them; ``harness generate`` answers
every turn (tests/test_multiturn_generation.py); judging them is tests/test_multiturn_judging.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_task_formats import _one_line_error  # one error line, checked the same way

from harness import tasks
from harness.app.cli import main
from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.types import Question, Task

MT_YAML = """\
language: en
domain: testing
description: A conversation task.
questions:
  - id: one
    category: arithmetic
    question: What is 2 plus 2?
    reference: '4'
  - id: two
    category: arithmetic
    turns:
      - What is 3 plus 3?
      - Now double it.
      - And halve that.
    references: ['6', '12', '6']
  - id: three
    category: writing
    turns: [Write a haiku about rain., Now make it about snow.]
    reference: A haiku.
"""

def _tasks_dir(tmp_path: Path, text: str = MT_YAML, name: str = "mt.yaml") -> Path:
    folder = tmp_path / "tasks"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_question_keeps_its_first_turn_in_question() -> None:
    q = Question("q", "First?", "c", "r1", "", ("Second?",), ("r2",))
    assert (q.all_turns, q.is_multi_turn) == (("First?", "Second?"), True)
    single = Question("q", "Only?", "c", "r")
    assert (single.all_turns, single.is_multi_turn, single.turns) == (("Only?",), False, ())
    with pytest.raises(ValueError, match="2 references for 1 later turns"):
        Question("q", "First?", "c", "r1", "", ("Second?",), ("r2", "r3"))


def test_yaml_task_with_turns_loads_turns_and_references(tmp_path: Path) -> None:
    one, two, three = tasks.load_task("mt", [_tasks_dir(tmp_path)]).questions
    assert (one.question, one.reference, one.turns, one.turn_references) == ("What is 2 plus 2?", "4", (), ())
    assert two.all_turns == ("What is 3 plus 3?", "Now double it.", "And halve that.")
    assert (two.reference, two.turn_references) == ("6", ("12", "6"))
    assert (three.question, three.turns) == ("Write a haiku about rain.", ("Now make it about snow.",))
    assert (three.reference, three.turn_references) == ("A haiku.", ())


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    turns: [Write", "    question: Hi?\n    turns: [Write",
         "question three: give either 'question' or 'turns', not both"),
        ("    turns: [Write a haiku about rain., Now make it about snow.]", "    turns: [Only one.]",
         "question three: field 'turns' must list at least 2 user messages"),
        ("    turns: [Write a haiku about rain., Now make it about snow.]", "    turns: Write a haiku.",
         "question three: field 'turns' must be a list of non-empty strings"),
        ("Now make it about snow.]", "'  ']", "question three: field 'turns': entry 2 must be a non-empty string"),
        ("Now make it about snow.]", "7]", "question three: field 'turns': entry 2 must be a non-empty string"),
        ("references: ['6', '12', '6']", "references: ['6', '12']",
         "question two: field 'references' has 2 entries for 3 turns; give one per turn"),
        ("references: ['6', '12', '6']", "references: ['6', '', '6']",
         "question two: field 'references': entry 2 must be a non-empty string"),
        ("references: ['6', '12', '6']", "references: ['6', '12', '6']\n    reference: '6'",
         "question two: give either 'reference' (turn 1's) or 'references' (one per turn), not both"),
        ("    reference: A haiku.", "    refs: A haiku.", "question three: unknown field 'refs' (allowed: id, turns"),
        ("  - id: three\n    category: writing\n", "  - id: three\n",
         "question three: missing field 'category'"),
        ("    reference: A haiku.", "    reference: [A haiku.]", "question three: field 'reference' must be a non-empty"),
    ],
)
def test_bad_turn_fields_are_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           old: str, new: str, message: str) -> None:
    assert old in MT_YAML
    folder = _tasks_dir(tmp_path, MT_YAML.replace(old, new, 1))
    assert main(["tasks", "validate", str(folder / "mt.yaml")]) == 2
    assert _one_line_error(capsys).startswith(f"harness: error: {folder / 'mt.yaml'}: {message}")


def _mt_bench_file(folder: Path) -> Path:
    rows: list[dict[str, Any]] = [
        {"question_id": 81, "category": "writing", "turns": ["Write a note.", "Now in French."]},
        {"question_id": 111, "category": "math", "turns": ["What is 12 times 12?", "And plus 1?"],
         "reference": ["144", "145"]},
    ]
    folder.mkdir(exist_ok=True)
    path = folder / "mt_bench.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_fastchat_two_turn_file_validates_and_shows_every_turn(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = _mt_bench_file(tmp_path / "tasks")
    assert main(["tasks", "validate", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{path}: ok (2 questions)"
    assert main(["tasks", "show", "mt_bench", "--tasks-dir", str(path.parent)]) == 0
    out = capsys.readouterr().out
    assert "[81] (writing) 2 turns\n    turn 1: Write a note.\n    reference 1: (none)\n" \
           "    turn 2: Now in French.\n    reference 2: (none)\n" in out
    assert "[111] (math) 2 turns\n    turn 1: What is 12 times 12?\n    reference 1: 144\n" \
           "    turn 2: And plus 1?\n    reference 2: 145\n" in out


def test_tasks_show_of_a_single_turn_task_is_unchanged(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "show", "mt", "--tasks-dir", str(_tasks_dir(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "[one] (arithmetic) What is 2 plus 2?\n    reference: 4\n\n" in out
    assert "[two] (arithmetic) 3 turns\n    turn 1: What is 3 plus 3?\n    reference 1: 6\n" \
           "    turn 2: Now double it.\n    reference 2: 12\n    turn 3: And halve that.\n    reference 3: 6\n" in out


def test_questions_jsonl_round_trips_turns(tmp_path: Path) -> None:
    task = tasks.load_task("mt", [_tasks_dir(tmp_path)])
    run = tmp_path / "run"
    rundir.write_questions(run, [task])
    rows = [json.loads(line) for line in (run / rundir.QUESTIONS).read_text(encoding="utf-8").splitlines()]
    assert "turns" not in rows[0] and "turn_references" not in rows[0]
    assert (rows[1]["turns"], rows[1]["turn_references"]) == (["Now double it.", "And halve that."], ["12", "6"])
    assert "turn_references" not in rows[2]
    (back,) = rundir.read_questions(run) or []
    assert back.questions == task.questions


def test_single_turn_questions_jsonl_is_byte_identical_to_before(tmp_path: Path) -> None:
    q = Question("q1", "What is 2 plus 2?", "arithmetic", "4", "some context")
    rundir.write_questions(tmp_path / "run", [Task("t", "en", "testing", "A task.", (q,))])
    before = json.dumps({"task": "t", "language": "en", "domain": "testing", "id": "q1",
                         "question": "What is 2 plus 2?", "category": "arithmetic", "reference": "4",
                         "input": "some context"}, ensure_ascii=False) + "\n"
    assert (tmp_path / "run" / rundir.QUESTIONS).read_bytes() == before.encode("utf-8")


@pytest.mark.parametrize("field", ["turns", "turn_references"])
@pytest.mark.parametrize("value", ["Now double it.", [1], {"a": "b"}])
def test_questions_jsonl_turn_fields_are_type_checked(tmp_path: Path, field: str, value: Any) -> None:
    run = tmp_path / "run"
    rundir.write_questions(run, [Task("t", "en", "testing", "", (Question("q1", "Q?", "c", "r"),))])
    row = json.loads((run / rundir.QUESTIONS).read_text(encoding="utf-8"))
    row[field] = value
    (run / rundir.QUESTIONS).write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=f"{rundir.QUESTIONS}:1: .*field '{field}': expected a list of strings"):
        rundir.read_questions(run)


def test_questions_jsonl_with_mismatched_turn_references_is_an_error(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    row = {"task": "t", "language": "en", "domain": "d", "id": "q1", "question": "Q?",
           "turns": ["R?"], "turn_references": ["a", "b"]}
    (run / rundir.QUESTIONS).write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="2 references for 1 later turns"):
        rundir.read_questions(run)


@pytest.mark.parametrize(("turns", "judge_calls"), [("each", 12 + 6), ("last", 6 + 3)])
def test_dry_run_plans_every_turn_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch, turns: str,
                                                     judge_calls: int) -> None:
    """Generation: one call per turn (1 + 3 + 2 per model). Judging by a likelihood judge: both
    orders of every judged turn, plus one content-free call per question and turn."""
    folder = _tasks_dir(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = _files(tmp_path)
    assert main(["run", "--tasks-dir", str(folder), "--tasks", "mt", "--models", "a=embedded", "b=embedded",
                 "--judge", "embedded", "--turns", turns, "--out", str(tmp_path / "run"), "--no-progress",
                 "--dry-run"]) == 0
    rows = {line.split("|")[2].strip(): int(line.split("|")[3]) for line in capsys.readouterr().out.splitlines()
            if line.startswith("| generate") or line.startswith("| judge")}
    assert rows == {"a": 6, "b": 6, "embedded": judge_calls}
    assert _files(tmp_path) == before


def test_run_of_a_single_turn_question_of_the_task_plans_it(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """--limit 1 keeps only the single-turn question, so the dry run plans it."""
    folder = _tasks_dir(tmp_path)
    assert main(["run", "--tasks-dir", str(folder), "--tasks", "mt", "--limit", "1", "--models", "a=embedded",
                 "b=embedded", "--judge", "reference:chrf", "--out", str(tmp_path / "run"), "--no-progress",
                 "--dry-run"]) == 0
    assert not (tmp_path / "run").exists()
