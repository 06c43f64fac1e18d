"""``harness`` command line: parses arguments into a config and calls the library.

Heavy libraries (torch, transformers, openai) are imported only by the backend that needs them,
so ``harness --help`` and cached re-runs start instantly.
"""

from __future__ import annotations

import argparse
import io
import os
import select
import sqlite3
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

from harness.app import (
    agreement_command,
    commands,
    compare_command,
    human_command,
    import_command,
    recheck_command,
    synth_command,
)
from harness.app import finetune_command as finetune_cli
from harness.app.commands import UNHEALTHY
from harness.core.errors import HarnessError, redact
from harness.judges.asking import METHODS as JUDGE_METHODS
from harness.judges.conversation import TURNS
from harness.judges.perturb import ALL_PROBES as PROBES
from harness.reports.build import parse_report_formats

EPILOG = """examples:
  harness run                                 # offline leaderboard on the embedded model
  harness run --tasks en_law zh_law --limit 5
  harness run --models base=embedded ft=embedded+lora:out/adapter --judge openai:gpt-4o-mini
  harness run my_run.yaml                     # a YAML run config
  harness rate runs/default/battles.jsonl --method bt --bootstrap 1000
  harness synth --task en_law --teacher openai:gpt-4o-mini --n 500 --out law.jsonl
  harness finetune --base embedded --task en_medical --out out/medical
  harness tasks list | harness prompts list

model specs: embedded[+lora:DIR] | hf:PATH_OR_ID[+lora:DIR] | openai:MODEL[@BASE_URL]
"""


