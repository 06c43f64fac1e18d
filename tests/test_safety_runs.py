"""Runs that cost money under hostile conditions (issue 15, items 4, 5 and 16, and the CLI boundary):
two commands on one run directory, a full disk, a read-only folder, a corrupt cache, an endpoint
that echoes the API key. Each gives one ``harness: error:`` line, loses nothing already in the run,
and pays for nothing twice."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from judged_run import judge_reply, write_answers
from scripted_server import ScriptedServer
from test_endpoints import ChatServer  # the recording chat server

from harness.app import tasks_command
from harness.app.cli import main
from harness.core import rundir, runlock
from harness.models.cache import CallCache

REPO = Path(__file__).resolve().parents[1]
PAIRS = 3 * 2 * 3  # model pairs x tasks x questions in judged_run's answers
JUDGE = ["--prompt", "mtbench_pairwise", "--judge-method", "generate", "--no-progress", "--report", "none"]


def _one_error_line(err: str) -> str:
    assert err.startswith("harness: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def _snapshot(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.suffix in (".jsonl", ".yaml")}


# --- the run-directory lock -----------------------------------------------------------------

def _harness(*argv: str) -> list[str]:
    return [sys.executable, "-m", "harness", *argv]


@pytest.mark.parametrize("command", ["run", "judge"])
def test_a_second_command_on_a_busy_run_is_refused_and_nothing_is_paid_twice(tmp_path: Path,
                                                                             command: str) -> None:
    """The first command holds the lock while its first call waits; the second (the same command
    line) is refused at once, naming the holder; the first finishes alone, making exactly the calls
    it needed. (Before the lock, two `harness run` on one --out both paid for everything.)"""
    gate = threading.Event()

    def slow(body: dict[str, Any]) -> str:
        gate.wait(60)
        return judge_reply(body) if body["model"] == "judge" else f"answer of {body['model']}"

    with ScriptedServer(slow) as server:
        if command == "judge":
            run = write_answers(tmp_path)
            argv, needed = _harness("judge", str(run), "--judge", f"openai:judge@{server.url}", *JUDGE), 2 * PAIRS
        else:
            run = tmp_path / "runs" / "busy"
            argv = _harness("run", "--out", str(run), "--tasks", "en_law", "--limit", "3", "--models",
                            f"a=openai:m1@{server.url}", f"b=openai:m2@{server.url}", "--judge",
                            f"openai:judge@{server.url}", *JUDGE)
            needed = 2 * 3 + 2 * 3  # two models answer 3 questions; one pair judged in both orders
        env = {**os.environ, "OPENAI_API_KEY": "k"}
        first = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env)
        try:
            deadline = time.monotonic() + 60
            while not server.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.requests, f"the first {command} never made a call"
            second = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
            err = _one_error_line(second.stderr)
            assert second.returncode == 2
            assert f"in use by `harness {command}` (pid {first.pid} on " in err and str(run) in err, err
        finally:
            gate.set()
            out, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
        assert len(server.requests) == needed
        assert len({json.dumps(r, sort_keys=True) for r in server.requests}) == needed  # none sent twice
    assert not (run / rundir.LOCK).exists()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    code = ("import os, signal, sys; from pathlib import Path; from harness.core import runlock\n"
            "with runlock.hold(Path(sys.argv[1]), command='run', create=True):\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    dead = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True)
    assert dead.returncode == -signal.SIGKILL
    left = json.loads((run / rundir.LOCK).read_text(encoding="utf-8"))
    assert left["command"] == "run" and left["host"]
    with runlock.hold(run, command="judge"):
        mine = json.loads((run / rundir.LOCK).read_text(encoding="utf-8"))
        assert mine["pid"] == os.getpid() and mine["command"] == "judge"
    note = capsys.readouterr().err
    assert f"took over {run / rundir.LOCK}" in note and f"pid {left['pid']}" in note
    assert not (run / rundir.LOCK).exists()


def test_the_lock_is_reentrant_within_one_process_and_exclusive_between_processes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    probe = ("import sys; from pathlib import Path; from harness.app.cli import main\n"
             "sys.exit(main(['human', 'import', sys.argv[2], '--run', sys.argv[1]]))\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("task,question_id,model_a,model_b,winner\n", encoding="utf-8")
    with runlock.hold(run, command="run", create=True), runlock.hold(run, command="judge"):
        other = subprocess.run([sys.executable, "-c", probe, str(run), str(labels)], capture_output=True,
                               text=True, timeout=120)
        assert other.returncode == 2 and "in use by `harness run`" in _one_error_line(other.stderr)
        assert (run / rundir.LOCK).exists()
    assert not (run / rundir.LOCK).exists()


# --- the CLI boundary -----------------------------------------------------------------------

def test_an_os_refusal_is_one_line_naming_the_path(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    def full(args: Any) -> int:
        raise OSError(28, "No space left on device", "runs/x/answers.jsonl")

    monkeypatch.setattr(tasks_command, "run", full)
    assert main(["tasks", "list"]) == 2
    assert "runs/x/answers.jsonl: No space left on device" in _one_error_line(capsys.readouterr().err)


def test_a_bug_shows_its_traceback_and_asks_for_a_report(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    def bug(args: Any) -> int:
        raise KeyError("oops")

    monkeypatch.setattr(tasks_command, "run", bug)
    assert main(["tasks", "list"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'oops'" in err
    assert err.rstrip().splitlines()[-1].startswith("harness: internal error: this is a bug in harness")


# --- corrupt cache, read-only folders, a full disk ------------------------------------------

@pytest.mark.parametrize("garbage", [b"not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_a_corrupt_cache_is_one_line_saying_how_to_move_it_aside(
        tmp_path: Path, garbage: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_answers(tmp_path)
    (run / rundir.CACHE).write_bytes(garbage)
    before = _snapshot(run)
    with ScriptedServer(judge_reply) as server:
        assert main(["judge", str(run), "--judge", f"openai:judge@{server.url}", *JUDGE]) == 2
        assert not server.requests
    err = _one_error_line(capsys.readouterr().err)
    assert f"{run / rundir.CACHE}: the call cache is corrupt" in err and f"mv {run / rundir.CACHE}" in err
    assert _snapshot(run) == before


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs at ``path``; skipped where this process may not mount one (not root)."""
    path.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip() or 'not root'}); "
                    "the full-disk and read-only tests need one")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def test_read_only_folders_are_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_answers(tmp_path)
    with ScriptedServer(judge_reply) as server:
        assert main(["judge", str(source), "--judge", f"openai:judge@{server.url}", *JUDGE]) == 0
    capsys.readouterr()
    with _tmpfs(tmp_path / "ro", "4m") as ro:
        run = ro / "run"
        run.mkdir()
        for f in source.iterdir():
            if f.is_file() and f.suffix in (".jsonl", ".csv", ".yaml", ".json"):
                (run / f.name).write_bytes(f.read_bytes())
        labels = tmp_path / "labels.csv"
        labels.write_text("task,question_id,model_a,model_b,winner\nen_law,q01,base,chatgpt,model_a\n",
                          encoding="utf-8")
        _read_only(ro)
        before = _snapshot(run)
        for argv, path in ((["report", str(run), "--format", "md"], run / "report"),
                           (["report", str(source), "--format", "md", "--out", str(ro / "out")], ro / "out"),
                           (["human", "import", str(labels), "--run", str(run)], run),
                           (["prompts", "new", "mine", "--dir", str(ro / "prompts")], ro / "prompts")):
            assert main(argv) == 2, argv
            err = _one_error_line(capsys.readouterr().err)
            assert str(path) in err and "Read-only file system" in err, (argv, err)
        assert _snapshot(run) == before


