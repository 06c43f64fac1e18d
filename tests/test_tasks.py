from __future__ import annotations

from pathlib import Path

import pytest

from harness import tasks
from harness.app.cli import main
from harness.core.errors import HarnessError

BUILTIN = ["en_law", "en_medical", "en_finance", "zh_law", "zh_medical", "zh_finance"]
MULTI_TURN = ["en_finance_mt", "zh_finance_mt"]
"""The built-in multi-turn tasks: ten two-turn conversations each."""


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_task_has_20_unique_questions(name: str) -> None:
    task = tasks.load_task(name)
    assert task.id == name
    assert len(task.questions) == 20
    assert len({q.id for q in task.questions}) == 20
    assert all(q.question and q.reference and q.category for q in task.questions)


@pytest.mark.parametrize("name", [n for n in BUILTIN if n.startswith("zh_")])
def test_chinese_tasks_are_written_in_chinese(name: str) -> None:
    for q in tasks.load_task(name).questions:
        assert sum("\u4e00" <= c <= "\u9fff" for c in q.question) >= 4, q.id


def test_builtin_tasks_are_exactly_the_six_and_the_two_multi_turn_ones() -> None:
    assert sorted(tasks.available()) == sorted(BUILTIN + MULTI_TURN)


@pytest.mark.parametrize("name", MULTI_TURN)
def test_builtin_multi_turn_task_has_ten_two_turn_questions_with_references(name: str) -> None:
    task = tasks.load_task(name)
    assert task.language == name[:2] and len(task.questions) == 10
    assert len({q.id for q in task.questions}) == 10
    for q in task.questions:
        assert len(q.all_turns) == 2 and all(q.all_turns) and all(q.all_references) and q.category
        if name.startswith("zh_"):
            assert all(sum("\u4e00" <= c <= "\u9fff" for c in t) >= 4 for t in q.all_turns), q.id


def test_user_task_dir_adds_a_task(task_file: Path) -> None:
    found = tasks.load_task("mini_math", [task_file.parent])
    assert found.questions[1].question == "What is 2 plus 2?"
    assert found.questions[1].reference == "4"


def _break(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    reference: '6'\n", "", "question q03: missing field 'reference'"),
        ("    category: arithmetic\n    question: What is 5", "    category: arithmetic\n    answer: x\n"
         "    question: What is 5", "question q05: unknown field 'answer'"),
        ("- id: q07", "- id: q06", "question q06: duplicate id"),
        ("question: What is 9 plus 9?", "question: ''", "question q09: field 'question' must be a non-empty"),
        ("domain: testing\n", "", "missing field 'domain'"),
        ("language: en", "language: en\nlanguages: [en]", "unknown field 'languages'"),
        ("questions:", "questions: [\n", "not valid YAML"),
    ],
)
def test_malformed_task_names_file_question_and_field(task_file: Path, old: str, new: str,
                                                      message: str) -> None:
    _break(task_file, old, new)
    with pytest.raises(HarnessError) as err:
        tasks.load_task_file(task_file)
    assert str(err.value).startswith(str(task_file))
    assert message in str(err.value)


def test_user_task_has_any_number_of_questions_but_at_least_one(task_file: Path) -> None:
    """Only the built-in six keep 20 (test above); a user task may have 19, 1, or 400."""
    text = task_file.read_text(encoding="utf-8")
    head, _, body = text.partition("questions:\n")
    first = "  - id: q02\n"
    task_file.write_text(head + "questions:\n" + body[: body.index(first)], encoding="utf-8")
    assert [q.id for q in tasks.load_task_file(task_file).questions] == ["q01"]
    task_file.write_text(head + "questions: []\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="field 'questions' is empty; a task has at least 1 question"):
        tasks.load_task_file(task_file)


def test_non_utf8_task_file_is_one_clear_error(task_file: Path) -> None:
    task_file.write_bytes(task_file.read_bytes().replace(b"plus", b"pl\xffus", 1))
    with pytest.raises(HarnessError, match="not UTF-8"):
        tasks.load_task_file(task_file)


def test_cli_validate_reports_one_line_and_exits_2(task_file: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "validate", str(task_file)]) == 0
    assert "ok (20 questions)" in capsys.readouterr().out
    _break(task_file, "    category: arithmetic\n    question: What is 4", "    question: What is 4")
    assert main(["tasks", "validate", str(task_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"harness: error: {task_file}: question q04: missing field 'category'"


def test_cli_tasks_list_shows_the_built_in_tasks_and_their_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "list"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert sorted(r[0] for r in rows) == sorted(BUILTIN + MULTI_TURN)
    assert {r[0]: r[3] for r in rows} == {**{n: "20" for n in BUILTIN}, **{n: "10" for n in MULTI_TURN}}


def test_cli_unknown_task_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "show", "en_lawz"]) == 2
    assert capsys.readouterr().err.startswith("harness: error: unknown task 'en_lawz'; known: en_finance")
