"""Hostile and hand-edited input files (issue 15, items 11 and 13-15).

Every run file, label file and data file is validated when it is read: a wrong type, an unknown
value, a duplicate row, a short CSV row, a byte-order mark or absurd nesting is either accepted
(the BOM) or one ``harness: error: FILE:LINE: ...`` line with exit 2 -- never a traceback, never a
silently dropped or overwritten row, and never after a paid model call.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from judged_run import write_answers

from harness.app.cli import main
from harness.core import files, rundir
from harness.core.errors import HarnessError
from harness.core.types import Answer, Battle, Grade, HumanLabel, Judgment
from harness.finetune.data import load_examples
from harness.stats.ratings import parse_battle

BOM = "\ufeff"
DEEP_JSON = "[" * 100_000 + "]" * 100_000


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line the CLI printed (and nothing else on stderr)."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("harness: error: "), err
    assert "Traceback" not in err
    return err.strip()


def _judge(run: Path) -> int:
    """``harness judge`` with a reference metric: no model to load, no call to pay for."""
    return main(["judge", str(run), "--judge", "reference:chrf", "--no-progress", "--report", "none"])


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = write_answers(tmp_path_factory.mktemp("judged"))
    assert _judge(run) == 0
    return run


@pytest.fixture
def run(judged: Path, tmp_path: Path) -> Path:
    """A fresh copy of the judged run to edit by hand."""
    return Path(shutil.copytree(judged, tmp_path / "run"))


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write_lines(path: Path, rows: list) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n"
                            for r in rows), encoding="utf-8")


# --- 11: deeply nested input ----------------------------------------------------------------

def test_a_yaml_nested_1000_deep_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("[" * 1000 + "]" * 1000 + "\n", encoding="utf-8")
    assert main(["tasks", "validate", str(path)]) == 2
    assert _error(capsys) == f"harness: error: {path}:1: nested too deeply"


def test_a_block_yaml_nested_deeply_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("top: 1\n" + "".join(" " * i + f"k{i}:\n" for i in range(1200)) + " " * 1200 + "x: 1\n",
                    encoding="utf-8")
    with pytest.raises(HarnessError, match=r"^.*deep\.yaml:\d+: nested too deeply$"):
        files.read_yaml(path)


def test_a_json_line_nested_100000_deep_in_answers_is_one_line(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    run = write_answers(tmp_path)
    rows = _lines(run / rundir.ANSWERS)
    _write_lines(run / rundir.ANSWERS, [rows[0], '{"answer": ' + DEEP_JSON + "}", *rows[1:]])
    assert _judge(run) == 2
    assert _error(capsys) == f"harness: error: {run / rundir.ANSWERS}:2: nested too deeply"
    assert not (run / rundir.JUDGMENTS).exists()


def test_a_deep_battle_line_for_rate_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "b.jsonl"
    _write_lines(path, [{"model_a": "x", "model_b": "y", "winner": "tie"}, DEEP_JSON])
    assert main(["rate", str(path)]) == 2
    assert _error(capsys) == f"harness: error: {path}:2: nested too deeply"


@pytest.mark.parametrize(("name", "text", "line"), [
    ("deep.jsonl", '{"instruction": "a", "output": "b"}\n' + DEEP_JSON + "\n", 2),
    ("deep.json", '[{"instruction": "a",\n "output": ' + DEEP_JSON + "}]\n", 2),
], ids=["jsonl", "json"])
def test_deep_finetune_data_is_one_line(tmp_path: Path, name: str, text: str, line: int) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HarnessError) as info:
        load_examples(str(path))
    assert str(info.value) == f"{path}:{line}: nested too deeply"


def test_a_deep_run_json_is_one_line(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (run / rundir.FORMAT).write_text(DEEP_JSON, encoding="utf-8")
    assert main(["report", str(run), "--format", "md"]) == 2
    assert "nested too deeply" in _error(capsys)


# --- 13: hand-edited run files --------------------------------------------------------------

def test_a_header_only_leaderboard_is_one_clear_line(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (run / rundir.LEADERBOARD_CSV).write_text(",".join(rundir.LEADERBOARD_HEADER) + "\n", encoding="utf-8")
    assert main(["report", str(run), "--format", "md"]) == 2
    err = _error(capsys)
    assert f"{run / rundir.LEADERBOARD_CSV}: no ratings" in err


def test_a_numeric_answer_stops_judge_before_any_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_answers(tmp_path)
    rows = _lines(run / rundir.ANSWERS)
    rows[4]["answer"] = 12345
    _write_lines(run / rundir.ANSWERS, rows)
    assert _judge(run) == 2
    assert _error(capsys) == (f"harness: error: {run / rundir.ANSWERS}:5: field 'answer': "
                              "expected a string, got 12345")
    assert not (run / rundir.JUDGMENTS).exists() and not (run / rundir.CACHE).exists()


@pytest.mark.parametrize(("name", "row", "message"), [
    (rundir.QUESTIONS, {"task": "en_law", "language": "en", "domain": "law", "id": 1, "question": "Q?"},
     "field 'id': expected a string, got 1"),
    (rundir.HUMAN, {"task": "en_law", "question_id": "q01", "model_a": "base", "model_b": "chatgpt",
                    "winner": "bogus"}, "winner 'bogus' is not one of model_a, model_b, tie"),
])
def test_other_hand_edited_inputs_stop_judge_before_any_call(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             name: str, row: dict, message: str) -> None:
    run = write_answers(tmp_path)
    _write_lines(run / name, [row])
    assert _judge(run) == 2
    assert _error(capsys) == f"harness: error: {run / name}:1: {message}"
    assert not (run / rundir.JUDGMENTS).exists()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("model", None, "field 'model': expected a string, got None"),
    ("question_id", 7, "field 'question_id': expected a string, got 7"),
    ("task", ["en_law"], "field 'task': expected a string, got ['en_law']"),
    ("spec", 3, "field 'spec': expected a string, got 3"),
    ("answer", "x" * 10_000, None),  # long text is fine; it is what answers are
    ("decoding", "greedy", "field 'decoding': expected an object, got 'greedy'"),
    ("decoding", {"temperature": [0]},
     "field 'decoding': 'temperature' must be a number, string, boolean or null, got [0]"),
])
def test_wrongly_typed_answer_fields_name_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    field: str, value: object, message: str | None) -> None:
    run = write_answers(tmp_path)
    rows = _lines(run / rundir.ANSWERS)
    rows[1][field] = value
    _write_lines(run / rundir.ANSWERS, rows)
    if message is None:
        assert rundir.read_answers(run)[1].answer == value
        return
    assert _judge(run) == 2
    assert _error(capsys) == f"harness: error: {run / rundir.ANSWERS}:2: {message}"


def test_a_bogus_battle_winner_is_an_error_in_report_and_rate_alike(
        run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _lines(run / rundir.BATTLES)
    rows[2]["winner"] = "bogus"
    _write_lines(run / rundir.BATTLES, rows)
    assert main(["report", str(run), "--format", "md"]) == 2
    from_report = _error(capsys)
    assert from_report.startswith(f"harness: error: {run / rundir.BATTLES}:3: winner 'bogus' is not one of")
    assert main(["rate", str(run / rundir.BATTLES)]) == 2
    assert _error(capsys) == from_report


def test_rate_and_the_run_reader_share_one_battle_check() -> None:
    rows: list[dict] = [{"model_a": "x", "model_b": "x", "winner": "tie"},
                        {"model_a": "x", "model_b": "y", "winner": "tie", "task": 3},
                        {"model_a": "x", "model_b": "y", "winner": "model_a", "judge": None}]
    for row in rows:
        with pytest.raises((ValueError, TypeError)) as by_rate:
            parse_battle(row)
        with pytest.raises((ValueError, TypeError)) as by_run:
            Battle.from_row(row)
        assert str(by_rate.value) == str(by_run.value)
    # FastChat's numeric question ids (MT-bench) are still read.
    assert parse_battle({"model_a": "x", "model_b": "y", "winner": "tie", "question_id": 81}).question_id == "81"


def test_a_duplicate_answer_row_names_both_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_answers(tmp_path)
    rows = _lines(run / rundir.ANSWERS)
    twin = {**rows[3], "answer": "a different answer that would silently win"}
    _write_lines(run / rundir.ANSWERS, [*rows, twin])
    assert _judge(run) == 2
    err = _error(capsys)
    assert err.startswith(f"harness: error: {run / rundir.ANSWERS}:{len(rows) + 1}: duplicate answer")
    assert "line 4" in err
    assert not (run / rundir.JUDGMENTS).exists()


@pytest.mark.parametrize("name", [rundir.BATTLES, rundir.JUDGMENTS])
def test_duplicate_judgments_and_battles_name_both_lines(run: Path, capsys: pytest.CaptureFixture[str],
                                                         name: str) -> None:
    rows = _lines(run / name)
    twin = {**rows[0], "winner": "model_b" if rows[0]["winner"] != "model_b" else "model_a"}
    _write_lines(run / name, [*rows, twin])
    assert main(["report", str(run), "--format", "md"]) == 2
    err = _error(capsys)
    assert err.startswith(f"harness: error: {run / name}:{len(rows) + 1}: duplicate")
    assert "line 1" in err


def test_a_battle_with_its_models_swapped_is_a_duplicate(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _lines(run / rundir.BATTLES)
    twin = {**rows[0], "model_a": rows[0]["model_b"], "model_b": rows[0]["model_a"]}
    _write_lines(run / rundir.BATTLES, [*rows, twin])
    assert main(["report", str(run), "--format", "md"]) == 2
    assert f"{run / rundir.BATTLES}:{len(rows) + 1}: duplicate" in _error(capsys)


def test_a_duplicate_leaderboard_model_names_both_lines(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = run / rundir.LEADERBOARD_CSV
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")
    assert main(["report", str(run), "--format", "md"]) == 2
    err = _error(capsys)
    assert f"{path}:{len(lines) + 1}: duplicate" in err and "line 2" in err


@pytest.mark.parametrize(("record", "row", "message"), [
    (Judgment, {"order": "ca"}, "order 'ca' is not one of ab, ba, once"),
    (Judgment, {"winner": "bogus"}, "winner 'bogus' is not one of model_a, model_b, tie, error"),
    (Judgment, {"raw": 5}, "field 'raw': expected a string, got 5"),
    (Judgment, {"attempts": "2"}, "field 'attempts': expected a positive whole number, got '2'"),
    (Judgment, {"attempts": True}, "field 'attempts': expected a positive whole number, got True"),
    (Judgment, {"task": None}, "field 'task': expected a string, got None"),
    (Grade, {"score": float("nan")}, "field 'score': expected a finite number or null, got nan"),
    (Grade, {"score": float("inf")}, "field 'score': expected a finite number or null, got inf"),
    (Grade, {"score": "7"}, "field 'score': expected a finite number or null, got '7'"),
    (Grade, {"model": 1}, "field 'model': expected a string, got 1"),
    (HumanLabel, {"winner": "tie (bothbad)"}, "winner 'tie (bothbad)' is not one of model_a, model_b, tie"),
    (HumanLabel, {"annotator": None}, "field 'annotator': expected a string, got None"),
])
def test_run_records_type_check_every_field(record: type, row: dict, message: str) -> None:
    good = {
        Judgment: {"task": "t", "question_id": "q", "model_a": "x", "model_b": "y", "order": "ab",
                   "winner": "tie", "label": "equal", "judge": "j", "method": "generate", "prompt": "p",
                   "prompt_hash": "h", "raw": "", "attempts": 1},
        Grade: {"task": "t", "question_id": "q", "model": "x", "score": 7, "judge": "j", "method": "generate",
                "prompt": "p", "prompt_hash": "h", "raw": "", "attempts": 1},
        HumanLabel: {"task": "t", "question_id": "q", "model_a": "x", "model_b": "y", "winner": "tie",
                     "annotator": "ann"},
    }[record]
    record.from_row(good)  # the good row itself is fine
    with pytest.raises(ValueError) as info:
        record.from_row({**good, **row})
    assert str(info.value) == message


def test_a_good_answer_row_still_round_trips() -> None:
    answer = Answer("m", "t", "q1", "text", "embedded", {"temperature": 0.0, "seed": 1, "stop": None})
    assert Answer.from_row(json.loads(json.dumps(answer.to_row()))) == answer
    assert Grade.from_row({"task": "t", "question_id": "q", "model": "x", "score": None, "judge": "j",
                           "method": "generate", "prompt": "p", "prompt_hash": "h", "raw": ""}).score is None


def test_a_judged_run_still_reports(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(run), "--format", "md"]) == 0


# --- 14: a human-labels CSV saved by Excel --------------------------------------------------

@pytest.mark.parametrize("name", ["labels.csv", "labels.jsonl"])
def test_human_labels_with_a_bom_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    run = write_answers(tmp_path)
    labels = tmp_path / name
    if name.endswith(".csv"):
        text = "task,question_id,model_a,model_b,winner\r\nen_law,q01,base,chatgpt,model_a\r\n"
    else:
        text = json.dumps({"task": "en_law", "question_id": "q01", "model_a": "base", "model_b": "chatgpt",
                           "winner": "model_a"}) + "\n"
    labels.write_bytes((BOM + text).encode("utf-8"))
    assert main(["human", "import", str(labels), "--run", str(run)]) == 0, capsys.readouterr().err
    assert [h.winner for h in rundir.read_human(run)] == ["model_a"]


def test_a_short_human_label_row_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_answers(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("task,question_id,model_a,model_b,winner\nen_law,q01,base,chatgpt,model_a\n"
                      "en_law,q02,base\n", encoding="utf-8")
    assert main(["human", "import", str(labels), "--run", str(run)]) == 2
    assert _error(capsys).startswith(f"harness: error: {labels}:3: too few fields")


def test_run_files_and_yaml_with_a_bom_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_answers(tmp_path)
    answers = run / rundir.ANSWERS
    answers.write_text(BOM + answers.read_text(encoding="utf-8"), encoding="utf-8")
    assert len(rundir.read_answers(run)) == 18
    task = tmp_path / "t.yaml"
    task.write_text(BOM + "id: t\n", encoding="utf-8")
    assert files.read_yaml(task) == {"id": "t"}


# --- 15: finetune data with a short CSV row -------------------------------------------------

def test_finetune_with_a_short_csv_row_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "short.csv"
    data.write_text("instruction,input,output\nSay hi,,hi\nSay bye\n", encoding="utf-8")
    assert main(["finetune", "--base", "embedded", "--data", str(data), "--out", str(tmp_path / "out")]) == 2
    assert _error(capsys).startswith(f"harness: error: {data}:3: too few fields")
    assert not (tmp_path / "out").exists()


def test_finetune_csv_with_a_bom_and_a_long_row(tmp_path: Path) -> None:
    data = tmp_path / "bom.csv"
    data.write_bytes((BOM + "instruction,input,output\r\nSay hi,,hi\r\n").encode("utf-8"))
    assert load_examples(str(data))[0].messages[-1]["content"] == "hi"
    data.write_text("instruction,input,output\nSay hi,,hi,extra\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=r"bom\.csv:2: too many fields"):
        load_examples(str(data))


def test_one_annotator_labelling_a_comparison_twice_names_both_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_answers(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("task,question_id,model_a,model_b,winner,annotator\n"
                      "en_law,q01,base,chatgpt,model_a,ann\nen_law,q02,base,chatgpt,tie,ann\n"
                      "en_law,q01,chatgpt,base,model_a,ann\n", encoding="utf-8")
    assert main(["human", "import", str(labels), "--run", str(run)]) == 2
    err = _error(capsys)
    assert err.startswith(f"harness: error: {labels}:4: duplicate label") and "line 2" in err
    # Unsigned labels may be different people's, so they are all kept.
    labels.write_text("task,question_id,model_a,model_b,winner\n"
                      "en_law,q01,base,chatgpt,model_a\nen_law,q01,base,chatgpt,model_b\n", encoding="utf-8")
    assert main(["human", "import", str(labels), "--run", str(run)]) == 0
    assert len(rundir.read_human(run)) == 2


# --- issue 29: turns, config numbers and duplicate YAML keys ---------------------------------

def _run_bytes(run: Path) -> dict[str, bytes]:
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", [rundir.JUDGMENTS, rundir.BATTLES])
@pytest.mark.parametrize("turn", [3_000_000, 10**30])
def test_a_hand_edited_turn_no_question_has_stops_report_in_one_line(run: Path, capsys: pytest.CaptureFixture[str],
                                                                     name: str, turn: int) -> None:
    """Once took 71 s, 6.3 GB and a 1 GB report (``10**30``: never finished)."""
    rows = _lines(run / name)
    _write_lines(run / name, [*rows[:-1], {**rows[-1], "turn": turn}])
    before = _run_bytes(run)
    assert main(["report", str(run), "--format", "md"]) == 2
    assert _error(capsys) == (f"harness: error: {run / name}:{len(rows)}: field 'turn': expected a turn number "
                              f"from 1 to 100, got {turn}")
    assert _run_bytes(run) == before


def test_a_turn_past_a_known_questions_turns_stops_report(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With questions.jsonl, the question's own count is the limit: turn 2 of a one-turn question."""
    from harness.tasks import load_tasks

    rundir.write_questions(run, load_tasks(sorted({j.task for j in rundir.read_judgments(run)})))
    rows = _lines(run / rundir.JUDGMENTS)
    _write_lines(run / rundir.JUDGMENTS, [{**rows[0], "turn": 2}, *rows[1:]])
    assert main(["report", str(run), "--format", "md"]) == 2
    assert _error(capsys) == (f"harness: error: {run / rundir.JUDGMENTS}:1: field 'turn': 2 is past the last "
                              f"turn of question {rows[0]['task']!r}/{rows[0]['question_id']!r}, which has 1 "
                              "turn in questions.jsonl")


