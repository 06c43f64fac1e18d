"""Probability-weighted verdicts (issue 19): a scripted judge over HTTP whose log-probabilities are
known, so each verdict's probabilities, each battle's and the soft Bradley-Terry fit can be checked
against values computed here, apart from the harness."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.optimize import minimize
from scripted_server import Scored, ScriptedServer
from test_multiturn_generation import _tasks_dir
from test_multiturn_judging import MIXED_YAML

from harness.app.cli import main
from harness.app.config import RunConfig
from harness.app.pipeline import run
from harness.core.types import DecodingParams, ModelConfig
from harness.judges.asking import TOP_LOGPROBS, JudgeSettings, load_judge, resolve_method
from harness.judges.pairwise import soft_for
from harness.judges.prompts import load_prompt
from harness.judges.verdict import soft_verdict
from harness.stats.bradley_terry import C_PENALTY

MODELS = ("alpha", "beta", "gamma")
# P("1"), P("2"), P("0") at the verdict position for (first model, second model). beta against
# alpha leans on the first slot, so its text verdict flips with the order while its probabilities
# still favour alpha: the hard and the soft reading of that pair disagree.
PROBS = {("alpha", "beta"): (0.70, 0.20, 0.10), ("beta", "alpha"): (0.55, 0.30, 0.15),
         ("alpha", "gamma"): (0.80, 0.05, 0.15), ("gamma", "alpha"): (0.10, 0.75, 0.15),
         ("beta", "gamma"): (0.50, 0.30, 0.20), ("gamma", "beta"): (0.25, 0.50, 0.25)}


def slots(text: str) -> tuple[str, str]:
    """Which models' answers the verdict_token_en prompt shows first and second."""
    def who(slot: int) -> str:
        shown = text.split(f"[Assistant {slot}]\n", 1)[1].split(f"\n[End of Assistant {slot}]", 1)[0]
        return shown.split(" says:", 1)[0]
    return who(1), who(2)


def alternatives(first: str, second: str) -> list[tuple[str, float]]:
    """The likeliest tokens at the verdict position: each label split over spellings that read the
    same ("1", " 1"; "0", "**0"), and words that are not labels ("The", "10")."""
    p1, p2, p0 = PROBS[(first, second)]
    alts = [("1", 0.6 * p1), (" 1", 0.3 * p1), ("2", 0.9 * p2), ("0", 0.5 * p0), ("**0", 0.4 * p0),
            ("The", 0.03), ("10", 0.02)]
    return sorted(((t, math.log(p)) for t, p in alts), key=lambda a: -a[1])


def reply(body: dict[str, Any]) -> str | Scored:
    if body["model"] in MODELS:
        return f"{body['model']} says: {body['messages'][-1]['content'][:40]}"
    first, second = slots(body["messages"][-1]["content"])
    alts = alternatives(first, second)
    label = max(("1", "2", "0"), key=lambda t: dict(alts)[t])
    # A space first: the verdict is read at the first position with a letter or digit.
    return Scored(label, [(" ", [(" ", -0.01), ("\n", -4.6)]), (label, alts)])


def expected_slot(first: str, second: str) -> tuple[float, float, float]:
    """(P(first better), P(equal), P(first worse)), renormalised over the label tokens by hand."""
    p = {t: math.exp(lp) for t, lp in alternatives(first, second)}
    better, worse, equal = p["1"] + p[" 1"], p["2"], p["0"] + p["**0"]
    total = better + worse + equal
    return better / total, equal / total, worse / total


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def soft_bt(battles: list[dict[str, Any]], models: tuple[str, ...]) -> dict[str, float]:
    """Bradley-Terry on expected wins, computed apart from harness.stats: scipy's BFGS on the
    documented objective, the duplicated design's log-likelihood (a battle counted twice, a tie as
    half a win and half a loss, each weighted by its probability), maximised as it is (with
    FastChat's vanishing penalty): every model has some share of a win against every other here, so
    the maximum-likelihood estimate exists and no prior is added. On the Elo scale."""
    ridge = 1.0 / (C_PENALTY * math.log(10) ** 2)
    index = {m: k for k, m in enumerate(models)}

    def loss(beta: np.ndarray) -> float:
        total = 0.0
        for b in battles:
            i, j = index[b["model_a"]], index[b["model_b"]]
            p_a, p_tie, p_b = b["soft"]
            d = beta[i] - beta[j]
            total += (2 * p_a + p_tie) * -np.logaddexp(0, -d) + (2 * p_b + p_tie) * -np.logaddexp(0, d)
        return -total + ridge / 2 * float(beta @ beta)

    beta = minimize(loss, np.zeros(len(models)), method="BFGS", options={"gtol": 1e-10}).x
    return {m: 400 * beta[k] / math.log(10) + 1000 for m, k in index.items()}


