"""Issue 32, part 4: the human-calibrated win rate (prediction-powered inference).

On a judged run (real ``harness judge`` over a scripted HTTP judge) with human labels imported in
the test, ``harness agreement --format json``'s ``calibrated`` equals the formula computed here from
the raw files with numpy; every report format shows the table; and in a simulation with a biased
judge and noisy but unbiased people, the 95% interval covers the people's true win rate about 95%
of the time (where the judge's own interval almost never does).
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from judged_run import make_run

from harness.app.cli import main
from harness.core import files, rundir
from harness.stats.ppi import PPIEstimate, labels_to_halve, ppi_mean

FLIP = {"model_a": "model_b", "model_b": "model_a", "tie": "tie"}

# (annotator, task, question, model_a, model_b, winner): base vs chatgpt has five labelled questions,
# with a tied vote (en_law q01), labels written the other way round (en_law q02, en_medical q01) and
# three annotators on one; base vs ft_v2&co has one (no interval); chatgpt vs ft_v2&co has none.
LABELS = [
    ("ann1", "en_law", "q01", "base", "chatgpt", "model_a"),
    ("ann2", "en_law", "q01", "base", "chatgpt", "model_b"),
    ("ann1", "en_law", "q02", "chatgpt", "base", "model_a"),
    ("ann1", "en_law", "q03", "base", "chatgpt", "tie"),
    ("ann1", "en_medical", "q01", "base", "chatgpt", "model_a"),
    ("ann2", "en_medical", "q01", "base", "chatgpt", "model_a"),
    ("ann3", "en_medical", "q01", "chatgpt", "base", "model_b"),
    ("ann2", "en_medical", "q02", "base", "chatgpt", "model_b"),
    ("ann1", "en_law", "q01", "ft_v2&co", "base", "model_b"),
]
SCORE = {"model_a": 1.0, "tie": 0.5, "tie (bothbad)": 0.5, "model_b": 0.0}


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("calibrated")
    run = make_run(tmp)
    path = tmp / "labels.csv"
    path.write_text("annotator,task,question_id,model_a,model_b,winner\n"
                    + "".join(",".join(row) + "\n" for row in LABELS), encoding="utf-8")
    assert main(["human", "import", str(path), "--run", str(run)]) == 0
    return run


def _calibrated(run: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["agreement", "--run", str(run), "--format", "json"]) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)["calibrated"]
    return rows


def _oracle(run: Path, a: str, b: str) -> dict[str, Any]:
    """The formula, from battles.jsonl and LABELS alone, with ``a`` as the pair's model_a."""
    f: dict[tuple[str, str], float] = {}
    for row in files.read_jsonl(run / rundir.BATTLES, lambda r: r):
        if {row["model_a"], row["model_b"]} == {a, b}:
            s = SCORE[row["winner"]]
            f[(row["task"], row["question_id"])] = s if row["model_a"] == a else 1 - s
    votes: dict[tuple[str, str], list[str]] = {}
    for _, task, qid, x, y, winner in LABELS:
        if {x, y} == {a, b}:
            votes.setdefault((task, qid), []).append(winner if x == a else FLIP[winner])
    ys = {}
    for key, given in votes.items():
        top = Counter(given).most_common()
        ys[key] = 0.5 if len(top) > 1 and top[0][1] == top[1][1] else SCORE[top[0][0]]
    fs = np.array(list(f.values()))
    fl, yl = np.array([f[k] for k in ys]), np.array(list(ys.values()))
    estimate = fs.mean() + (yl - fl).mean()
    half = (1.96 * math.sqrt(fs.var(ddof=1) / len(fs) + (yl - fl).var(ddof=1) / len(yl))
            if len(yl) >= 2 else None)
    return {"n_judged": len(fs), "n_labelled": len(yl), "judge_win_rate": fs.mean(), "win_rate": estimate,
            "lower": None if half is None else estimate - half, "upper": None if half is None else estimate + half}