def test_a_disk_that_fills_mid_judging_stops_new_sends_at_once(tmp_path: Path) -> None:
    """The judge fills the disk while answering its 10th request, so no reply after that can be
    stored. A request goes out only once the reply before it is stored, so replies sent and never
    stored are at most the concurrency (4 here): the calls that were in flight. Nothing more is
    sent, and what the run held is intact."""
    concurrency = 4
    with _tmpfs(tmp_path / "disk", "2m") as disk:
        run = write_answers(disk)
        before = _snapshot(run)

        def filling(body: dict[str, Any]) -> str:
            if len(server.requests) == 10:
                with contextlib.suppress(OSError), (disk / "filler").open("wb") as f:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
            return judge_reply(body)

        with ScriptedServer(filling) as server:
            done = subprocess.run(  # a process of its own: what it sends while exiting counts too
                [sys.executable, "-m", "harness", "judge", str(run), "--judge", f"openai:judge@{server.url}",
                 "--concurrency", str(concurrency), *JUDGE], capture_output=True, text=True, timeout=300,
                env={**os.environ, "OPENAI_API_KEY": "k"})
            time.sleep(0.5)  # any request still going out would arrive by now
            sent = len(server.requests)
        err = _one_error_line(done.stderr)
        assert done.returncode == 2 and str(run / rundir.CACHE) in err and "full" in err, err
        (disk / "filler").unlink()
        with CallCache(run / rundir.CACHE) as cache:
            committed = sum(u.calls for u in cache.usage())
        assert 10 <= sent < 2 * PAIRS, sent
        assert sent - committed <= concurrency, (sent, committed)
        assert _snapshot(run) == before


