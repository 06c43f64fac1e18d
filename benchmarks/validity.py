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


# --- Arena-Hard-Auto ---------------------------------------------------------------------------

ARENA_HARD_AUTO = ("lmarena/arena-hard-auto", "196f6b826783b3da7310e361a805fa36f0be83f3")
AHA_JUDGE = "gpt-4-1106-preview"
AHA_MODELS = ("gpt-4-0613", "gpt-3.5-turbo-0125")
"""The v0.1 judgment files the repository publishes; each model met only the baseline, so its score
in the full leaderboard depends on its own battles alone (the likelihood factorises)."""


def arena_hard_auto(mirror: Path, work: Path) -> Check:
    repo_name, commit = ARENA_HARD_AUTO
    folder = f"data/arena-hard-v0.1/model_judgment/{AHA_JUDGE}"
    check = Check(f"Arena-Hard-Auto ({repo_name}@{commit[:7]})",
                  "v0.1 score vs gpt-4-0314 (leaderboard/arena_hard_leaderboard_20240731.csv, 2 decimals)",
                  [f"harness import battles {folder} --format arena-hard --run aha --task arena-hard-v0.1",
                   "harness rate aha/battles.jsonl --baseline gpt-4-0314 --bootstrap 0 --format json"])
    repo = _repo(mirror, repo_name, check)
    if repo is None:
        return check
    local = work / "model_judgment" / AHA_JUDGE
    local.mkdir(parents=True)
    for model in AHA_MODELS:
        try:
            (local / f"{model}.jsonl").write_bytes(git_show(repo, commit, f"{folder}/{model}.jsonl"))
        except subprocess.CalledProcessError:
            check.missing = (f"the snapshot leaves out {folder}/*.jsonl (files of 4 MiB and more are not "
                             "stored), and the leaderboard's other judgments are on the Hugging Face hub")
            return check
    harness("import", "battles", str(local), "--format", "arena-hard", "--run", "aha", "--task",
            "arena-hard-v0.1", cwd=work)
    got = scores(harness("rate", "aha/battles.jsonl", "--baseline", "gpt-4-0314", "--bootstrap", "0",
                         "--format", "json", cwd=work))
    board = git_show(repo, commit, "leaderboard/arena_hard_leaderboard_20240731.csv").decode("utf-8")
    for row in csv.DictReader(io.StringIO(board)):
        if row["model"] in AHA_MODELS:
            mine = got[row["model"]]
            want = f"{float(row['score']):.2f}"
            check.rows.append((row["model"], want, f"{mine:.2f}", f"{mine:.2f}" == want))
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
    if ALPACA_GAMED is None:
        check.notes.append("The leaderboard's length-controlled win rate (length_controlled_v1) needs "
                           "df_gamed.csv, which AlpacaEval keeps on the Hugging Face hub (dataset "
                           "tatsu-lab/alpaca_eval): with it, `--alpaca-gamed df_gamed.csv` checks that "
                           "column. Not "
                           "checked here (no hub on this machine); tests/test_alpaca_lc.py checks the fit "
                           "against AlpacaEval's own glm_winrate.py on made-up data.")
        return check
    check.commands += ["harness import answers results/MODEL/model_outputs.json --run ae --format "
                       "alpaca_eval --task alpaca_eval   # each model and the baseline",
                       f"harness rate ae/battles.jsonl --baseline {AE_BASELINE} --alpaca-gamed df_gamed.csv "
                       "--bootstrap 0 --format json"]
    for model in (AE_BASELINE, *AE_MODELS):
        path = work / f"{model}_outputs.json"
        path.write_bytes(git_show(repo, commit, f"results/{model}/model_outputs.json"))
        harness("import", "answers", str(path), "--run", "ae", "--format", "alpaca_eval", "--task",
                "alpaca_eval", cwd=work)
    out = json.loads(harness("rate", "ae/battles.jsonl", "--baseline", AE_BASELINE, "--alpaca-gamed",
                             str(ALPACA_GAMED.resolve()), "--bootstrap", "0", "--format", "json", cwd=work))
    got = {AE_ALIASES.get(r["model"], r["model"]): r for r in out["ratings"]}
    for model in AE_MODELS:
        want = float(published[model]["length_controlled_winrate"])
        mine = got[model]["length_controlled_win_rate"]
        shown = "n/a" if mine is None else f"{mine:.2f}"
        check.rows.append((f"{model}: length_controlled_winrate", f"{want:.2f}", shown,
                           shown == f"{want:.2f}"))
    return check


