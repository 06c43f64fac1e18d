"""``harness bias`` on the embedded judge: offline, and its figures reach the run's report."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from harness.app.cli import main
from harness.core import files, rundir

pytestmark = pytest.mark.slow


def test_bias_on_the_embedded_judge_runs_offline_and_reaches_the_report(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["run", "--tasks", "en_law", "zh_law", "--limit", "1", "--out", str(run), "--no-progress",
                 "--models", "greedy=embedded", "hot=embedded", "--temperature", "1.2",
                 "--max-new-tokens", "24", "--judge", "embedded"]) == 0
    report = (run / rundir.LEADERBOARD_MD).read_text(encoding="utf-8")
    assert "## Judge bias checks" in report and "position: swap consistency" in report
    assert "length: LC win rate (greedy)" in report

    assert main(["bias", "--run", str(run), "--judge", "embedded", "--no-progress",
                 "--probes", "rich_content", "fake_references", "repetitive_list"]) == 0
    with (run / rundir.BIAS_CSV).open(encoding="utf-8") as f:
        checks = {r["check"]: r for r in csv.DictReader(f)}
    for probe in ("rich_content", "fake_references", "repetitive_list"):
        row = checks[f"probe: {probe}"]
        # One answer per question (2 questions), each judged in both orders; likelihood judges always
        # give a valid label.
        assert row["judge"] == "embedded" and int(row["n"]) == 4
        assert 0.0 <= float(row["value"]) <= 1.0
    perturbed = files.read_jsonl(run / rundir.PERTURBATIONS, lambda r: r)
    assert {p["language"] for p in perturbed} == {"en", "zh"} and len(perturbed) == 6

    # Re-rating the run (all cached) puts the probe figures into the report.
    assert main(["judge", str(run), "--no-progress", "--judge", "embedded"]) == 0
    report = (run / rundir.LEADERBOARD_MD).read_text(encoding="utf-8")
    for probe in ("rich_content", "fake_references", "repetitive_list"):
        assert f"probe: {probe}" in report
