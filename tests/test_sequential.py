"""Issue 32, part 3: ``--stop-when-decided``.

The anytime-valid test (:mod:`harness.stats.sequential`): its closed form, its error rate on
simulated ties and coin flips (vectorised: many sequences at once), and that judging in rounds of
:func:`battles_needed` stops exactly where judging one battle at a time would. Then through the
command line, against a scripted judge on loopback: a pair won on every question stops after at
most half the calls with the same leader as judging everything; a dead heat is judged to the end.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from report_tables import html_tables
from scipy.stats import binom
from scripted_server import ScriptedServer

from harness.app.cli import main
from harness.core import rundir
from harness.stats.sequential import (
    battles_needed,
    decide,
    exact_statistic,
    first_decisions,
    log_statistics,
    sign,
    threshold,
)

LABELS = {"better": "Assistant 1 is better than Assistant 2", "worse": "Assistant 1 is worse than Assistant 2",
          "equal": "Assistant 1 is equal to Assistant 2"}
QUESTIONS = 40


# --- the statistic ----------------------------------------------------------------------------

def test_the_statistic_equals_its_closed_form_in_whole_numbers() -> None:
    w, l_ = np.meshgrid(np.arange(0, 45), np.arange(0, 45))
    log_a, log_b = log_statistics(w, l_)
    for i, j in [(0, 0), (1, 0), (7, 0), (8, 0), (3, 3), (15, 5), (5, 15), (30, 12), (44, 44), (0, 44)]:
        assert math.isclose(math.exp(log_a[j, i]), exact_statistic(wins=i, losses=j), rel_tol=1e-9)
        assert math.isclose(math.exp(log_b[j, i]), exact_statistic(wins=j, losses=i), rel_tol=1e-9)
    # n straight wins: (2^(n+1) - 1) / (n + 1); 8 of them pass 40 = 2 / 0.05, 7 do not
    assert [round(exact_statistic(wins=n, losses=0), 1) for n in (7, 8)] == [31.9, 56.8]
    assert threshold(0.05) == 40.0
    # more wins never lower the evidence for model_a, more losses never raise it
    assert np.all(np.diff(log_a, axis=1) >= 0) and np.all(np.diff(log_a, axis=0) <= 0)


def test_ties_change_nothing_and_a_run_of_wins_decides_at_eight() -> None:
    assert decide(["model_a"] * 20, alpha=0.05).battles == 8
    with_ties = decide(["tie", "model_a"] * 20, alpha=0.05)
    assert (with_ties.leader, with_ties.battles, with_ties.wins, with_ties.ties) == ("model_a", 16, 8, 8)
    undecided = decide(["model_a", "model_b"] * 50, alpha=0.05)
    assert undecided.leader is None and undecided.battles == 100
    assert sign("tie (bothbad)") == 0


def _sequences(rng: np.random.Generator, rows: int, steps: int, p_win: float, p_tie: float) -> np.ndarray:
    u = rng.random((rows, steps))
    return np.where(u < p_win, 1, np.where(u < p_win + p_tie, 0, -1)).astype(np.int8)


def _false_rate(signs: np.ndarray, alpha: float, chunk: int = 2000) -> tuple[float, float]:
    """Share of rows the test decides either way, and the share it names model_a."""
    decided = a_side = 0
    for start in range(0, len(signs), chunk):
        index, side = first_decisions(signs[start:start + chunk], alpha=alpha)
        decided += int(np.sum(index >= 0))
        a_side += int(np.sum(side > 0))
    return decided / len(signs), a_side / len(signs)


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_error_rate_on_simulated_dead_heats_stays_at_most_alpha(alpha: float) -> None:
    """A fair coin with ties (35% / 30% / 35%), 20,000 sequences of 300 battles, the test looked
    at after every battle: it names a leader in at most alpha of them (Monte Carlo slack: 3
    standard errors). Vectorised; seconds, not minutes."""
    rng = np.random.default_rng(32)
    rows = 20_000
    signs = _sequences(rng, rows, 300, 0.35, 0.30)
    rate, a_side = _false_rate(signs, alpha)
    se = math.sqrt(alpha * (1 - alpha) / rows)
    assert rate <= alpha + 3 * se, (rate, alpha)
    assert a_side <= alpha / 2 + 3 * math.sqrt(alpha / 2 * (1 - alpha / 2) / rows)
    # The same looks with a fixed-n test (an exact two-sided sign test after every battle) are
    # what the sequential test is for: on the same sequences it names a leader far more often.
    wins, losses = np.cumsum(signs > 0, axis=1), np.cumsum(signs < 0, axis=1)
    n, low = wins + losses, np.minimum(wins, losses)
    steps = np.arange(signs.shape[1] + 1)
    p_value = np.minimum(1.0, 2 * binom.cdf(steps[:, None], steps[None, :], 0.5))  # [low, n]
    naive = float(np.mean(np.any(p_value[low, n] < alpha, axis=1)))
    assert naive > 2 * alpha, naive


def test_a_model_that_is_not_better_is_named_better_at_most_alpha_over_two() -> None:
    """The one-sided nulls are composite: with model_a winning 45% of decisive battles (so not
    better), the test names model_a in at most alpha/2 of the sequences; with 80% it names model_a
    in most of them and model_b in none."""
    rng = np.random.default_rng(7)
    rows, alpha = 10_000, 0.05
    _, a_side = _false_rate(_sequences(rng, rows, 300, 0.45 * 0.7, 0.3), alpha)
    assert a_side <= alpha / 2 + 3 * math.sqrt(alpha / 2 / rows)
    index, side = first_decisions(_sequences(rng, 2000, 100, 0.8 * 0.7, 0.3), alpha=alpha)
    assert np.mean(side > 0) > 0.95 and not np.any(side < 0)
    assert np.median(index[index >= 0]) < 30  # it stops early when the answer is clear


def test_rounds_of_battles_needed_stop_exactly_where_one_at_a_time_stops() -> None:
    """Judging ``battles_needed`` battles per round (as ``--stop-when-decided`` judges questions)
    never passes the stopping point: a decision only ever falls on a round's last battle, at the
    battle where looking after every battle decides."""
    rng = np.random.default_rng(3)
    for p_win in (0.2, 0.35, 0.5, 0.6, 0.9):
        for signs in _sequences(rng, 60, 60, p_win, 0.2):
            winners = ["model_a" if s > 0 else "model_b" if s < 0 else "tie" for s in signs]
            one_by_one = decide(winners, alpha=0.05)
            pos = wins = losses = 0
            stopped = None
            while pos < len(winners) and stopped is None:
                need = battles_needed(wins=wins, losses=losses, alpha=0.05, limit=len(winners) - pos)
                take = len(winners) - pos if need is None else need
                for k in range(pos, pos + take):
                    wins, losses = wins + (signs[k] > 0), losses + (signs[k] < 0)
                    if decide(winners[:k + 1], alpha=0.05).leader is not None:
                        stopped = k + 1
                        assert k == pos + take - 1  # the round's last battle: nothing judged past it
                        break
                pos += take
            assert stopped == (one_by_one.battles if one_by_one.leader else None)


# --- through the command line -----------------------------------------------------------------

def _tasks_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "tasks"
    folder.mkdir()
    lines = ["language: en", "domain: law", "description: Forty short law questions.", "questions:"]
    for i in range(1, QUESTIONS + 1):
        lines += [f"  - id: q{i:02d}", "    category: law", f"    question: What is rule {i} of contract law?",
                  f"    reference: Rule {i} says what it says."]
    (folder / "big.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


class Judge:
    """Candidates say whose answer it is; the judge's verdict follows ``mode``: ``alpha`` prefers
    alpha's answer, ``equal`` calls every pair equal, ``first`` always prefers Assistant 1 (so each
    question's two orders disagree: a tie)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __call__(self, body: dict[str, Any]) -> str:
        last = str(body["messages"][-1]["content"])
        if not body["model"].startswith("judge"):
            return f"{body['model']} answers: {last[:40]}"
        if self.mode == "equal":
            return f"Both fine.\n{LABELS['equal']}"
        if self.mode == "first":
            return f"The first is better.\n{LABELS['better']}"
        if "[Assistant 1, answer 1]" in last:  # a turns prompt: each conversation shown whole
            first = last.split("[Assistant 1, answer 1]\n", 1)[1]
        else:
            first = last.split("Assistant 1: ", 1)[1].split("Assistant 2: ", 1)[0]
        return f"Reasoning.\n{LABELS['better' if first.startswith('alpha') else 'worse']}"


