"""Question files in the field's formats (harness.tasks.formats) and hf: dataset specs (harness.tasks.hub).

Every file here is written for this test from the formats' public descriptions; no third-party
data is copied.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from harness import tasks
from harness.app.cli import main
from harness.core.errors import HarnessError
from harness.tasks import formats

MT_BENCH = [
    {"question_id": 81, "category": "writing", "turns": ["Write a short note inviting a neighbour to tea."]},
    {"question_id": 111, "category": "math", "turns": ["What is 12 times 12?"], "reference": ["144"]},
]
ARENA_V01 = [
    {"question_id": "a1b2c3", "cluster": "Python Programming", "category": "arena-hard-v0.1",
     "turns": [{"content": "Write a Python function that reverses a string."}]},
    {"question_id": "d4e5f6", "cluster": "Cooking", "category": "arena-hard-v0.1",
     "turns": [{"content": "How long should an egg boil to be soft?"}]},
]
ARENA_V2 = [
    {"uid": "u-001", "category": "hard_prompt", "subcategory": "coding", "prompt": "Explain a mutex in one paragraph."},
    {"uid": "u-002", "category": "creative_writing", "subcategory": "poem", "prompt": "Write a limerick about a cat."},
]
ALPACA_EVAL = [
    {"instruction": "Name three primary colours.", "output": "Red, yellow and blue.",
     "generator": "some_baseline", "dataset": "helpful_base"},
    {"instruction": "Suggest a name for a bakery.", "output": "Rise and Shine.",
     "generator": "some_baseline", "dataset": "koala"},
]
GENERIC = [
    {"id": "g1", "question": "What is the boiling point of water at sea level?", "category": "physics",
     "reference": "100 degrees Celsius."},
    {"id": "g2", "question": "Summarise the text.", "input": "The cat sat on the mat all day."},
]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("harness: error: ")
    return lines[0]


# (file name, rows, expected (id, question, category, reference, input) of each question)
CASES = {
    "mt_bench": ("question.jsonl", MT_BENCH, [
        ("81", "Write a short note inviting a neighbour to tea.", "writing", "", ""),
        ("111", "What is 12 times 12?", "math", "144", "")]),
    "arena_hard_v01": ("arena01.jsonl", ARENA_V01, [
        ("a1b2c3", "Write a Python function that reverses a string.", "Python Programming", "", ""),
        ("d4e5f6", "How long should an egg boil to be soft?", "Cooking", "", "")]),
    "arena_hard_v2": ("arena2.jsonl", ARENA_V2, [
        ("u-001", "Explain a mutex in one paragraph.", "hard_prompt", "", ""),
        ("u-002", "Write a limerick about a cat.", "creative_writing", "", "")]),
    "alpaca_eval": ("alpaca_eval.json", ALPACA_EVAL, [
        (None, "Name three primary colours.", "helpful_base", "", ""),
        (None, "Suggest a name for a bakery.", "koala", "", "")]),
    "generic": ("mine.jsonl", GENERIC, [
        ("g1", "What is the boiling point of water at sea level?", "physics", "100 degrees Celsius.", ""),
        ("g2", "Summarise the text.", "general", "", "The cat sat on the mat all day.")]),
}


def _write_case(folder: Path, case: str) -> Path:
    name, rows, _ = CASES[case]
    path = folder / name
    if path.suffix == ".json":  # AlpacaEval ships its evaluation set as one JSON list
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
        return path
    return _jsonl(path, rows)


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_format_maps_onto_questions(tmp_path: Path, case: str) -> None:
    path = _write_case(tmp_path, case)
    task = tasks.load_task_file(path)
    assert task.id == path.stem and task.language == "en" and task.domain == "general"
    got = [(q.id, q.question, q.category, q.reference, q.input) for q in task.questions]
    want = CASES[case][2]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g[1:] == w[1:]
        assert g[0] == w[0] or w[0] is None  # None: AlpacaEval's ids are hashes (tested below)
    assert all(isinstance(q.id, str) and q.id for q in task.questions)


@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_validates_and_shows_each_format(tmp_path: Path, case: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_case(tmp_path / "my_tasks", case)
    assert main(["tasks", "validate", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{path}: ok (2 questions)"
    assert main(["tasks", "show", path.stem, "--tasks-dir", str(path.parent)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path.stem} (en, general): ")
    for qid, question, category, reference, _ in CASES[case][2]:
        assert f"({category}) {question}" in out
        assert f"reference: {reference or '(none)'}" in out
        if qid is not None:
            assert f"[{qid}]" in out


def test_alpaca_output_is_not_a_reference_and_ids_survive_reordering(tmp_path: Path) -> None:
    forward = tasks.load_task_file(_jsonl(tmp_path / "a.jsonl", ALPACA_EVAL))
    backward = tasks.load_task_file(_jsonl(tmp_path / "b.jsonl", ALPACA_EVAL[::-1]))
    assert all(q.reference == "" for q in forward.questions)  # the baseline's answer, not a gold one
    assert {q.id: q.question for q in forward.questions} == {q.id: q.question for q in backward.questions}
    assert all(len(q.id) == 12 for q in forward.questions)
    # Alpaca's own format puts context in `input`; it stays the question's input
    with_input = tasks.load_task_file(_jsonl(tmp_path / "c.jsonl", [
        {"instruction": "Translate to French.", "input": "Good morning.", "output": "Bonjour."}]))
    q = with_input.questions[0]
    assert (q.question, q.input, q.category, q.reference) == ("Translate to French.", "Good morning.", "general", "")


def test_generic_csv_with_a_byte_order_mark_and_chinese_text(tmp_path: Path) -> None:
    path = tmp_path / "zh_tax.csv"
    path.write_bytes("id,question,category,reference\n"
                     "1,什么是个人所得税？,概念,对个人收入征收的税。\n"
                     "2,\"专项附加扣除, 包括哪些?\",扣除,子女教育等。\n".encode("utf-8-sig"))
    task = tasks.load_task_file(path)
    assert task.language == "zh"
    assert [(q.id, q.question, q.category) for q in task.questions] == [
        ("1", "什么是个人所得税？", "概念"), ("2", "专项附加扣除, 包括哪些?", "扣除")]


@pytest.mark.parametrize("count", [1, 46])
def test_a_task_of_any_size_loads(tmp_path: Path, count: int, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"id": f"q{i}", "question": f"What is {i} plus {i}?", "reference": str(2 * i)}
            for i in range(1, count + 1)]
    path = _jsonl(tmp_path / "sums.jsonl", rows)
    assert len(tasks.load_task("sums", [tmp_path]).questions) == count
    lines = ["language: en", "domain: testing", "description: Sums.", "questions:"]
    for row in rows:
        lines += [f"  - id: {row['id']}", "    category: arithmetic", f"    question: {row['question']}",
                  f"    reference: '{row['reference']}'"]
    yaml_path = tmp_path / "yaml" / "sums_yaml.yaml"
    yaml_path.parent.mkdir()
    yaml_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["tasks", "validate", str(path), str(yaml_path)]) == 0
    noun = "question" if count == 1 else "questions"
    assert capsys.readouterr().out.splitlines() == [f"{path}: ok ({count} {noun})",
                                                    f"{yaml_path}: ok ({count} {noun})"]


def test_a_two_turn_mt_bench_row_loads_as_a_multi_turn_question(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "question.jsonl", [
        MT_BENCH[0],
        {"question_id": 82, "category": "writing", "turns": ["Draft an email.", "Now make it shorter."]},
        {"question_id": 83, "category": "math", "turns": ["What is 2+2?", "And times 3?"],
         "reference": ["4", "12"]},
        {"question_id": "v01", "cluster": "Cooking", "category": "arena-hard-v0.1",
         "turns": [{"content": "Boil an egg."}, {"content": "Now fry it."}]}])
    one, two, math_q, arena = tasks.load_task_file(path).questions
    assert (one.turns, one.turn_references, one.is_multi_turn) == ((), (), False)
    assert (two.question, two.turns, two.reference, two.turn_references) == \
        ("Draft an email.", ("Now make it shorter.",), "", ())
    assert math_q.all_turns == ("What is 2+2?", "And times 3?")
    assert (math_q.reference, math_q.turn_references) == ("4", ("12",))
    assert (arena.all_turns, arena.category) == (("Boil an egg.", "Now fry it."), "Cooking")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"id": "a", "question": "Q?", "refrence": "x"}], ":1: unknown field 'refrence' (allowed: id, question"),
        ([{"id": "a", "question": "Q?"}, {"id": "b"}], ":2: missing field 'question'"),
        ([{"id": "a", "question": "Q?", "category": 3}], ":1: field 'category': expected a string, got int 3"),
        ([{"id": True, "question": "Q?"}], ":1: field 'id': expected a non-empty string or a whole number"),
        ([{"id": "a", "question": "   "}], ":1: field 'question': must not be empty"),
        ([{"id": "a", "question": "Q?"}, {"id": "b", "question": "R?"}, {"id": "a", "question": "S?"}],
         ":3: duplicate id 'a'; line 1 has the same"),
        ([MT_BENCH[0], MT_BENCH[0]], ":2: duplicate question_id '81'; line 1 has the same"),
        ([ALPACA_EVAL[0], ALPACA_EVAL[0]], ":2: duplicate instruction (and input; id "),
        ([{"question_id": 1, "turns": []}], ":1: field 'turns': expected a non-empty list"),
        ([{"question_id": 1, "turns": [{"content": [{"type": "image"}]}]}], ":1: field 'turns': the turn must be"),
        ([{"question_id": 1, "turns": ["Q?"], "reference": "A"}], ":1: field 'reference': expected a list"),
        ([{"question_id": 1, "turns": ["Q?", " "]}], ":1: field 'turns': turn 2 must be non-empty text"),
        ([{"question_id": 1, "turns": ["Q?", "R?"], "reference": ["a", "b", "c"]}],
         ":1: field 'reference': 3 references for 2 turns"),
        ([{"uid": "u1", "prompt": 7}], ":1: field 'prompt': expected a string"),
        ([{"text": "What?"}], ":1: cannot tell the question format from the fields ('text')"),
        ([], ": no questions; a task has at least 1"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path: Path, rows: list[dict[str, Any]], message: str) -> None:
    path = _jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(HarnessError) as err:
        tasks.load_task_file(path)
    assert str(err.value).startswith(f"{path}{message}"), str(err.value)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"id": "a", "question": "Q?"}\n{"id": "b",\n', ":2: "),
        ("bad.jsonl", '["not", "an", "object"]\n', ":1: expected a JSON object"),
        ("bad.jsonl", "[" * 100_000 + "\n", ":1: nested too deeply"),
        ("bad.json", '{"instruction": "Q?"}', ": expected a JSON list of objects, got an object"),
        ("bad.json", '[\n{"instruction": "Q?"},\n', ":3: not valid JSON"),
        ("bad.json", '[{"instruction": "Q?"}, 5]', ": item 2: expected a JSON object"),
        ("bad.csv", "id,question\na,Q?,extra\n", ":2: too many fields"),
        ("bad.csv", "id,question\n,Q?\n", ":2: field 'id': expected a non-empty string"),
    ],
)
def test_malformed_files_are_one_error_naming_the_place(tmp_path: Path, name: str, content: str,
                                                        message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(HarnessError) as err:
        tasks.load_task_file(path)
    assert str(err.value).startswith(f"{path}{message}"), str(err.value)


def test_tasks_dir_reads_question_files_but_not_subfolders_or_builtin_training_data(tmp_path: Path) -> None:
    _jsonl(tmp_path / "mine.jsonl", GENERIC)
    _jsonl(tmp_path / "train" / "sft.jsonl", [{"instruction": "x", "output": "y"}])  # not a task
    (tmp_path / "notes.txt").write_text("not a task", encoding="utf-8")
    found = tasks.available([tmp_path])
    assert set(found) - set(tasks.available()) == {"mine"}
    assert not any(ref.path is not None and ref.path.suffix != ".yaml" for ref in tasks.available().values())


def test_a_question_file_cannot_shadow_another_task(tmp_path: Path) -> None:
    _jsonl(tmp_path / "en_law.jsonl", GENERIC)
    with pytest.raises(HarnessError, match="plugin name 'en_law' is defined twice: .*en_law.yaml and .*en_law.jsonl"):
        tasks.available([tmp_path])
    (tmp_path / "en_law.jsonl").rename(tmp_path / "mine.jsonl")
    _jsonl(tmp_path / "mine.csv", [])
    with pytest.raises(HarnessError, match="plugin name 'mine' is defined twice"):
        tasks.available([tmp_path])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", [["tasks", "validate"], ["tasks", "show"]])
def test_hf_dataset_without_the_hub_is_one_line_at_once(command: list[str], monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    start = time.monotonic()
    assert main([*command, "hf:tatsu-lab/alpaca_eval"]) == 2
    assert time.monotonic() - start < 10
    line = _one_line_error(capsys)
    assert line.startswith(f"harness: error: hf:tatsu-lab/alpaca_eval: cannot reach the Hugging Face hub "
                           f"at {endpoint} (")
    assert "offline?" in line and "HF_HUB_OFFLINE=1" in line


def test_hf_dataset_in_offline_mode_and_not_cached_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    assert main(["run", "--tasks", "hf:nobody/no_such_set", "--models", "a=embedded", "b=embedded",
                 "--judge", "reference:chrf", "--dry-run", "--out", str(tmp_path / "run")]) == 2
    assert time.monotonic() - start < 30
    line = _one_line_error(capsys)
    assert line.startswith("harness: error: hf:nobody/no_such_set: cannot load the dataset (")
    assert line.endswith("(HF_HUB_OFFLINE is set: only datasets in the local cache can be loaded)")


@pytest.mark.parametrize("spec", ["hf:", "hf:a b", "hf:a/b/c", "hf:x/y@"])
def test_malformed_hf_spec_is_one_line(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "show", spec]) == 2
    assert _one_line_error(capsys).startswith(f"harness: error: {spec}: expected hf:NAME[:CONFIG][@SPLIT]")


def test_hf_rows_are_read_like_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub path after the download, offline: ``load_dataset`` reads a local folder of that name."""
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    _jsonl(tmp_path / "local" / "alpaca" / "data.jsonl", ALPACA_EVAL)
    task = tasks.load_task("hf:local/alpaca")
    assert task.id == "hf:local/alpaca" and task.source == "hf:local/alpaca"
    assert [(q.question, q.category) for q in task.questions] == [
        ("Name three primary colours.", "helpful_base"), ("Suggest a name for a bakery.", "koala")]
    assert [q.id for q in task.questions] == [q.id for q in tasks.load_task_file(
        _jsonl(tmp_path / "same.jsonl", ALPACA_EVAL)).questions]


def test_dry_run_with_a_generic_jsonl_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _jsonl(tmp_path / "tasks" / "mine.jsonl", GENERIC)
    argv = ["run", "--tasks-dir", str(tmp_path / "tasks"), "--tasks", "mine", "--models", "a=embedded",
            "b=embedded", "--judge", "reference:chrf", "--dry-run", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing was sent" in out
    assert "| generate | a | 2 |" in out and "| generate | b | 2 |" in out


def test_format_table_in_docstring_names_every_format() -> None:
    doc = formats.__doc__ or ""
    for fmt in formats.FORMATS:
        assert f"(``{fmt.marker}``)" in doc, fmt.name
