"""Published tables, rebuilt through harness's CLI from the published files: ``docs/validity.md``.

Each source reads a repository snapshot (a git directory, as ``fetch`` brings it: nothing of it is
committed here), takes the published data file and the published table at the commits named below,
runs the harness command a user would run, and compares figure by figure at the precision the
source prints. The page lists, per source, the command, the published figure, harness's figure
and whether they are equal, with a count at the top.

    python benchmarks/validity.py [--mirror /work/.mirror] [--out docs/validity.md]

A source whose repository is not under ``--mirror`` is listed as not checked, with the reason.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Check:
    """One source's comparison."""

    source: str
    what: str
    commands: list[str]
    rows: list[tuple[str, str, str, bool]] = field(default_factory=list)
    """(item, published, harness, equal)."""
    notes: list[str] = field(default_factory=list)
    missing: str = ""
    """Why the source was not checked ("" when it was)."""

    @property
    def equal(self) -> int:
        return sum(r[3] for r in self.rows)


def git_show(repo: Path, commit: str, path: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), "show", f"{commit}:{path}"], check=True,
                          capture_output=True).stdout


def harness(*argv: str, cwd: Path) -> str:
    """A harness command's standard output (it must succeed)."""
    done = subprocess.run([sys.executable, "-m", "harness", *argv], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"harness {' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


def scores(out: str) -> dict[str, float]:
    return {r["model"]: r["score"] for r in json.loads(out)["ratings"]}


# --- WildVision-Bench ------------------------------------------------------------------------

WILDVISION = ("WildVision-AI/WildVision-Bench", "79dacc031b38bb88558bb9a9357d98b3fa6d8bc3")
WV_BASELINE = "claude-3-sonnet-20240229"


def wildvision(mirror: Path, work: Path) -> Check:
    repo_name, commit = WILDVISION
    rate = f"harness rate vision_bench_battles.jsonl --baseline {WV_BASELINE} --bootstrap 0 --format json"
    check = Check(f"WildVision-Bench ({repo_name}@{commit[:7]})",
                  "score vs the baseline (elo_leaderboard.md, 2 decimals)",
                  [rate, "harness import battles vision_bench_battles.jsonl --run wv --task wildvision",
                   f"harness rate wv/battles.jsonl --baseline {WV_BASELINE} --bootstrap 0 --format json"])
    repo = _repo(mirror, repo_name, check)
    if repo is None:
        return check
    battles = git_show(repo, commit, "data/vision_bench_battles.jsonl")
    (work / "vision_bench_battles.jsonl").write_bytes(battles)
    direct = scores(harness(*rate.split()[1:], cwd=work))
    harness("import", "battles", "vision_bench_battles.jsonl", "--run", "wv", "--task", "wildvision",
            cwd=work)
    imported = scores(harness("rate", "wv/battles.jsonl", "--baseline", WV_BASELINE, "--bootstrap", "0",
                              "--format", "json", cwd=work))
    kept = sum(1 for _ in (work / "wv" / "battles.jsonl").open(encoding="utf-8"))
    table = git_show(repo, commit, "elo_leaderboard.md").decode("utf-8")
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        model, published = cells[0], float(cells[1])
        got = direct.get(model)
        if got is None:
            check.notes.append(f"{model} ({published:.2f}) has no battles in the published battles file, so "
                               "its score cannot be rebuilt from it.")
            continue
        same = abs(got - published) < 0.005 and abs(imported[model] - got) < 1e-9
        check.rows.append((model, f"{published:.2f}", f"{got:.2f}", same))
    check.notes.append(f"`harness import battles` kept all {kept:,} battles (the file's rows less its 500 "
                       "rows where a model meets itself), and rating the imported run gives the same scores.")
    return check


# --- Arena-Hard-Local ------------------------------------------------------------------------

ARENA_HARD_LOCAL = ("r4dm/arena-hard-local", "82986f0fdcc786ab37f32b12ce35c4272ad0662b",
                    "284610b")
"""The repository, the commit that published its battles file, and the README of the same day
(2024-06-03) whose second table is that file's leaderboard."""
AHL_BASELINE = "Phi-3-medium-128k-instruct"


def arena_hard_local(mirror: Path, work: Path) -> Check:
    repo_name, commit, readme = ARENA_HARD_LOCAL
    rate = f"harness rate arena_hard_battles.jsonl --baseline {AHL_BASELINE} --bootstrap 0 --format json"
    check = Check(f"Arena-Hard-Local ({repo_name}@{commit[:7]}, README@{readme})",
                  "score vs the baseline (README's table for this battles file, 1 decimal)", [rate])
    repo = _repo(mirror, repo_name, check)
    if repo is None:
        return check
    battles = git_show(repo, commit, "data/arena_hard_battles.jsonl")
    (work / "arena_hard_battles.jsonl").write_bytes(battles)
    got = scores(harness(*rate.split()[1:], cwd=work))
    block = git_show(repo, readme, "README.md").decode("utf-8").split("```")[3]
    for line in block.splitlines():
        m = re.match(r"(\S+)\s+\| score:\s+([\d.]+)", line.strip())
        if m:
            model, published = m.group(1), float(m.group(2))
            mine = got.get(model)
            # Arena-Hard prints round(score, 1) of the score it rounded to two decimals.
            shown = "n/a" if mine is None else f"{round(mine + 1e-9, 1):.1f}"
            check.rows.append((model, f"{published:.1f}", shown, shown == f"{published:.1f}"))
    return check


# --- AlpacaEval 2.0 ----------------------------------------------------------------------------

ALPACA_EVAL = ("tatsu-lab/alpaca_eval", "cd543a149df89434d8a54582c0151c0b945c3d20")
AE_ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"
AE_BASELINE = "gpt4_1106_preview"
AE_MODELS = ("alpaca-7b", "claude-2", "gpt4_gamed", "gemma-7b-it", "NullModel", "Qwen-14B-Chat",
             "falcon-7b-instruct", "gpt-3.5-turbo-1106", "claude-instant-1.2", "OpenHermes-2.5-Mistral-7B")
"""Ten of the leaderboard's models whose annotation files the snapshot holds (it leaves out files of
4 MiB and more)."""
AE_ALIASES = {"example": "NullModel"}
"""NullModel's annotations name its outputs' generator ``example``."""
AE_FIGURES = ("win_rate", "standard_error", "discrete_win_rate", "n_wins", "n_wins_base", "n_draws",
              "n_total")


def alpaca_eval(mirror: Path, work: Path) -> Check:
    repo_name, commit = ALPACA_EVAL
    check = Check(f"AlpacaEval 2.0 ({repo_name}@{commit[:7]})",
                  f"{AE_ANNOTATOR} leaderboard: win_rate, standard_error, discrete_win_rate and counts "
                  "(full precision, equal to 1e-9)",
                  [f"harness import judgments results/MODEL/{AE_ANNOTATOR}/annotations.json --run ae "
                   "--format alpaca_eval --task alpaca_eval   # each model",
                   f"harness rate ae/battles.jsonl --baseline {AE_BASELINE} --bootstrap 0 --format json"])
    repo = _repo(mirror, repo_name, check)
    if repo is None:
        return check
    for model in AE_MODELS:
        path = work / f"{model}.json"
        path.write_bytes(git_show(repo, commit, f"results/{model}/{AE_ANNOTATOR}/annotations.json"))
        harness("import", "judgments", str(path), "--run", "ae", "--format", "alpaca_eval", "--task",
                "alpaca_eval", cwd=work)
    out = json.loads(harness("rate", "ae/battles.jsonl", "--baseline", AE_BASELINE, "--bootstrap", "0",
                             "--format", "json", cwd=work))
    got = {AE_ALIASES.get(r["model"], r["model"]): r for r in out["ratings"]}
    leaderboard = f"src/alpaca_eval/leaderboards/data_AlpacaEval_2/{AE_ANNOTATOR}_leaderboard.csv"
    board = git_show(repo, commit, leaderboard)
    published = {row[""]: row for row in csv.DictReader(io.StringIO(board.decode("utf-8")))}
    for model in AE_MODELS:
        for figure in AE_FIGURES:
            want, mine = float(published[model][figure]), got[model][figure]
            check.rows.append((f"{model}: {figure}", f"{want:.6g}", f"{mine:.6g}", abs(want - mine) <= 1e-9))
    check.notes.append("The leaderboard's length-controlled win rate (length_controlled_v1) needs two files "
                       "AlpacaEval keeps on the Hugging Face hub (instruction difficulty and the gamed "
                       "baselines' annotations), which this machine cannot reach: not checked here.")
    return check


SOURCES: list[Callable[[Path, Path], Check]] = [wildvision, arena_hard_local, alpaca_eval]


def _repo(mirror: Path, name: str, check: Check) -> Path | None:
    repo = mirror / name.replace("/", "+") / "repo"
    if not repo.is_dir():
        check.missing = f"no snapshot of {name} under {mirror} (fetch it first)"
        return None
    return repo


def render(checks: list[Check]) -> str:
    lines = ["# Published figures, rebuilt by harness", "",
             "Generated by `python benchmarks/validity.py`: each published table rebuilt from the source's "
             "own published data file through harness's CLI, compared figure by figure at the precision the "
             "source prints. The data files are read from snapshots of the sources' repositories at the "
             "commits named; none is copied into this repository.", "",
             "| source | figure | equal |", "|---|---|---|"]
    for c in checks:
        lines.append(f"| {c.source} | {c.what} | "
                     + (f"not checked: {c.missing}" if c.missing else f"{c.equal} / {len(c.rows)}") + " |")
    for c in checks:
        lines += ["", f"## {c.source}", "", f"{c.what}.", "", "```bash", *c.commands, "```"]
        if c.missing:
            lines += ["", f"Not checked: {c.missing}."]
            continue
        lines += ["", "| item | published | harness | equal |", "|---|---|---|---|"]
        lines += [f"| {item} | {pub} | {ours} | {'yes' if same else '**no**'} |"
                  for item, pub, ours, same in c.rows]
        lines += [""] + [f"- {n}" for n in c.notes] if c.notes else []
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=Path("/work/.mirror"),
                        help="folder of repository snapshots, OWNER+NAME/repo (a git directory)")
    parser.add_argument("--out", type=Path, default=Path("docs/validity.md"))
    args = parser.parse_args()
    checks = []
    for source in SOURCES:
        with tempfile.TemporaryDirectory() as work:
            checks.append(source(args.mirror, Path(work)))
    args.out.write_text(render(checks), encoding="utf-8")
    for c in checks:
        said = f"not checked ({c.missing})" if c.missing else f"{c.equal} / {len(c.rows)} equal"
        print(f"{c.source}: {said}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
