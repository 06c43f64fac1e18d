"""Degenerate data (issue 15, item 18): when one model won every comparison the ratings and the
length slope have no finite maximum-likelihood estimate; they must come out bounded by the
documented prior, or as "not estimable", never as arbitrary large numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from harness.app.cli import main
from harness.core.types import Answer, Battle, CheckKind, Judgment
from harness.stats.bradley_terry import PRIOR_SD, Separation, bradley_terry, pair_counts, separation
from harness.stats.length import length_checks
from harness.stats.length_control import Rows, lc_win_rates
from harness.stats.ratings import leaderboard

ELO_PER_LOGIT = 400 / math.log(10)


def sweep(n: int, winner: str = "x", loser: str = "y") -> list[Battle]:
    """``winner`` wins all ``n`` battles, from either side."""
    return [Battle(winner, loser, "model_a", "t", str(k)) if k % 2 else
            Battle(loser, winner, "model_b", "t", str(k)) for k in range(n)]


@pytest.mark.parametrize("n", [5, 20, 100])
def test_a_clean_sweep_gives_the_gap_the_prior_allows(n: int) -> None:
    """Two models, x wins all n battles. Before the prior: +2366/-366 (n=5) to +2612/-612
    (n=100), wherever Newton's method stopped. Now the gap d (log-odds) is the posterior mode:
    n * (1 - sigmoid(d)) = d / (2 * PRIOR_SD**2), which gives 460, 649 and 879 Elo points."""
    result = bradley_terry(sweep(n), ["x", "y"], bootstrap=50)
    gap = float(result.ratings[0] - result.ratings[1]) / ELO_PER_LOGIT
    assert n * (1 - 1 / (1 + math.exp(-gap))) == pytest.approx(gap / (2 * PRIOR_SD**2), rel=1e-6)
    assert 400 < gap * ELO_PER_LOGIT < 900
    assert float(result.ratings.mean()) == pytest.approx(1000)
    assert np.all(np.isfinite(result.lower)) and np.all(np.isfinite(result.upper))
    assert np.all(np.abs(np.concatenate([result.lower, result.upper]) - 1000) < 450)
    assert result.separation == Separation(((("x",), ("y",)),))
    assert "x won every battle against y" in result.separation.note()


def test_the_leaderboard_of_a_sweep_is_bounded_too() -> None:
    rows = {r.model: r for r in leaderboard(sweep(40), ["x", "y"], bootstrap=20, elo_rounds=5)}
    assert 1000 < rows["x"].bt < 1500 and 500 < rows["y"].bt < 1000
    assert rows["x"].bt_upper < 1500 and rows["y"].bt_lower > 500


def test_a_group_that_sweeps_the_rest_is_named_and_the_rest_stays_estimated() -> None:
    mixed = [Battle("y", "z", w, "t", f"m{k}") for k, w in enumerate(["model_a"] * 6 + ["model_b"] * 4)]  # type: ignore[arg-type]
    battles = sweep(10, "x", "y") + sweep(10, "x", "z") + mixed
    result = bradley_terry(battles, ["x", "y", "z"], bootstrap=0)
    assert result.separation.swept == ((("x",), ("y", "z")),)
    assert float(result.ratings[0]) - max(result.ratings[1:]) < 900
    # y over z (6 wins of 10) is estimable: near its unpenalised value, ln 1.5 = 70 points.
    assert float(result.ratings[1] - result.ratings[2]) == pytest.approx(math.log(1.5) * ELO_PER_LOGIT, abs=15)


def test_models_no_battle_links_are_named() -> None:
    battles = [Battle("a", "b", w, "t", f"1{w}") for w in ("model_a", "model_b")]
    battles += [Battle("c", "d", w, "t", f"2{w}") for w in ("model_a", "model_b")]
    found = separation(pair_counts(battles))
    assert found.apart == (("a", "b"), ("c", "d")) and not found.swept
    assert "no battle links {a, b} with {c, d}" in found.note()


def test_ordinary_data_are_not_flagged_and_barely_moved() -> None:
    rng = np.random.default_rng(5)
    strength = {"p": 0.8, "q": 0.0, "r": -0.5}
    names = list(strength)
    battles = []
    for k in range(1500):
        a, b = rng.choice(3, 2, replace=False)
        p = 1 / (1 + math.exp(strength[names[b]] - strength[names[a]]))
        winner = "tie" if rng.random() < 0.2 else ("model_a" if rng.random() < p else "model_b")
        battles.append(Battle(names[a], names[b], winner, "t", str(k)))  # type: ignore[arg-type]
    with_prior = bradley_terry(battles, names, bootstrap=0)
    without = bradley_terry(battles, names, bootstrap=0, prior_sd=math.inf)
    assert not with_prior.separation and with_prior.separation.note() == ""
    assert np.max(np.abs(with_prior.ratings - without.ratings)) < 0.5
    # A tie is enough to bound a gap: x's 9 wins and 1 tie against y are estimable.
    tied = sweep(9) + [Battle("x", "y", "tie", "t", "tie")]
    assert not bradley_terry(tied, ["x", "y"], bootstrap=0).separation


def _one_sided_rows(n: int) -> Rows:
    d = np.random.default_rng(0).integers(-300, 300, n).astype(float)
    return Rows(("x",) * n, ("y",) * n, d, np.ones(n), np.arange(n))


def test_the_length_slope_of_one_sided_verdicts_is_not_estimable() -> None:
    """Before: a slope of -0.02 with a 95% interval of -279.77 to +279.74 (a Wald interval
    around a point the data do not pin down)."""
    answers, judgments = [], []
    d = _one_sided_rows(40).d
    for k, diff in enumerate(d):
        answers += [Answer("x", "t", str(k), "a" * int(400 + diff)), Answer("y", "t", str(k), "a" * 400)]
        judgments.append(Judgment("t", str(k), "x", "y", "ab", "model_a", "", "J", "generate", "p", "h", ""))
    checks = {c.kind: c for c in length_checks(judgments, answers, resamples=20)
              if c.kind is not CheckKind.LC_WIN_RATE}
    slope = checks[CheckKind.LENGTH_SLOPE]
    assert math.isnan(slope.value) and math.isnan(slope.lower) and math.isnan(slope.upper)
    assert slope.note.startswith("not estimable: every verdict went to its pair's model_a")
    assert slope.n == 40


def test_the_lc_win_rate_of_one_sided_verdicts_does_not_show_a_length_weight() -> None:
    rates = lc_win_rates("J", _one_sided_rows(30), resamples=10, seed=0)
    assert [round(r.value, 3) for r in rates] == [1.0, 0.0]
    assert all("phi =" not in r.note and "length weight not estimable" in r.note for r in rates)


def test_harness_rate_says_when_the_ratings_are_the_priors(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "battles.jsonl"
    path.write_text("".join(json.dumps({"model_a": b.model_a, "model_b": b.model_b, "winner": b.winner,
                                        "question_id": b.question_id}) + "\n" for b in sweep(12)),
                    encoding="utf-8")
    assert main(["rate", str(path), "--bootstrap", "20", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    ratings = {r["model"]: r["rating"] for r in json.loads(out)["ratings"]}
    assert 1200 < ratings["x"] < 1400 and 600 < ratings["y"] < 800
    assert "not estimable" in err and "x won every battle against y" in err


def test_the_report_warns_when_the_leaderboard_is_the_priors(tmp_path: Path) -> None:
    from harness.analysis.figures import load_figures
    from harness.core import rundir
    from harness.core.types import Question, Task
    from harness.reports import markdown

    run = tmp_path / "run"
    run.mkdir()
    questions = tuple(Question(f"q{k}", "Why?", "c", "Because.", "") for k in range(6))
    rundir.write_questions(run, [Task("en_x", "en", "law", "", questions)])
    rundir.write_answers(run, [a for k in range(6) for a in (Answer("x", "en_x", f"q{k}", "long " * (k + 2)),
                                                            Answer("y", "en_x", f"q{k}", "short"))])
    rundir.write_judgments(run, [Judgment("en_x", f"q{k}", "x", "y", o, "model_a", "", "j", "generate", "p", "h", "")
                                 for k in range(6) for o in ("ab", "ba")])
    battles = [Battle("x", "y", "model_a", "en_x", f"q{k}", "j") for k in range(6)]
    rundir.write_battles(run, battles)
    rundir.write_leaderboard(run, leaderboard(battles, ["x", "y"], bootstrap=20, elo_rounds=5))
    summary = markdown.render_summary(load_figures(run))
    assert "> **Warning:** Bradley-Terry ratings not estimable from the battles alone: x won every battle" in summary
    assert summary.count("> **Warning:**") == 1
    assert "| j | length: slope per 100 chars | n/a | n/a | 12 | not estimable: every verdict" in summary
