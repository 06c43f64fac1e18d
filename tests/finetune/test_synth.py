"""``harness synth`` (issue 20) with a scripted teacher over HTTP: what it writes is a known mix of
good blocks, malformed ones, near-duplicates, blocked words, copies of a test question and bad
lengths, each tagged, so every rejection can be checked against its cause."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from scripted_server import ScriptedServer

from harness.app.cli import main
from harness.finetune.contamination import find_overlaps
from harness.finetune.data import load_examples
from harness.tasks import load_task

SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vi", "so", "pe", "du", "ga", "ho", "zi", "be", "fu")
VOCAB = sorted({a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES[:6]})
TEST_QUESTION = load_task("en_law").questions[0].question
KINDS = ("good", "good", "good", "good", "malformed", "near", "blocked", "contaminated", "short", "empty")
REASON = {"malformed": "malformed block", "near": "near-duplicate", "blocked": "asks for what a text model "
          "cannot serve", "contaminated": "overlaps a test question", "short": "instruction too short",
          "empty": "output empty"}
SEEDS = [{"instruction": f"Explain the rule on {topic} to a new client.", "input": "",
          "output": f"The rule on {topic} says what it says."}
         for topic in ("leases", "wills", "liens", "torts", "bail")]


class Teacher:
    """Replies with a fixed mix of block kinds, chosen from a hash of the prompt (so the same prompt,
    in any run, gets the same reply); remembers each instruction's kind."""

    def __init__(self) -> None:
        self.kinds: dict[str, str] = {}
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        if body["model"] == "answerer":
            question = prompt.split("\n\n")[0]
            return "" if "silent" in question else f"Answer to: {question}"
        start = int(re.search(r"from number (\d+)", prompt).group(1))  # type: ignore[union-attr]
        rng = random.Random(hashlib.sha256(prompt.encode()).digest())
        blocks, first_good = [], ""
        for k, kind in enumerate(KINDS):
            n = start + k
            instruction = " ".join(rng.choice(VOCAB) for _ in range(9)).capitalize() + "?"
            output, given = f"Reply {rng.random():.6f}.", "<noinput>"
            if kind == "good" and not first_good:
                first_good = instruction
            if kind == "near":
                words = first_good.split()
                instruction = " ".join([*words[:-1], "different?"])
            elif kind == "blocked":
                instruction = f"Draw a diagram of {instruction.lower()}"
            elif kind == "contaminated":
                instruction = TEST_QUESTION
            elif kind == "short":
                instruction = "Do it."
            elif kind == "empty":
                output = ""
            with self.lock:
                self.kinds.setdefault(instruction, kind)
            if kind == "malformed":
                blocks.append(f"{n}. Instruction: {instruction}\n{n}. Output: {output}")
            else:
                blocks.append(f"{n}. Instruction: {instruction}\n{n}. Input: {given}\n{n}. Output: {output}")
        return "\n###\n".join(blocks)


