"""Issue 17: the report's human leaderboard, Bradley-Terry on the people's labels, in every format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from judged_run import make_run

from harness.app.cli import main
from harness.core import rundir
from harness.core.types import Battle
from harness.stats.bradley_terry import bradley_terry

LABELS = [  # (annotator, task, question, model_a, model_b, winner)
    ("ann", "en_law", "q01", "base", "chatgpt", "model_b"),
    ("ann", "en_law", "q02", "base", "chatgpt", "model_b"),
    ("ann", "en_law", "q03", "chatgpt", "ft_v2&co", "tie"),
    ("bob", "en_law", "q01", "base", "chatgpt", "model_b"),
    ("bob", "en_medical", "q01", "ft_v2&co", "base", "model_a"),
    ("bob", "en_medical", "q02", "ft_v2&co", "chatgpt", "model_b"),
]


def test_the_human_leaderboard_is_bt_on_the_labels_in_every_format(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("annotator,task,question_id,model_a,model_b,winner\n"
                      + "".join(",".join(row) + "\n" for row in LABELS), encoding="utf-8")
    assert main(["human", "import", str(labels), "--run", str(run)]) == 0
    assert main(["report", str(run)]) == 0
    # The oracle: each label one battle, rated by the same fit with the run's bootstrap settings.
    battles = [Battle(a, b, w, t, q) for _, t, q, a, b, w in LABELS]  # type: ignore[arg-type]
    models = [r["model"] for r in rundir.read_leaderboard(run)]
    want = bradley_terry(battles, models, bootstrap=1000, seed=0)
    report = run / "report"
    tables = json.loads((report / "report.json").read_text(encoding="utf-8"))["tables"]
    table = next(t for t in tables if t["key"] == "human_leaderboard")
    got = {row[1]: float(row[2]) for row in table["rows"]}
    for k, model in enumerate(want.models):
        assert got[model] == pytest.approx(round(float(want.ratings[k]), 1), abs=0.051)
    assert list(got)[0] == "chatgpt"  # the people's favourite, best first
    assert "Human leaderboard" in (report / "report.md").read_text(encoding="utf-8")
    assert "Human leaderboard" in (report / "report.html").read_text(encoding="utf-8")
    assert r"\section{Human leaderboard}" in (report / "latex" / "report.tex").read_text(encoding="utf-8")