def _add_run_options(p: argparse.ArgumentParser, judge: bool = True) -> None:
    p.add_argument("config", nargs="?", type=Path, help="YAML run config (see README)")
    p.add_argument("--tasks", nargs="+", metavar="ID",
                   help="task ids, or hf:NAME[:CONFIG][@SPLIT] for a Hugging Face dataset (default: all)")
    p.add_argument("--models", nargs="+", metavar="NAME=SPEC",
                   help="candidate models, e.g. base=embedded chatgpt=openai:gpt-4o-mini")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N questions per task")
    p.add_argument("--out", type=Path, metavar="DIR", help="run directory (default runs/<name>)")
    p.add_argument("--tasks-dir", type=Path, action="append", default=[], metavar="DIR",
                   help="extra folder of task files (repeatable)")
    p.add_argument("--batch-size", type=int, metavar="N", help="questions per generation batch (64)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g = p.add_argument_group("decoding (applies to --models)")
    for name, kind in (("max-new-tokens", int), ("temperature", float), ("top-k", int),
                       ("top-p", float), ("num-beams", int), ("seed", int)):
        g.add_argument(f"--{name}", type=kind, metavar="X")
    g.add_argument("--reasoning-effort", metavar="LEVEL",
                   help="how hard a reasoning model thinks (low, medium, high...), sent to endpoints "
                   "that take it (default: the model's own)")
    g.add_argument("--reasoning-tags", nargs="+", metavar="TAG",
                   help="OPEN CLOSE markers of a leading reasoning block kept apart from the answer "
                   "(default: <think> </think> and a few others), or 'none' to keep replies whole")
    if judge:
        _add_judge_options(p)
    _add_api_options(p)


def _add_api_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("remote endpoints (openai: models and judges)",
                             "Limits apply per endpoint (base URL); these options override the run "
                             "config's api: section for every endpoint.")
    g.add_argument("--concurrency", type=int, metavar="N", help="requests in flight per endpoint (8)")
    g.add_argument("--rpm", type=float, metavar="N", help="requests per minute per endpoint (no limit)")
    g.add_argument("--tpm", type=float, metavar="N", help="tokens per minute per endpoint (no limit)")
    g.add_argument("--timeout", type=float, metavar="S", help="seconds to wait for one reply (120)")
    g.add_argument("--max-retries", type=int, metavar="N",
                   help="retries after 429/5xx/timeouts/dropped connections (6)")
    g.add_argument("--reasoning-budget", type=int, metavar="N",
                   help="completion tokens a reasoning model gets to think, on top of its "
                   "max_new_tokens (4096)")
    g.add_argument("--reasoning-cap", type=int, metavar="N",
                   help="the most completion tokens one call may take when a reply cut off while "
                   "reasoning is asked again with a larger budget (32768); cut off there, it is an error")
    g.add_argument("--max-cost", type=float, metavar="USD",
                   help="stop before this run's new calls could cost more (cached calls are free)")
    g.add_argument("--max-tokens", type=int, metavar="N",
                   help="stop before this run's new remote calls could use more tokens")
    g.add_argument("--prices", type=Path, metavar="FILE",
                   help="prices file (USD per million tokens) replacing the built-in one")
    if p.prog.split()[-1] in ("run", "judge", "synth"):
        g.add_argument("--dry-run", action="store_true",
                       help="print the calls, tokens and cost a run would take, and send nothing")


def _add_judge_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("judging")
    g.add_argument("--judge", nargs="+", metavar="SPEC",
                   help="judge spec (default: reference:chrf, each answer's chrF against the reference "
                   "answer, no model); a model spec (embedded, openai:MODEL...) asks that model; "
                   "several make a panel (majority verdict)")
    g.add_argument("--prompt", metavar="NAME", help="judge prompt (default: assignment_en); "
                   "see `harness prompts list`")
    g.add_argument("--judge-method", choices=JUDGE_METHODS,
                   help="read the verdict from a generated reply (generate), from label likelihoods "
                   "(likelihood, local models), or from the reply and the endpoint's log-probabilities "
                   "at the verdict position (logprobs: each verdict also gets P(better), P(equal), "
                   "P(worse), and the report a probability-weighted leaderboard; use a one-token prompt "
                   "such as verdict_token_en), or from a JSON reply that holds one label (json: the "
                   "endpoint's structured output; label parsing where it refuses it). "
                   "Default auto: likelihood for local models, else generate")
    g.add_argument("--judge-reasoning-effort", metavar="LEVEL",
                   help="how hard a reasoning judge thinks (low, medium, high...; default: its own)")
    _add_turn_options(g)
    g.add_argument("--prompts-dir", type=Path, action="append", default=[], metavar="DIR",
                   help="extra folder of judge prompt files (repeatable)")
    g.add_argument("--require-healthy-judge", action="store_true",
                   help=f"exit {UNHEALTHY} (after writing everything) when a judge's health verdict is "
                   "'do not use' (see the report's Judge health line and its thresholds)")
    g.add_argument("--report", type=report_formats, metavar="LIST",
                   help="report formats written to RUN_DIR/report at the end: html,latex,md (default) "
                   "or none")
    g.add_argument("--prior-sd", metavar="auto|inf|X", help=PRIOR_HELP)


def _add_turn_options(g: Any) -> None:
    g.add_argument("--turns", choices=TURNS,
                   help="multi-turn questions: judge each turn (default; turn k with turns 1..k of both "
                   "conversations shown) or only the last turn (the whole conversation shown)")
    g.add_argument("--turn-prompt", metavar="NAME",
                   help="the prompt that judges multi-turn questions (default: the judge prompt if it "
                   "shows conversations, else multiturn_en/multiturn_zh in its language)")


def report_formats(value: str) -> tuple[str, ...]:
    try:
        return parse_report_formats(value)
    except HarnessError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_bias_parsers(sub: Any) -> None:
    b = sub.add_parser("bias", help="measure a judge's biases on a run (position, length, probes)",
                       description="Position and length bias from the judge's order-swapped judgments "
                       "of the run's pairs, self-preference, and perturbation probes: each chosen answer "
                       "against a copy with a factual error, gender-biased wording, fake references, "
                       "rich formatting, a restating list or an instruction to the judge (prompt "
                       "injection), judged in both orders; for multi-turn questions, the last turn "
                       "answered as if asked alone. Writes bias.csv, "
                       "perturbations.jsonl and probe_judgments.jsonl into the run directory.")
    b.add_argument("--run", type=Path, required=True, metavar="DIR", help="a run directory")
    b.add_argument("--judge", required=True, metavar="SPEC", help="the judge to test")
    b.add_argument("--prompt", metavar="NAME", help="judge prompt (default: assignment_en)")
    b.add_argument("--judge-method", choices=JUDGE_METHODS)
    _add_turn_options(b)
    b.add_argument("--probes", nargs="+", choices=PROBES, default=list(PROBES), metavar="PROBE",
                   help=f"which probes ({', '.join(PROBES)}; default all)")
    b.add_argument("--perturber", metavar="SPEC",
                   help="also have this model write the altered copies (besides the rules)")
    b.add_argument("--model", metavar="NAME", help="whose answers to alter (default: the first model)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--prompts-dir", type=Path, action="append", default=[], metavar="DIR")
    b.add_argument("--tasks-dir", type=Path, action="append", default=[], metavar="DIR")
    b.add_argument("--no-progress", action="store_true")
    _add_api_options(b)
    h = sub.add_parser("human", help="import human pairwise labels into a run").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    hi = h.add_parser("import", help="read labels (CSV or JSONL: task, question_id, model_a, model_b, "
                      "winner) into RUN_DIR/human.jsonl; reports then show judge-human agreement")
    hi.add_argument("file", type=Path)
    hi.add_argument("--run", type=Path, required=True, metavar="DIR")
    human_command.add_parsers(h)


def _add_report_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="HTML, LaTeX (booktabs) and Markdown reports of a judged run",
                       description="Write report.html (self-contained), latex/report.tex with one .tex "
                       "per table and PDF plots, and report.md, from the run directory's files.")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--format", default="html,latex,md", metavar="LIST",
                   help="comma-separated: html, latex, md (default: all three)")
    p.add_argument("--out", type=Path, metavar="DIR", help="output folder (default RUN_DIR/report)")
    p.add_argument("--cjk", action="store_true",
                   help="Chinese support in LaTeX (ctex/xeCJK); on anyway when the run has Chinese text")
    p.add_argument("--pdf", action="store_true", help="also compile report.tex with xelatex")
    p.add_argument("--tasks-dir", type=Path, action="append", default=[], metavar="DIR")