def _lcs(a: list[str], b: list[str]) -> int:
    """The textbook dynamic programme, apart from harness.stats.dedup."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in SEEDS), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def _args(url: str, seeds: Path, out: Path, *extra: str) -> list[str]:
    return ["synth", "--seed-file", str(seeds), "--teacher", f"openai:teacher@{url}", "--n", "30",
            "--per-call", "10", "--calls-per-round", "2", "--out", str(out), "--tasks", "en_law",
            "--no-progress", *extra]


def test_every_block_is_kept_or_rejected_for_its_own_reason(tmp_path: Path, seeds: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    teacher = Teacher()
    out = tmp_path / "law.jsonl"
    with ScriptedServer(teacher) as server:
        assert main(_args(server.url, seeds, out)) == 0
        sent = len(server.requests)
        # Run again: everything from the cache, the same records.
        first = out.read_text(encoding="utf-8")
        assert main(_args(server.url, seeds, out)) == 0
        assert len(server.requests) == sent and out.read_text(encoding="utf-8") == first
    said = capsys.readouterr().out
    kept = _rows(out)
    assert len(kept) == 30 and "kept 30 of 30 records" in said
    assert all(teacher.kinds[r["instruction"]] == "good" for r in kept)
    # No pair of kept records at ROUGE-L >= 0.7, by an independent LCS.
    words = [_words(r["instruction"]) for r in kept]
    for i in range(len(words)):
        for j in range(i):
            assert 2 * _lcs(words[i], words[j]) / (len(words[i]) + len(words[j])) < 0.7
    assert not find_overlaps(load_examples(str(out)), [load_task("en_law")])
    rejected = _rows(out.with_suffix(".rejected.jsonl"))
    for row in rejected:
        if row["reason"] == "malformed block":
            assert "Input:" not in row["text"]
            continue
        kind = teacher.kinds[row["instruction"]]
        # A good block seen again (two prompts alike) is a near-duplicate of its first showing.
        assert row["reason"] == REASON["near" if kind == "good" else kind]
    summary = json.loads(out.with_suffix(".summary.json").read_text(encoding="utf-8"))
    assert set(REASON.values()) <= {r for r, n in summary["rejected"].items() if n}
    assert summary["rejected"] == {reason: sum(r["reason"] == reason for r in rejected)
                                   for reason in summary["rejected"]}
    assert summary["teacher_calls"] == sent and summary["calls_sent_now"] == 0
    assert summary["first_words"] and summary["reached"] is True
    # The output is what harness finetune --data reads.
    assert len(load_examples(str(out))) == 30


def test_max_calls_stops_short_and_says_so(tmp_path: Path, seeds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ScriptedServer(Teacher()) as server:
        assert main(_args(server.url, seeds, tmp_path / "few.jsonl", "--n", "100", "--max-calls", "3")) == 0
        assert len(server.requests) == 3
    said = capsys.readouterr().out
    assert "stopped at --max-calls" in said
    assert 0 < len(_rows(tmp_path / "few.jsonl")) < 100


def test_distillation_replaces_outputs_and_checks_given_instructions(tmp_path: Path, seeds: Path) -> None:
    teacher = Teacher()
    given = tmp_path / "instructions.jsonl"
    lines = [{"instruction": "Summarise the duties of a trustee for a beneficiary."},
             {"instruction": "Summarise the duties of a trustee for the beneficiary."},  # near-duplicate
             {"instruction": "Draw a map of the court system."},
             {"instruction": TEST_QUESTION},
             {"instruction": "Explain why a silent acceptance rarely binds."},  # the answerer says nothing
             {"instruction": "Compare a lease with a licence.", "input": "Tenant A pays monthly."}]
    given.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    out = tmp_path / "distilled.jsonl"
    with ScriptedServer(teacher) as server:
        assert main(["synth", "--instructions", str(given), "--answers-from", f"openai:answerer@{server.url}",
                     "--n", "10", "--out", str(out), "--tasks", "en_law", "--no-progress"]) == 0
    kept = _rows(out)
    assert [r["instruction"] for r in kept] == [lines[0]["instruction"], lines[5]["instruction"]]
    assert kept[1] == {"instruction": lines[5]["instruction"], "input": "Tenant A pays monthly.",
                       "output": "Answer to: Compare a lease with a licence."}
    reasons = [r["reason"] for r in _rows(out.with_suffix(".rejected.jsonl"))]
    assert reasons == ["near-duplicate", "asks for what a text model cannot serve", "overlaps a test question",
                       "output empty"]
    # Generated instructions, answered by another model.
    out2 = tmp_path / "generated.jsonl"
    with ScriptedServer(teacher) as server:
        assert main(_args(server.url, seeds, out2, "--n", "6", "--answers-from",
                          f"openai:answerer@{server.url}")) == 0
    kept = _rows(out2)
    assert len(kept) == 6 and all(r["output"] == f"Answer to: {r['instruction']}" for r in kept)


def _cached(cache: Path) -> set[str]:
    with sqlite3.connect(cache) as db:
        return {json.dumps(json.loads(r)["messages"], sort_keys=True)
                for (r,) in db.execute("SELECT request FROM calls")}


def test_sigkill_then_resume_repeats_no_finished_call_and_writes_the_same_records(
        tmp_path: Path, seeds: Path) -> None:
    reference = tmp_path / "reference.jsonl"
    with ScriptedServer(Teacher()) as server:
        assert main(_args(server.url, seeds, reference, "--n", "40")) == 0
        total = len(server.requests)
    assert total >= 6
    victim: dict[str, subprocess.Popen[bytes]] = {}
    teacher = Teacher()
    kill_at = total // 2

    def reply(body: dict[str, Any]) -> str:
        text = teacher(body)
        if len(server.requests) == kill_at:  # this reply is never delivered
            os.kill(victim["proc"].pid, signal.SIGKILL)
        return text

    out = tmp_path / "resumed.jsonl"
    with ScriptedServer(reply) as server:
        env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
        victim["proc"] = subprocess.Popen([sys.executable, "-m", "harness", *_args(server.url, seeds, out, "--n", "40")],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        _, err = victim["proc"].communicate(timeout=300)
        assert victim["proc"].returncode == -signal.SIGKILL, err.decode()
        assert not out.exists()
        first = len(server.requests)
        committed = _cached(out.with_suffix(".cache.sqlite"))
        assert 0 < len(committed) < first
        assert main(_args(server.url, seeds, out, "--n", "40")) == 0
        again = [json.dumps(b["messages"], sort_keys=True) for b in server.requests[first:]]
    assert not committed & set(again)
    assert first - len(committed) <= 2  # at most the calls in flight (--calls-per-round 2) are lost
    assert _rows(out) == _rows(reference)


def test_bad_input_is_one_line(tmp_path: Path, seeds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x", "output": 3}\n', encoding="utf-8")
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Write tasks like these:\n{{ examples }}\n", encoding="utf-8")
    cases = [
        (["synth", "--seed-file", str(bad), "--teacher", "embedded", "--out", str(tmp_path / "o.jsonl")],
         "field 'output' must be non-empty text"),
        (["synth", "--seed-file", str(seeds), "--teacher", "embedded", "--out", str(tmp_path / "o.jsonl"),
          "--prompt", str(prompt)], "must contain {{ count }}"),
        (["synth", "--seed-file", str(seeds), "--teacher", "nosuch:x", "--out", str(tmp_path / "o.jsonl")],
         "nosuch"),
        (["synth", "--seed-file", str(seeds), "--teacher", "embedded", "--out", str(tmp_path)], "is a folder"),
        (["synth", "--seed-file", str(seeds), "--teacher", "embedded", "--out", str(tmp_path / "o.jsonl"),
          "--per-call", "0"], "--per-call"),
    ]
    for argv, said in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and said in err, err
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.slow
def test_the_embedded_model_as_teacher_runs_one_round_offline(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Its tasks are poor (135M parameters); the path (prompt, local generation, parsing, filters,
    files) is the real one."""
    out = tmp_path / "tiny.jsonl"
    assert main(["synth", "--task", "en_law", "--teacher", "embedded", "--n", "5", "--per-call", "3",
                 "--max-calls", "1", "--calls-per-round", "1", "--max-new-tokens", "160",
                 "--out", str(out), "--no-progress"]) == 0
    summary = json.loads(out.with_suffix(".summary.json").read_text(encoding="utf-8"))
    assert summary["teacher_calls"] == 1 and summary["rounds"] == 1
    kept, rejected = _rows(out), _rows(out.with_suffix(".rejected.jsonl"))
    assert len(kept) + len(rejected) >= 1  # every block it wrote is accounted for
    assert summary["kept"] == len(kept) and sum(summary["rejected"].values()) == len(rejected)


