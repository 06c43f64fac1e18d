"""``harness compare-judges`` (issue 19): two judges of one run, judged over HTTP by scripted judges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_endpoints import ChatServer  # the recording OpenAI-compatible server

from harness.app.cli import main

MODELS = ("alpha", "beta", "gamma")
STRENGTH = {"alpha": 3, "beta": 2, "gamma": 1}


def reply(body: dict[str, Any]) -> str:
    """Candidates say who they are; judge ``same`` prefers the stronger model, ``other`` too except
    that it reverses alpha against beta."""
    if body["model"] in MODELS:
        return f"{body['model']} says: {body['messages'][-1]['content']}"
    text = body["messages"][-1]["content"]
    first = next(m for m in MODELS if f"Assistant 1: {m} says" in text)
    second = next(m for m in MODELS if f"Assistant 2: {m} says" in text)
    wins = STRENGTH[first] > STRENGTH[second]
    if body["model"] == "other" and {first, second} == {"alpha", "beta"}:
        wins = not wins
    return f"Fine.\nAssistant 1 is {'better' if wins else 'worse'} than Assistant 2"


@pytest.fixture
def judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out = tmp_path / "run"
    with ChatServer(reply=reply) as server:
        assert main(["run", "--tasks", "en_law", "--limit", "5", "--out", str(out), "--no-progress",
                     "--report", "none", "--models", *(f"{m}=openai:{m}@{server.url}" for m in MODELS),
                     "--judge", f"openai:same@{server.url}", f"openai:twin@{server.url}",
                     f"openai:other@{server.url}"]) == 0
    capsys.readouterr()
    return out, server.url


def _compare(run: Path, url: str, old: str, new: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["compare-judges", str(run), "--judge", f"openai:{old}@{url}", "--judge", f"openai:{new}@{url}",
                 "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_identical_judges_agree_fully_with_tau_one(judged: tuple[Path, str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run, url = judged
    doc = _compare(run, url, "same", "twin", capsys)
    assert (doc["n"], doc["agree"], doc["kappa"], doc["kendall_tau"]) == (15, 15, 1.0, 1.0)
    assert all(m["shift"] == 0 and m["old_rank"] == m["new_rank"] for m in doc["models"])
    assert [m["model"] for m in doc["models"]] == ["alpha", "beta", "gamma"]


def test_a_judge_that_reverses_one_pair_shows_in_agreement_tau_and_shifts(
        judged: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    run, url = judged
    doc = _compare(run, url, "same", "other", capsys)
    # 5 questions x 3 pairs; the alpha-beta pair (5 comparisons) is reversed.
    assert (doc["n"], doc["agree"]) == (15, 10)
    assert doc["lower"] < 10 / 15 < doc["upper"]
    # Old order alpha > beta > gamma; new beta > alpha > gamma: one discordant pair of three.
    assert doc["kendall_tau"] == pytest.approx(1 / 3)
    shifts = {m["model"]: m["shift"] for m in doc["models"]}
    assert shifts["alpha"] < 0 < shifts["beta"]
    assert main(["compare-judges", str(run), "--judge", f"openai:same@{url}", "--judge",
                 f"openai:other@{url}"]) == 0
    text = capsys.readouterr().out
    assert "same winner: 10 of 15 = 66.7%" in text and "Kendall's tau 0.33" in text


@pytest.mark.parametrize(("judges", "message"), [
    (["--judge", "x"], "give --judge exactly twice, two different judges"),
    (["--judge", "openai:nobody@http://127.0.0.1:9/v1", "--judge", "y"],
     "--judge 'openai:nobody@http://127.0.0.1:9/v1': no verdicts from it in"),
])
def test_mistakes_are_one_line(judged: tuple[Path, str], capsys: pytest.CaptureFixture[str],
                               judges: list[str], message: str) -> None:
    run, _ = judged
    assert main(["compare-judges", str(run), *judges]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("harness: error:") and message in err and "\n" not in err


@pytest.mark.parametrize(("config", "message"), [
    ("seed: -5", "field 'seed': -5 is out of range; seed must be in [0, 4294967295]"),
    ("seed: true", "field 'seed' must be a whole number, got True"),
])
def test_a_hand_edited_config_seed_is_one_line(judged: tuple[Path, str], capsys: pytest.CaptureFixture[str],
                                               config: str, message: str) -> None:
    """The comparison's bootstrap takes the run's seed: checked as `--seed` is, not passed to numpy
    (a traceback) nor quietly replaced by 0."""
    run, url = judged
    path = run / "config.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.startswith("seed:"))
    lines[line - 1] = config
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["compare-judges", str(run), "--judge", f"openai:same@{url}", "--judge", f"openai:other@{url}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"harness: error: {path}:{line}: {message}"
