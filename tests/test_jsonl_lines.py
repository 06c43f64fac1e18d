"""JSON lines hold one record per line whatever the text inside: a reply, an imported answer or a
question may carry U+2028, U+2029, U+0085 and the other characters ``str.splitlines`` breaks at
(issue 29, part 1). Harness writes them escaped and reads its files split at \\n only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.app.cli import main
from harness.core import files, rundir
from harness.core.types import Answer

BREAKS = "\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e"
RAW = "\u2028\u2029\x85"
"""The ones a JSON string may hold unescaped (the others are control characters JSON escapes)."""


def test_a_run_file_round_trips_every_line_break_character(tmp_path: Path) -> None:
    answers = [Answer("m", "t", f"q{i}", f"before{c}after\r\nnext") for i, c in enumerate(BREAKS)]
    rundir.write_answers(tmp_path, answers)
    raw = (tmp_path / rundir.ANSWERS).read_text(encoding="utf-8")
    assert raw.count("\n") == len(answers) and not set(BREAKS) & set(raw)  # escaped, one line each
    assert raw.splitlines() == raw.rstrip("\n").split("\n")  # any reader sees the same lines
    assert rundir.read_answers(tmp_path) == answers


def test_raw_separators_inside_strings_do_not_split_a_line(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Another tool's file may hold them raw (valid JSON): imported, and imported again, it reads the
    same, and the run's own files stay readable."""
    rows = [{"task": "t", "question_id": f"q{i}", "model": "m", "answer": f"a{c}b", "question": f"q{c}?"}
            for i, c in enumerate(RAW)]
    src = tmp_path / "answers.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert set(RAW) <= set(src.read_text(encoding="utf-8"))
    run = tmp_path / "run"
    for _ in range(2):
        assert main(["import", "answers", str(src), "--run", str(run)]) == 0
    assert "imported 0 new answers (3 already there)" in capsys.readouterr().out
    assert [a.answer for a in rundir.read_answers(run)] == [r["answer"] for r in rows]
    assert [where for where, _, _ in files.json_rows(src)] == [f"{src}:{i}" for i in range(1, 4)]
