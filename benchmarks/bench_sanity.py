"""The reference judge on the judges' sanity set: per language and per degradation, how often it
prefers the coherent answer (both orders), and the smallest chrF lead the coherent answer has.

The lead says how far the verdicts are from the tie margin: a group whose smallest lead is near
it would flip to ties with a slightly different answer.

    python benchmarks/bench_sanity.py [--judge reference:chrf]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

from harness.judges.reference import create
from harness.judges.sanity import load_sanity_items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", default="reference:chrf", help="a reference judge spec")
    judge = create(parser.parse_args().judge)
    start = time.perf_counter()
    groups: dict[str, list[tuple[float, bool, bool]]] = defaultdict(list)
    for it in load_sanity_items():
        lead = judge.score(it.first, it.reference) - judge.score(it.second, it.reference)
        ab = judge.compare(it.first, it.second, it.reference)[0] == "better"
        ba = judge.compare(it.second, it.first, it.reference)[0] == "worse"
        for group in ("all", it.language, it.kind):
            groups[group].append((lead, ab and ba, ab == ba))
    elapsed = time.perf_counter() - start
    print(f"judge {judge.spec}, tie margin {judge.margin:g} chrF points; {elapsed:.2f} s\n")
    print(f"{'items':18} {'pairs':>5} {'accuracy':>9} {'consistency':>12} {'smallest lead':>14}")
    for group, rows in groups.items():
        n = len(rows)
        print(f"{group:18} {n:5d} {100 * sum(r[1] for r in rows) / n:8.1f}% "
              f"{100 * sum(r[2] for r in rows) / n:11.1f}% {min(r[0] for r in rows):14.1f}")


if __name__ == "__main__":
    main()
