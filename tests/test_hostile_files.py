"""Files and streams no careful user would hand harness (issue 29): a FIFO where a file is expected,
an integer too long for Python to convert, half of a UTF-16 surrogate pair, a pipe closed by its
reader. Each is success or one ``harness: error:`` line and exit 2, never a hang or a traceback, and
a refused command leaves the run as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.app.cli import main
from harness.core import files, rundir

HARNESS = [sys.executable, "-m", "harness"]
TEACHER = "openai:m@http://127.0.0.1:9/v1"  # nothing listens there: every refusal below comes before a call


def one_error(capsys: pytest.CaptureFixture[str], *parts: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("harness: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- FIFOs ------------------------------------------------------------------------------------

FIFO_COMMANDS = [
    ["tasks", "validate", "{fifo}"],
    ["tasks", "list", "--tasks-dir", "{dir}"],
    ["import", "questions", "{fifo}", "--run", "{run}"],
    ["import", "answers", "{fifo}", "--run", "{run}"],
    ["synth", "--seed-file", "{fifo}", "--teacher", TEACHER, "--out", "{run}/synth.jsonl"],
    ["synth", "--instructions", "{fifo}", "--answers-from", TEACHER, "--out", "{run}/synth.jsonl"],
    ["run", "{fifo}", "--out", "{run}"],
    ["human", "serve", "--run", "{judged}", "--guide", "{fifo}", "--port", "1"],
]


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from judged_run import make_run
    return make_run(tmp_path_factory.mktemp("judged"))


@pytest.mark.parametrize("argv", FIFO_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_fifo_where_a_file_is_expected_is_one_error_not_a_hang(argv: list[str], tmp_path: Path,
                                                                   judged: Path) -> None:
    """Opened for reading, a FIFO blocks until someone writes to it: the command would hang for ever.
    A subprocess with a timeout, so a regression fails the test instead of hanging the suite."""
    folder = tmp_path / "tasks"
    folder.mkdir()
    suffix = ".yaml" if "validate" in argv or "--tasks-dir" in argv or argv[0] == "run" else ".jsonl"
    if "--guide" in argv:
        suffix = ".md"
    fifo = folder / f"hostile{suffix}"
    os.mkfifo(fifo)
    run = tmp_path / "run"
    args = [a.format(fifo=fifo, dir=folder, run=run, judged=judged) for a in argv]
    before = snapshot(judged)
    done = subprocess.run([*HARNESS, *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    errors = [line for line in done.stderr.splitlines() if line.startswith("harness: error:")]
    assert done.returncode == 2 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "FIFO" in errors[0] and str(fifo) in errors[0], errors[0]
    assert not run.exists() or not any(run.iterdir())
    assert snapshot(judged) == before


def test_a_link_to_a_regular_file_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "real.jsonl"
    src.write_text(json.dumps({"id": "q1", "question": "Why?"}) + "\n", encoding="utf-8")
    link = tmp_path / "link.jsonl"
    link.symlink_to(src)
    assert main(["import", "questions", str(link), "--run", str(tmp_path / "run")]) == 0
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to(loop)
    assert main(["import", "questions", str(loop), "--run", str(tmp_path / "run")]) == 2
    one_error(capsys, str(loop))


# --- integers Python will not convert ------------------------------------------------------------

HUGE = "7" * 5000


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_an_integer_of_5000_digits_is_one_error_naming_its_line(suffix: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    good = {"id": "q1", "question": "Why?"}
    if suffix == ".json":
        text = "[\n" + json.dumps(good) + ',\n{"id": ' + HUGE + ', "question": "x"}\n]\n'
        line = 3
    else:
        text = json.dumps(good) + '\n{"id": ' + HUGE + ', "question": "x"}\n'
        line = 2
    src = tmp_path / f"questions{suffix}"
    src.write_text(text, encoding="utf-8")
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("x", encoding="utf-8")
    before = snapshot(run)
    assert main(["import", "questions", str(src), "--run", str(run)]) == 2
    one_error(capsys, f"{src}:{line}", "4300 digits")
    assert snapshot(run) == before


@pytest.mark.parametrize("flag", ["--seed-file", "--instructions"])
def test_synth_reads_a_huge_integer_as_one_error(flag: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "seeds.json"
    src.write_text('[{"instruction": "Define tort.", "output": ' + HUGE + "}]", encoding="utf-8")
    out = tmp_path / "synth.jsonl"
    model = "--teacher" if flag == "--seed-file" else "--answers-from"
    assert main(["synth", flag, str(src), model, TEACHER, "--out", str(out)]) == 2
    one_error(capsys, str(src), "4300 digits")
    assert not out.exists()


# --- lone surrogates --------------------------------------------------------------------------------

def test_a_lone_surrogate_in_an_imported_answer_is_replaced_counted_and_readable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``"\\ud800"`` is valid JSON but no UTF-8 file can hold what it decodes to: imported, it becomes
    U+FFFD (said once, with the count), and the run's files stay writable and readable."""
    src = tmp_path / "answers.jsonl"
    row = {"task": "t", "question_id": "q1", "model": "m", "question": "Why \ud83d\ude00?", "answer": "a\ud800b"}
    src.write_text(json.dumps(row) + "\n", encoding="utf-8")  # ensure_ascii: the escapes as written
    assert "\\ud800" in src.read_text(encoding="utf-8")
    run = tmp_path / "run"
    for _ in range(2):
        assert main(["import", "answers", str(src), "--run", str(run)]) == 0
    err = capsys.readouterr().err
    assert "1 lone surrogate character" in err and "U+FFFD" in err and "Traceback" not in err
    (answer,) = rundir.read_answers(run)
    assert answer.answer == "a\ufffdb"
    (task,) = rundir.read_questions(run) or []
    assert "\U0001f600" in task.questions[0].question  # a whole pair is a character, kept
    (run / rundir.ANSWERS).read_bytes().decode("utf-8")


def test_the_jsonl_writer_never_writes_nan_or_infinity(tmp_path: Path) -> None:
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValueError):
            files.write_jsonl(tmp_path / "x.jsonl", [{"a": bad}])
    assert not (tmp_path / "x.jsonl").exists()


# --- a pipe closed by its reader --------------------------------------------------------------------

def test_a_reader_closing_the_pipe_is_not_an_error(tmp_path: Path) -> None:
    """``harness tasks list | head -1``: the reader has what it wanted; no error line, exit 0."""
    proc = subprocess.Popen([*HARNESS, "tasks", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before harness has written anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert err == ""
