"""Bradley-Terry + 1000 bootstrap rounds on 1,000,000 battles among 50 models, against the
reference method of FastChat / Arena-Hard: scikit-learn's LogisticRegression on the
duplicated-battle design, refitted on the raw resampled battles in every bootstrap round.

Target (issue 3): at least 50x faster with the same ratings (within 0.5 points).

The reference takes minutes per handful of rounds at this size, so it runs ``--ref-rounds``
rounds (default 3) and its 1000-round time is that per-round time x 1000 plus its full fit;
harness's own time is measured for all 1000 rounds. Needs ``pip install scikit-learn``.

    python benchmarks/bench_bt.py [--battles 1000000] [--models 50] [--rounds 1000] [--ref-rounds 3]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from harness.core.types import Battle
from harness.stats.bradley_terry import bradley_terry


def make_battles(n: int, m: int, seed: int = 0) -> tuple[list[str], list[Battle], np.ndarray]:
    rng = np.random.default_rng(seed)
    names = [f"model_{i:02d}" for i in range(m)]
    strength = rng.normal(0, 1, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1 / (1 + np.exp(strength[b] - strength[a]))
    u = rng.random(n)
    outcome = np.where(u < 0.15, 2, np.where(rng.random(n) < p, 0, 1))
    winners = ("model_a", "model_b", "tie")
    battles = [Battle(names[i], names[j], winners[o], "", "")  # type: ignore[arg-type]
               for i, j, o in zip(a.tolist(), b.tolist(), outcome.tolist())]
    return names, battles, np.stack([a, b, outcome], axis=1)


def reference_fit(rows: np.ndarray, m: int) -> np.ndarray:
    """FastChat's compute_mle_elo, on integer-coded battles (a, b, outcome 0/1/2 = a/b/tie)."""
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    doubled = np.concatenate([rows, rows])
    n = len(doubled)
    data = np.tile([math.log(10), -math.log(10)], n)
    cols = doubled[:, :2].ravel()
    X = csr_matrix((data, (np.repeat(np.arange(n), 2), cols)), shape=(n, m))
    y = (doubled[:, 2] == 0).astype(float)
    tie = doubled[:, 2] == 2
    tie[len(tie) // 2 :] = False
    y[tie] = 1.0
    lr = LogisticRegression(fit_intercept=False, C=1e6, tol=1e-6)
    lr.fit(X, y)
    return 400 * lr.coef_[0] + 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--ref-rounds", type=int, default=3)
    opts = parser.parse_args()
    names, battles, rows = make_battles(opts.battles, opts.models)

    start = time.perf_counter()
    ours = bradley_terry(battles, names, bootstrap=opts.rounds, seed=0)
    ours_time = time.perf_counter() - start

    start = time.perf_counter()
    ref_full = reference_fit(rows, opts.models)
    ref_fit_time = time.perf_counter() - start
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    for _ in range(opts.ref_rounds):
        reference_fit(rows[rng.integers(0, len(rows), len(rows))], opts.models)
    ref_round = (time.perf_counter() - start) / opts.ref_rounds
    ref_time = ref_fit_time + ref_round * opts.rounds

    diff = float(np.max(np.abs(ours.ratings - ref_full)))
    print(f"{opts.battles:,} battles, {opts.models} models, {opts.rounds} bootstrap rounds")
    print(f"harness (pairwise counts, Newton, multinomial bootstrap): {ours_time:8.1f} s")
    print(f"reference (sklearn LogisticRegression on raw battles): {ref_time:8.1f} s "
          f"(full fit {ref_fit_time:.1f} s + {ref_round:.1f} s/round x {opts.rounds}, "
          f"measured over {opts.ref_rounds} rounds)")
    print(f"speed ratio: {ref_time / ours_time:.0f}x   (target >= 50x)")
    print(f"max rating difference vs reference: {diff:.4f} points   (target < 0.5)")


if __name__ == "__main__":
    main()
