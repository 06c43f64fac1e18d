"""The run directory's one owner: every file round-trips, and the format version is kept and checked."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.app.cli import main
from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.types import (
    Answer,
    Battle,
    BiasCheck,
    CheckKind,
    Grade,
    HumanLabel,
    Judgment,
    Perturbation,
    Question,
    Rating,
    Task,
    UsageLine,
)

TASK = Task("en_x", "en", "law", "", (Question("q1", "Why?", "c", "Because.", "ctx"),))
ANSWERS = [Answer("a", "en_x", "q1", "yes", "embedded", {"max_new_tokens": 8}), Answer("b", "en_x", "q1", "no")]
JUDGMENT = Judgment("en_x", "q1", "a", "b", "ab", "model_a", "better", "j", "generate", "p", "h", "raw")
BATTLE = Battle("a", "b", "model_a", "en_x", "q1", "j")
RATING = Rating("a", 1012.34, 990.0, 1030.0, 1010.0, 995.5, 1025.25, 1, 3, 1, 0)


def test_every_file_round_trips_and_records_the_version(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    rundir.write_questions(run, [TASK])
    rundir.write_answers(run, ANSWERS)
    rundir.write_judgments(run, [JUDGMENT])
    rundir.write_grades(run, [Grade("en_x", "q1", "a", 7.0, "j", "generate", "p", "h", "7")])
    rundir.write_battles(run, [BATTLE])
    rundir.write_judge_battles(run, {"j": [BATTLE]})
    rundir.write_leaderboard(run, [RATING])
    rundir.write_usage(run, [UsageLine("judge", "j", "openai:x", 4, 100, 20, 0.0125, 1),
                             UsageLine("generate", "a", "embedded", 2, 0, 0, None)])
    rundir.write_human(run, [HumanLabel("en_x", "q1", "a", "b", "tie", "ann")])
    rundir.write_bias(run, [BiasCheck("j", CheckKind.PROBE, 0.25, math.nan, 0.5, 4, "note", "rich_content")])
    rundir.write_perturbations(run, [Perturbation("rich_content", "en_x", "q1", "a", "en", "x", "**x**")])
    assert rundir.read_questions(run) == [Task("en_x", "en", "law", "", TASK.questions, str(run / rundir.QUESTIONS))]
    assert rundir.read_answers(run) == ANSWERS
    assert rundir.read_judgments(run) == [JUDGMENT]
    assert rundir.read_grades(run)[0].score == 7.0
    assert rundir.read_battles(run) == [BATTLE] == rundir.read_judge_battles(run)
    (row,) = rundir.read_leaderboard(run)
    assert row["bt"] == "1012.3" and row["win_rate"] == "0.8750" and row["battles"] == "4"
    assert rundir.read_usage(run)[0] == UsageLine("judge", "j", "openai:x", 4, 100, 20, 0.0125, 1)
    assert rundir.read_usage(run)[1].cost is None
    assert rundir.read_human(run)[0].annotator == "ann"
    (check,) = rundir.read_bias(run)
    assert math.isnan(check.lower) and check.value == 0.25
    assert (check.kind, check.subject, check.check) == (CheckKind.PROBE, "rich_content", "probe: rich_content")
    assert json.loads((run / rundir.FORMAT).read_text()) == {"format": "harness run directory",
                                                              "version": rundir.FORMAT_VERSION}


def test_optional_files_read_as_empty(tmp_path: Path) -> None:
    rundir.write_answers(tmp_path, ANSWERS)
    assert rundir.read_judgments(tmp_path) == [] and rundir.read_grades(tmp_path) == []
    assert rundir.read_human(tmp_path) == [] and rundir.read_bias(tmp_path) == []
    assert rundir.read_usage(tmp_path) == [] and rundir.read_config(tmp_path) is None
    assert rundir.read_questions(tmp_path) is None and rundir.read_judge_battles(tmp_path) is None


def test_a_run_without_version_has_the_current_layout(tmp_path: Path) -> None:
    rundir.write_answers(tmp_path, ANSWERS)
    (tmp_path / rundir.FORMAT).unlink()  # as every run written before the version existed
    assert rundir.format_version(tmp_path) == rundir.FORMAT_VERSION
    assert rundir.read_answers(tmp_path) == ANSWERS


@pytest.mark.parametrize("text, message", [
    ('{"format": "harness run directory", "version": 99}', "format 99 is newer than this harness reads"),
    ('{"version": "one"}', "not a harness run format file (version 'one'"),
    ("{}", "not a harness run format file (missing field 'version')"),
    ("not json", "not a harness run format file"),
])
def test_an_unreadable_version_is_one_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    rundir.write_answers(tmp_path, ANSWERS)
    (tmp_path / rundir.FORMAT).write_text(text)
    with pytest.raises(HarnessError) as err:
        rundir.read_answers(tmp_path)
    assert message in str(err.value)
    assert str(err.value).startswith(f"{tmp_path / rundir.FORMAT}:")
    with pytest.raises(HarnessError):  # nor is a newer run written over
        rundir.write_answers(tmp_path, ANSWERS)


def test_cli_on_a_newer_run_says_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rundir.write_answers(tmp_path, ANSWERS)
    rundir.write_battles(tmp_path, [BATTLE])
    rundir.write_leaderboard(tmp_path, [RATING])
    (tmp_path / rundir.FORMAT).write_text('{"version": 2}')
    assert main(["report", str(tmp_path), "--format", "md"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "newer than this harness reads" in err and rundir.FORMAT in err


def test_bias_csv_checks_read_back_by_kind(tmp_path: Path) -> None:
    kinds = [BiasCheck("j", CheckKind.SWAP_CONSISTENCY, 0.5, 0.4, 0.6, 10),
             BiasCheck("j", CheckKind.LENGTH_SLOPE, -0.2, -1.0, 0.5, 10),
             BiasCheck("j", CheckKind.LC_WIN_RATE, 0.3, 0.1, 0.5, 10, "", "a (v2)"),
             BiasCheck("j", CheckKind.SELF_PREFERENCE, 0.7, 0.5, 0.9, 10, "", "gpt: mini")]
    rundir.write_bias(tmp_path, kinds)
    assert rundir.read_bias(tmp_path) == kinds
    assert [c.kind.is_share for c in kinds] == [True, False, True, True]
    (tmp_path / rundir.BIAS_CSV).write_text("judge,check,value,lower,upper,n,note\nj,position: mood,0.5,0,1,3,\n")
    with pytest.raises(HarnessError, match=r"bias.csv:2: unknown check 'position: mood'"):
        rundir.read_bias(tmp_path)


def test_a_browser_vote_replaces_the_same_persons_imported_label(tmp_path: Path) -> None:
    from harness.core.types import HumanLabel
    from harness.core.votes import Item, VoteStore

    run = tmp_path / "run"
    run.mkdir()
    imported = [HumanLabel("t", "q1", "x", "y", "model_a", "ann1"), HumanLabel("t", "q2", "x", "y", "tie", "ann1"),
                HumanLabel("t", "q1", "x", "y", "model_a"), HumanLabel("t", "q1", "y", "x", "model_b", "ann2")]
    (run / rundir.HUMAN).write_text("".join(json.dumps(h.to_row()) + "\n" for h in imported), encoding="utf-8")
    store = VoteStore(run / rundir.VOTES)
    try:
        store.assign("ann1", [Item("pair", "t", "q1", "y", "x", shown_first="y")])
        store.vote("ann1", 0, "2", nonce="n1")  # the second shown, x, is better
    finally:
        store.close()
    got = {(h.annotator, h.question_id, h.model_a, h.winner) for h in rundir.read_human(run)}
    # ann1 said something else about q1 in the browser: that vote is ann1's one verdict on q1. The
    # unsigned label and other people's labels stay.
    assert got == {("ann1", "q1", "y", "model_b"), ("ann1", "q2", "x", "tie"), ("", "q1", "x", "model_a"),
                   ("ann2", "q1", "y", "model_b")}


# --- issue 29: turns and config numbers checked where the run files are read ----------------

MULTI = Task("en_x", "en", "law", "", (Question("q1", "Why?", "c", "", turns=("And then?",)),))


@pytest.mark.parametrize("name", [rundir.JUDGMENTS, rundir.BATTLES, rundir.JUDGE_BATTLES, rundir.GRADES])
def test_a_turn_past_the_questions_turns_is_an_error_naming_the_line(tmp_path: Path, name: str) -> None:
    rundir.write_questions(tmp_path, [MULTI])
    row = {rundir.JUDGMENTS: JUDGMENT.to_row(), rundir.GRADES: Grade(
        "en_x", "q1", "a", 7.0, "j", "generate", "p", "h", "7").to_row()}.get(name, BATTLE.to_row())
    read = {rundir.JUDGMENTS: rundir.read_judgments, rundir.BATTLES: rundir.read_battles,
            rundir.JUDGE_BATTLES: rundir.read_judge_battles, rundir.GRADES: rundir.read_grades}[name]
    (tmp_path / name).write_text(json.dumps({**row, "turn": 2}) + "\n" + json.dumps({**row, "turn": 3}) + "\n")
    with pytest.raises(HarnessError) as err:
        read(tmp_path)
    assert str(err.value) == (f"{tmp_path / name}:2: field 'turn': 3 is past the last turn of question "
                              "'en_x'/'q1', which has 2 turns in questions.jsonl")


@pytest.mark.parametrize("turn", [10**30, 3_000_000, 0, -1, 1.5, "2", True])
def test_a_turn_no_question_has_is_refused_without_the_questions(tmp_path: Path, turn: object) -> None:
    """A run without questions.jsonl cannot say how many turns a question has; the records' own
    ceiling still refuses what no conversation has (and a turn that is not a whole number)."""
    (tmp_path / rundir.JUDGMENTS).write_text(json.dumps({**JUDGMENT.to_row(), "turn": turn}) + "\n")
    with pytest.raises(HarnessError, match=r"judgments\.jsonl:1: field 'turn': expected a turn number from "
                                           r"1 to 100, got "):
        rundir.read_judgments(tmp_path)


@pytest.mark.parametrize(("text", "message"), [
    ("name: r\nseed: -5\n", "config.yaml:2: field 'seed': -5 is out of range; seed must be in [0, 4294967295]"),
    ("bootstrap: -1\n", "config.yaml:1: field 'bootstrap': -1 is out of range; bootstrap must be at least 0"),
    ("elo_rounds: -3\n", "config.yaml:1: field 'elo_rounds': -3 is out of range; elo_rounds must be at least 1"),
    ("seed: 1.5\n", "config.yaml:1: field 'seed' must be a whole number, got 1.5"),
    ("seed: .nan\n", "config.yaml:1: field 'seed': nan is not a finite number"),
    ("seed: 1\nelo_rounds: 5\nseed: 2\n", "config.yaml:3: duplicate key 'seed'"),
])
def test_read_config_checks_the_numbers_as_the_flags_do(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / rundir.CONFIG).write_text(text)
    with pytest.raises(HarnessError) as err:
        rundir.read_config(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / rundir.CONFIG}:") and message in str(err.value)


def test_a_written_config_reads_back(tmp_path: Path) -> None:
    from harness.app.config import RunConfig

    rundir.write_config(tmp_path, RunConfig(seed=7, bootstrap=0, elo_rounds=3).to_row())
    config = rundir.read_config(tmp_path)
    assert config is not None and (config["seed"], config["bootstrap"], config["elo_rounds"]) == (7, 0, 3)