# --- JudgeBench --------------------------------------------------------------------------------

JUDGEBENCH = ("ScalerLab/JudgeBench", "e2c52c284e735e139b3daa61c206ee208f36c461")
JB_PUBLISHED = {"o1-mini-2024-09-12": 65.71}
"""Figures the paper and leaderboard print (arena_hard judge on the GPT-4o pairs); every output file
is also checked against JudgeBench's own ``compute_final_metrics`` run on it."""


def _judgebench_metric(repo: Path, commit: str) -> Callable[[list[dict[str, object]]], float]:
    """JudgeBench's ``utils/metrics.py`` as published (plain Python, no imports of its own beyond
    typing), loaded from the snapshot: the published computation itself, not a rewrite."""
    namespace: dict[str, object] = {}
    # The file is read at the pinned commit (its content fixed by the hash), never from a work tree.
    source = git_show(repo, commit, "utils/metrics.py")
    exec(compile(source, "JudgeBench/utils/metrics.py", "exec"), namespace)
    metric = namespace["compute_final_metrics"]
    return lambda pairs: metric(pairs, reverse_order=len(pairs[0]["judgments"]) == 2)  # type: ignore[operator]


def judgebench(mirror: Path, work: Path) -> Check:
    repo_name, commit = JUDGEBENCH
    check = Check(f"JudgeBench ({repo_name}@{commit[:7]})",
                  "accuracy of each judge output file in the snapshot, as JudgeBench's compute_final_metrics "
                  "prints it (2 decimals), and the paper's figure where named",
                  ["harness import judgments OUTPUT.jsonl --format judgebench --run jb   # each output file",
                   "harness import labels OUTPUT.jsonl --format judgebench --run jb",
                   "harness agreement --run jb --format json   # accuracy_net"])
    repo = _repo(mirror, repo_name, check)
    if repo is None:
        return check
    metric = _judgebench_metric(repo, commit)
    listing = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "--name-only", "-z", commit,
                              "outputs/"], check=True, capture_output=True, text=True).stdout.split("\0")
    absent = 0
    for path in sorted(p for p in listing if p.endswith(".jsonl")):
        try:
            data = git_show(repo, commit, path)
        except subprocess.CalledProcessError:
            absent += 1  # the snapshot leaves out files of 4 MiB and more
            continue
        name = Path(path).name
        (work / name).write_bytes(data)
        run = f"jb{len(check.rows)}"
        harness("import", "judgments", name, "--format", "judgebench", "--run", run, cwd=work)
        harness("import", "labels", name, "--format", "judgebench", "--run", run, cwd=work)
        row = json.loads(harness("agreement", "--run", run, "--format", "json", cwd=work))["judges"][0]
        theirs = metric([json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()])
        mine = 100 * row["accuracy_net"]
        label = name.split("response_model=")[-1].removesuffix(".jsonl")
        check.rows.append((label, f"{theirs:.2f}", f"{mine:.2f}", abs(theirs - mine) < 1e-9))
        judge = name.split("judge_model=")[-1].removesuffix(".jsonl")
        if judge in JB_PUBLISHED and "response_model=gpt-4o" in name and "judge_name=arena_hard" in name:
            want = JB_PUBLISHED[judge]
            check.rows.append((f"{label} (paper)", f"{want:.2f}", f"{mine:.2f}",
                               f"{mine:.2f}" == f"{want:.2f}"))
    if absent:
        check.notes.append(f"{absent} output files are not in the snapshot (4 MiB and more).")
    return check


# --- LLMBar ------------------------------------------------------------------------------------

LLMBAR = ("princeton-nlp/LLMBar", "900616bff90b6c6c8e1681f7d079250637c55992")
LB_FIGURES = (("correct_False", "accuracy_ab"), ("correct_True", "accuracy_ba"),
              ("correct_average", "accuracy_average"), ("correct_both", "both_correct"),
              ("equal", "positional_agreement"))


