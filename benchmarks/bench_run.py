"""Wall time of the default `harness run` (offline, embedded model), then of an identical re-run.

Targets (issue 2): first run under 15 minutes on 2 CPU cores, second run (cache hits only) under
5 seconds. The first run starts from a cold weights cache, as on a fresh machine, unless
--warm-weights is given. Issue 14: a first run from a warm weights cache under 8 minutes.

--generation then also compares the embedded backend's generation throughput with llama.cpp's
server on the same prompts (``bench_generation.py``; the target is a ratio of at least 1.0).

--rerun DIR times only cached re-runs of an existing default run directory (``runs/default`` after
the README's first command): one untimed re-run brings its reports up to date, then ``--repeat``
timed ones, every call from the cache and the reports current. Target (issue 30): at most 2 s on 2
cores (4.65 s before the read model).

    python benchmarks/bench_run.py [--limit N] [--keep DIR] [--warm-weights] [--generation]
    python benchmarks/bench_run.py --rerun runs/default [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_generation import compare_generation


def timed_run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness", "run", *args], env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"harness run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = re.findall(r"model calls: .*", proc.stderr)
    return elapsed, summary[-1] if summary else "?"


def rerun(run_dir: Path, repeat: int) -> None:
    env = dict(os.environ, TRANSFORMERS_VERBOSITY="error", HF_HUB_OFFLINE="1")
    args = ["--out", str(run_dir), "--no-progress"]
    timed_run(args, env)  # reports brought up to date (the code may have changed since they were drawn)
    times = sorted(timed_run(args, env)[0] for _ in range(max(repeat, 1)))
    _, calls = timed_run(args, env)
    print(f"cores: {os.cpu_count()}  load: {os.getloadavg()[0]:.1f}  run directory: {run_dir}  ({calls})")
    print(f"cached re-run, reports current: median {times[len(times) // 2]:.2f} s, best {times[0]:.2f} s, "
          f"worst {times[-1]:.2f} s over {len(times)}   target <= 2 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="questions per task (default: all 20)")
    parser.add_argument("--keep", type=Path, help="run directory to keep (default: a temp dir)")
    parser.add_argument("--warm-weights", action="store_true",
                        help="reuse the converted embedded weights in the user cache")
    parser.add_argument("--generation", action="store_true",
                        help="then compare generation throughput with llama.cpp (bench_generation.py)")
    parser.add_argument("--rerun", type=Path, metavar="DIR",
                        help="only time cached re-runs of this existing default run directory")
    parser.add_argument("--repeat", type=int, default=5, help="timed re-runs with --rerun")
    opts = parser.parse_args()
    if opts.rerun:
        rerun(opts.rerun, opts.repeat)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = opts.keep or Path(tmp) / "run"
        env = dict(os.environ, TRANSFORMERS_VERBOSITY="error", HF_HUB_OFFLINE="1")
        if not opts.warm_weights:
            env["HARNESS_CACHE_DIR"] = str(Path(tmp) / "weights")
        args = ["--out", str(run_dir), "--no-progress"]
        if opts.limit:
            args += ["--limit", str(opts.limit)]
        first, calls1 = timed_run(args, env)
        second, calls2 = timed_run(args, env)
    print(f"cores: {os.cpu_count()}  limit: {opts.limit or 20} questions/task  "
          f"weights cache: {'warm' if opts.warm_weights else 'cold'}")
    print(f"first run:  {first:8.1f} s   ({calls1})   target < 900 s")
    print(f"second run: {second:8.2f} s   ({calls2})   target < 5 s")
    print(f"ratio first/second: {first / second:.0f}x")
    if opts.generation:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        print("\n".join(compare_generation(opts.limit).lines()))


if __name__ == "__main__":
    main()
