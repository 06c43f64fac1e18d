"""``harness sweep RUN_DIR --checkpoints DIR --against base``: which checkpoint of a fine-tune to keep,
and what can be said of it without the winner's curse.

Every adapter folder in DIR (``harness finetune --save-every N`` keeps them as ``step-000N``) becomes
a candidate ``step-N`` with spec ``BASE+lora:FOLDER``, and the base (no adapter) the baseline; one
ordinary run in RUN_DIR (:func:`harness.app.pipeline.run`: answers, judgments, battles, leaderboard,
report) judges them all. Then the questions are split in two by a seeded shuffle: the checkpoint
with the best win rate against the base on the selection half is picked, and its win rate on the
held-out half, with its Wilson interval, is the figure to quote (:mod:`harness.stats.sweep`,
through the read model :mod:`harness.analysis.sweep`). Writes ``sweep.json`` and ``sweep.png``
beside the run's files and prints a table and one decision line.

Not handled here: training (``harness finetune``); judging only the checkpoint-vs-base pairs (the
run judges every pair, so its leaderboard ranks the checkpoints too, and a model judge's calls grow
with the square of the checkpoints: sweep a few).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.analysis.files import RunFiles
from harness.analysis.sweep import SweepFigures, sweep_figures
from harness.app import pipeline
from harness.app.args import checked_flags, report_formats
from harness.app.config import RunConfig
from harness.app.output import print_table, summary
from harness.core import runlock
from harness.core.errors import HarnessError
from harness.core.files import atomic_write
from harness.core.text import terminal_text
from harness.core.types import DecodingParams, ModelConfig
from harness.finetune.checkpoints import Checkpoint, find_checkpoints
from harness.judges.pairwise import JudgeSettings
from harness.models.backends import parse_spec
from harness.reports.numbers import share_of
from harness.reports.plots import save_sweep_plot

SWEEP_JSON = "sweep.json"
SWEEP_PLOT = "sweep.png"
SHOWN_IDS = 12
"""Up to this many question ids per half are printed; more are only in ``sweep.json``."""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "sweep", help="judge every fine-tune checkpoint against the base; pick one on half the questions, "
        "report it on the other half",
        description="Each adapter folder in --checkpoints (harness finetune --save-every N keeps them as "
        "OUT/checkpoints/step-000N) becomes a model step-N (BASE+lora:FOLDER) and the base model the "
        "baseline; one run in RUN_DIR answers and judges them all. The questions are split in two by a "
        "seeded shuffle: the checkpoint with the highest win rate against the base on the selection half "
        "(a tie counts half; equal rates go to the earlier step) is chosen, and its win rate on the "
        "held-out half, with its 95% Wilson interval, is the figure to quote: picked and measured on the "
        "same questions, the best of several checkpoints looks better than it is. Writes sweep.json and "
        "sweep.png into RUN_DIR.")
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="run directory to write (made if missing)")
    p.add_argument("--checkpoints", type=Path, required=True, metavar="DIR",
                   help="folder of adapter folders, e.g. OUT/checkpoints of harness finetune --save-every N")
    p.add_argument("--against", required=True, metavar="NAME",
                   help="name of the baseline model: the base, with no adapter (e.g. base)")
    p.add_argument("--base-spec", metavar="SPEC",
                   help="the base model's spec (default: the 'base' the checkpoints' manifest.json names, "
                   "e.g. embedded)")
    p.add_argument("--judge", nargs="+", metavar="SPEC",
                   help="judge spec (default: reference:chrf); several make a panel (majority verdict)")
    p.add_argument("--tasks", nargs="+", metavar="ID", help="task ids (default: all)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N questions per task")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the split into selection and held-out halves (0)")
    p.add_argument("--max-new-tokens", type=int, metavar="N", help="longest answer in tokens (128)")
    p.add_argument("--tasks-dir", type=Path, action="append", default=[], metavar="DIR",
                   help="extra folder of task files (repeatable)")
    p.add_argument("--report", type=report_formats, metavar="LIST",
                   help="report formats written to RUN_DIR/report: html,latex,md (default) or none")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="print the table and decision (default), or sweep.json")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def run(args: argparse.Namespace) -> int:
    flags = checked_flags(args, ("limit", "seed", "max-new-tokens"))
    checkpoints = find_checkpoints(args.checkpoints)
    base = base_spec(checkpoints, args.base_spec)
    names = [f"step-{c.step}" for c in checkpoints]
    baseline = args.against
    if not baseline or not baseline.strip() or "=" in baseline or baseline in names:
        raise HarnessError(f"--against {baseline!r}: name the baseline model with a plain name that is not "
                           f"a checkpoint's ({', '.join(names)}), e.g. --against base")
    decoding = DecodingParams(**{k: v for k, v in flags.items() if k == "max_new_tokens"})
    models = (ModelConfig(baseline, base, decoding),
              *(ModelConfig(n, f"{base}+lora:{c.path}", decoding) for n, c in zip(names, checkpoints)))
    changes: dict[str, Any] = {}
    if args.report is not None:
        changes["report"] = args.report
    config = RunConfig(
        name="sweep", tasks=tuple(args.tasks or ()), models=models,
        judges=tuple(JudgeSettings(spec=s) for s in args.judge) if args.judge else (JudgeSettings(),),
        limit=flags.get("limit"), out=args.run, tasks_dirs=tuple(args.tasks_dir), seed=args.seed,
        progress=not args.no_progress, **changes)
    pipeline.check(config)  # before the lock makes the run directory
    with runlock.hold(args.run, command="sweep", create=True):
        result = pipeline.run(config)
        steps = [(c.step, n) for n, c in zip(names, checkpoints)]
        figs = sweep_figures(RunFiles(args.run), checkpoints=steps, baseline=baseline, seed=args.seed)
        atomic_write(args.run / SWEEP_JSON,
                     json.dumps(figs.to_json(), indent=1, allow_nan=False, ensure_ascii=False) + "\n")
        save_sweep_plot(figs, args.run / SWEEP_PLOT)
    if args.format == "json":
        print(json.dumps(figs.to_json(), indent=1, allow_nan=False, ensure_ascii=False))
    else:
        render(figs)
        print(f"wrote {args.run / SWEEP_JSON} and {args.run / SWEEP_PLOT}")
    summary(result)
    return 0


def base_spec(checkpoints: Sequence[Checkpoint], given: str | None) -> str:
    """``given``, else the one base the checkpoints' manifests name; a spec with an adapter, no
    base named, or two different bases is one error saying to give ``--base-spec``."""
    if given is None:
        bases = sorted({c.base for c in checkpoints if c.base is not None})
        if not bases:
            raise HarnessError("no checkpoint has a manifest.json naming its base model; give --base-spec "
                               "SPEC (e.g. --base-spec embedded)")
        if len(bases) > 1:
            raise HarnessError(f"the checkpoints' manifests name different bases ({', '.join(bases)}); give "
                               "--base-spec SPEC")
        given, where = bases[0], "the checkpoints' manifest.json 'base'"
    else:
        where = "--base-spec"
    if parse_spec(given).adapter is not None:
        raise HarnessError(f"{where} {given!r}: the base is the model without an adapter; drop '+lora:...'")
    return given


def render(figs: SweepFigures) -> None:
    """The table of checkpoints on the selection half, the choice, the held-out figure and the
    decision, as plain text on standard output (names through ``terminal_text``: they are the user's)."""
    s = figs.found
    conf = f"{s.confidence:.0%}"
    show = _show
    base = show(s.baseline)
    judges = ", ".join(show(j) for j in figs.judges) or "the run's judge"
    print(f"sweep: {len(s.points)} checkpoint(s) against {base} ({show(figs.specs.get(s.baseline, '?'))}), "
          f"judged by {judges}")
    print(f"questions split by a shuffle with seed {s.seed}: selection half {len(s.selection_questions)}, "
          f"held-out half {len(s.held_out_questions)}")
    for label, qs in (("selection", s.selection_questions), ("held-out", s.held_out_questions)):
        ids = (" ".join(show(f"{t}/{q}") for t, q in qs) if len(qs) <= SHOWN_IDS
               else f"(listed in {SWEEP_JSON})")
        print(f"  {label}: {ids}")
    print()
    rows = [(str(p.step), p.model + (" *" if i == s.chosen else ""), share_of(p.win_rate),
             f"[{share_of(p.lower)}, {share_of(p.upper)}]",
             f"{p.selection.wins}-{p.selection.ties}-{p.selection.losses}", str(p.selection.n))
            for i, p in enumerate(s.points)]
    print_table(("step", "model", f"selection win rate vs {s.baseline}", f"{conf} Wilson", "W-T-L", "n"),
                rows)
    pick = s.pick
    print(f"* chosen on the selection half: {show(pick.model)} (highest win rate against {base}, a tie "
          "counting half; equal rates go to the earlier step). Its selection-half figure is flattered by "
          "the choice; the held-out one below is not.")
    h = s.held_out
    print(f"held-out half: {show(pick.model)} against {base}: win rate {share_of(s.held_out_win_rate)} "
          f"[{conf} Wilson {share_of(s.lower)}, {share_of(s.upper)}], {h.wins}-{h.ties}-{h.losses} (W-T-L), "
          f"n = {h.n} question(s)")
    print(decision(figs))


def decision(figs: SweepFigures) -> str:
    """One line: what the held-out interval supports, with the interval, n and alpha."""
    s = figs.found
    who, base = _show(s.pick.model), _show(s.baseline)
    test = f"the {s.confidence:.0%} Wilson interval of its held-out win rate"
    terms = f"(two-sided, alpha {s.alpha:g}; n = {s.held_out.n} held-out question(s))"
    interval = f"[{share_of(s.lower)}, {share_of(s.upper)}]"
    if s.held_out.n == 0:
        return (f"decision: no claim: {who} has no judged battle against {base} on the held-out half, so "
                f"{test} is not defined {terms}")
    if s.verdict == "better":
        return f"decision: {who} beats {base}: {test}, {interval}, lies above 50% {terms}"
    if s.verdict == "worse":
        return f"decision: {who} is worse than {base}: {test}, {interval}, lies below 50% {terms}"
    return (f"decision: no claim: {who} is not shown better or worse than {base}: {test}, {interval}, "
            f"includes 50% {terms}")


def _show(name: str) -> str:
    return terminal_text(name, keep_newlines=False)
