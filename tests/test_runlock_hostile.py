"""The run lock against a hostile run directory (issue 29): a ``run.lock`` that is a link, a FIFO
or a directory is one error and nothing it points to changes; a lock file's text is shown escaped
and bounded, whatever its fields hold."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.app.cli import main
from harness.core import rundir, runlock

ROWS = [{"task": "t", "question_id": f"q{i}", "model_a": "x", "model_b": "y", "judge": "J",
         "winner": "model_a" if i % 3 else "tie"} for i in range(6)]


def _source(tmp_path: Path) -> Path:
    path = tmp_path / "j.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


def _import(tmp_path: Path, run: Path) -> int:
    return main(["import", "judgments", str(_source(tmp_path)), "--run", str(run)])


def _one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), err
    return lines[0]


@pytest.mark.parametrize("dangling", [False, True])
def test_a_symlinked_lock_is_refused_and_its_target_untouched(tmp_path: Path, dangling: bool,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    target = tmp_path / "outside" / "precious.txt"
    target.parent.mkdir()
    if not dangling:
        target.write_text("keep me\n", encoding="utf-8")
    (run / rundir.LOCK).symlink_to(target)
    assert _import(tmp_path, run) == 2
    line = _one_error(capsys.readouterr().err)
    assert str(run / rundir.LOCK) in line and "symbolic link" in line
    assert (run / rundir.LOCK).is_symlink()
    if dangling:
        assert not target.exists()  # O_CREAT through the link would have made it
    else:
        assert target.read_text(encoding="utf-8") == "keep me\n"
    assert not (run / rundir.JUDGMENTS).exists()  # refused before writing anything


def test_a_hard_linked_lock_is_refused_and_the_other_file_untouched(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    other = tmp_path / "notes.txt"
    other.write_text("my notes\n", encoding="utf-8")
    os.link(other, run / rundir.LOCK)
    assert _import(tmp_path, run) == 2
    line = _one_error(capsys.readouterr().err)
    assert str(run / rundir.LOCK) in line and "hard link" in line
    assert other.read_text(encoding="utf-8") == "my notes\n"


def test_a_directory_lock_is_one_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    (run / rundir.LOCK).mkdir(parents=True)
    assert _import(tmp_path, run) == 2
    line = _one_error(capsys.readouterr().err)
    assert str(run / rundir.LOCK) in line and "directory" in line


def test_a_fifo_lock_is_one_error_not_a_hang(tmp_path: Path) -> None:
    """The old code opened the FIFO read-write, then read the 'holder' from it: blocked forever."""
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / rundir.LOCK)
    probe = ("import sys; from harness.app.cli import main\n"
             "sys.exit(main(['import', 'judgments', sys.argv[1], '--run', sys.argv[2]]))\n")
    done = subprocess.run([sys.executable, "-c", probe, str(_source(tmp_path)), str(run)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    line = _one_error(done.stderr)
    assert str(run / rundir.LOCK) in line and "FIFO" in line
    assert (run / rundir.LOCK).is_fifo()


HOSTILE = {
    "command": "run\nharness: error: forged line\x1b[31m\r\u202e",
    "host": "h" * 10_000,
    "pid": {"nested": ["\x07"]},
}


@pytest.mark.parametrize("started", ['"abc"', "null", "1e300", "-1e300", "NaN", "Infinity", "true", "[1]",
                                     '"\\u001b[2J"', "1.7e308", "99999999999999999999"])
def test_a_stale_lock_with_hostile_fields_is_taken_over_with_an_escaped_note(
        tmp_path: Path, started: str, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    text = json.dumps(HOSTILE)[:-1] + f', "started": {started}}}\n'
    (run / rundir.LOCK).write_text(text, encoding="utf-8")
    assert _import(tmp_path, run) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "took over" in line]
    assert len(notes) == 1 and notes[0].startswith("harness: note: took over"), err
    assert "harness: error" not in err.replace("harness: error: forged", "")
    assert not any(line.startswith("harness: error") for line in err.splitlines())
    assert "\x1b" not in err and "\x07" not in err and "\r" not in err and "\u202e" not in err
    assert "\\x1b[31m" in notes[0] and "\\nharness: error: forged" in notes[0]
    assert len(notes[0]) < 800  # the 10,000-character host is cut short
    assert not (run / rundir.LOCK).exists()


def test_a_held_lock_with_hostile_text_is_refused_in_one_escaped_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    lock = run / rundir.LOCK
    lock.write_text(json.dumps({**HOSTILE, "started": "abc"}), encoding="utf-8")
    with lock.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another open file: it conflicts as a process would
        assert _import(tmp_path, run) == 2
    line = _one_error(capsys.readouterr().err)
    assert "in use by `harness run\\nharness: error: forged line\\x1b[31m\\r\\u202e`" in line
    assert "unreadable start time" in line and len(line) < 800
    assert json.loads(lock.read_text(encoding="utf-8"))["started"] == "abc"  # left as it was


@pytest.mark.parametrize("text", ["[" * 3000, "x" * 70_000, "\udcff", "\x00\x01garbage", '"just a string"'])
def test_unreadable_lock_text_is_another_process(tmp_path: Path, text: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / rundir.LOCK).write_bytes(text.encode("utf-8", "surrogateescape"))
    fd = os.open(run / rundir.LOCK, os.O_RDONLY)
    try:
        assert runlock._describe(runlock._holder(fd)) == "another harness process"
    finally:
        os.close(fd)