def _judge_calls(server: ScriptedServer) -> int:
    return sum(1 for r in server.requests if str(r["model"]).startswith("judge"))


def _run(server: ScriptedServer, tasks: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--tasks-dir", str(tasks), "--tasks", "big", "--out", str(out), "--no-progress",
            "--models", f"a=openai:alpha@{server.url}", f"b=openai:beta@{server.url}",
            "--judge", f"openai:judge@{server.url}", "--prompt", "assignment_en", *extra]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(t) for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]


def _leader(run: Path) -> str:
    return rundir.read_leaderboard(run)[0]["model"]


def test_a_pair_won_on_every_question_stops_early_with_the_same_leader(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = _tasks_dir(tmp_path)
    with ScriptedServer(Judge("alpha")) as server:
        assert main(_run(server, tasks, tmp_path / "full", "--report", "none")) == 0
        full_calls = _judge_calls(server)
        capsys.readouterr()
        assert main(_run(server, tasks, tmp_path / "stop", "--report", "md", "--stop-when-decided")) == 0
        stop_calls = _judge_calls(server) - full_calls
        printed = capsys.readouterr().out
        _check_stopped(tmp_path, full_calls, stop_calls, printed)
        # judged again without the flag, every question is judged and the stale stopping.json goes
        assert main(["judge", str(tmp_path / "stop"), "--judge", f"openai:judge@{server.url}", "--prompt",
                     "assignment_en", "--no-progress", "--report", "none"]) == 0
        assert _judge_calls(server) - full_calls - stop_calls == 2 * QUESTIONS - 16  # 16 from the cache
    assert not (tmp_path / "stop" / rundir.STOPPING).exists()
    assert len(_lines(tmp_path / "stop" / rundir.BATTLES)) == QUESTIONS


def _check_stopped(tmp_path: Path, full_calls: int, stop_calls: int, printed: str) -> None:
    full, stop = tmp_path / "full", tmp_path / "stop"
    assert full_calls == 2 * QUESTIONS
    assert stop_calls <= full_calls / 2
    assert stop_calls == 16  # 8 straight decisive wins reach 2/alpha = 40 (56.8)
    # the same decision: a leads the leaderboard of the full run and of the stopped one
    assert _leader(full) == _leader(stop) == "a"
    stopping = json.loads((stop / rundir.STOPPING).read_text(encoding="utf-8"))
    assert stopping["alpha"] == 0.05 and stopping["threshold"] == 40.0 and stopping["seed"] == 0
    (pair,) = stopping["pairs"]
    assert pair["leader"] == "a" and pair["questions"] == 8 and pair["total"] == QUESTIONS
    assert (pair["wins"], pair["ties"], pair["losses"]) == (8, 0, 0)
    assert pair["statistic"] >= 40 and (pair["judgments"], pair["judgments_total"]) == (16, 80)
    assert len(_lines(stop / rundir.JUDGMENTS)) == 16 and len(_lines(stop / rundir.BATTLES)) == 8
    # the questions were taken in the seeded order, not the file's
    judged = [b["question_id"] for b in _lines(stop / rundir.BATTLES)]
    assert judged != [f"q{i:02d}" for i in range(1, 9)]
    # the printed summary and the report say where the pair stopped and why, with test, n and alpha
    for text in (printed, (stop / "report" / "report.md").read_text(encoding="utf-8")):
        assert "a vs b: a is better; stopped after 8 of 40 questions (16 of 80 judgments)" in text
        assert "the mixture statistic reached 56.8, at least 2/alpha = 40, on n = 8 decisive battles" in text
        assert "alpha 0.05" in text
    tables = {t["key"]: t for t in json.loads((stop / "report" / "report.json").read_text())["tables"]}
    row = ["a", "b", "a", "8 / 40", "16 / 80", "8 / 0 / 0", "56.8", "40"]
    assert tables["stopping"]["rows"] == [row] and tables["stopping"]["notes"][0].startswith("a vs b: a is")
    assert main(["report", str(stop), "--format", "html"]) == 0  # the HTML page shows the same cells
    assert html_tables(stop)["table-stopping"] == [[*row, tables["stopping"]["notes"][0]]]
    # config.yaml records the choice; a run without it is written as before
    assert "stop_when_decided: true" in (stop / rundir.CONFIG).read_text(encoding="utf-8")
    assert "stop_" not in (full / rundir.CONFIG).read_text(encoding="utf-8")
    assert not (full / rundir.STOPPING).exists()


@pytest.mark.parametrize("mode", ["equal", "first"])
def test_a_dead_heat_is_never_decided_and_judged_to_the_end(tmp_path: Path, mode: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    _tasks_dir(tmp_path)  # tasks/big.yaml, beside the config that names the folder
    run, cfg = tmp_path / "run", tmp_path / "heat.yaml"
    with ScriptedServer(Judge(mode)) as server:
        cfg.write_text(f"""
tasks: [big]
tasks_dirs: [tasks]
seed: 5
models:
  - {{name: a, spec: "openai:alpha@{server.url}"}}
  - {{name: b, spec: "openai:beta@{server.url}"}}
""", encoding="utf-8")
        assert main(["generate", str(cfg), "--out", str(run), "--no-progress"]) == 0
        capsys.readouterr()
        assert main(["judge", str(run), "--judge", f"openai:judge@{server.url}", "--prompt", "assignment_en",
                     "--no-progress", "--report", "none", "--stop-when-decided", "--stop-alpha", "0.2"]) == 0
        assert _judge_calls(server) == 2 * QUESTIONS  # every call made
    stopping = json.loads((run / rundir.STOPPING).read_text(encoding="utf-8"))
    assert stopping["seed"] == 5  # the run's seed orders the questions
    (pair,) = stopping["pairs"]
    assert pair["leader"] is None and pair["questions"] == QUESTIONS and pair["alpha"] == 0.2
    assert (pair["wins"], pair["ties"], pair["losses"]) == (0, QUESTIONS, 0) and pair["statistic"] == 1.0
    assert len(_lines(run / rundir.BATTLES)) == QUESTIONS
    assert "a vs b: undecided, judged all 40 questions (80 of 80 judgments)" in capsys.readouterr().out


def test_a_panel_stops_on_its_majority(tmp_path: Path) -> None:
    """Two judges: each question's battle is their majority, as the rating makes it; both judges'
    verdicts on the judged questions are kept."""
    tasks = _tasks_dir(tmp_path)
    with ScriptedServer(Judge("alpha")) as server:
        assert main(_run(server, tasks, tmp_path / "run", "--report", "none", "--stop-when-decided", "--judge",
                         f"openai:judge@{server.url}", f"openai:judge2@{server.url}")) == 0
        assert _judge_calls(server) == 32
    (pair,) = json.loads((tmp_path / "run" / rundir.STOPPING).read_text(encoding="utf-8"))["pairs"]
    assert (pair["leader"], pair["questions"], pair["judgments"], pair["judgments_total"]) == ("a", 8, 32, 160)
    assert {j["judge"] for j in _lines(tmp_path / "run" / rundir.JUDGMENTS)} == {
        f"openai:judge@{server.url}", f"openai:judge2@{server.url}"}


def test_a_multi_turn_question_is_kept_whole(tmp_path: Path) -> None:
    """Each of a two-turn question's turns is a battle: 8 straight wins take 4 questions, judged in
    one round (no decision is possible before the 8th battle), and nothing past them."""
    folder = tmp_path / "tasks"
    folder.mkdir()
    lines = ["language: en", "domain: testing", "description: Two-turn questions.", "questions:"]
    for i in range(1, 13):
        lines += [f"  - id: t{i:02d}", "    category: law", f"    turns: ['Rule {i}?', 'And its exception?']",
                  f"    references: ['Rule {i}.', 'An exception.']"]
    (folder / "turns.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    with ScriptedServer(Judge("alpha")) as server:
        assert main(["run", "--tasks-dir", str(folder), "--tasks", "turns", "--out", str(run), "--no-progress",
                     "--models", f"a=openai:alpha@{server.url}", f"b=openai:beta@{server.url}",
                     "--judge", f"openai:judge@{server.url}", "--report", "none", "--stop-when-decided"]) == 0
        assert _judge_calls(server) == 16  # 4 questions x 2 turns x 2 orders
    (pair,) = json.loads((run / rundir.STOPPING).read_text(encoding="utf-8"))["pairs"]
    assert (pair["leader"], pair["questions"], pair["total"], pair["wins"]) == ("a", 4, 12, 8)
    battles = _lines(run / rundir.BATTLES)
    assert len(battles) == 8 and sorted({b["turn"] for b in battles}) == [1, 2]


def test_bad_settings_are_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = _tasks_dir(tmp_path)
    with ScriptedServer(Judge("alpha")) as server:
        for extra, said in ((("--stop-when-decided", "--stop-alpha", "0.7"), "--stop-alpha: 0.7 is out of range"),
                            (("--stop-alpha", "0.1"), "--stop-alpha: it is the level of --stop-when-decided"),
                            (("--stop-when-decided", "--prompt", "single_1to10"), "grades single answers"),
                            (("--stop-when-decided", "--batch-api"), "with --batch-api each round would be")):
            capsys.readouterr()
            assert main(_run(server, tasks, tmp_path / "bad", "--report", "none", *extra)) == 2
            err = capsys.readouterr().err
            assert said in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "bad").exists()  # refused before anything was generated
        # a dry run counts every call, and says they are the most the run can take
        assert main(_run(server, tasks, tmp_path / "dry", "--stop-when-decided", "--dry-run")) == 0
        assert "the judge calls above are the most this can take" in capsys.readouterr().out
        assert not any(str(r["model"]).startswith("judge") for r in server.requests)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("stop_when_decided: 'yes'\n", encoding="utf-8")
    assert main(["run", str(cfg), "--dry-run"]) == 2
    assert "field 'stop_when_decided': expected true or false" in capsys.readouterr().err


def test_a_hand_edited_stopping_file_is_one_error_naming_it(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    tasks = _tasks_dir(tmp_path)
    run = tmp_path / "run"
    with ScriptedServer(Judge("alpha")) as server:
        assert main(_run(server, tasks, run, "--report", "none", "--stop-when-decided", "--limit", "10")) == 0
    data = json.loads((run / rundir.STOPPING).read_text(encoding="utf-8"))
    assert rundir.read_stopping(run) == data
    data["pairs"][0]["wins"] = -3
    (run / rundir.STOPPING).write_text(json.dumps(data), encoding="utf-8")
    capsys.readouterr()
    assert main(["report", str(run), "--format", "md"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("stopping.json: pairs[0]: field 'wins': -3 is not a whole number >= 0"), err
    assert len(err.splitlines()) == 1

