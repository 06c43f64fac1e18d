"""Today's models as judges and candidates (issue 27), over real HTTP with the real openai client.

:class:`ReasoningServer` answers as OpenAI's reasoning models do (400s with OpenAI's error bodies for
``max_tokens``, a ``temperature`` other than 1, ``top_p`` and ``logprobs``; 600 hidden reasoning
tokens before any answer), as Anthropic's and Gemini's OpenAI-compatible endpoints do (their own
error shapes), and as candidates that think aloud (a ``<think>`` block, or ``reasoning_content``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from reasoning_server import REASONING, TRACE, ReasoningServer, anthropic_error, gemini_error, openai_error

from harness.app.cli import main
from harness.core import rundir
from harness.core.errors import BackendError
from harness.core.types import DecodingParams
from harness.models import adapt
from harness.models.backends import load_backend
from harness.models.endpoints import ApiConfig, EndpointSettings, session

JUDGE_BUDGET = 512  # the judge's default max_new_tokens


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def usage(run: Path) -> dict[str, dict[str, str]]:
    with (run / rundir.USAGE_CSV).open(encoding="utf-8", newline="") as f:
        return {row["name"]: row for row in csv.DictReader(f)}


def run_argv(server: ReasoningServer, out: Path, judge: str, *more: str, limit: int = 4) -> list[str]:
    return ["run", "--tasks", "en_law", "--limit", str(limit), "--out", str(out), "--no-progress",
            "--models", f"thinker=openai:thinker@{server.url}", f"rc=openai:rc-thinker@{server.url}",
            "--judge", f"openai:{judge}@{server.url}", *more]


# --- a reasoning judge and thinking candidates, default flags --------------------------------------


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``harness run`` with default flags: candidates that think aloud, judged by a reasoning model
    whose name harness does not know, so every parameter rule is learned from the endpoint."""
    out = tmp_path_factory.mktemp("learned") / "run"
    prices = out.parent / "prices.yaml"
    prices.write_text("lab-reasoner: {input: 2.0, output: 8.0, cached_input: 0.5}\n"
                      "thinker: {input: 0, output: 0}\nrc-thinker: {input: 0, output: 0}\n", encoding="utf-8")
    with ReasoningServer() as server:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(run_argv(server, out, "lab-reasoner", "--prices", str(prices)))
        first = (code, err.getvalue(), len(server.requests))
        with contextlib.redirect_stderr(io.StringIO()):
            again = main(run_argv(server, out, "lab-reasoner", "--prices", str(prices)))
        yield out, server, first, (again, len(server.requests))


def test_a_reasoning_judge_with_default_flags_decides_every_judgment(learned_run: Any) -> None:
    out, server, (code, err, _), _ = learned_run
    assert code == 0, err
    judgments = rows(out / rundir.JUDGMENTS)
    assert len(judgments) == 8 and all(j["winner"] != "error" for j in judgments)
    # The parameters were learned once each, and one reply cut off while reasoning taught the budget:
    # a handful of calls for the model, not one per request.
    assert server.count("lab-reasoner", "refused") == 3
    assert server.count("lab-reasoner", "cut off") == 1
    assert server.count("lab-reasoner", "answered") == 8
    sent = [r for r in server.requests if r["model"] == "lab-reasoner"]
    assert [sorted(r) for r in sent[:4]] == [
        ["max_tokens", "messages", "model", "seed", "temperature", "top_p"],
        ["max_completion_tokens", "messages", "model", "seed", "temperature", "top_p"],
        ["max_completion_tokens", "messages", "model", "seed", "top_p"],
        ["max_completion_tokens", "messages", "model", "seed"]]
    assert sent[3]["max_completion_tokens"] == JUDGE_BUDGET
    assert {r["max_completion_tokens"] for r in sent[4:]} == {JUDGE_BUDGET + 4096}
    # Said once each, in one line.
    for said in ("refuses 'max_tokens'; sending 'max_completion_tokens' instead",
                 "refuses 'temperature'; not sending it: the model decides its own temperature",
                 "refuses 'top_p'", "cut off while reasoning at 512 completion tokens; asking again with 4608"):
        assert err.count(said) == 1, (said, err)