@pytest.mark.slow
def test_synth_then_finetune_then_run_with_base_and_adapter(tmp_path: Path, seeds: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "law.jsonl"
    with ScriptedServer(Teacher()) as server:
        assert main(_args(server.url, seeds, data, "--n", "12")) == 0
    adapter = tmp_path / "adapter"
    assert main(["finetune", "--base", "embedded", "--data", str(data), "--out", str(adapter),
                 "--max-steps", "2", "--batch-size", "2", "--max-seq-len", "128"]) == 0
    manifest = json.loads((adapter / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["data"] == str(data) and manifest["train_records"] + manifest["eval_records"] == 12
    run = tmp_path / "run"
    assert main(["run", "--tasks", "en_law", "--limit", "2", "--out", str(run), "--no-progress",
                 "--models", "base=embedded", f"tuned=embedded+lora:{adapter}", "--max-new-tokens", "16",
                 "--report", "md"]) == 0
    board = (run / "leaderboard.csv").read_text(encoding="utf-8")
    assert "base" in board and "tuned" in board
    assert "tuned" in (run / "report" / "report.md").read_text(encoding="utf-8")


def test_blocked_words_spare_the_legal_senses() -> None:
    from harness.finetune.contamination import Guard
    from harness.finetune.selfinstruct import Record
    from harness.finetune.synth import Reject, SynthSettings, _Filters

    en = _Filters(SynthSettings(teacher=None), Guard([]), [])
    blocked = ["Draw a diagram of the court system.", "Summarise the attached file for me.",
               "Describe this picture of a contract."]
    allowed = ["Draw up a lease clause on repairs.", "Explain when to file a claim in small claims court.",
               "Explain how to file for bankruptcy protection."]
    assert [en.instruction(Record(t, "", "x")) for t in blocked] == [Reject.BLOCKED_WORD] * 3
    assert [en.instruction(Record(t, "", "x")) for t in allowed] == [None] * 3
    assert en.instruction(Record("Summarise the profile of a typical client.", "", "x")) is None  # not "file"
    zh = _Filters(SynthSettings(teacher=None, language="zh"), Guard([]), [])
    assert zh.instruction(Record("请绘制一张公司结构示意图。", "", "x")) is Reject.BLOCKED_WORD
    assert zh.instruction(Record("请起草一份租赁合同文件的要点。", "", "x")) is None
    # --blocked-words adds to the built-in list, words and phrases alike.
    more = _Filters(SynthSettings(teacher=None, blocked_extra=("Spreadsheet", "web page")), Guard([]), [])
    assert more.instruction(Record("Fill in the spreadsheet for the audit.", "", "x")) is Reject.BLOCKED_WORD
    assert more.instruction(Record("Summarise this web page on leases.", "", "x")) is Reject.BLOCKED_WORD
    assert more.instruction(Record("Draw a chart of the assets.", "", "x")) is Reject.BLOCKED_WORD
    assert more.instruction(Record("Explain a web of contracts on the page.", "", "x")) is None


def test_dry_run_sends_nothing_and_writes_nothing(tmp_path: Path, seeds: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with ScriptedServer(Teacher()) as server:
        out = tmp_path / "plan.jsonl"
        assert main(_args(server.url, seeds, out, "--max-calls", "7", "--answers-from",
                          f"openai:answerer@{server.url}", "--dry-run")) == 0
        assert server.requests == []
    said = capsys.readouterr().out
    assert "dry run: nothing was sent" in said and "--max-calls (7)" in said
    rows = [line for line in said.splitlines() if line.startswith("| synth")]
    assert [r.split("|")[3].strip() for r in rows] == ["7", "30"]  # teacher calls; one answer per record
    assert list(tmp_path.iterdir()) == [seeds]


def test_a_blocked_words_file_is_read_and_checked(tmp_path: Path, seeds: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    words = tmp_path / "blocked.txt"
    words.write_text("# ours\nspreadsheet\n\n  web page  # a phrase\n", encoding="utf-8")
    from harness.app.synth_command import read_blocked

    assert read_blocked(words) == ("spreadsheet", "web page")
    words.write_text("ok\n---\n", encoding="utf-8")
    assert main(["synth", "--seed-file", str(seeds), "--teacher", "embedded", "--out",
                 str(tmp_path / "o.jsonl"), "--blocked-words", str(words)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{words}:2" in err and "no letter or digit" in err
