"""``harness batch export`` of 10,000 calls and ``harness batch import`` of their results, as a user
runs them: the real commands in subprocesses. Prints each one's wall time and peak memory (the
child's own ``ru_maxrss``); then, with ``bench_replicas``, the throughput of two replicas against one.

Target (issue 31): export and import each under 10 s and 300 MB on 2 cores; two replicas with a
per-server concurrency limit at least 1.8x the throughput of one.

The calls: a task of ``--calls / 2`` questions answered by two models behind an OpenAI-compatible
URL nothing listens on (an export sends nothing). The results are written by this script in
``vllm run-batch``'s shape (each line a chat completion with usage), shuffled, before the import
is timed.

    python benchmarks/bench_batch.py [--calls 10000] [--keep DIR] [--no-replicas]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _task(folder: Path, questions: int) -> None:
    lines = ["language: en", "domain: testing", "description: Many short questions.", "questions:"]
    for i in range(questions):
        lines += [f"  - id: q{i:05d}", "    category: law",
                  f"    question: 'Question {i}: when is a promise binding without consideration?'",
                  "    reference: 'With a deed, or by promissory estoppel.'"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "many.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one child process (its own ``ru_maxrss``, by wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def _results(requests: Path, out: Path, seed: int = 0) -> int:
    rows = []
    for n, text in enumerate(requests.read_text(encoding="utf-8").splitlines()):
        line = json.loads(text)
        answer = f"Answer {n}: a promise needs consideration, a deed, or estoppel."
        rows.append({"id": f"vllm-{n}", "custom_id": line["custom_id"], "error": None, "response": {
            "status_code": 200, "request_id": f"vllm-batch-{n}", "body": {
                "id": f"chatcmpl-{n}", "object": "chat.completion", "created": 0,
                "model": line["body"]["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": answer}}],
                "usage": {"prompt_tokens": 30, "completion_tokens": 15, "total_tokens": 45}}}})
    random.Random(seed).shuffle(rows)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=10_000)
    p.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temporary folder)")
    p.add_argument("--no-replicas", action="store_true", help="skip the replicas' throughput")
    args = p.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        _task(work / "tasks", args.calls // 2)
        url = "http://127.0.0.1:9/v1"  # the discard port: nothing answers, and nothing is sent
        cfg = work / "cfg.yaml"
        cfg.write_text(json.dumps({
            "tasks": ["many"], "tasks_dirs": [str(work / "tasks")], "report": [],
            "models": [{"name": "a", "spec": f"openai:alpha@{url}"},
                       {"name": "b", "spec": f"openai:beta@{url}"}],
            "judge": {"spec": f"openai:judge@{url}"}}), encoding="utf-8")
        run, requests, results = work / "run", work / "requests.jsonl", work / "results.jsonl"
        harness = [sys.executable, "-m", "harness", "batch"]
        wall_e, mem_e = _timed([*harness, "export", str(run), "--stage", "generate", "--config", str(cfg),
                                "--out", str(requests)])
        n = _results(requests, results)
        wall_i, mem_i = _timed([*harness, "import", str(run), str(results)])
        print(f"batch export: {n:,} calls in {wall_e:.2f} s, peak {mem_e:.0f} MB (target < 10 s, < 300 MB)")
        print(f"batch import: {n:,} results in {wall_i:.2f} s, peak {mem_i:.0f} MB (target < 10 s, < 300 MB)")
        if not args.no_replicas:
            sys.path.insert(0, str(Path(__file__).parent))
            from bench_replicas import measure, report

            print(report(measure()))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
