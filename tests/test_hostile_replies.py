"""Hostile model replies (issue 29): an endpoint whose JSON is valid but whose values are not usable.

A lone surrogate escape (``"\\ud800"``) in a reply's text or reasoning cannot be encoded as UTF-8;
log-probabilities of 800, ``Infinity``, ``1e309``, NaN, a string or an integer too large for a
float are no log-probabilities. Each
reply is stored once (a re-run asks nothing), repaired or stripped of its probabilities, counted on
standard error, and no run file holds a non-finite number.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from scripted_server import Loopback

from harness import tasks
from harness.app.cli import main
from harness.core import notes, rundir
from harness.core.types import Answer, DecodingParams, Message, Task
from harness.judges.asking import BuiltJudge, JudgeSettings
from harness.judges.pairwise import judge_jobs, make_jobs
from harness.judges.prompts import load_prompt
from harness.models import backends
from harness.models.cache import CallCache

MODELS = ("alpha", "beta")
HUGE = -12345.5
"""Written into the body as the literal ``1e309`` (Python's json writes no such number itself)."""
# What the judge's verdict position carries, one per judge request, in the order they arrive.
# (The official client makes floats of numeric strings such as "-0.1" itself; "high" it cannot.)
HOSTILE_LOGPROBS: tuple[Any, ...] = (800.0, float("inf"), HUGE, float("nan"), "high", -10 ** 400)


class HostileServer(Loopback):
    """An OpenAI-compatible chat server whose ``reply(body) -> choice`` is sent as Python's json
    writes it (``Infinity``, ``NaN``, ``\\ud800`` escapes), every request recorded."""

    def __init__(self, reply: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                choice = {"index": 0, "finish_reason": "stop", **reply(body)}
                text = json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                                   "model": body["model"], "choices": [choice],
                                   "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
                data = text.replace(repr(HUGE), "1e309").encode("ascii")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)


def hostile() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """alpha writes a lone surrogate in its answer and its reasoning; the judge answers "1", and its
    first requests carry one hostile log-probability each at the verdict position."""
    lock = threading.Lock()
    judged = itertools.count()

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        if body["model"] == "alpha":
            return {"message": {"role": "assistant", "content": "alpha says \ud800 hi",
                                "reasoning_content": "think \udfff"}}
        if body["model"] == "beta":
            return {"message": {"role": "assistant", "content": "beta says hi"}}
        with lock:
            k = next(judged)
        bad = HOSTILE_LOGPROBS[k] if k < len(HOSTILE_LOGPROBS) else -0.2
        alts = [{"token": "1", "logprob": bad, "bytes": None},
                {"token": "2", "logprob": -1.9, "bytes": None}]
        text = "1 \ud800" if k == 0 else "1"
        return {"message": {"role": "assistant", "content": text},
                "logprobs": {"content": [{"token": "1", "logprob": bad, "bytes": None, "top_logprobs": alts}]}}

    return reply


def run_args(out: Path, url: str) -> list[str]:
    return ["run", "--tasks", "en_law", "--limit", "4", "--out", str(out), "--no-progress",
            "--models", *(f"{m}=openai:{m}@{url}" for m in MODELS), "--judge", f"openai:judge@{url}",
            "--prompt", "verdict_token_en", "--judge-method", "logprobs", "--report", "md"]


def refuse_constant(name: str) -> Any:
    raise AssertionError(f"a run file holds {name}")


def strict_rows(path: Path) -> list[Any]:
    return [json.loads(line, parse_constant=refuse_constant)
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_hostile_replies_are_stored_once_counted_and_leave_no_nonfinite_number(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setattr(notes, "_SAID", set())
    out = tmp_path / "run"
    with HostileServer(hostile()) as server:
        assert main(run_args(out, server.url)) == 0
        err = capsys.readouterr().err
        sent = len(server.requests)
        assert sent == 4 * 2 + 4 * 2  # each answer and each order of each pair, once
        monkeypatch.setattr(notes, "_SAID", set())
        assert main(run_args(out, server.url)) == 0
        again = capsys.readouterr().err
        assert len(server.requests) == sent  # every reply, hostile ones included, came from the cache

    assert "Traceback" not in err
    assert ("note: generate: 4 replies held characters that are not valid Unicode; replaced by U+FFFD"
            in err)
    assert "note: judge: 1 reply held characters that are not valid Unicode" in err
    # Counted each run: the malformed probabilities are a property of the stored replies.
    for said in (err, again):
        assert re.search(r"judge openai:judge@\S+, prompt verdict_token_en: 6 of 8 replies had malformed "
                         r"log-probabilities \(position 1, token '1': log-probability .*\); their "
                         "verdicts count by their text alone", said), said

    answers = {a.model: a for a in rundir.read_answers(out)}
    assert answers["alpha"].answer == "alpha says \ufffd hi"
    assert answers["alpha"].reasoning == ("think \ufffd",)
    judgments = rundir.read_judgments(out)
    assert len(judgments) == 8
    # Every verdict is the text's ("1"); only the two with usable log-probabilities carry them.
    assert all(j.winner != "error" for j in judgments)
    assert sum(j.soft is not None for j in judgments) == 2
    assert any("\ufffd" in j.raw for j in judgments)

    for path in out.rglob("*"):
        if path.suffix == ".jsonl":
            strict_rows(path)
        if path.suffix in (".jsonl", ".json", ".csv", ".md"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"\bNaN\b|\bInfinity\b|[\ud800-\udfff]", text), path
    with sqlite3.connect(out / "cache.sqlite") as db:
        stored = db.execute("SELECT request, response FROM calls").fetchall()
    assert len(stored) == sent
    for request, response in stored:
        json.loads(request, parse_constant=refuse_constant)
        json.loads(response, parse_constant=refuse_constant)
        assert "\ud800" not in response and "\\ud800" not in response

    capsys.readouterr()
    assert main(["report", str(out), "--format", "md"]) == 0
    assert main(["rate", str(out / "battles.jsonl")]) == 0


class NanScorer:
    """A local model whose half-precision logits overflowed: NaN for one label's score."""

    spec = "fake:nan-scorer"

    def __init__(self) -> None:
        self.sent = 0

    def generate(self, conversations: list[list[Message]], params: DecodingParams) -> list[str]:
        raise AssertionError("a likelihood judge does not generate")

    def label_logprobs(self, conversation: list[Message], labels: list[str]) -> list[float]:
        self.sent += 1
        return [float("nan"), -1.0, -2.0][: len(labels)]


def test_a_nan_label_score_is_an_error_verdict_and_is_stored_as_null(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    scorer = NanScorer()
    monkeypatch.setitem(backends._LOADED, scorer.spec, scorer)
    monkeypatch.setattr(notes, "_SAID", set())
    full = tasks.load_task("en_law")
    task = Task(full.id, full.language, full.domain, full.description, full.questions[:1])
    answers = [Answer(model=m, task=task.id, question_id=task.questions[0].id, answer=f"{m} answer")
               for m in MODELS]
    prompt = load_prompt("assignment_en")
    settings = JudgeSettings(spec=scorer.spec, method="likelihood", prompt="assignment_en")
    with CallCache(tmp_path / "cache.sqlite") as cache:
        jobs = make_jobs([task], list(MODELS), answers)
        judgments = judge_jobs(BuiltJudge(settings, scorer, prompt), jobs, cache=cache)
        asked = scorer.sent
        assert [j.winner for j in judgments] == ["error", "error"]
        again = judge_jobs(BuiltJudge(settings, scorer, prompt), jobs, cache=cache)
        assert scorer.sent == asked and [j.winner for j in again] == ["error", "error"]
    assert "replies had malformed log-probabilities (label" in capsys.readouterr().err
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        for (response,) in db.execute("SELECT response FROM calls"):
            assert json.loads(response, parse_constant=refuse_constant)[0] is None


@pytest.mark.parametrize("logprob", [800.0, float("inf"), float("nan"), "high", None])
def test_a_reply_cached_with_bad_logprobs_before_the_check_is_read_without_them(logprob: Any) -> None:
    """Caches written before replies were checked may hold 800 or Infinity: reading them again
    must neither overflow ``math.exp`` nor carry the value on."""
    from harness.judges.verdict import soft_verdict
    from harness.models.calls import as_reply

    reply = as_reply({"text": "1", "top": [["1", [["1", logprob], ["2", -1.0]]]]})
    assert reply.text == "1" and reply.top is None and "log-probability" in reply.top_problem
    assert soft_verdict([("1", (("1", logprob), ("2", -1.0)))], {"1": "better", "2": "worse"}) is None


def test_the_cache_stores_what_it_is_handed_without_refusing_it(tmp_path: Path) -> None:
    """The backstop under the calls layer: a lone surrogate or a non-finite number handed to the
    cache directly is stored (escaped, or as null), never an error that loses the reply."""
    request = {"messages": [{"role": "user", "content": "name \udcff"}]}
    with CallCache(tmp_path / "cache.sqlite") as cache:
        cache.put("judge", request, {"text": "a \ud800", "score": float("inf")})
        assert cache.get("judge", request) == {"text": "a \ud800", "score": None}
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        (text,) = db.execute("SELECT response FROM calls").fetchone()
    json.loads(text, parse_constant=refuse_constant)
    text.encode("utf-8")