@pytest.fixture
def judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, ScriptedServer]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out = tmp_path / "run"
    with ScriptedServer(reply) as server:
        assert main(["run", "--tasks", "en_law", "--limit", "4", "--out", str(out), "--no-progress",
                     "--models", *(f"{m}=openai:{m}@{server.url}" for m in MODELS),
                     "--judge", f"openai:judge@{server.url}", "--prompt", "verdict_token_en",
                     "--judge-method", "logprobs", "--report", "md,html,latex"]) == 0
    return out, server


def test_each_verdict_carries_the_probabilities_of_its_labels(judged: tuple[Path, ScriptedServer]) -> None:
    out, server = judged
    asked = [r for r in server.requests if r["model"] == "judge"]
    assert asked and all(r["logprobs"] is True and r["top_logprobs"] == TOP_LOGPROBS for r in asked)
    assert not any("logprobs" in r for r in server.requests if r["model"] in MODELS)
    judgments = rows(out / "judgments.jsonl")
    assert len(judgments) == 4 * 3 * 2
    for j in judgments:
        first, second = (j["model_a"], j["model_b"]) if j["order"] == "ab" else (j["model_b"], j["model_a"])
        better, equal, worse = expected_slot(first, second)
        want = (better, equal, worse) if j["order"] == "ab" else (worse, equal, better)
        assert j["method"] == "logprobs"
        assert j["soft"] == pytest.approx(want, abs=1e-9)
        # The hard verdict is still the text's.
        text_winner = {"1": "better", "2": "worse", "0": "equal"}[j["raw"]]
        assert j["label"] == text_winner