class _Parser(argparse.ArgumentParser):
    """argparse, with its mistakes reported like every other: one ``harness: error:`` line, exit 2
    (argparse's own usage block would be a second and third line; ``--help`` still shows it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"harness: error: {self.prog}: {' '.join(message.split())} (see {self.prog} --help)\n")


PRIOR_HELP = ("Bradley-Terry's prior on each model's log-strength: auto (default) fits by maximum "
              "likelihood, as FastChat and Arena-Hard do, wherever that exists, and adds harness's weak "
              "prior (sd 2) only where a model or group won or lost every battle; inf never adds it; X "
              "adds a prior of sd X to every fit")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="harness", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Benchmark fine-tuned LLMs with pairwise LLM judging and Elo leaderboards.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_options(sub.add_parser("run", help="generate, judge and rate (the whole pipeline)"))
    _add_run_options(sub.add_parser("generate", help="only write answers.jsonl"), judge=False)
    j = sub.add_parser("judge", help="judge an existing run directory's answers.jsonl")
    j.add_argument("run_dir", type=Path)
    j.add_argument("--tasks-dir", type=Path, action="append", default=[], metavar="DIR",
                   help="folders of task files besides the built-in ones; needed only for a run without "
                   "questions.jsonl")
    j.add_argument("--no-progress", action="store_true")
    _add_judge_options(j)
    _add_api_options(j)
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
    _add_bias_parsers(sub)
    _add_report_parser(sub)
    finetune_cli.add_parser(sub)
    agreement_command.add_parser(sub)
    compare_command.add_parser(sub)
    recheck_command.add_parser(sub)
    _add_api_options(synth_command.add_parser(sub))
    import_command.add_parser(sub)
    t = sub.add_parser("tasks", help="list, show or validate tasks").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    t.add_parser("list", help="every task with its question count").add_argument(
        "--tasks-dir", type=Path, action="append", default=[])
    show = t.add_parser("show", help="a task's questions")
    show.add_argument("task")
    show.add_argument("--tasks-dir", type=Path, action="append", default=[])
    t.add_parser("validate", help="check task files (.yaml, .jsonl, .json, .csv) or hf:NAME").add_argument(
        "paths", nargs="+", type=Path, metavar="FILE")
    pr = sub.add_parser("prompts", help="list or show judge prompts").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    pr.add_parser("list").add_argument("--prompts-dir", type=Path, action="append", default=[])
    ps = pr.add_parser("show")
    ps.add_argument("name")
    ps.add_argument("--prompts-dir", type=Path, action="append", default=[])
    pn = pr.add_parser("new", help="write a commented starter prompt file")
    pn.add_argument("name")
    pn.add_argument("--dir", type=Path, default=Path("prompts"), help="folder to write to (./prompts)")
    pt = pr.add_parser("test", help="parse rate, accuracy and swap consistency on a calibration set")
    pt.add_argument("name")
    pt.add_argument("--judge", nargs=1, required=True, metavar="SPEC", help="the judge to test with")
    pt.add_argument("--judge-method", choices=JUDGE_METHODS)
    pt.add_argument("--prompts-dir", type=Path, action="append", default=[])
    pt.add_argument("--set", dest="item_set", choices=("calibration", "sanity"), default="calibration",
                    help="calibration: clear-cut and equal pairs (default); sanity: coherent answers against "
                    "gibberish, truncated, off-topic, wrong-language and question-only copies")
    pt.add_argument("--out", type=Path, default=Path("runs") / "prompt-tests",
                    help="folder for the call cache (runs/prompt-tests)")
    pt.add_argument("--gold", type=Path, metavar="FILE",
                    help="instead of --set, a pairwise set people labelled (JSONL: question, answer_1, "
                    "answer_2, label 1/2/tie; optional id, input, reference), judged in both orders and "
                    "scored as `harness agreement` scores a run (agreement, kappa, macro-F1, accuracy in "
                    "each order, positional agreement)")
    pt.add_argument("--format", choices=("table", "json", "csv"), default="table",
                    help="with --gold: how to print the figures (as `harness agreement`)")
    pt.add_argument("--dry-run", action="store_true",
                    help="with --gold: print the calls, tokens and cost it would take, and send nothing")
    _add_api_options(pt)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The one boundary between harness and its user: a user's mistake or the machine's refusal
    (a full disk, a read-only folder, a corrupt cache) is one ``harness: error:`` line and exit 2;
    only a bug in harness shows a traceback, with a line asking for a report, and exit 1."""
    args = build_parser().parse_args(argv)
    try:
        code = commands.dispatch(args)
        sys.stdout.flush()  # here, so a reader gone away is met inside this handler, not at exit
        return code
    except HarnessError as exc:
        return _fail(str(exc))
    except BrokenPipeError as exc:
        if not _stdout_closed():
            return _fail(describe_os_error(exc))
        # The reader went away (`harness human export | head -1`): what it wanted, it has. Point
        # stdout at /dev/null so the interpreter's last flush does not fail again on the way out.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        return _fail(describe_os_error(exc))
    except sqlite3.Error as exc:  # the cache wraps its own; this is any other database a command opened
        return _fail(f"database error: {exc}")
    except RecursionError:
        return _fail("input nested too deeply to read")
    except KeyboardInterrupt:
        print("harness: interrupted; finished calls are cached, re-run to resume", file=sys.stderr)
        return 130
    except Exception:
        text = redact(traceback.format_exc())
        print(f"{text}harness: internal error: this is a bug in harness, not in your input; please "
              "report it to harness's issue tracker with the traceback above", file=sys.stderr)
        return 1


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has closed it."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


def _fail(message: str) -> int:
    line = " ".join(redact(message).split())  # one line, whatever the message carried
    print(f"harness: error: {line}", file=sys.stderr)
    return 2


def describe_os_error(exc: OSError) -> str:
    """``PATH: cause`` for an operating-system refusal (no space, read-only, permission, ...).

    >>> describe_os_error(OSError(28, "No space left on device", "runs/x/answers.jsonl"))
    'runs/x/answers.jsonl: No space left on device'
    """
    cause = exc.strerror or str(exc)
    where = ": ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    return f"{where}: {cause}" if where else cause


if __name__ == "__main__":
    sys.exit(main())
