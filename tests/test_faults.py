"""Judging at scale against a real endpoint that misbehaves: llama.cpp's OpenAI-compatible server
on the embedded GGUF, behind a proxy that injects 429/500/503, hangs, drops and truncated bodies
on a seeded schedule, and counts every reply it delivers."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from fault_proxy import FaultProxy

from harness.app.config import load_config
from harness.app.pipeline import run
from harness.core import files, rundir

pytestmark = pytest.mark.slow

TASK, LIMIT = "en_law", 3
PAIRS_X_ORDERS = 2  # two models: one pair, asked in both orders


def _config_file(tmp: Path, url: str, out: Path, timeout: float = 20.0) -> Path:
    spec = f"openai:smollm2@{url}"
    config = {
        "tasks": [TASK], "limit": LIMIT, "out": str(out), "bootstrap": 50,
        "models": [
            {"name": "terse", "spec": spec, "decoding": {"max_new_tokens": 24},
             "system_prompt": "Answer in one short sentence."},
            {"name": "plain", "spec": spec, "decoding": {"max_new_tokens": 24}},
        ],
        "judge": {"spec": spec, "method": "generate", "max_attempts": 2,
                  "decoding": {"max_new_tokens": 16}},
        "api": {"concurrency": 4, "timeout": timeout, "max_retries": 8},
    }
    path = tmp / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _judgments(run_dir: Path) -> list[dict[str, Any]]:
    rows = files.read_jsonl(run_dir / rundir.JUDGMENTS, lambda r: r)
    # The judge's spec names the endpoint's URL, which differs between the runs compared.
    return [{k: v for k, v in row.items() if k != "judge"} for row in rows]


def _cached_messages(run_dir: Path) -> list[str]:
    with sqlite3.connect(run_dir / rundir.CACHE) as db:
        return [json.dumps(json.loads(r)["messages"], sort_keys=True)
                for (r,) in db.execute("SELECT request FROM calls")]


def _body_messages(body: dict[str, Any]) -> str:
    return json.dumps(body["messages"], sort_keys=True)


def test_a_run_through_injected_faults_has_every_judgment_exactly_once(llama_server: str,
                                                                       tmp_path: Path) -> None:
    with FaultProxy(llama_server, rate=0.3, seed=3, retry_after="1", hang_s=12,
                    first=("429", "500", "503", "hang", "drop", "truncate")) as proxy:
        config = load_config(_config_file(tmp_path, proxy.url, tmp_path / "faulty", timeout=8))
        result = run(config)
    out = tmp_path / "faulty"
    # Every kind of fault happened, and the run still finished.
    assert set(proxy.faults_injected) == {"429", "500", "503", "hang", "drop", "truncate"}, \
        proxy.faults_injected
    answers = files.read_jsonl(out / rundir.ANSWERS, lambda r: r)
    assert Counter((a["model"], a["question_id"]) for a in answers) == Counter(
        {(m, f"q{i:02d}"): 1 for m in ("terse", "plain") for i in range(1, LIMIT + 1)})
    judgments = _judgments(out)
    keys = Counter((j["question_id"], j["order"]) for j in judgments)
    assert keys == Counter({(f"q{i:02d}", o): 1 for i in range(1, LIMIT + 1) for o in ("ab", "ba")})
    # Each finished call was delivered once and committed once: nothing paid for twice.
    delivered = Counter(_body_messages(b) for b in proxy.delivered)
    assert max(delivered.values()) == 1
    assert sorted(delivered) == sorted(_cached_messages(out))
    assert sum(result.calls.values()) == len(proxy.delivered)


def test_sigkill_mid_judging_then_resume_repeats_no_finished_call(llama_server: str,
                                                                  tmp_path: Path) -> None:
    # The uninterrupted reference, straight to the server.
    reference = tmp_path / "reference"
    run(load_config(_config_file(tmp_path, llama_server, reference)))

    generation_calls = 2 * LIMIT
    kill_after = generation_calls + 3  # three judge replies delivered, then SIGKILL
    victim: dict[str, subprocess.Popen[bytes]] = {}

    def kill(proxy: FaultProxy) -> None:
        if len(proxy.delivered) == kill_after:
            os.kill(victim["proc"].pid, signal.SIGKILL)

    out = tmp_path / "resumed"
    with FaultProxy(llama_server, rate=0.0, on_delivered=kill) as proxy:
        path = _config_file(tmp_path, proxy.url, out)
        cmd = [sys.executable, "-m", "harness", "run", str(path), "--no-progress"]
        victim["proc"] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, err = victim["proc"].communicate(timeout=600)
        assert victim["proc"].returncode == -signal.SIGKILL, err.decode()
        first_run = list(proxy.delivered)
        committed = set(_cached_messages(out))
        assert not (out / rundir.JUDGMENTS).exists()  # killed in the middle of judging
        judge_calls = LIMIT * PAIRS_X_ORDERS
        # Some judge replies were committed (the last delivered may not have been: it was in flight).
        assert generation_calls < len(committed) < generation_calls + judge_calls

        resumed = run(load_config(path))
        second_run = proxy.delivered[len(first_run):]

    # No call whose reply was committed before the kill was sent again; at most the calls in
    # flight at the kill (the concurrency) were lost and repeated.
    assert not committed & {_body_messages(b) for b in second_run}
    assert len(first_run) - len(committed) <= 4
    assert sum(resumed.calls.values()) == len(second_run)
    assert _judgments(out) == _judgments(reference)