def test_the_judge_never_sees_a_trace_and_answers_keep_them_apart(learned_run: Any) -> None:
    out, server, _, _ = learned_run
    assert server.judge_prompts and not any(TRACE in p for p in server.judge_prompts)
    assert not any("<think>" in p for p in server.judge_prompts)
    answers = rows(out / rundir.ANSWERS)
    assert {a["model"] for a in answers} == {"thinker", "rc"}
    for a in answers:
        assert TRACE not in a["answer"] and "<think>" not in a["answer"] and a["answer"].strip()
        assert len(a["reasoning"]) == 1 and a["reasoning"][0].startswith(TRACE), a
    # The cache keeps the reply as the model wrote it (other tags could split it again, for free).
    with sqlite3.connect(out / rundir.CACHE) as db:
        stored = [json.loads(r) for (r,) in db.execute("SELECT response FROM calls WHERE kind = 'generate'")]
    assert sum(isinstance(r, str) and r.startswith("<think>") for r in stored) == 4
    assert sum(isinstance(r, dict) and r["reasoning"].startswith(TRACE) for r in stored) == 4


def test_usage_books_reasoning_and_cached_tokens_as_billed(learned_run: Any) -> None:
    out, server, _, _ = learned_run
    judge = usage(out)[f"openai:lab-reasoner@{server.url}"]
    billed = server.count("lab-reasoner", "answered") + server.count("lab-reasoner", "cut off")
    # Eight answers at 600 reasoning tokens each, and the one cut off at 512 (billed as output).
    assert int(judge["reasoning_tokens"]) == 8 * REASONING + JUDGE_BUDGET
    assert int(judge["completion_tokens"]) > int(judge["reasoning_tokens"])
    assert int(judge["cached_tokens"]) == 64 * billed  # refusals are not billed
    assert judge["budget_retries"] == "1"
    assert judge["decided_by_model"] == "temperature top_p"
    prompt, completion, cached = (int(judge[k]) for k in ("prompt_tokens", "completion_tokens", "cached_tokens"))
    expected = ((prompt - cached) * 2.0 + cached * 0.5 + completion * 8.0) / 1e6
    assert float(judge["cost_usd"]) == pytest.approx(expected, abs=1e-6)
    rc = usage(out)["rc"]
    assert int(rc["reasoning_tokens"]) == 12 * 4 and rc["decided_by_model"] == ""


def test_the_report_says_the_model_decided_its_own_decoding(learned_run: Any) -> None:
    out, server, _, _ = learned_run
    md = (out / rundir.REPORT_DIR / "report.md").read_text(encoding="utf-8")
    assert "The model decided its own temperature, top_p" in md
    assert "Reasoning tokens" in md and "1 calls were cut off while reasoning" in md
    for path in (out / rundir.REPORT_DIR / "report.html", out / rundir.LEADERBOARD_MD):
        assert "The model decided its own temperature, top_p" in path.read_text(encoding="utf-8"), path


def test_a_rerun_makes_no_call(learned_run: Any) -> None:
    _, _, (_, _, requests), (again, after) = learned_run
    assert again == 0 and after == requests


