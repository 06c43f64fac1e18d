"""``harness rate BATTLES``: ratings with confidence intervals from a battles file.

Reads FastChat-format battles (harness's own ``battles.jsonl`` or a published file), fits
Bradley-Terry or online Elo with bootstrap intervals, and prints a table, JSON or CSV; with
``--baseline``, each model's score against it as Arena-Hard and AlpacaEval publish them.
Not handled here: the fits (:mod:`harness.stats.ratings`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.app import alpaca_figures
from harness.app.args import PRIOR_HELP
from harness.app.config import prior_sd
from harness.app.output import print_table
from harness.core.errors import HarnessError
from harness.core.interop import read_battle_file
from harness.core.numbers import SEED_MAX, Bounds, check_number
from harness.core.text import csv_text, terminal_text
from harness.core.types import Battle
from harness.stats.bradley_terry import RatingResult
from harness.stats.ratings import baseline_scores, head_to_head, pair_records, rate_battles
from harness.stats.significance import pair_tests


def add_parser(sub: Any) -> argparse.ArgumentParser:
    r = sub.add_parser("rate", help="ratings with confidence intervals from a battles file",
                       description="Rate models from FastChat-format battles (model_a, model_b, winner "
                       "in model_a/model_b/tie/tie (bothbad); other fields are ignored).")
    r.add_argument("battles", type=Path, help="battles.jsonl")
    r.add_argument("--method", choices=("bt", "elo"), default="bt",
                   help="bt: Bradley-Terry maximum likelihood, as FastChat and Arena-Hard fit it "
                   "(default); elo: online Elo")
    r.add_argument("--prior-sd", metavar="auto|inf|X", help=PRIOR_HELP)
    r.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="bootstrap rounds (1000). bt: each round is one multinomial draw over the "
                   "(pair, outcome) counts, the same distribution as resampling the battle rows with "
                   "replacement, only faster; elo: each round is one online pass over resampled "
                   "battles in a random order, so Elo intervals also carry the order's noise and are "
                   "wider than BT's")
    r.add_argument("--soft", action="store_true",
                   help="bt on expected wins: a battle with probabilities (field 'soft', written by "
                   "--judge-method logprobs) counts as P(a wins) of a win, P(tie) of a tie and P(b wins) "
                   "of a loss; battles without them count by their winner. Intervals resample battles")
    r.add_argument("--seed", type=int, default=0, metavar="S")
    r.add_argument("--anchor", metavar="MODEL=RATING", help="pin one model's rating, e.g. gpt-4=1200")
    r.add_argument("--baseline", metavar="MODEL",
                   help="also each model's score against MODEL, as Arena-Hard and WildVision-Bench publish "
                   "it: its expected win rate against the baseline in percent, from the fit, with the "
                   "interval from the rating bounds (the baseline pinned at --initial in every round); and "
                   "its head-to-head figures against MODEL as AlpacaEval's get_winrate gives them (win_rate "
                   "on expected outcomes where battles have them, standard_error, discrete_win_rate, "
                   "n_wins, n_wins_base, n_draws, n_total); for a run directory's battles.jsonl (its "
                   "answers.jsonl gives the lengths), also AlpacaEval 2.0's length-controlled win rate "
                   "(length_controlled_win_rate, lc_standard_error)")
    r.add_argument("--alpaca-gamed", type=Path, metavar="CSV",
                   help="with --baseline: AlpacaEval's df_gamed.csv (the gamed baselines' annotations it "
                   "keeps on the Hugging Face hub, tatsu-lab/alpaca_eval): the length-controlled win rate "
                   "is then its leaderboard's length_controlled_v1; without it, length_controlled_minimal "
                   "(length only), and the output says so")
    r.add_argument("--k", type=float, default=4, help="Elo K-factor (4)")
    r.add_argument("--base", type=float, default=10, help="rating base (10)")
    r.add_argument("--scale", type=float, default=400, help="rating scale (400)")
    r.add_argument("--initial", type=float, default=1000, help="initial / mean rating (1000)")
    r.add_argument("--format", choices=("table", "json", "csv"), default="table")
    return r


def run(args: argparse.Namespace) -> int:
    anchor = None
    if args.anchor:
        name, eq, value = args.anchor.rpartition("=")
        try:
            anchor = (name, check_number(float(value), bounds=Bounds(float), field="anchor",
                                         where=f"--anchor {args.anchor!r}"))
        except ValueError:
            eq = ""
        if not eq or not name:
            raise HarnessError(f"--anchor {args.anchor!r}: expected MODEL=RATING, e.g. gpt-4=1200")
    if args.bootstrap < 0:
        raise HarnessError(f"--bootstrap must be 0 or more, got {args.bootstrap}")
    if args.alpaca_gamed is not None and args.baseline is None:
        raise HarnessError("--alpaca-gamed goes with --baseline MODEL (the length-controlled win rate is "
                           "against a baseline)")
    if args.alpaca_gamed is not None and not args.alpaca_gamed.is_file():
        raise HarnessError(f"--alpaca-gamed {args.alpaca_gamed}: no such file")
    if args.baseline is not None:
        if anchor is not None:
            raise HarnessError("--baseline pins the baseline's rating at --initial (as Arena-Hard does); "
                               "give --anchor or --baseline, not both")
        anchor = (args.baseline, float(args.initial))
    for option, bounds in _RATE_BOUNDS.items():
        check_number(getattr(args, option), bounds=bounds, field=option, where=f"--{option}")
    # Published battle files (Arena-Hard's, Chatbot Arena's) hold rows where a model meets itself;
    # they say nothing about a rating, so they are skipped and counted, and the rest is rated.
    published = read_battle_file(args.battles)
    if published.self_rows:
        print(f"note: skipped {published.self_rows} rows where model_a == model_b ({args.battles})",
              file=sys.stderr)
    battles = [row.record for row in published.rows]
    if not battles:
        raise HarnessError(f"{args.battles}: no battles")
    if args.soft:
        hard = sum(b.soft is None for b in battles)
        if hard == len(battles):
            raise HarnessError(f"{args.battles}: --soft needs battles with probabilities (field 'soft'), "
                               "and none has them; judge with --judge-method logprobs")
        if hard:
            print(f"note: {hard} of {len(battles)} battles have no probabilities; --soft counts them by "
                  f"their winner ({args.battles})", file=sys.stderr)
    named = sorted({m for b in battles for m in (b.model_a, b.model_b)})
    if args.baseline is not None and args.baseline not in named:
        raise HarnessError(f"--baseline {args.baseline!r}: that model has no battles in {args.battles}; "
                           f"models: {', '.join(named)}")
    result = _rate(battles, args, anchor)
    if result.separation:  # on stderr: the table and the JSON stay as they are for scripts
        print(f"note: {terminal_text(result.note(), keep_newlines=False)}", file=sys.stderr)
    tests = pair_tests(pair_records(battles, list(result.models)))
    ranks = result.rank()
    order = sorted(range(len(result.models)), key=lambda k: -result.ratings[k])
    rows: list[dict[str, Any]] = [
        {"rank": ranks[k], "model": result.models[k], "rating": round(float(result.ratings[k]), 2),
         "lower": round(float(result.lower[k]), 2), "upper": round(float(result.upper[k]), 2)}
        for k in order]
    if args.baseline is not None:
        # Arena-Hard rounds its scores to two decimals (and prints one).
        scores = {s.model: s for s in baseline_scores(result, args.baseline, scale=args.scale,
                                                      base=args.base)}
        h2h = {h.model: h for h in head_to_head(battles, args.baseline)}
        lc = alpaca_figures.length_controlled_rates(battles, args.baseline, run_dir=args.battles.parent,
                                                    gamed=args.alpaca_gamed)
        print(f"note: {lc.line}", file=sys.stderr)
        for row in rows:
            got = scores[row["model"]]
            row.update(score=round(got.score, 2), score_lower=round(got.lower, 2),
                       score_upper=round(got.upper, 2))
            # AlpacaEval's head-to-head figures, unrounded as its leaderboards publish them.
            h = h2h.get(row["model"])
            row.update({k: (None if h is None else getattr(h, k)) for k in H2H_FIELDS})
            got_lc = lc.rates.get(row["model"])
            row.update(length_controlled_win_rate=None if got_lc is None else got_lc.win_rate,
                       lc_standard_error=None if got_lc is None else got_lc.standard_error)
    if args.format == "json":
        with np.errstate(over="ignore"):  # a win probability past float range is 0 or 1, as it should be
            wm = result.win_matrix(args.scale, args.base)
        # allow_nan=False: the ratings were checked finite, and JSON has no NaN or Infinity.
        print(json.dumps({"method": args.method, "soft": args.soft, "bootstrap": args.bootstrap,
                          **({"baseline": args.baseline, "lc_variant": lc.variant}
                             if args.baseline is not None else {}),
                          "ratings": rows,
                          "win_matrix": {a: {b: round(float(wm[i, j]), 4)
                                             for j, b in enumerate(result.models)}
                                         for i, a in enumerate(result.models)},
                          "pairs": [t.__dict__ | {"separable": t.separable} for t in tests]},
                         ensure_ascii=False, indent=2, allow_nan=False))
    elif args.format == "csv":
        sys.stdout.write(csv_text([tuple(rows[0]), *(tuple("" if v is None else v for v in row.values())
                                                      for row in rows)]))
    else:
        scored = args.baseline is not None
        print_table(("rank", "model", "rating", "95% CI",
                      *((f"score vs {args.baseline} (%)", "95% CI", "win rate (%)", "SE", "discrete (%)",
                         "n", "LC win rate (%)") if scored else ())),
                     [(str(r["rank"]), str(r["model"]), f"{r['rating']:.1f}",
                       f"[{r['lower']:.1f}, {r['upper']:.1f}]",
                       *((f"{r['score']:.1f}", f"[{r['score_lower']:.1f}, {r['score_upper']:.1f}]",
                          *_h2h_cells(r)) if scored else ())) for r in rows])
        print()
        print_table(("model", "opponent", "win", "tie", "lose", "p (sign test)", "separable"),
                     [(t.model, t.opponent, str(t.wins), str(t.ties), str(t.losses), f"{t.p_value:.3g}",
                       "yes" if t.separable else "no") for t in tests])
    return 0


H2H_FIELDS = ("win_rate", "standard_error", "discrete_win_rate", "n_wins", "n_wins_base", "n_draws",
              "n_total")
"""AlpacaEval's head-to-head figures against the baseline (``stats.ratings.head_to_head``)."""


