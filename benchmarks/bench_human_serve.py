"""``harness human serve`` under load: simulated annotators voting at once over HTTP on loopback.

Each annotator opens its next item (GET, as a browser does: the page carries the CSRF token and
the vote's nonce), then votes (POST, JSON reply), as fast as the server answers, for
``--seconds``. Afterwards every acknowledged vote must be in ``votes.sqlite`` exactly once.

Target (issue 17): 20 annotators for 30 s, p95 vote latency under 50 ms.

    python benchmarks/bench_human_serve.py [--annotators 20] [--seconds 30]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from harness.core import files, rundir

MODELS = ("m1", "m2", "m3", "m4")
FIELD = re.compile(r'<input type="hidden" name="(csrf|nonce|position)" value="([^"]*)">')


def make_run(root: Path) -> Path:
    """Four models' answers to every question of en_law and zh_law: 240 pairs."""
    from harness.tasks import load_task

    run = root / "run"
    run.mkdir()
    questions = [(t, q.id) for t in ("en_law", "zh_law") for q in load_task(t, []).questions]
    rows = [{"model": m, "task": t, "question_id": q, "answer": f"Answer by {m} to {q}.", "spec": "embedded"}
            for t, q in questions for m in MODELS]
    files.write_jsonl(run / rundir.ANSWERS, rows)
    return run


def annotator(url: str, until: float, latencies: dict[str, list[float]], acked: list[str]) -> None:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    cookie = ""
    path = parts.path
    rng = random.Random(path)
    while time.monotonic() < until:
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        r = conn.getresponse()
        body = r.read().decode()
        if r.status in (302, 303):
            path = r.getheader("location") or path
            continue
        latencies["page"].append(time.perf_counter() - t0)
        cookie = (r.getheader("set-cookie") or cookie).split(";")[0] or cookie
        fields = dict(FIELD.findall(body))
        if "position" not in fields:  # done: vote again from the start (re-votes)
            path = path.rsplit("/", 1)[0] + "/0"
            continue
        data = urllib.parse.urlencode({**fields, "choice": rng.choice(["1", "2", "tie", "bothbad"])})
        t0 = time.perf_counter()
        conn.request("POST", path.rsplit("/", 1)[0] + "/vote", body=data,
                     headers={"Cookie": cookie, "Accept": "application/json",
                              "Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        reply = r.read()
        latencies["vote"].append(time.perf_counter() - t0)
        if r.status == 200:
            acked.append(fields["nonce"])
            path = json.loads(reply)["next"]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return 1000 * xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--annotators", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--port", type=int, default=18765)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp))
        names = ",".join(f"a{k:02d}" for k in range(args.annotators))
        proc = subprocess.Popen([sys.executable, "-m", "harness", "human", "serve", "--run", str(run),
                                 "--port", str(args.port), "--annotators", names],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            links = [proc.stdout.readline().split(": ", 1)[1].strip() for _ in range(args.annotators)]
            deadline = time.monotonic() + 30
            while True:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
                    c.request("GET", "/static/human.css")
                    c.getresponse().read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            latencies: dict[str, list[float]] = {"page": [], "vote": []}
            acked: list[str] = []
            until = time.monotonic() + args.seconds
            threads = [threading.Thread(target=annotator, args=(u, until, latencies, acked)) for u in links]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            proc.terminate()
            proc.wait(10)
        db = sqlite3.connect(run / rundir.VOTES)
        stored = dict(db.execute("SELECT nonce, COUNT(*) FROM votes GROUP BY nonce").fetchall())
        missing = [n for n in acked if stored.get(n) != 1]
        print(f"{args.annotators} annotators, {args.seconds:.0f} s: {len(acked)} votes acknowledged "
              f"({len(acked) / args.seconds:.0f}/s), {len(stored)} stored, {len(missing)} acknowledged "
              "votes missing or duplicated")
        for kind in ("vote", "page"):
            xs = latencies[kind]
            print(f"{kind:>5}: n={len(xs)} p50={pct(xs, 0.5):.1f} ms p95={pct(xs, 0.95):.1f} ms "
                  f"max={pct(xs, 1.0):.1f} ms")
        ok = not missing and pct(latencies["vote"], 0.95) < 50
        print("target (p95 vote < 50 ms, every acknowledged vote stored once):", "met" if ok else "NOT met")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
