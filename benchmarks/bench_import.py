"""``harness import judgments`` of 1,000,000 judgments into a new run directory, with the re-rate it
runs (Bradley-Terry and Elo, 1000 bootstrap rounds each, 100 Elo orders), as a user runs it: the
real command in a subprocess. Prints its wall time and peak memory (the child's ``ru_maxrss``).

Target (issue 29): under 90 s and 2 GB on 2 cores.

The judgments are harness's generic judgment rows (``task, question_id, model_a, model_b, judge,
winner, order``; docs/interop.md): ``--models`` models, every pair on every question, each
comparison judged in both orders (``ab`` and ``ba``, as ``harness run`` judges: two judgments make
one battle), or with ``--once`` each judgment seen once (every judgment is a battle). Winners follow
fixed model strengths, with 15% ties, and the two orders disagree (a tie) 20% of the time.

    python benchmarks/bench_import.py [--judgments 1000000] [--models 10] [--once] [--repeat 2]
                                      [--profile FILE.prof] [--keep DIR]

``--profile`` runs one more import under cProfile and prints its top entries. Not measured: the
report (``harness report``) and the human pages, which read the run afterwards.

``--elo-only N`` times the Elo alone (``elo_with_ci``: 100 orders + 1000 bootstrap rounds, as the
re-rate runs it) on N battles in this process, and the battle-by-battle code it replaced on one
order of them (the old code ran 1,100 such passes plus its draws):

    python benchmarks/bench_import.py --elo-only 500000
"""

from __future__ import annotations

import argparse
import os
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WINNERS = np.array(["model_a", "model_b", "tie"])


def write_judgments(path: Path, *, judgments: int, models: int, once: bool, seed: int = 0) -> int:
    """The judgments file; returns the number of battles the import makes of it."""
    rng = np.random.default_rng(seed)
    names = [f"model_{i:02d}" for i in range(models)]
    pairs = [(i, j) for i in range(models) for j in range(i + 1, models)]
    per_comparison = 1 if once else 2
    comparisons = judgments // per_comparison
    q = np.arange(comparisons) // len(pairs)
    pair = np.arange(comparisons) % len(pairs)
    a = np.array([p[0] for p in pairs])[pair]
    b = np.array([p[1] for p in pairs])[pair]
    strength = np.linspace(1.5, -1.5, models)
    p_a = 1 / (1 + np.exp(strength[b] - strength[a]))
    outcome = np.where(rng.random(comparisons) < 0.15, 2, np.where(rng.random(comparisons) < p_a, 0, 1))
    flip = rng.random(comparisons) < 0.2
    with path.open("w", encoding="utf-8") as f:
        for i in range(comparisons):
            head = (f'{{"task": "bench", "question_id": "q{q[i]}", "model_a": "{names[a[i]]}", '
                    f'"model_b": "{names[b[i]]}", "judge": "J", ')
            if once:
                f.write(f'{head}"winner": "{WINNERS[outcome[i]]}"}}\n')
                continue
            second = WINNERS[(outcome[i] + 1) % 3] if flip[i] else WINNERS[outcome[i]]
            f.write(f'{head}"winner": "{WINNERS[outcome[i]]}", "order": "ab"}}\n')
            f.write(f'{head}"winner": "{second}", "order": "ba"}}\n')
    return comparisons


def run_import(source: Path, run_dir: Path, *, profile: Path | None = None) -> tuple[float, int, int]:
    """Wall seconds, peak resident memory in MiB and exit status of one ``harness import``."""
    shutil.rmtree(run_dir, ignore_errors=True)
    argv = [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else []),
            "-m", "harness.app.cli", "import", "judgments", str(source), "--run", str(run_dir)]
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    # wait4 gives this child's own usage; getrusage(RUSAGE_CHILDREN) would be the largest so far
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss // 1024, child.returncode


def elo_only(n: int, models: int) -> None:
    from harness.core.types import Battle
    from harness.stats.ratings import elo_with_ci, online_elo

    rng = np.random.default_rng(0)
    names = [f"model_{i:02d}" for i in range(models)]
    a = rng.integers(0, models, n)
    b = (a + rng.integers(1, models, n)) % models
    outcome = np.where(rng.random(n) < 0.15, 2, np.where(rng.random(n) < 1 / (1 + np.exp((a - b) / 3)), 0, 1))
    battles = [Battle(names[i], names[j], WINNERS[o], "t", f"q{q}")  # type: ignore[arg-type]
               for q, (i, j, o) in enumerate(zip(a.tolist(), b.tolist(), outcome.tolist()))]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    start = time.perf_counter()
    got = elo_with_ci(battles, names, bootstrap=1000, seed=0, rounds=100)
    took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    start = time.perf_counter()
    online_elo(battles)
    one = time.perf_counter() - start
    draws = random.Random(0)
    start = time.perf_counter()
    [battles[draws.randrange(n)] for _ in battles]  # noqa: B018 - the old bootstrap's draws, timed
    drawn = time.perf_counter() - start
    print(f"elo_with_ci on {n:,} battles, {models} models: {took:.1f} s (peak {peak:,} MiB, {before:,} MiB "
          f"before); the old code: one battle-by-battle pass {one:.2f} s, one resample's draws "
          f"{drawn:.2f} s, so 1100 passes + 1000 draws = {one * 1100 + drawn * 1000:.0f} s "
          f"(load {os.getloadavg()[0]:.1f}); top rating {got.ratings.max():.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--once", action="store_true", help="each judgment seen once: one battle each")
    parser.add_argument("--repeat", type=int, default=2, help="timed imports (the machine may be busy)")
    parser.add_argument("--profile", type=Path, help="also run one import under cProfile, writing FILE")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temporary folder)")
    parser.add_argument("--elo-only", type=int, metavar="N", help="time the Elo alone on N battles")
    opts = parser.parse_args()
    if opts.elo_only:
        elo_only(opts.elo_only, opts.models)
        return
    work = opts.keep or Path(tempfile.mkdtemp(prefix="bench_import_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        source = work / "judgments.jsonl"
        start = time.perf_counter()
        battles = write_judgments(source, judgments=opts.judgments, models=opts.models, once=opts.once)
        print(f"wrote {opts.judgments:,} judgments ({battles:,} battles, {opts.models} models, "
              f"{source.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.1f} s; "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        for i in range(opts.repeat):
            wall, peak, rc = run_import(source, work / "run")
            print(f"import {i + 1}: {wall:.1f} s, peak {peak:,} MiB, exit {rc} "
                  f"(load {os.getloadavg()[0]:.1f})")
        print(f"largest child peak (getrusage RUSAGE_CHILDREN): "
              f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024:,} MiB")
        if opts.profile:
            wall, peak, rc = run_import(source, work / "run", profile=opts.profile)
            print(f"profiled import: {wall:.1f} s, peak {peak:,} MiB, exit {rc}")
            stats = pstats.Stats(str(opts.profile))
            stats.sort_stats("cumulative").print_stats(30)
            stats.sort_stats("tottime").print_stats(20)
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
