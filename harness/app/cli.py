"""``harness`` command line: lists the commands and runs the one asked for.

Each command is one module (``run_command``, ``judge_command``, ...) with ``add_parser(sub)``, which
adds its parser and returns it, and ``run(args)``, which does the work and returns the exit status;
the option groups several commands share are in ``args``. This module only builds the parser from
them and keeps ``main``, the one place errors become a ``harness: error:`` line.

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
from typing import Any, NoReturn, Protocol

from harness.app import (
    agreement_command,
    batch_command,
    bias_command,
    compare_command,
    finetune_command,
    gate_command,
    generate_command,
    human_command,
    import_command,
    judge_command,
    plan_command,
    prompts_command,
    rate_command,
    recheck_command,
    report_command,
    run_command,
    sweep_command,
    synth_command,
    tasks_command,
)
from harness.core.errors import HarnessError, redact


class Command(Protocol):
    """What every command module holds."""

    def add_parser(self, sub: Any) -> argparse.ArgumentParser:
        """Add the command's parser to ``sub`` (the subparsers of ``harness``) and return it."""

    def run(self, args: argparse.Namespace) -> int:
        """Do the command with its parsed arguments; the exit status."""


COMMANDS: tuple[Command, ...] = (
    run_command, generate_command, judge_command, rate_command, bias_command, human_command,
    report_command, finetune_command, sweep_command, agreement_command, compare_command, recheck_command,
    synth_command, import_command, batch_command, tasks_command, prompts_command, plan_command, gate_command)
"""Every command, in the order ``harness --help`` lists them."""

EPILOG = """examples:
  harness run                                 # offline leaderboard on the embedded model
  harness run --tasks en_law zh_law --limit 5
  harness run --models base=embedded ft=embedded+lora:out/adapter --judge openai:gpt-4o-mini
  harness run my_run.yaml                     # a YAML run config
  harness rate runs/default/battles.jsonl --method bt --bootstrap 1000
  harness synth --task en_law --teacher openai:gpt-4o-mini --n 500 --out law.jsonl
  harness finetune --base embedded --task en_medical --out out/medical
  harness tasks list | harness prompts list
  harness run law.yaml --batch-api            # through the endpoint's Batch API (half price, resumable)
  harness batch export runs/law --stage generate --out gen.jsonl   # for vllm run-batch, then batch import

model specs: embedded[+lora:DIR] | hf:PATH_OR_ID[+lora:DIR] | openai:MODEL[@BASE_URL][+lora:DIR]
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with its mistakes reported like every other: one ``harness: error:`` line, exit 2
    (argparse's own usage block would be a second and third line; ``--help`` still shows it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"harness: error: {self.prog}: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``harness`` parser: each command adds its own, and runs as its parser's ``func``."""
    parser = _Parser(
        prog="harness", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Benchmark fine-tuned LLMs with pairwise LLM judging and Elo leaderboards.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub).set_defaults(func=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The one boundary between harness and its user: a user's mistake or the machine's refusal
    (a full disk, a read-only folder, a corrupt cache) is one ``harness: error:`` line and exit 2;
    only a bug in harness shows a traceback, with a line asking for a report, and exit 1."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
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