def llmbar(mirror: Path, work: Path) -> Check:
    repo_name, commit = LLMBAR
    check = Check(f"LLMBar ({repo_name}@{commit[:7]})",
                  "every evaluator's statistics.json: correct_False, correct_True, correct_average, "
                  "correct_both and equal (full precision, equal to 1e-9)",
                  ["harness import labels Dataset/SET/dataset.json --format llmbar --run SET",
                   "harness import judgments Dataset/SET/evaluators --format llmbar --run SET",
                   "harness agreement --run SET --errors wrong --format json"])
    repo = _repo(mirror, repo_name, check)
    if repo is None:
        return check
    archive = subprocess.run(["git", "-C", str(repo), "archive", commit, "Dataset"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
    with_nulls = 0
    for dataset in sorted((work / "Dataset").rglob("dataset.json")):
        evaluators = dataset.parent / "evaluators"
        if not evaluators.is_dir():
            continue
        name = str(dataset.parent.relative_to(work / "Dataset"))
        run = f"lb{len(check.rows)}"
        harness("import", "labels", str(dataset), "--format", "llmbar", "--run", run, cwd=work)
        harness("import", "judgments", str(evaluators), "--format", "llmbar", "--run", run, cwd=work)
        rows = {r["judge"]: r for r in
                json.loads(harness("agreement", "--run", run, "--errors", "wrong", "--format", "json",
                                   cwd=work))["judges"]}
        stats = sorted(evaluators.rglob("statistics.json"))
        same = total = 0
        for path in stats:
            published = json.loads(path.read_text(encoding="utf-8"))
            mine = rows["/".join(path.parent.parts[-2:])]
            for theirs, ours in LB_FIGURES:
                total += 1
                want = float(re.findall(r"([-\d.e]+)%", published[theirs])[-1]) / 100
                same += abs(want - mine[ours]) < 1e-9
            with_nulls += mine["errors"] > 0
        check.rows.append((f"{name} ({len(stats)} evaluators)", f"{total} figures", f"{same} equal",
                           same == total))
    check.notes.append(f"{with_nulls} evaluators have unparsable verdicts; LLMBar counts them wrong and "
                       "keeps them in n (`--errors wrong`); with harness's default (`exclude`) they are "
                       "left out, and the figures differ.")
    check.notes.append("LLMBar's kappa_* figures are not compared: its code maps verdict \"2\" and an "
                       "unparsable verdict both to 0 before computing them.")
    return check


# --- PandaLM -----------------------------------------------------------------------------------

PANDALM = ("WeOpenML/PandaLM", "3871806e72b4832f815ecafd24d3503c73403f48",
           "77cec462f0f7b32c2995ea4a184e7170dd9ea7fe")
"""The repository, the commit of its data files, and the README commit with its judges' table."""
PL_JUDGES = {"gpt-3.5-turbo": "gpt-3.5-turbo", "PandaLM-7B": "pandalm-7b"}


def pandalm(mirror: Path, work: Path) -> Check:
    repo_name, commit, readme = PANDALM
    check = Check(f"PandaLM ({repo_name}@{commit[:7]}, README@{readme[:7]})",
                  "each judge's accuracy and F1 against the annotators' majority (README table, 2 "
                  "decimals) and the annotators' Cohen's kappa (README, 2 decimals)",
                  ["harness import labels testset-v1.json --format pandalm --run pl",
                   "harness import judgments JUDGE-testset-v1.json --format pandalm --pairs testset-v1.json "
                   "--run pl   # each judge",
                   "harness agreement --run pl --errors tie --format json"])
    repo = _repo(mirror, repo_name, check)
    if repo is None:
        return check
    for name in ("testset-v1", *(f"{j}-testset-v1" for j in PL_JUDGES.values())):
        (work / f"{name}.json").write_bytes(git_show(repo, commit, f"data/{name}.json"))
    harness("import", "labels", "testset-v1.json", "--format", "pandalm", "--run", "pl", cwd=work)
    for judge in PL_JUDGES.values():
        harness("import", "judgments", f"{judge}-testset-v1.json", "--format", "pandalm", "--pairs",
                "testset-v1.json", "--run", "pl", cwd=work)
    out = json.loads(harness("agreement", "--run", "pl", "--errors", "tie", "--format", "json", cwd=work))
    rows = {r["judge"]: r for r in out["judges"] if r["annotator"] == "majority"}
    table = git_show(repo, readme, "README.md").decode("utf-8")
    for shown, judge in PL_JUDGES.items():
        cells = next(line for line in table.splitlines() if line.startswith(f"| {shown} "))
        accuracy, _, _, f1 = (float(c) for c in cells.strip().strip("|").split("|")[1:5])
        for figure, want, mine in (("accuracy", accuracy, rows[judge]["agreement"]),
                                   ("macro F1", f1, rows[judge]["macro_f1"])):
            check.rows.append((f"{shown}: {figure}", f"{want:.2f}", f"{100 * mine:.2f}",
                               f"{100 * mine:.2f}" == f"{want:.2f}"))
    kappas = git_show(repo, commit, "README.md").decode("utf-8")
    grid = [line for line in kappas.splitlines() if line.startswith("| Annotator #")]
    for a, b in (("annotator1", "annotator2"), ("annotator1", "annotator3"), ("annotator2", "annotator3")):
        want = float(grid[int(a[-1]) - 1].strip().strip("|").split("|")[int(b[-1])])
        mine = next(p["kappa"] for p in out["annotators"] if {p["a"], p["b"]} == {a, b})
        check.rows.append((f"{a} vs {b}: Cohen's kappa", f"{want:.2f}", f"{mine:.2f}",
                           f"{mine:.2f}" == f"{want:.2f}"))
    check.notes.append("PandaLM counts gpt-3.5-turbo's 25 `garbage` verdicts as ties (`--errors tie`); with "
                       "harness's default they are left out (n 974).")
    check.notes.append("The README's precision and recall are macro averages harness does not print; "
                       "its F1 is harness's macro-F1.")
    return check


# --- Auto-J ------------------------------------------------------------------------------------

AUTOJ = ("GAIR-NLP/auto-j", "2ae17a3965d933232e9cd50302aa0f176249c83b")


def autoj(mirror: Path, work: Path) -> Check:
    repo_name, commit = AUTOJ
    check = Check(f"Auto-J ({repo_name}@{commit[:7]})",
                  "Auto-J (13B)'s pairwise agreement and consistency (README table, 2 decimals)",
                  ["harness import labels testdata_pairwise.jsonl --format autoj --run aj",
                   "harness import judgments pairwise_example_output.jsonl --format autoj --pairs "
                   "testdata_pairwise.jsonl --swapped pairwise_exchange_example_output.jsonl --run aj",
                   "harness agreement --run aj --format json   # both_correct, positional_agreement"])
    repo = _repo(mirror, repo_name, check)
    if repo is None:
        return check
    for path in ("data/test/testdata_pairwise.jsonl", "data/outputs/pairwise_example_output.jsonl",
                 "data/outputs/pairwise_exchange_example_output.jsonl"):
        (work / Path(path).name).write_bytes(git_show(repo, commit, path))
    harness("import", "labels", "testdata_pairwise.jsonl", "--format", "autoj", "--run", "aj", cwd=work)
    harness("import", "judgments", "pairwise_example_output.jsonl", "--format", "autoj", "--pairs",
            "testdata_pairwise.jsonl", "--swapped", "pairwise_exchange_example_output.jsonl", "--run", "aj",
            cwd=work)
    row = json.loads(harness("agreement", "--run", "aj", "--format", "json", cwd=work))["judges"][0]
    readme = git_show(repo, commit, "README.md").decode("utf-8")
    line = next(line for line in readme.splitlines() if "Auto-J (Ours)" in line)
    cells = line.strip().strip("|").split("|")
    for figure, want, mine in (("agreement", float(cells[3]), row["both_correct"]),
                               ("consistency", float(cells[4]), row["positional_agreement"])):
        check.rows.append((f"Auto-J (13B): {figure}", f"{want:.2f}", f"{100 * mine:.2f}",
                           f"{100 * mine:.2f}" == f"{want:.2f}"))
    return check


ALPACA_GAMED: Path | None = None
"""AlpacaEval's df_gamed.csv (``--alpaca-gamed``), when the user has it."""

SOURCES: list[Callable[[Path, Path], Check]] = [wildvision, arena_hard_auto, arena_hard_local, alpaca_eval,
                                                judgebench, llmbar, pandalm, autoj]


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
    parser.add_argument("--alpaca-gamed", type=Path, metavar="CSV",
                        help="AlpacaEval's df_gamed.csv (Hugging Face hub, dataset tatsu-lab/alpaca_eval): "
                        "also check the leaderboard's length-controlled win rates")
    args = parser.parse_args()
    global ALPACA_GAMED
    ALPACA_GAMED = args.alpaca_gamed
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