def test_battles_average_both_orders_and_the_soft_fit_matches_an_independent_one(
        judged: tuple[Path, ScriptedServer], capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = judged
    judgments = {(j["question_id"], j["model_a"], j["model_b"], j["order"]): j["soft"]
                 for j in rows(out / "judgments.jsonl")}
    battles = rows(out / "battles.jsonl")
    assert len(battles) == 4 * 3
    for b in battles:
        ab, ba = (judgments[(b["question_id"], b["model_a"], b["model_b"], o)] for o in ("ab", "ba"))
        assert b["soft"] == pytest.approx([(x + y) / 2 for x, y in zip(ab, ba)], abs=1e-9)
    # beta against alpha: the text flips with the order (a tie), the probabilities lean to alpha.
    pair = next(b for b in battles if {b["model_a"], b["model_b"]} == {"alpha", "beta"})
    assert pair["winner"] == "tie"
    capsys.readouterr()
    assert main(["rate", str(out / "battles.jsonl"), "--soft", "--format", "json", "--bootstrap", "50"]) == 0
    got = {r["model"]: r["rating"] for r in json.loads(capsys.readouterr().out)["ratings"]}
    want = soft_bt(battles, MODELS)
    assert got == pytest.approx(want, abs=0.01)
    hard = {r["model"]: float(r["bt"]) for r in _csv(out / "leaderboard.csv")}
    assert got["alpha"] - got["beta"] > hard["alpha"] - hard["beta"] + 10  # the lean counts


def _csv(path: Path) -> list[dict[str, str]]:
    import csv
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_every_report_shows_both_leaderboards_and_how_often_they_disagree(
        judged: tuple[Path, ScriptedServer]) -> None:
    out, _ = judged
    report = json.loads((out / "report" / "report.json").read_text(encoding="utf-8"))
    soft = next(t for t in report["tables"] if t["key"] == "soft")
    assert [r[0] for r in soft["rows"]][0] == "alpha"
    # Disagreements worked out by hand: every order of beta vs alpha (verdict "1" whoever is
    # first) is one the probabilities call the other way only in the ba order; the battle of that
    # pair is a tie by text and a lean to alpha by probability.
    judgments = rows(out / "judgments.jsonl")
    disagree = sum(max(range(3), key=lambda k: j["soft"][k]) != ["model_a", "tie", "model_b"].index(j["winner"])
                   for j in judgments)
    assert f"in {disagree / len(judgments):.1%} of {len(judgments)} verdicts" in soft["caption"]
    assert "from the battle's winner in 33.3% of 12 battles" in soft["caption"]
    assert "Probability-weighted ratings" in (out / "report" / "report.md").read_text(encoding="utf-8")
    assert 'id="soft"' in (out / "report" / "report.html").read_text(encoding="utf-8")
    tex = out / "report" / "latex"
    assert r"\input{soft}" in (tex / "report.tex").read_text(encoding="utf-8")
    assert "alpha" in (tex / "soft.tex").read_text(encoding="utf-8")


def test_an_endpoint_without_logprobs_is_said_once_and_the_text_verdict_counts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out = tmp_path / "run"

    def plain(body: dict[str, Any]) -> str:
        got = reply(body)
        return got.text if isinstance(got, Scored) else got

    with ScriptedServer(plain) as server:
        assert main(["run", "--tasks", "en_law", "--limit", "3", "--out", str(out), "--no-progress",
                     "--models", *(f"{m}=openai:{m}@{server.url}" for m in MODELS[:2]),
                     "--judge", f"openai:judge@{server.url}", "--prompt", "verdict_token_en",
                     "--judge-method", "logprobs", "--report", "md"]) == 0
    err = capsys.readouterr().err
    assert err.count("have no probabilities") == 1 and "6 of 6 verdicts" in err
    judgments = rows(out / "judgments.jsonl")
    assert all("soft" not in j and j["label"] for j in judgments)
    assert all("soft" not in b for b in rows(out / "battles.jsonl"))
    report = json.loads((out / "report" / "report.json").read_text(encoding="utf-8"))
    assert "soft" not in [t["key"] for t in report["tables"]]
    assert main(["rate", str(out / "battles.jsonl"), "--soft"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "none has them" in err and "--judge-method logprobs" in err


def test_a_backend_without_logprobs_falls_back_to_the_text(capsys: pytest.CaptureFixture[str]) -> None:
    settings = JudgeSettings(spec="embedded", method="logprobs", prompt="verdict_token_en")
    assert resolve_method(settings, load_judge("embedded")) == "generate"
    assert resolve_method(settings, load_judge("embedded")) == "generate"
    err = capsys.readouterr().err
    assert err.count("returns no log-probabilities") == 1


def test_labels_one_token_cannot_tell_apart_are_one_error_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "dashes.yaml").write_text(
        "language: en\nmode: pairwise\nuser: '{{ question }} {{ answer_1 }} {{ answer_2 }}'\n"
        "labels: {'A-1': better, 'a1': worse, 'C': equal}\n", encoding="utf-8")
    code = main(["run", "--tasks", "en_law", "--limit", "1", "--out", str(tmp_path / "run"),
                 "--models", "a=openai:a@http://127.0.0.1:9/v1", "b=openai:b@http://127.0.0.1:9/v1",
                 "--judge", "openai:judge@http://127.0.0.1:9/v1", "--prompts-dir", str(prompts),
                 "--prompt", "dashes", "--judge-method", "logprobs"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert "'A-1' and 'a1' read the same as tokens" in err and "verdict_token_en" in err
    assert not (tmp_path / "run").exists()


def test_rate_soft_refuses_elo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "battles.jsonl"
    path.write_text(json.dumps({"model_a": "x", "model_b": "y", "winner": "tie", "soft": [0.5, 0.25, 0.25]})
                    + "\n", encoding="utf-8")
    assert main(["rate", str(path), "--soft", "--method", "elo"]) == 2
    assert "does not apply to --method elo" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"model_a": "x", "model_b": "y", "winner": "tie", "soft": [0.5, 0.6, 0.25]})
                   + "\n", encoding="utf-8")
    assert main(["rate", str(bad), "--soft"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "soft" in err and "adding up to 1" in err


@pytest.mark.slow
def test_llama_cpp_server_logprobs_become_soft_verdicts(llama_server: str, tmp_path: Path) -> None:
    """llama.cpp's real server returns ``top_logprobs``: each verdict's probabilities are what
    the stored tokens give, and the re-run is served from the cache."""
    spec = f"openai:smollm2@{llama_server}"
    prompt = load_prompt("verdict_token_en")
    config = RunConfig(
        tasks=("en_law",), limit=2, out=tmp_path / "run", progress=False, report=(),
        models=(ModelConfig("local", "embedded", DecodingParams(max_new_tokens=24)),
                ModelConfig("served", spec, DecodingParams(max_new_tokens=24))),
        judges=(JudgeSettings(spec=spec, prompt="verdict_token_en", method="logprobs", max_attempts=2,
                              decoding=DecodingParams(max_new_tokens=8)),))
    run(config)
    judgments = rows(tmp_path / "run" / "judgments.jsonl")
    assert len(judgments) == 4 and {j["method"] for j in judgments} == {"logprobs"}
    with sqlite3.connect(tmp_path / "run" / "cache.sqlite") as db:
        stored = [(json.loads(req), json.loads(resp)) for req, resp in
                  db.execute("SELECT request, response FROM calls WHERE kind = 'judge'")]
    assert stored and all(resp["top"] for _, resp in stored)  # the server sent its logprobs
    # Each verdict's probabilities are those its stored reply's tokens give (a re-asked verdict's
    # come from the reply that had the label).
    from_tokens = [soft_for(slot, req["order"]) for req, resp in stored
                   if (slot := soft_verdict([(t, [tuple(a) for a in alts]) for t, alts in resp["top"]],
                                            prompt.labels)) is not None]
    soft = [j for j in judgments if "soft" in j]
    assert soft, "no verdict got probabilities from the server"
    for j in soft:
        assert sum(j["soft"]) == pytest.approx(1, abs=1e-9) and min(j["soft"]) >= 0
        assert any(j["soft"] == pytest.approx(want, abs=1e-12) for want in from_tokens)
    assert sum(run(config).calls.values()) == 0


def test_multi_turn_questions_get_the_one_token_turns_prompt(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    tasks = _tasks_dir(tmp_path, MIXED_YAML, "mixed")  # two two-turn questions and a single-turn one
    alts = [("1", math.log(0.6)), ("2", math.log(0.3)), ("0", math.log(0.1))]

    def fixed(body: dict[str, Any]) -> str | Scored:
        if body["model"] != "judge":
            return f"{body['model']} answers."
        return Scored("1", [("1", alts)])

    out = tmp_path / "run"
    with ScriptedServer(fixed) as server:
        assert main(["run", "--tasks-dir", str(tasks), "--tasks", "mixed", "--out", str(out), "--no-progress",
                     "--models", *(f"{m}=openai:{m}@{server.url}" for m in MODELS[:2]),
                     "--judge", f"openai:judge@{server.url}", "--prompt", "verdict_token_en",
                     "--judge-method", "logprobs", "--report", "none"]) == 0
    judgments = rows(out / "judgments.jsonl")
    assert {(j.get("turn"), j["prompt"]) for j in judgments} == {
        (None, "verdict_token_en"), (1, "verdict_token_turns_en"), (2, "verdict_token_turns_en")}
    for j in judgments:
        assert j["soft"] == pytest.approx((0.6, 0.1, 0.3) if j["order"] == "ab" else (0.3, 0.1, 0.6), abs=1e-9)