def test_agreement_json_equals_the_formula(labelled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _calibrated(labelled, capsys)
    order = [r["model"] for r in rundir.read_leaderboard(labelled)]
    assert {frozenset((r["model_a"], r["model_b"])) for r in rows} == {frozenset(("base", "chatgpt")),
                                                                       frozenset(("base", "ft_v2&co"))}
    for row in rows:
        assert order.index(row["model_a"]) < order.index(row["model_b"])  # read as the leaderboard reads
        want = _oracle(labelled, row["model_a"], row["model_b"])
        for key, value in want.items():
            if value is None or isinstance(value, int):
                assert row[key] == value, key
            else:
                assert row[key] == pytest.approx(value, abs=1e-9), key
    full = next(r for r in rows if "chatgpt" in (r["model_a"], r["model_b"]))
    assert (full["n_judged"], full["n_labelled"]) == (6, 5)
    one = next(r for r in rows if "ft_v2&co" in (r["model_a"], r["model_b"]))
    assert one["n_labelled"] == 1 and one["lower"] is None and one["more_labels_to_halve"] is None


def test_every_report_format_shows_the_table(labelled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _calibrated(labelled, capsys)
    assert main(["report", str(labelled)]) == 0
    report = labelled / "report"
    doc = json.loads((report / "report.json").read_text(encoding="utf-8"))
    assert doc["agreement"]["calibrated"] == rows  # full precision, the command's figures
    table = next(t for t in doc["tables"] if t["key"] == "calibrated")
    assert len(table["rows"]) == len(rows)
    for cells, row in zip(table["rows"], rows):
        assert cells[:4] == [row["model_a"], row["model_b"], str(row["n_judged"]), str(row["n_labelled"])]
        assert float(cells[4]) == pytest.approx(100 * row["judge_win_rate"], abs=0.006)
        assert float(cells[5].split()[0]) == pytest.approx(100 * row["win_rate"], abs=0.006)
    assert "no interval yet" in table["rows"][[r["n_labelled"] for r in rows].index(1)][6]
    assert "--order disagreement" in table["caption"] and "Angelopoulos" in table["caption"]
    for name in ("report.md", "report.html"):
        text = (report / name).read_text(encoding="utf-8")
        assert "Human-calibrated win rates" in text and "Calibrated win rate" in text, name
    assert r"\section{Human-calibrated win rates}" in (report / "latex" / "report.tex").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["agreement", "--run", str(labelled)]) == 0
    assert "Human-calibrated win rates" in capsys.readouterr().out
    assert main(["agreement", "--run", str(labelled), "--format", "csv"]) == 0
    assert list(csv.reader(capsys.readouterr().out.splitlines()))[0][0] == "kind"  # unchanged


def _half(judge_var: float, n_judged: int, residual_var: float, n: int) -> float:
    return 1.96 * math.sqrt(judge_var / n_judged + residual_var / n)


def test_labels_to_halve_is_the_smallest_count_that_does() -> None:
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(300):
        big = int(rng.integers(20, 400))
        small = int(rng.integers(2, big))
        f = rng.choice([0.0, 0.5, 1.0], size=big, p=rng.dirichlet([1, 1, 1]))
        y = rng.choice([0.0, 0.5, 1.0], size=small)
        e = ppi_mean(judged=f.tolist(), labelled_judge=f[:small].tolist(), labelled_human=y.tolist())
        more = labels_to_halve(e)
        assert e.judge_variance is not None and e.residual_variance is not None and e.half_width is not None
        goal = e.half_width / 2
        if more is None:  # the judge's term alone is at least half the half-width
            assert 1.96 * math.sqrt(e.judge_variance / big) >= goal - 1e-12 or e.residual_variance == 0
            continue
        checked += 1
        assert _half(e.judge_variance, big, e.residual_variance, small + more) <= goal + 1e-12
        if more:
            assert _half(e.judge_variance, big, e.residual_variance, small + more - 1) > goal
    assert checked > 50
    # No interval below two labels, so nothing to halve.
    one = ppi_mean(judged=[1, 0, 1], labelled_judge=[1], labelled_human=[0])
    assert isinstance(one, PPIEstimate) and one.lower is None and labels_to_halve(one) is None


def test_the_interval_covers_the_truth_at_the_nominal_rate() -> None:
    """2,000 simulated runs: 600 judged comparisons, 60 of them labelled at random. Each comparison's
    true outcome for model_a is a loss, tie or win; a person reports it 70% of the time and otherwise
    a random outcome (so the people's win rate, the target, is 0.7 * true + 0.15); the judge reports
    it 60% of the time and otherwise says model_a won (biased)."""
    rng = np.random.default_rng(2023)
    values, probs = np.array([0.0, 0.5, 1.0]), np.array([0.40, 0.15, 0.45])
    truth = 0.7 * float(probs @ values) + 0.3 * 0.5
    big, small, runs = 600, 60, 2000
    covered = judge_covered = 0
    for _ in range(runs):
        s = values[rng.choice(3, size=big, p=probs)]
        y = np.where(rng.random(big) < 0.7, s, values[rng.integers(0, 3, big)])
        f = np.where(rng.random(big) < 0.6, s, 1.0)
        picked = rng.choice(big, size=small, replace=False)
        e = ppi_mean(judged=f.tolist(), labelled_judge=f[picked].tolist(), labelled_human=y[picked].tolist())
        assert e.lower is not None and e.upper is not None
        covered += e.lower <= truth <= e.upper
        judge_half = 1.96 * f.std(ddof=1) / math.sqrt(big)
        judge_covered += abs(f.mean() - truth) <= judge_half
    assert 0.93 <= covered / runs <= 0.97
    assert judge_covered / runs < 0.05  # the judge alone is confidently wrong