def test_a_known_reasoning_family_is_asked_right_from_the_first_request(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    with ReasoningServer() as server:
        assert main(run_argv(server, tmp_path / "run", "o4-mini", "--report", "none")) == 0
    err = capsys.readouterr().err
    assert server.count("o4-mini", "refused") == 0 and server.count("o4-mini", "cut off") == 0
    sent = [r for r in server.requests if r["model"] == "o4-mini"]
    assert len(sent) == 8
    assert all(r["max_completion_tokens"] == JUDGE_BUDGET + 4096 for r in sent)
    assert not any(k in r for r in sent for k in ("max_tokens", "temperature", "top_p"))
    assert err.count("(OpenAI reasoning model): harness sends max_completion_tokens=4608") == 1, err
    assert all(j["winner"] != "error" for j in rows(tmp_path / "run" / rundir.JUDGMENTS))


# --- resumed after SIGKILL ------------------------------------------------------------------------


def test_a_run_killed_mid_judging_learns_nothing_twice(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with ReasoningServer(delay=0.05) as server:
        argv = [sys.executable, "-m", "harness", *run_argv(server, out, "lab-reasoner", "--concurrency", "2",
                                                           "--report", "none", limit=20)]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            assert server.wait_for("lab-reasoner", "answered", 6), "the judge never got going"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        learned = (server.count("lab-reasoner", "refused"), server.count("lab-reasoner", "cut off"))
        assert learned == (3, 1)
        assert not (out / rundir.JUDGMENTS).exists()
        assert main(run_argv(server, out, "lab-reasoner", "--concurrency", "2", "--no-progress",
                             "--report", "none", limit=20)) == 0
        # Nothing learned again, and nothing paid for twice beyond the calls in flight at the kill.
        assert (server.count("lab-reasoner", "refused"), server.count("lab-reasoner", "cut off")) == (3, 1)
        assert server.count("lab-reasoner", "answered") <= 40 + 2
    judgments = rows(out / rundir.JUDGMENTS)
    assert len(judgments) == 40 and all(j["winner"] != "error" for j in judgments)


# --- budgets: cut off at the cap ------------------------------------------------------------------


def test_a_judge_cut_off_at_the_cap_is_an_error_with_that_reason_never_a_tie(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with ReasoningServer() as server:
        assert main(run_argv(server, out, "lab-reasoner", "--reasoning-cap", "550", "--report", "none",
                             limit=2)) == 0
        judgments = rows(out / rundir.JUDGMENTS)
        assert {j["winner"] for j in judgments} == {"error"}
        for j in judgments:
            assert j["attempts"] == 1 and j["label"] == ""  # not re-asked: it would pay for the same failure
            assert "cut off while reasoning: no answer within 550 completion tokens" in j["raw"]
        paid = server.count("lab-reasoner", "cut off")
        # The same cap again: the failures are stored, nothing is paid for twice.
        assert main(run_argv(server, out, "lab-reasoner", "--reasoning-cap", "550", "--report", "none",
                             limit=2)) == 0
        assert server.count("lab-reasoner", "cut off") == paid
        # A larger cap asks again, and the verdicts come.
        assert main(run_argv(server, out, "lab-reasoner", "--report", "none", limit=2)) == 0
    assert all(j["winner"] != "error" for j in rows(out / rundir.JUDGMENTS))


def test_a_candidate_cut_off_at_the_cap_stops_the_run_with_one_line(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    with ReasoningServer() as server:
        argv = ["generate", "--tasks", "en_law", "--limit", "2", "--out", str(out), "--no-progress",
                "--models", f"a=openai:thinker@{server.url}", f"b=openai:o4-mini@{server.url}",
                "--reasoning-budget", "0", "--reasoning-cap", "300"]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("harness: error: no answer from b on en_law/")
        assert "cut off while reasoning: no answer within 300 completion tokens" in err[-1]
        assert "(and 1 more)" in err[-1] and "a re-run with a larger --reasoning-cap asks only these" in err[-1]
        assert not (out / rundir.ANSWERS).exists()
        before = len(server.requests)
        failed = {json.dumps(r["messages"]) for r in server.requests if r["model"] == "o4-mini"}
        assert main([*argv[:-2], "--reasoning-cap", "32768"]) == 0
        # Only the two failed answers were asked again: the first at the budget it had reached (300,
        # cut off again, then 1200), the second at the 1200 that the first was found to need.
        again = server.requests[before:]
        assert {r["model"] for r in again} == {"o4-mini"} and {json.dumps(r["messages"]) for r in again} == failed
        assert [r["max_completion_tokens"] for r in again] == [300, 1200, 1200]
    answers = rows(out / rundir.ANSWERS)
    assert all(a["answer"] for a in answers)


# --- log-probabilities from a reasoning judge ------------------------------------------------------


def test_a_known_reasoning_judge_with_logprobs_is_one_line_before_any_call(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    with ReasoningServer() as server:
        code = main(run_argv(server, tmp_path / "run", "o4-mini", "--judge-method", "logprobs", "--prompt",
                             "verdict_token_en"))
        assert code == 2 and server.requests == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0] == (f"harness: error: judge openai:o4-mini@{server.url} (OpenAI reasoning model) returns no "
                      "log-probabilities, so --judge-method logprobs cannot read its verdicts; use "
                      "--judge-method generate (or json)")


def test_an_endpoint_refusing_logprobs_is_one_clear_error() -> None:
    with ReasoningServer() as server, session(ApiConfig()):
        backend = load_backend(f"openai:gemini-thinker@{server.url}")
        with pytest.raises(BackendError) as info:
            list(backend.stream_logprobs([ask("hi")], DecodingParams(max_new_tokens=8), 20))  # type: ignore[attr-defined]
    message = str(info.value)
    assert "returns no log-probabilities" in message and "--judge-method generate" in message
    assert "Logprobs is not enabled for models/gemini-thinker" in message
    assert len(server.requests) == 1


# --- Anthropic's and Gemini's error shapes ---------------------------------------------------------


@pytest.mark.parametrize(("status", "body", "sent", "param"), [
    (400, openai_error("Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                       "'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter"),
     {"max_tokens", "temperature"}, "max_tokens"),
    (400, openai_error("Unsupported value: 'temperature' does not support 0 with this model. Only the "
                       "default (1) value is supported.", "temperature", "unsupported_value"),
     {"max_completion_tokens", "temperature"}, "temperature"),
    # OpenAI once named the wrong param for this one; the message says which.
    (400, openai_error("Unsupported parameter: 'temperature' is not supported with this model.", "model",
                       "unsupported_parameter"), {"max_completion_tokens", "temperature"}, "temperature"),
    (403, {"error": {"message": "You are not allowed to request logprobs from this model",
                     "type": "invalid_request_error", "param": None, "code": None}},
     {"logprobs", "top_logprobs"}, "logprobs"),
    (400, {"error": {"message": "Unrecognized request argument supplied: top_k", "type": "invalid_request_error",
                     "param": None, "code": None}}, {"top_k", "temperature"}, "top_k"),
    (400, anthropic_error("`temperature` and `top_p` cannot both be specified for this model. Please use "
                          "only one."), {"temperature", "top_p"}, "top_p"),
    (400, anthropic_error("`temperature` may only be set to 1 when thinking is enabled. Please consult our "
                          "documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"),
     {"temperature", "max_tokens"}, "temperature"),
    (400, gemini_error('Invalid JSON payload received. Unknown name "top_k": Cannot find field.'),
     {"top_k", "temperature"}, "top_k"),
    (400, gemini_error("Logprobs is not enabled for models/gemini-2.5-pro"), {"logprobs", "top_logprobs"},
     "logprobs"),
], ids=["openai-max_tokens", "openai-temperature", "openai-wrong-param", "openai-logprobs-403",
        "openai-unrecognized", "anthropic-temperature-top_p", "anthropic-thinking-temperature",
        "gemini-unknown-name", "gemini-logprobs"])
def test_recorded_error_bodies_name_the_refused_parameter(status: int, body: Any, sent: set[str],
                                                          param: str) -> None:
    found = adapt.refusal(status, body, sent)
    assert found is not None and found.param == param


@pytest.mark.parametrize("body", [
    openai_error("This model's maximum context length is 8192 tokens.", "messages", "context_length_exceeded"),
    {"error": {"message": "temperature: must be at most 2", "type": "invalid_request_error"}},
    anthropic_error("max_tokens: 100000 > 64000, which is the maximum allowed for this model"),
    gemini_error("API key not valid. Please pass a valid API key."),
])
def test_other_errors_are_not_taken_for_refusals(body: Any) -> None:
    assert adapt.refusal(400, body, {"max_tokens", "temperature", "top_p", "messages"}) is None


def test_anthropic_refusals_are_learned_over_http(capsys: pytest.CaptureFixture[str]) -> None:
    with ReasoningServer() as server, session(ApiConfig()):
        backend = load_backend(f"openai:claude-thinker@{server.url}")
        texts = backend.generate([ask(f"q{i}") for i in range(5)], DecodingParams(max_new_tokens=16))
    assert all(t.startswith("claude-thinker answers") for t in texts)
    sent = [sorted(k for k in r if k in ("temperature", "top_p")) for r in server.requests]
    assert sent[:3] == [["temperature", "top_p"], ["temperature"], []]
    assert sent[3:] == [[]] * 4 and server.count("claude-thinker", "refused") == 2
    err = capsys.readouterr().err
    assert err.count("refuses 'top_p'") == 1 and err.count("refuses 'temperature'") == 1


def test_gemini_refusals_are_learned_over_http() -> None:
    with ReasoningServer() as server, session(ApiConfig(default=EndpointSettings(concurrency=4))):
        backend = load_backend(f"openai:gemini-thinker@{server.url}")
        texts = backend.generate([ask(f"q{i}") for i in range(6)], DecodingParams(max_new_tokens=16, top_k=40))
    assert len(texts) == 6 and all(texts)
    assert server.count("gemini-thinker", "refused") == 1
    assert ["top_k" in r for r in server.requests] == [True] + [False] * 6


# --- structured verdicts, dry runs, reasoning effort -----------------------------------------------


def test_structured_verdicts_where_the_endpoint_takes_a_schema_and_labels_where_it_refuses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ReasoningServer() as server:
        for judge in ("o4-mini", "strict-old"):
            out = tmp_path / judge
            assert main(run_argv(server, out, judge, "--judge-method", "json", "--report", "none",
                                 limit=2)) == 0
            judgments = rows(out / rundir.JUDGMENTS)
            assert {j["method"] for j in judgments} == {"json"}
            assert all(j["winner"] != "error" for j in judgments)
            asked = [r for r in server.requests if r["model"] == judge]
            if judge == "o4-mini":
                assert all(r["response_format"]["type"] == "json_schema" for r in asked)
                assert all(json.loads(j["raw"])["verdict"] for j in judgments)
            else:
                assert server.count(judge, "refused") == 1 and "response_format" not in asked[-1]
    err = capsys.readouterr().err
    assert err.count("refuses 'response_format'; not sending it: verdicts are read from the reply's text") == 1


def test_a_dry_run_counts_a_reasoning_judges_budget_to_think(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    with ReasoningServer() as server:
        assert main(run_argv(server, tmp_path / "run", "o4-mini", "--dry-run")) == 0
        assert server.requests == []
    out = capsys.readouterr().out
    judge_line = next(line for line in out.splitlines() if "o4-mini" in line)
    assert f"| {8 * (JUDGE_BUDGET + 4096):,} |" in judge_line
    assert "Reasoning models (openai:o4-mini@" in out and "--reasoning-cap" in out


def test_reasoning_effort_is_sent_and_keys_the_cache(tmp_path: Path) -> None:
    with ReasoningServer() as server:
        base = ["generate", "--tasks", "en_law", "--limit", "1", "--out", str(tmp_path / "run"), "--no-progress",
                "--models", f"r=openai:o4-mini@{server.url}"]
        assert main(base) == 0 and main([*base, "--reasoning-effort", "low"]) == 0
        assert main([*base, "--reasoning-effort", "low"]) == 0
    sent = [r.get("reasoning_effort") for r in server.requests]
    assert sent == [None, "low"]  # the second --reasoning-effort low run came from the cache
    assert main([*base, "--reasoning-effort", "LOW!"]) == 2


def test_a_vendors_endpoint_reads_its_own_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-not-for-anthropic")
    spec = "openai:claude-sonnet-4-5@https://api.anthropic.com/v1"
    with session(ApiConfig()), pytest.raises(BackendError) as info:
        load_backend(spec).complete(ask("hi"), DecodingParams(max_new_tokens=4))  # type: ignore[attr-defined]
    assert str(info.value).startswith(f"{spec}: set ANTHROPIC_API_KEY")
    # A run config's own choice wins.
    named = ApiConfig(default=EndpointSettings(api_key_env="MY_KEY"))
    assert named.settings("https://api.anthropic.com/v1").api_key_env == "MY_KEY"
    assert ApiConfig().settings("http://localhost:8000/v1").api_key_env == "OPENAI_API_KEY"


@pytest.mark.slow
def test_the_voting_page_shows_the_answer_with_the_trace_behind_a_toggle(learned_run: Any) -> None:
    from human_server import Client, Server

    out = learned_run[0]
    with Server(out, "--annotators", "ann") as server:
        _, html, _ = Client().page(server.links["ann"])
    answers = html.split('<div class="answers">', 1)[1].split("</div>\n<form", 1)[0]
    for slot in ("1", "2"):
        article = answers.split(f'id="answer-{slot}"', 1)[1].split("</article>", 1)[0]
        shown, toggle = article.split(f'<details id="reasoning-{slot}" class="reasoning">', 1)
        assert TRACE not in shown and "<think>" not in shown
        assert "<summary>Show reasoning</summary>" in toggle and TRACE in toggle


def test_an_unknown_judge_refusing_logprobs_stops_the_run_with_one_error_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ReasoningServer() as server:
        code = main(run_argv(server, tmp_path / "run", "lab-reasoner", "--judge-method", "logprobs", "--prompt",
                             "verdict_token_en", "--report", "none", limit=1))
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("harness: error:")]
    assert len(errors) == 1 and errors[0] == err[-1]
    assert errors[0].startswith(f"harness: error: openai:lab-reasoner@{server.url} returns no log-probabilities")
    assert "Unsupported parameter: 'logprobs' is not supported with this model." in errors[0]
    # Each refusal met once: max_tokens, temperature, top_p, then logprobs.
    assert server.count("lab-reasoner", "refused") == 4
    assert (tmp_path / "run" / rundir.ANSWERS).exists()  # the answers made before it are kept


def test_max_cost_books_a_reasoning_models_budget_to_think(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    with ReasoningServer() as server:
        # o4-mini's built-in price: $4.40 per million output tokens. A reply of 128 tokens could cost
        # $0.0006, but with its 4096 tokens to reason it could cost $0.0186: over $0.01.
        code = main(["generate", "--tasks", "en_law", "--limit", "1", "--out", str(tmp_path / "run"),
                     "--no-progress", "--models", f"r=openai:o4-mini@{server.url}", "--max-cost", "0.01"])
        assert code == 2 and server.requests == []
    err = capsys.readouterr().err
    assert "budget reached: the next call could bring the cost to $0.018" in err


def test_a_thinking_judge_is_read_from_its_answer_not_from_its_trace(tmp_path: Path) -> None:
    """A judge served without a reasoning parser writes its trace in the reply. A label it weighs
    there is not its verdict: a reply whose answer holds none is asked again (shown its answer, not
    its trace), and the trace stays in the judgment's raw reply for people."""
    from scripted_server import ScriptedServer

    def reply(body: dict[str, Any]) -> str:
        if body["model"] != "judge":
            return f"{body['model']} says: {body['messages'][-1]['content'][:30]}"
        if body["messages"][-1]["role"] == "user" and len(body["messages"]) > 2:  # the re-ask
            return "Assistant 1 is worse than Assistant 2"
        return "<think>Is Assistant 1 is better than Assistant 2? Let me see.</think>\nBoth have merit."

    with ScriptedServer(reply) as server:
        argv = ["run", "--tasks", "en_law", "--limit", "2", "--out", str(tmp_path / "run"), "--no-progress",
                "--models", f"a=openai:a@{server.url}", f"b=openai:b@{server.url}",
                "--judge", f"openai:judge@{server.url}", "--report", "none"]
        assert main(argv) == 0
    judgments = rows(tmp_path / "run" / rundir.JUDGMENTS)
    assert len(judgments) == 4 and {j["label"] for j in judgments} == {"worse"}
    assert all(j["attempts"] == 2 and j["raw"].startswith("<think>Is Assistant 1 is better") for j in judgments)
    re_asks = [r for r in server.requests if r["model"] == "judge" and len(r["messages"]) > 2]
    assert len(re_asks) == 4
    assert all(r["messages"][-2] == {"role": "assistant", "content": "Both have merit."} for r in re_asks)