@pytest.mark.parametrize(("config", "message"), [
    ("seed: -5\n", "config.yaml:1: field 'seed': -5 is out of range"),
    ("bootstrap: -1\n", "config.yaml:1: field 'bootstrap': -1 is out of range"),
    ("name: x\nelo_rounds: -3\n", "config.yaml:2: field 'elo_rounds': -3 is out of range"),
    ("seed: 0\nseed: 1\n", "config.yaml:2: duplicate key 'seed'"),
])
def test_a_hand_edited_config_number_stops_report(run: Path, capsys: pytest.CaptureFixture[str], config: str,
                                                  message: str) -> None:
    """The report re-rates turns from config.yaml's rounds and seed: `elo_rounds: -3` gave an Elo
    outside its own interval, `seed: -5` a traceback."""
    (run / rundir.CONFIG).write_text(config, encoding="utf-8")
    before = _run_bytes(run)
    assert main(["report", str(run), "--format", "md"]) == 2
    assert message in _error(capsys)
    assert _run_bytes(run) == before


def test_a_duplicate_key_in_a_task_file_names_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("language: en\ndomain: law\nquestions:\n  - id: q01\n    question: Why?\n"
                    "    question: Why not?\n", encoding="utf-8")
    assert main(["tasks", "validate", str(path)]) == 2
    assert _error(capsys) == f"harness: error: {path}:6: duplicate key 'question' (a key may appear once in a mapping)"


def test_a_duplicate_key_in_a_prompt_file_names_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = Path("judges/prompts/assignment_en.yaml").read_text(encoding="utf-8")
    (tmp_path / "twice.yaml").write_text(text + "\nlanguage: zh\n", encoding="utf-8")
    assert main(["prompts", "show", "twice", "--prompts-dir", str(tmp_path)]) == 2
    err = _error(capsys)
    assert f"{tmp_path / 'twice.yaml'}:" in err and "duplicate key 'language'" in err


def test_yaml_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "merged.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  x: 5\n", encoding="utf-8")
    assert files.read_yaml(path)["use"] == {"x": 5, "y": 2}