def _h2h_cells(row: dict[str, Any]) -> tuple[str, ...]:
    if row["win_rate"] is None:  # the baseline itself
        return ("", "", "", "", "")
    se, lc = row["standard_error"], row["length_controlled_win_rate"]
    return (f"{row['win_rate']:.1f}", "n/a" if math.isnan(se) else f"{se:.1f}",
            f"{row['discrete_win_rate']:.1f}", str(row["n_total"]), "n/a" if lc is None else f"{lc:.1f}")


# base: 1 has no logarithm, and below 1 a stronger model would get a lower rating.
_RATE_BOUNDS = {"seed": Bounds(int, low=0, high=SEED_MAX), "k": Bounds(float, low=0, low_open=True),
                "base": Bounds(float, low=1, low_open=True), "scale": Bounds(float, low=0, low_open=True),
                "initial": Bounds(float)}


def _rate(battles: Sequence[Battle], args: argparse.Namespace, anchor: tuple[str, float] | None
          ) -> RatingResult:
    """``rate_battles`` with the command's options; ratings that leave float range (a huge --k or
    --initial, a tiny --scale) are one error naming the options, not an OverflowError or NaN."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # checked below, once, for the user
            result = rate_battles(battles, args.method, bootstrap=args.bootstrap, seed=args.seed,
                                  anchor=anchor, k=args.k, base=args.base, scale=args.scale,
                                  initial=args.initial, soft=args.soft,
                                  prior_sd=None if args.prior_sd is None else prior_sd(args.prior_sd,
                                                                                       where="--prior-sd"))
    except OverflowError:  # online Elo's base ** (difference / scale), in Python floats
        result = None
    if result is None or not all(np.isfinite(x).all() for x in (result.ratings, result.lower, result.upper)):
        used = " ".join(f"--{o} {float(getattr(args, o))!r}" for o in ("k", "base", "scale", "initial")
                        if o != "k" or args.method == "elo")
        raise HarnessError(f"--method {args.method}: the ratings overflow (not finite numbers) with {used}"
                           f"{f' --anchor {args.anchor!r}' if anchor else ''}; use smaller values")
    return result
