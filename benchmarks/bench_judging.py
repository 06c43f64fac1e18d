"""Judging throughput against an endpoint with a fixed per-request latency (issue 6).

A loopback server (``latency_server.py``, its own process) answers every request after exactly
``--latency`` seconds and serves any number at once, so at concurrency c the best any client can
do is c / latency requests per second. The harness judges pairs through its whole path (prompt
rendering, endpoint limits, budget, the official openai client, verdict parsing, a committed
SQLite cache row per call) at concurrency 1, 4, 16 and 64, and the script prints its rate next
to that limit. Targets: at least 90% of the limit at 64, and under 2 ms of harness overhead per
call.

Overhead is measured apart, at concurrency 1 against a 50 ms server: the harness's time per call
minus the bare openai client's time per call on the same server (the client's own cost, about
3 ms on loopback here, is the client's, not the harness's; it is printed too).

    python benchmarks/bench_judging.py [--latency 0.5] [--calls-per-slot 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from latency_server import raw_client_rate, serve

from harness.core.types import Answer, Question, Task
from harness.judges.asking import BuiltJudge, JudgeSettings
from harness.judges.pairwise import judge_jobs, make_jobs
from harness.judges.prompts import load_prompt
from harness.models import endpoints
from harness.models.backends import load_backend
from harness.models.cache import CallCache
from harness.models.endpoints import ApiConfig, EndpointSettings

VERDICT = "Assistant 1 is better than Assistant 2"


def harness_rate(url: str, concurrency: int, calls: int) -> tuple[float, int]:
    """Judgments per second through the harness (``calls`` rounded up to even: one pair in two
    orders per question), and how many parsed to a verdict."""
    questions = tuple(Question(f"q{i}", f"Question number {i}?", "general", "")
                      for i in range((calls + 1) // 2))
    task = Task("bench", "en", "bench", "benchmark task", questions)
    answers = [Answer(m, "bench", q.id, f"{m} answers {q.id}.") for m in ("a", "b") for q in questions]
    jobs = make_jobs([task], ["a", "b"], answers)
    warmup = make_jobs([Task("warm", "en", "bench", "warm-up", questions[:2])], ["a", "b"],
                       [Answer(a.model, "warm", a.question_id, f"{a.answer} (warm-up)") for a in answers])
    settings = JudgeSettings(spec=f"openai:latency@{url}", method="generate")
    prompt = load_prompt("assignment_en")
    api = ApiConfig(default=EndpointSettings(concurrency=concurrency, timeout=60))
    with tempfile.TemporaryDirectory() as tmp, endpoints.session(api), \
            CallCache(Path(tmp) / "cache.sqlite") as cache:
        judge = BuiltJudge(settings, load_backend(settings.spec), prompt)
        # Connect and build the client first: a long run pays for that once, not per call.
        judge_jobs(judge, warmup, cache=cache)
        start = time.perf_counter()
        judgments = judge_jobs(judge, jobs, cache=cache)
        elapsed = time.perf_counter() - start
        assert cache.calls["judge"] == len(jobs) + len(warmup), cache.calls
    return len(jobs) / elapsed, sum(j.winner != "error" for j in judgments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.5, help="server latency in seconds (0.5)")
    parser.add_argument("--calls-per-slot", type=int, default=20,
                        help="calls per unit of concurrency, so each level runs about as long (20)")
    parser.add_argument("--overhead-calls", type=int, default=200)
    args = parser.parse_args()

    print(f"server latency {args.latency * 1000:.0f} ms; limit = concurrency / latency")
    print(f"{'concurrency':>11}  {'calls':>6}  {'harness/s':>9}  {'limit/s':>8}  {'ratio':>6}  "
          f"{'bare client/s':>13}  {'bare ratio':>10}")
    with serve(args.latency, VERDICT) as url:
        for c in (1, 4, 16, 64):
            n = 2 * ((args.calls_per_slot * c + 1) // 2)
            rate, parsed = harness_rate(url, c, n)
            assert parsed == n, f"{n - parsed} verdicts did not parse"
            bare = raw_client_rate(url, c, n)
            limit = c / args.latency
            print(f"{c:>11}  {n:>6}  {rate:>9.1f}  {limit:>8.1f}  {rate / limit:>6.1%}  "
                  f"{bare:>13.1f}  {bare / limit:>10.1%}")

    fast = 0.05
    with serve(fast, VERDICT) as url:
        harness_rate(url, 1, 20)  # warm up: imports, template compilation, connections
        raw_client_rate(url, 1, 20)
        per_harness = 1 / harness_rate(url, 1, args.overhead_calls)[0]
        per_bare = 1 / raw_client_rate(url, 1, args.overhead_calls)
    print(f"\nper call at concurrency 1 against a {fast * 1000:.0f} ms server "
          f"({args.overhead_calls} calls each):")
    above = (per_bare - fast) * 1000
    print(f"  bare openai client: {per_bare * 1000:.2f} ms ({above:.2f} ms above the latency)")
    print(f"  harness judging:    {per_harness * 1000:.2f} ms")
    print(f"  harness overhead:   {(per_harness - per_bare) * 1000:.2f} ms per call (target < 2 ms)")


if __name__ == "__main__":
    main()