# --- the API key ----------------------------------------------------------------------------

@pytest.mark.parametrize("status", [400, 500])
def test_the_api_key_never_reaches_stderr_or_the_run(tmp_path: Path, status: int,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    secret = "sk-test-Secret12345"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    run = write_answers(tmp_path)
    # The endpoint quotes the request's Authorization header back in its error, as some proxies do.
    echo = {"error": {"message": f"bad credentials: Bearer {secret}", "type": "invalid_request_error"}}
    with ChatServer(error=(status, echo)) as endpoint:
        code = main(["judge", str(run), "--judge", f"openai:judge@{endpoint.url}", "--max-retries", "0",
                     *JUDGE])
        assert endpoint.headers[0]["authorization"] == f"Bearer {secret}"
    captured = capsys.readouterr()
    err = _one_error_line(captured.err)
    assert code == 2 and "bad credentials: Bearer [redacted]" in err, err
    assert secret not in captured.out + captured.err
    for path in run.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_the_package_runs_as_a_module() -> None:
    """``python -m harness`` (used above to run a second process) is the console script."""
    out = subprocess.run([sys.executable, "-m", "harness", "--help"], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert out.returncode == 0 and "usage: harness" in out.stdout


# --- nothing dropped silently ---------------------------------------------------------------

def test_an_answer_to_a_question_the_task_lacks_is_an_error_not_a_silent_drop(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_answers(tmp_path)
    rows = [json.loads(line) for line in (run / rundir.ANSWERS).read_text(encoding="utf-8").splitlines()]
    rows[0]["question_id"] = "q99"
    (run / rundir.ANSWERS).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["judge", str(run), "--judge", "reference:chrf", "--no-progress"]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert f"model {rows[0]['model']!r} answered question 'q99'" in err and "en_law" in err
    assert not (run / rundir.JUDGMENTS).exists()


def test_a_second_label_file_that_contradicts_the_first_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_answers(tmp_path)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    header = "task,question_id,model_a,model_b,winner,annotator\n"
    first.write_text(header + "en_law,q01,base,chatgpt,model_a,ann\n", encoding="utf-8")
    second.write_text(header + "en_law,q01,chatgpt,base,tie,ann\nen_law,q02,base,chatgpt,tie,ann\n",
                      encoding="utf-8")
    assert main(["human", "import", str(first), "--run", str(run)]) == 0
    held = (run / rundir.HUMAN).read_bytes()
    capsys.readouterr()
    assert main(["human", "import", str(second), "--run", str(run)]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert str(second) in err and "'ann' labelled en_law/q01" in err and "nothing was imported" in err
    assert (run / rundir.HUMAN).read_bytes() == held
    assert len(rundir.read_human(run)) == 1  # the run still reads


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--limit", "nan"], "harness run: argument --limit: invalid int value: 'nan'"),
    (["rate"], "harness rate: the following arguments are required: battles"),
    (["bogus"], "invalid choice: 'bogus'"),
])
def test_argument_mistakes_are_one_line_too(argv: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = _one_error_line(capsys.readouterr().err)
    assert message in err and "--help" in err
