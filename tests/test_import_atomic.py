"""``harness import`` is all or nothing (issue 29, item 11): an import refused late, after new
questions, answers or judgments were worked out, leaves every file of the run byte for byte as it
was, for each kind the command imports; and so does a failure after the first write.

Each test builds a run by importing, takes its bytes, then imports a file whose last row is
refused only once everything before it was merged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.app.cli import main
from harness.core import rundir

Cap = pytest.CaptureFixture[str]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _bytes(run: Path) -> dict[str, bytes]:
    """Every file of the run, by its path inside it."""
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def _refused(capsys: Cap, *argv: str) -> str:
    """Run ``harness import ARGV``, which must fail with one error line; return the line."""
    capsys.readouterr()
    assert main(["import", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("harness: error: ") and "Traceback" not in err, err
    return err


def _answer(q: str, model: str, text: str) -> dict[str, Any]:
    return {"model": model, "task": "t", "question_id": q, "answer": text, "question": f"what is {q}?"}


def _judgment(q: str, winner: str, **extra: Any) -> dict[str, Any]:
    return {"task": "t", "question_id": q, "model_a": "x", "model_b": "y", "judge": "J", "winner": winner,
            **extra}


def _fastchat(q: str, turn: int) -> dict[str, Any]:
    """A FastChat pair judgment (the format whose rows name a turn): x wins both games."""
    return {"question_id": q, "model_1": "x", "model_2": "y", "g1_winner": "model_1", "g2_winner": "model_1",
            "judge": ["gpt-4", "pair-v2"], "turn": turn}


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run with questions q1, q2 (q2 of two turns), answers of x and y to q1, and a verdict on q1."""
    run = tmp_path / "run"
    questions = _jsonl(tmp_path / "t.jsonl", [{"question_id": "q1", "turns": ["what is q1?"]},
                                              {"question_id": "q2", "turns": ["what is q2?", "and then?"]}])
    assert main(["import", "questions", str(questions), "--run", str(run), "--task", "t"]) == 0
    answers = _jsonl(tmp_path / "a.jsonl", [_answer("q1", m, f"{m} on q1") for m in ("x", "y")])
    assert main(["import", "answers", str(answers), "--run", str(run)]) == 0
    assert main(["import", "judgments", str(_jsonl(tmp_path / "j.jsonl", [_judgment("q1", "model_a")])),
                 "--run", str(run)]) == 0
    return run


def test_answers_refused_late_leave_the_questions_file_as_it_was(run: Path, tmp_path: Path,
                                                                 capsys: Cap) -> None:
    """The new q3 would be added to questions.jsonl; the last row answers q1 otherwise."""
    before = _bytes(run)
    src = _jsonl(tmp_path / "more.jsonl", [_answer("q3", "x", "x on q3"), _answer("q3", "y", "y on q3"),
                                           _answer("q1", "x", "another answer")])
    err = _refused(capsys, "answers", str(src), "--run", str(run))
    assert f"{src}:3:" in err and "nothing was imported" in err
    assert _bytes(run) == before


def test_judgments_refused_late_write_no_file(tmp_path: Path, capsys: Cap) -> None:
    """Judgments alone make an empty answers.jsonl; a refused import makes none."""
    run = tmp_path / "run"
    assert main(["import", "judgments", str(_jsonl(tmp_path / "j.jsonl", [_judgment("q1", "model_a")])),
                 "--run", str(run)]) == 0
    (run / rundir.ANSWERS).unlink()
    before = _bytes(run)
    src = _jsonl(tmp_path / "k.jsonl", [_judgment("q2", "tie"), _judgment("q3", "model_a", order="ab")])
    err = _refused(capsys, "judgments", str(src), "--run", str(run))
    assert f"{src}:2: field 'order'" in err
    assert _bytes(run) == before


def test_a_judgment_past_its_questions_turns_is_refused(run: Path, tmp_path: Path, capsys: Cap) -> None:
    before = _bytes(run)
    src = _jsonl(tmp_path / "k.jsonl", [_fastchat("q2", 2), _fastchat("q2", 3)])
    err = _refused(capsys, "judgments", str(src), "--format", "fastchat", "--task", "t", "--run", str(run))
    assert f"{src}:2: field 'turn': 3 is past the last turn of question 't'/'q2', which has 2 turns" in err
    assert _bytes(run) == before


