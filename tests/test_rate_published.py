"""``harness rate`` on a published battle file as it is: rows where a model meets itself are skipped
and counted in a note, and the rest is rated exactly as the same file without them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.app.cli import main

# An Arena-Hard-style battle file written for this test: per game battles against a baseline, with
# rows where the baseline met itself (Arena-Hard's published files have such rows).
ROWS = [{"question_id": f"q{i}", "model_a": "base", "model_b": m, "winner": w}
        for i, (m, w) in enumerate([("m1", "model_b"), ("m1", "model_b"), ("m1", "tie"), ("m1", "model_a"),
                                    ("m2", "model_a"), ("m2", "model_a"), ("m2", "tie"), ("m2", "model_b")])]
SELF = [{"question_id": "q8", "model_a": "base", "model_b": "base", "winner": "tie"},
        {"question_id": "q9", "model_a": "m1", "model_b": "m1", "winner": "model_a"}]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_self_battles_are_skipped_with_a_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    published = _write(tmp_path / "arena_hard_battles.jsonl", ROWS[:3] + SELF + ROWS[3:])
    clean = _write(tmp_path / "clean.jsonl", ROWS)
    argv = ["--format", "json", "--bootstrap", "50", "--seed", "1"]
    assert main(["rate", str(published), *argv]) == 0
    got = capsys.readouterr()
    assert got.err.strip() == f"note: skipped 2 rows where model_a == model_b ({published})"
    assert main(["rate", str(clean), *argv]) == 0
    want = capsys.readouterr()
    assert got.out == want.out and want.err == ""
    pairs = {(p["model"], p["opponent"]): (p["wins"], p["ties"], p["losses"]) for p in json.loads(got.out)["pairs"]}
    assert pairs[("m1", "base")] == (2, 1, 1) and pairs[("m2", "base")] == (1, 1, 2)


def test_only_self_battles_is_no_battles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "b.jsonl", SELF)
    assert main(["rate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "note: skipped 2 rows" in err and f"harness: error: {path}: no battles" in err


def test_a_run_file_still_refuses_a_self_battle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.core import rundir
    from harness.core.errors import HarnessError
    run = tmp_path / "run"
    run.mkdir()
    _write(run / rundir.BATTLES, SELF[:1])
    with pytest.raises(HarnessError, match="cannot battle itself"):
        rundir.read_battles(run)


def test_prior_sd_chooses_the_fit_and_bad_values_are_one_line(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """By default the published maximum-likelihood fit (no prior where it exists); ``--prior-sd X``
    adds harness's prior everywhere, ``inf`` never."""
    path = _write(tmp_path / "b.jsonl", ROWS)

    def ratings(*more: str) -> dict[str, float]:
        assert main(["rate", str(path), "--format", "json", "--bootstrap", "0", *more]) == 0
        return {r["model"]: r["rating"] for r in json.loads(capsys.readouterr().out)["ratings"]}

    default, never, weak = ratings(), ratings("--prior-sd", "inf"), ratings("--prior-sd", "2")
    assert default == never and weak != default
    assert abs(weak["m1"] - weak["m2"]) < abs(default["m1"] - default["m2"])
    for bad, said in (("0", "--prior-sd: expected auto, inf or a positive number"),
                      ("abc", "--prior-sd: expected auto, inf or a positive number"),
                      ("-1", "--prior-sd: expected auto, inf or a positive number")):
        assert main(["rate", str(path), "--prior-sd", bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"harness: error: {said}"), err
    assert main(["rate", str(path), "--method", "elo", "--prior-sd", "2"]) == 2
    assert "does not apply to --method elo" in capsys.readouterr().err


def test_prior_sd_round_trips_through_a_run_config() -> None:
    import math

    from harness.app.config import RunConfig, parse_config

    assert "prior_sd" not in RunConfig().to_row()  # config.yaml as before unless chosen
    for value in (math.inf, 1.5):
        row = RunConfig(prior_sd=value).to_row()
        assert parse_config(row, "written.yaml").prior_sd == value
    assert parse_config({"prior_sd": "auto"}, "x.yaml").prior_sd is None


def test_scores_against_a_baseline_are_arena_hards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--baseline`` reproduces Arena-Hard's show_result.py, rebuilt here: the maximum-likelihood
    fit (an independent logistic regression on the duplicated design), each model's predicted win
    rate against the baseline in percent, rounded to two decimals; the bounds converted from the
    rating bounds with the baseline pinned at 1000; the baseline itself 50."""
    import math

    import numpy as np
    from stats.test_bradley_terry import reference_ratings

    from harness.core.types import Battle

    rng = np.random.default_rng(11)
    strength = {"base": 0.0, "m1": 0.8, "m2": -0.4, "m3": 0.3}
    rows = []
    for i in range(600):
        m = ("m1", "m2", "m3")[i % 3]
        p = 1 / (1 + math.exp(strength["base"] - strength[m]))
        u = rng.random()
        winner = "tie" if u < 0.15 else "model_b" if rng.random() < p else "model_a"
        rows.append({"question_id": f"q{i // 3}", "model_a": "base", "model_b": m, "winner": winner})
    path = _write(tmp_path / "arena.jsonl", rows)
    assert main(["rate", str(path), "--baseline", "base", "--format", "json", "--bootstrap", "200"]) == 0
    got = {r["model"]: r for r in json.loads(capsys.readouterr().out)["ratings"]}
    models = ["base", "m1", "m2", "m3"]
    ref = reference_ratings([Battle.from_row(r) for r in rows], models)
    ref = dict(zip(models, ref - ref[0] + 1000))  # anchored at the baseline, as Arena-Hard does
    for m in models:
        want = 50.0 if m == "base" else round(100 / (1 + 10 ** ((ref["base"] - ref[m]) / 400)), 2)
        assert got[m]["score"] == pytest.approx(want, abs=0.011), m
        assert got[m]["rating"] == pytest.approx(ref[m], abs=0.011)
        # the interval is the rating bounds' conversion, the baseline held at 1000 in every round
        for bound in ("lower", "upper"):
            conv = 50.0 if m == "base" else 100 / (1 + 10 ** ((1000 - got[m][bound]) / 400))
            assert got[m][f"score_{bound}"] == pytest.approx(conv, abs=0.011)
        assert got[m]["score_lower"] <= got[m]["score"] <= got[m]["score_upper"]
    assert got["base"]["lower"] == got["base"]["upper"] == 1000.0
    # The table and the CSV carry the same figures.
    assert main(["rate", str(path), "--baseline", "base", "--format", "csv", "--bootstrap", "200"]) == 0
    header, *lines = capsys.readouterr().out.strip().splitlines()
    assert header == ("rank,model,rating,lower,upper,score,score_lower,score_upper,win_rate,standard_error,"
                      "discrete_win_rate,n_wins,n_wins_base,n_draws,n_total,length_controlled_win_rate,"
                      "lc_standard_error")
    assert main(["rate", str(path), "--baseline", "nobody"]) == 2
    assert "--baseline 'nobody': that model has no battles" in capsys.readouterr().err
    assert main(["rate", str(path), "--baseline", "base", "--anchor", "m1=1200"]) == 2
    assert "give --anchor or --baseline, not both" in capsys.readouterr().err
