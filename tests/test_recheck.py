"""``harness recheck`` (issue 19): a seeded sample of a run's judge calls asked again, bypassing
the run's cache; scripted judges over HTTP."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from test_endpoints import ChatServer  # the recording OpenAI-compatible server

from harness.app.cli import main
from harness.core import rundir

MODELS = ("alpha", "beta", "gamma")


class Judge:
    """Prefers the alphabetically first model; once ``drift`` is on, every fifth judge request gets
    the opposite verdict (a judge that now answers differently 20% of the time)."""

    def __init__(self) -> None:
        self.drift = False
        self.asked = 0
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> str:
        if body["model"] in MODELS:
            return f"{body['model']} says: {body['messages'][-1]['content']}"
        text = body["messages"][-1]["content"]
        first = text.split("Assistant 1: ", 1)[1][:5]
        second = text.split("Assistant 2: ", 1)[1][:5]
        better = first < second
        with self.lock:
            self.asked += 1
            if self.drift and self.asked % 5 == 0:
                better = not better
        return f"Hm.\nAssistant 1 is {'better' if better else 'worse'} than Assistant 2"


@pytest.fixture
def judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str]) -> tuple[Path, ChatServer, Judge]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out, judge = tmp_path / "run", Judge()
    server = ChatServer(reply=judge).__enter__()
    assert main(["run", "--tasks", "en_law", "--limit", "10", "--out", str(out), "--no-progress",
                 "--report", "none", "--models", *(f"{m}=openai:{m}@{server.url}" for m in MODELS),
                 "--judge", f"openai:judge@{server.url}"]) == 0
    capsys.readouterr()
    yield out, server, judge
    server.__exit__(None, None, None)


def _recheck(run: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    assert main(["recheck", str(run), "--format", "json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_judge_answering_differently_a_fifth_of_the_time_flips_about_a_fifth(
        judged: tuple[Path, ChatServer, Judge], capsys: pytest.CaptureFixture[str]) -> None:
    run, server, judge = judged
    stored = (run / rundir.JUDGMENTS).read_bytes()
    judge.drift, before = True, len(server.requests)
    doc = _recheck(run, capsys, "--sample", "1")
    # Every one of the 60 judgments (10 questions x 3 pairs x 2 orders) asked again, none from the cache.
    assert doc["n"] == 60 and doc["calls"] == 60 and len(server.requests) - before == 60
    assert doc["flips"] == 12 and doc["flip_rate"] == pytest.approx(0.2)
    assert doc["lower"] < 0.2 < doc["upper"]
    assert (run / rundir.JUDGMENTS).read_bytes() == stored  # the stored verdicts are never replaced
    rows = [json.loads(line) for line in (run / rundir.RECHECK).read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 60 and sum(r["old_winner"] != r["new_winner"] for r in rows) == 12
    # The same seed again repeats no call and gives the same figures.
    again = _recheck(run, capsys, "--sample", "1")
    assert again["calls"] == 0 and again["flips"] == 12 and len(server.requests) - before == 60


def test_a_steady_judge_flips_nothing_and_a_new_seed_draws_a_new_sample(
        judged: tuple[Path, ChatServer, Judge], capsys: pytest.CaptureFixture[str]) -> None:
    run, server, _ = judged
    first = _recheck(run, capsys)  # the default 5%: 3 of 60
    assert (first["n"], first["flips"], first["calls"], first["kappa"]) == (3, 0, 3, 1.0)
    second = _recheck(run, capsys, "--seed", "7")
    assert second["n"] == 3 and second["calls"] == 3
    rows = [json.loads(line) for line in (run / rundir.RECHECK).read_text(encoding="utf-8").splitlines()]
    assert sorted(r["seed"] for r in rows) == [0, 0, 0, 7, 7, 7]


@pytest.mark.parametrize(("extra", "message"), [
    (["--sample", "0"], "--sample"),
    (["--sample", "1.5"], "--sample"),
    (["--judge", "openai:nobody@http://127.0.0.1:9/v1"], "no verdicts from it in"),
])
def test_mistakes_are_one_line(judged: tuple[Path, ChatServer, Judge], capsys: pytest.CaptureFixture[str],
                               extra: list[str], message: str) -> None:
    run, _, _ = judged
    assert main(["recheck", str(run), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("harness: error:") and message in err and "\n" not in err


def test_a_reference_judge_has_nothing_to_recheck(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", "--tasks", "en_law", "--limit", "1", "--models", "a=embedded", "b=embedded",
                 "--out", str(out), "--no-progress", "--report", "none"]) == 0
    capsys.readouterr()
    assert main(["recheck", str(out)]) == 2
    assert capsys.readouterr().err.strip() == ("harness: error: judge 'reference:chrf' calls no model and "
                                               "always gives the same verdict; there is nothing to recheck")
    assert not (out / rundir.RECHECK).exists()