def test_questions_with_fewer_turns_than_the_run_judged_are_refused(tmp_path: Path, capsys: Cap) -> None:
    """Judgments imported before their questions: a question file that says q9 has one turn, when
    the run judged its second, would leave a run whose judgments no longer read."""
    run = tmp_path / "run"
    src = _jsonl(tmp_path / "j.jsonl", [_fastchat("q9", 1), _fastchat("q9", 2)])
    assert main(["import", "judgments", str(src), "--format", "fastchat", "--task", "t", "--run", str(run)]) == 0
    before = _bytes(run)
    questions = _jsonl(tmp_path / "t.jsonl", [{"question_id": "q1", "turns": ["new?"]},
                                              {"question_id": "q9", "turns": ["one?"]}])
    err = _refused(capsys, "questions", str(questions), "--run", str(run), "--task", "t")
    assert f"{questions}: question q9: question ('t', 'q9') has 1 turns" in err and "turn 2" in err
    assert _bytes(run) == before


def test_battles_refused_late_leave_the_run_as_it_was(tmp_path: Path, capsys: Cap) -> None:
    """A battle file of the name the run imported before, whose last row is another battle than
    the one the run holds for that row; the run has no answers.jsonl (a merge would make one)."""
    run = tmp_path / "run"
    rows = [{"question_id": q, "model_a": "x", "model_b": "y", "winner": "model_a"} for q in ("q1", "q2")]
    assert main(["import", "battles", str(_jsonl(tmp_path / "a" / "battles.jsonl", rows)), "--run", str(run)]) == 0
    (run / rundir.ANSWERS).unlink()
    before = _bytes(run)
    src = _jsonl(tmp_path / "b" / "battles.jsonl", [rows[0], {**rows[1], "winner": "model_b"}])
    err = _refused(capsys, "battles", str(src), "--run", str(run))
    assert f"{src}:2:" in err and "nothing was imported" in err
    assert _bytes(run) == before


def _jb(pid: str, label: str) -> dict[str, Any]:
    return {"pair_id": pid, "original_id": "o" + pid, "source": "mmlu-pro-math", "question": f"question {pid}?",
            "response_A": f"A on {pid}", "response_B": f"B on {pid}", "label": label}


def test_labels_refused_late_leave_questions_and_answers_as_they_were(tmp_path: Path, capsys: Cap) -> None:
    """A judge-evaluation set brings questions and answers with its labels; p1's gold label
    changed since the run imported it, found only after p2's question and answers were merged."""
    run, src = tmp_path / "run", tmp_path / "judgebench.jsonl"
    assert main(["import", "labels", str(_jsonl(src, [_jb("p1", "A>B")])), "--format", "judgebench",
                 "--run", str(run)]) == 0
    before = _bytes(run)
    assert {rundir.QUESTIONS, rundir.ANSWERS, rundir.HUMAN} <= set(before)
    _jsonl(src, [_jb("p2", "A>B"), _jb("p1", "B>A")])
    err = _refused(capsys, "labels", str(src), "--format", "judgebench", "--run", str(run))
    assert "already holds their label" in err and "nothing was imported" in err
    assert _bytes(run) == before


@pytest.mark.parametrize(("config", "message"), [
    ("seed: -5\n", "config.yaml:1: field 'seed': -5 is out of range"),
    ("name: r\nbootstrap: -1\n", "config.yaml:2: field 'bootstrap': -1 is out of range"),
    ("elo_rounds: -3\n", "config.yaml:1: field 'elo_rounds': -3 is out of range"),
    ("seed: 1\nbootstrap: 10\nseed: 2\n", "config.yaml:3: duplicate key 'seed'"),
])
def test_a_bad_run_config_refuses_the_import_before_it_writes(run: Path, tmp_path: Path, capsys: Cap,
                                                              config: str, message: str) -> None:
    """The re-rating reads config.yaml's numbers: checked before judgments.jsonl is rewritten."""
    (run / rundir.CONFIG).write_text(config, encoding="utf-8")
    before = _bytes(run)
    src = _jsonl(tmp_path / "k.jsonl", [_judgment("q3", "tie")])
    assert message in _refused(capsys, "judgments", str(src), "--run", str(run))
    assert _bytes(run) == before


def test_a_failure_after_the_first_write_puts_every_file_back(run: Path, tmp_path: Path, capsys: Cap,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk while the leaderboard is written, after judgments.jsonl and battles.jsonl were."""
    before = _bytes(run)

    def full(*_: object, **__: object) -> Path:
        raise OSError(28, "No space left on device", str(run / rundir.LEADERBOARD_CSV))

    monkeypatch.setattr(rundir, "write_leaderboard", full)
    src = _jsonl(tmp_path / "k.jsonl", [_judgment("q3", "tie")])
    assert "No space left on device" in _refused(capsys, "judgments", str(src), "--run", str(run))
    assert _bytes(run) == before
    assert not list(run.glob(".*.tmp"))
