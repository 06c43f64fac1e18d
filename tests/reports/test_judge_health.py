"""The judge health verdict (issue 19): one line per judge at the top of every report, from the
run's figures against stated thresholds; ``--require-healthy-judge`` turns "do not use" into a
non-zero exit after everything is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_endpoints import ChatServer  # the recording OpenAI-compatible server

from harness.app.cli import main
from harness.app.output import UNHEALTHY
from harness.core import rundir
from harness.core.types import BiasCheck, CheckKind, HumanLabel, Judgment
from harness.stats.agreement import agreement
from harness.stats.health import THRESHOLDS, Health, judge_health


def _check(kind: CheckKind, value: float, lower: float, upper: float, subject: str = "") -> BiasCheck:
    return BiasCheck("j", kind, value, lower, upper, 40, subject=subject)


@pytest.mark.parametrize(("failures", "checks", "verdict"), [
    ((0, 100), [], Health.USABLE),
    ((3, 100), [], Health.CARE),                      # 3% of replies unreadable
    ((11, 100), [], Health.AVOID),                    # 11%
    ((0, 100), [_check(CheckKind.SWAP_CONSISTENCY, 0.85, 0.8, 0.9)], Health.USABLE),
    ((0, 100), [_check(CheckKind.SWAP_CONSISTENCY, 0.7, 0.6, 0.8)], Health.CARE),
    ((0, 100), [_check(CheckKind.SWAP_CONSISTENCY, 0.55, 0.45, 0.65)], Health.AVOID),
    ((0, 100), [_check(CheckKind.FIRST_SLOT, 0.66, 0.45, 0.8)], Health.USABLE),   # interval holds 50%
    ((0, 100), [_check(CheckKind.FIRST_SLOT, 0.66, 0.56, 0.75)], Health.CARE),
    ((0, 100), [_check(CheckKind.FIRST_SLOT, 0.25, 0.15, 0.35)], Health.AVOID),
    ((0, 100), [_check(CheckKind.PROBE, 0.3, 0.2, 0.4, "prompt_injection")], Health.CARE),
    ((0, 100), [_check(CheckKind.PROBE, 0.9, 0.8, 0.95, "prompt_injection"),
                _check(CheckKind.SWAP_CONSISTENCY, 0.95, 0.9, 0.98)], Health.AVOID),
    # figures of other kinds and of other judges count for nothing
    ((0, 100), [_check(CheckKind.LONGER_WINS, 0.99, 0.9, 1.0),
                BiasCheck("k", CheckKind.SWAP_CONSISTENCY, 0.1, 0.0, 0.2, 40)], Health.USABLE),
])
def test_each_figure_against_its_thresholds(failures: tuple[int, int], checks: list[BiasCheck],
                                            verdict: Health) -> None:
    (found,) = judge_health(["j"], {"j": failures}, checks)
    assert found.health is verdict
    assert found.line().startswith(f"j: {verdict.value} (")


def test_kappa_with_peoples_majority() -> None:
    def said(q: str, winner: str) -> list[Judgment]:
        return [Judgment("t", q, "a", "b", o, winner, "", "j", "generate", "p", "h", "")  # type: ignore[arg-type]
                for o in ("ab", "ba")]

    # The judge always says a; people say a on half the questions and b on the rest: kappa 0.
    judgments = [j for i in range(8) for j in said(f"q{i}", "model_a")]
    labels = [HumanLabel("t", f"q{i}", "a", "b", "model_a" if i % 2 else "model_b", "ann") for i in range(8)]
    (found,) = judge_health(["j"], {}, [], agreement(labels=labels, judgments=judgments))
    assert found.health is Health.AVOID and "kappa with people 0.00" in found.line()


def always_first(body: dict[str, Any]) -> str:
    if body["model"] != "judge":
        return f"{body['model']} says: {body['messages'][-1]['content']}"
    return "Whatever.\nAssistant 1 is better than Assistant 2"


def by_content(body: dict[str, Any]) -> str:
    if body["model"] != "judge":
        return f"{body['model']} says: {body['messages'][-1]['content']}"
    text = body["messages"][-1]["content"]
    first = text.split("Assistant 1: ", 1)[1].split("Assistant 2: ", 1)[0]
    return f"Hm.\nAssistant 1 is {'better' if 'alpha' in first else 'worse'} than Assistant 2"


@pytest.mark.parametrize(("judge", "verdict", "code"), [(always_first, "do not use", UNHEALTHY),
                                                        (by_content, "usable", 0)])
def test_every_report_opens_with_the_health_line_and_the_flag_sets_the_exit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        judge: Any, verdict: str, code: int) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out = tmp_path / "run"
    with ChatServer(reply=judge) as server:
        args = ["run", "--tasks", "en_law", "--limit", "4", "--out", str(out), "--no-progress",
                "--models", f"a=openai:alpha@{server.url}", f"b=openai:beta@{server.url}",
                "--judge", f"openai:judge@{server.url}"]
        assert main(args) == 0  # without the flag a run succeeds whatever its judge's health
        capsys.readouterr()
        assert main([*args, "--require-healthy-judge"]) == code
    err = capsys.readouterr().err
    line = f"openai:judge@{server.url}: {verdict} ("
    assert (f"harness: judge health: {line}" in err) == (code != 0)
    report = out / rundir.REPORT_DIR
    # Everything is written first, whatever the exit.
    for path in (out / rundir.LEADERBOARD_MD, report / "report.md", report / "report.html",
                 report / "latex" / "report.tex"):
        assert line in path.read_text(encoding="utf-8").replace("\\_", "_"), path
    md = (out / rundir.LEADERBOARD_MD).read_text(encoding="utf-8")
    assert md.index("**Judge health**") < md.index("## Leaderboard") and THRESHOLDS in md
    tex = (report / "latex" / "report.tex").read_text(encoding="utf-8")
    assert tex.index(r"\section*{Judge health}") < tex.index(r"\section{Leaderboard}")
    doc = json.loads((report / "report.json").read_text(encoding="utf-8"))
    assert [h["verdict"] for h in doc["health"]] == [verdict] and doc["health_thresholds"] == THRESHOLDS
    if code:
        assert any(f["text"].startswith("swap consistency 0%") for f in doc["health"][0]["findings"])
