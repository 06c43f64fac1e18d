"""``harness human import | serve | export``: people's pairwise labels for a run.

``import`` reads labels from a file into ``human.jsonl`` under the run lock (``harness import
labels`` in the generic format is the same command). ``serve`` checks its options, binds the port
and starts the voting app (:mod:`harness.web`); ``export`` writes the served votes.

``serve`` does not hold the run lock: it would block ``harness report`` and ``harness agreement``
for as long as people vote. The votes go to ``votes.sqlite`` (SQLite handles concurrent readers
and writers), never to files other commands write, and ``rundir.read_human`` reads them from there.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import Any

from harness.app.labels import merge_labels, read_labels
from harness.core import files, rundir, runlock
from harness.core.errors import HarnessError
from harness.core.files import json_line
from harness.core.text import csv_text

EXPORT_COLUMNS = ("annotator", "position", "kind", "task", "question_id", "model_a", "model_b", "shown_first",
                  "choice", "winner", "reason", "seconds", "ref", "created")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("human", help="import human pairwise labels into a run")
    h = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    hi = h.add_parser("import", help="read labels (CSV or JSONL: task, question_id, model_a, model_b, "
                      "winner) into RUN_DIR/human.jsonl; reports then show judge-human agreement")
    hi.add_argument("file", type=Path)
    hi.add_argument("--run", type=Path, required=True, metavar="DIR")
    s = h.add_parser("serve", help="let people vote on the run's pairs in the browser",
                     description="Serve a blind pairwise voting page on the run's comparisons. Prints one "
                     "link per annotator (NAME: URL) and the owner's results link (owner: URL). Votes are "
                     "committed to RUN_DIR/votes.sqlite at once and count as the run's human labels.")
    s.add_argument("--run", type=Path, required=True, metavar="DIR")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--annotators", metavar="A,B", help="named annotators (default: ask for a nickname)")
    s.add_argument("--per-annotator", type=int, metavar="N", help="pairs per annotator, stratified by task")
    s.add_argument("--order", choices=("disagreement", "random"), default="disagreement",
                   help="disagreement (default): pairs the judges were unsure about come first")
    s.add_argument("--guide", type=Path, metavar="FILE", help="annotation guidance (Markdown) to show")
    s.add_argument("--reference", action="store_true", help="offer the reference answer behind a toggle")
    s.add_argument("--gold", type=Path, metavar="FILE", help="labelled pairs to mix in (prompts test --gold)")
    s.add_argument("--tasks-dir", type=Path, action="append", default=[], metavar="DIR")
    e = h.add_parser("export", help="write the served votes as CSV or JSONL")
    e.add_argument("--run", type=Path, required=True, metavar="DIR")
    e.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    e.add_argument("--out", type=Path, metavar="FILE", help="write here instead of standard output")
    return p


def run(args: argparse.Namespace) -> int:
    # No run lock for serve and export: the vote store's SQLite handles concurrent writers.
    if args.action == "serve":
        return serve(args)
    if args.action == "export":
        return export(args)
    return import_labels(args)


def import_labels(args: argparse.Namespace) -> int:
    """``harness human import FILE --run DIR`` (and ``harness import labels FILE --run DIR``)."""
    with runlock.hold(args.run, command="human import"):
        answers = rundir.read_answers(args.run)
        judged = [(j.task, j.question_id, m) for j in rundir.read_judgments(args.run)
                  for m in (j.model_a, j.model_b)]
        labels = read_labels(args.file, answers, judged)
        print(merge_labels(args.run, labels, source=str(args.file)))
    return 0


def _names(raw: str | None) -> list[str]:
    """The ``--annotators`` names, folded (``ALICE`` and ``alice`` are one person)."""
    from harness.core.votes import annotator_name

    if raw is None:
        return []
    try:
        names = [annotator_name(n) for n in raw.split(",")]
    except ValueError as exc:
        raise HarnessError(f"--annotators {raw!r}: {exc}") from None
    if len(set(names)) < len(names):
        raise HarnessError(f"--annotators {raw!r}: a name appears twice (names are compared ignoring case "
                           "and width)")
    return names


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port``, before anything is stored or printed: a port in use or
    an unknown host is one error line, not a server that printed links it cannot serve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError; a 64+ char label a UnicodeError
        raise HarnessError(f"--host {host}: not an address or host name this machine can bind to "
                           f"({getattr(exc, 'strerror', None) or exc})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart right after a stop
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise HarnessError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc}); "
                           "is another server using the port?") from None
    return sock


def serve(args: argparse.Namespace) -> int:
    from harness.judges.calibration import load_gold
    from harness.web.server import serve as serve_app
    from harness.web.study import Options

    if not (args.run / rundir.ANSWERS).is_file():
        raise HarnessError(f"{args.run}: not a run directory with answers ({rundir.ANSWERS} is missing)")
    if args.per_annotator is not None and args.per_annotator < 1:
        raise HarnessError(f"--per-annotator {args.per_annotator}: expected a positive number")
    if not 0 < args.port < 65536:
        raise HarnessError(f"--port {args.port}: expected 1-65535")
    names = _names(args.annotators)
    guide = None
    if args.guide is not None:
        try:  # through files.read_text: a FIFO or a device is refused, not read for ever
            guide = files.read_text(args.guide, expected="a Markdown file")
        except HarnessError as exc:
            raise HarnessError(f"--guide {exc}") from None
    gold = tuple(load_gold(args.gold)) if args.gold is not None else ()
    sock = _listen(args.host, args.port)
    try:
        serve_app(args.run, Options(order=args.order, per_annotator=args.per_annotator, guide=guide,
                                    reference=args.reference, gold=gold, annotators=tuple(names),
                                    tasks_dirs=tuple(args.tasks_dir)),
                  sock=sock, host=args.host, port=args.port)
    finally:
        sock.close()
    return 0


def export(args: argparse.Namespace) -> int:
    from harness.core.votes import VoteStore
    from harness.web.results import vote_rows

    path = args.run / rundir.VOTES
    if not path.is_file():
        raise HarnessError(f"{path}: no votes yet (start `harness human serve --run {args.run}`)")
    store = VoteStore(path, readonly=True)
    try:
        rows = vote_rows(store)
    finally:
        store.close()
    out = args.out.open("w", encoding="utf-8", newline="") if args.out else sys.stdout
    try:
        if args.format == "jsonl":
            for row in rows:
                out.write(json_line(row) + "\n")
        else:
            out.write(csv_text([EXPORT_COLUMNS, *([row[c] for c in EXPORT_COLUMNS] for row in rows)]))
    finally:
        if args.out:
            out.close()
    return 0
