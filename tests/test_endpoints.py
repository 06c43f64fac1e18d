"""Remote endpoints over real HTTP on loopback: retries, errors, concurrency, pacing, API keys.

Faults come from :class:`FaultProxy` in front of a scripted server; the limits are observed at the
server, which records every request's body, headers and arrival time and how many requests it was
answering at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from fault_proxy import FaultProxy
from scripted_server import Loopback, ScriptedServer

from harness.app.cli import main
from harness.core.errors import BackendError
from harness.core.types import DecodingParams
from harness.models.backends import load_backend
from harness.models.endpoints import ApiConfig, EndpointSettings, session

JUDGE_REPLY = "Both are fine, the first is clearer.\nAssistant 1 is better than Assistant 2"


def chat_reply(body: dict[str, Any]) -> str:
    """Candidates echo the question; a model called ``judge`` always prefers Assistant 1."""
    if body["model"] == "judge":
        return JUDGE_REPLY
    return f"{body['model']} says: {body['messages'][-1]['content'][:40]}"


class ChatServer(Loopback):
    """An OpenAI-compatible chat server on loopback that reports ``usage`` tokens per call (none
    at all with ``usage=None``, like some local servers).

    Records each request's body, headers (lower-cased names) and arrival time, and the most
    requests it was answering at once. ``delay`` seconds pass before each answer; with ``error``
    (status, body) every request gets that error instead.
    """

    def __init__(self, reply: Callable[[dict[str, Any]], str] = chat_reply, usage: tuple[int, int] | None = (10, 5),
                 delay: float = 0.0, error: tuple[int, dict[str, Any]] | None = None) -> None:
        self.reply, self.usage, self.delay, self.error = reply, usage, delay, error
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.arrivals: list[float] = []
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.arrivals.append(time.monotonic())
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(server.delay)
                    status, payload = server.error or (200, server._completion(body))
                finally:
                    # Before the reply goes out: the client's slot is still taken until it arrives.
                    with server.lock:
                        server.in_flight -= 1
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        reply = {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": self.reply(body)}}]}
        if self.usage is not None:
            p, c = self.usage
            reply["usage"] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
        return reply



def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


PARAMS = DecodingParams(max_new_tokens=8)


def echo(body: dict[str, Any]) -> str:
    return "reply to " + body["messages"][-1]["content"]


@pytest.fixture(scope="module")
def _shared_scripted() -> Iterator[ScriptedServer]:
    # One upstream for the module: a ScriptedServer takes half a second to shut down.
    with ScriptedServer(echo) as server:
        yield server


@pytest.fixture
def scripted(_shared_scripted: ScriptedServer) -> ScriptedServer:
    _shared_scripted.requests.clear()
    return _shared_scripted


# --- retries -------------------------------------------------------------------------------------

RETRYABLE = ("429", "500", "503", "hang", "drop", "truncate")


def test_each_retryable_fault_is_retried_until_the_reply_arrives(scripted: ScriptedServer) -> None:
    # All six at once, one proxy (endpoint) each, so the test takes as long as the slowest (hang).
    proxies = {f: FaultProxy(scripted.url, faults=[f], rate=1.0, retry_after="0.2", hang_s=3)
               for f in RETRYABLE}
    for proxy in proxies.values():
        proxy.__enter__()
    try:
        with session(ApiConfig(default=EndpointSettings(timeout=1, max_retries=5))), \
                ThreadPoolExecutor(len(RETRYABLE)) as pool:
            futures = {f: pool.submit(load_backend(f"openai:m@{p.url}").complete, ask(f"question {f}"), PARAMS)
                       for f, p in proxies.items()}
            replies = {f: fut.result() for f, fut in futures.items()}
    finally:
        for proxy in proxies.values():
            proxy.__exit__(None, None, None)
    for fault, proxy in proxies.items():
        assert replies[fault].text == f"reply to question {fault}", fault
        assert (replies[fault].prompt_tokens, replies[fault].completion_tokens) == (1, 1), fault
        upstream = [r for r in scripted.requests if r["messages"][-1]["content"] == f"question {fault}"]
        # A truncated reply was forwarded upstream before being cut short; the others never got there.
        assert len(upstream) == (4 if fault == "truncate" else 1), fault
        assert proxy.faults_injected == {fault: 3}, fault
        assert proxy.requests_seen == 4 and len(proxy.delivered) == 1, fault


def test_retry_after_is_honoured(scripted: ScriptedServer) -> None:
    with FaultProxy(scripted.url, faults=["429"], rate=1.0, retry_after="1") as proxy, \
            session(ApiConfig(default=EndpointSettings(timeout=5, max_retries=5))):
        backend = load_backend(f"openai:m@{proxy.url}")
        start = time.monotonic()
        reply = backend.complete(ask("wait for me"), PARAMS)
        elapsed = time.monotonic() - start
    assert reply.text == "reply to wait for me"
    assert proxy.faults_injected == {"429": 3}
    # Three waits of Retry-After (1 s) each, plus at most 0.15 s of jitter each.
    assert 3.0 <= elapsed < 4.0, elapsed


def test_retries_run_out_with_one_clear_error(scripted: ScriptedServer) -> None:
    with FaultProxy(scripted.url, faults=["500"], rate=1.0) as proxy, \
            session(ApiConfig(default=EndpointSettings(timeout=5, max_retries=1))):
        spec = f"openai:m@{proxy.url}"
        with pytest.raises(BackendError) as info:
            load_backend(spec).complete(ask("doomed"), PARAMS)
    message = str(info.value)
    assert message.startswith(f"{spec}: gave up after 2 attempts")
    assert "HTTP 500" in message and "\n" not in message
    assert proxy.requests_seen == 2 and proxy.faults_injected == {"500": 2}
    assert scripted.requests == []


def _error(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


@pytest.mark.parametrize(("status", "body", "expected"), [
    (401, _error("Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
     "the endpoint rejected the API key (HTTP 401)"),
    (403, _error("Project does not have access to model", "invalid_request_error", None),
     "the API key may not use model or endpoint (HTTP 403: Project does not have access to model)"),
    (404, _error("The model 'm' does not exist", "invalid_request_error", "model_not_found"),
     "model or endpoint not found at {url} (HTTP 404: The model 'm' does not exist)"),
    (400, _error("maximum context length is 8 tokens", "invalid_request_error", "context_length_exceeded"),
     "request rejected (HTTP 400: maximum context length is 8 tokens)"),
    (422, _error("temperature: must be at most 2", "invalid_request_error", None),
     "request rejected (HTTP 422: temperature: must be at most 2)"),
    (429, _error("You exceeded your current quota", "insufficient_quota", "insufficient_quota"),
     "the account has no quota left (You exceeded your current quota)"),
], ids=["401", "403", "404", "400", "422", "429-quota"])
def test_errors_that_cannot_succeed_stop_at_once(status: int, body: dict[str, Any], expected: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-NOTINMESSAGES-0987654321"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with ChatServer(error=(status, body)) as server, session(ApiConfig()):
        spec = f"openai:m@{server.url}"
        with pytest.raises(BackendError) as info:
            load_backend(spec).complete(ask("hello"), PARAMS)
    assert str(info.value) == f"{spec}: {expected.format(url=server.url)}"
    assert len(server.requests) == 1
    assert server.headers[0]["authorization"] == f"Bearer {secret}" and secret not in str(info.value)


def test_refused_connection_before_any_answer_is_a_quick_clear_error() -> None:
    spec = "openai:m@http://127.0.0.1:9/v1"
    start = time.monotonic()
    with session(ApiConfig()), pytest.raises(BackendError) as info:
        load_backend(spec).complete(ask("anyone?"), PARAMS)
    assert time.monotonic() - start < 2.0
    assert str(info.value) == f"{spec}: cannot connect to http://127.0.0.1:9/v1"


# --- concurrency and pacing ----------------------------------------------------------------------


@pytest.mark.parametrize(("concurrency", "n", "lowest", "highest"), [(4, 12, 0.9, 2.5), (1, 4, 1.2, 2.5)])
def test_concurrency_caps_the_requests_in_flight(concurrency: int, n: int, lowest: float,
                                                 highest: float) -> None:
    with ChatServer(delay=0.3) as server, session(ApiConfig(default=EndpointSettings(concurrency=concurrency))):
        backend = load_backend(f"openai:slow@{server.url}")
        start = time.monotonic()
        texts = backend.generate([ask(f"q{i}") for i in range(n)], PARAMS)
        elapsed = time.monotonic() - start
    assert texts == [f"slow says: q{i}" for i in range(n)]
    assert server.max_in_flight == concurrency
    # n requests, `concurrency` at a time, 0.3 s each.
    assert lowest <= elapsed <= highest, elapsed


def test_models_on_one_endpoint_share_its_concurrency() -> None:
    with ChatServer(delay=0.3) as server, session(ApiConfig(default=EndpointSettings(concurrency=4))), \
            ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(load_backend(f"openai:{m}@{server.url}").generate,
                            [ask(f"q{i}") for i in range(8)], PARAMS) for m in ("left", "right")]
        texts = [r.result() for r in runs]
    assert texts == [[f"{m} says: q{i}" for i in range(8)] for m in ("left", "right")]
    # Each model's stream would send 4 at once; the endpoint lets 4 through in all, not 8.
    assert server.max_in_flight == 4


def test_rpm_spaces_the_requests_out() -> None:
    with ChatServer() as server, session(ApiConfig(default=EndpointSettings(concurrency=8, rpm=600))):
        backend = load_backend(f"openai:paced@{server.url}")
        start = time.monotonic()
        texts = backend.generate([ask(f"q{i}") for i in range(11)], PARAMS)
        elapsed = time.monotonic() - start
    assert texts == [f"paced says: q{i}" for i in range(11)]
    # 600 requests a minute: one every 0.1 s, so the 11th goes 1.0 s after the first.
    assert elapsed >= 1.0, elapsed
    arrivals = sorted(server.arrivals)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert len(arrivals) == 11 and min(gaps) >= 0.08, gaps
    assert all(t - arrivals[0] >= 0.1 * i - 0.02 for i, t in enumerate(arrivals)), arrivals


def test_results_are_complete_and_in_order_despite_faults(scripted: ScriptedServer) -> None:
    n = 10
    questions = [f"question number {i}" for i in range(n)]
    with FaultProxy(scripted.url, faults=["429", "500", "503", "drop", "truncate"], rate=0.5, seed=7,
                    retry_after="0.1") as proxy, \
            session(ApiConfig(default=EndpointSettings(concurrency=4, timeout=2, max_retries=6))):
        texts = load_backend(f"openai:m@{proxy.url}").generate([ask(q) for q in questions], PARAMS)
    assert texts == [f"reply to {q}" for q in questions]
    assert sum(proxy.faults_injected.values()) >= 3
    assert proxy.requests_seen == n + sum(proxy.faults_injected.values())
    # Each question reached the client exactly once: nothing lost, nothing asked twice after success.
    assert sorted(b["messages"][-1]["content"] for b in proxy.delivered) == sorted(questions)


# --- API keys ------------------------------------------------------------------------------------

SECRET = "sk-test-SECRET-1234567890"


def _run_argv(server: ChatServer, out: Path) -> list[str]:
    return ["run", "--tasks", "en_law", "--limit", "2", "--out", str(out), "--no-progress",
            "--max-new-tokens", "8", "--models", f"a=openai:alpha@{server.url}",
            f"b=openai:beta@{server.url}", "--judge", f"openai:judge@{server.url}"]


def _assert_secret_nowhere(run_dir: Path, secret: str) -> list[str]:
    files = sorted(p for p in run_dir.rglob("*") if p.is_file())
    for path in files:
        data = path.read_bytes()
        assert secret.encode() not in data and secret[-10:].encode() not in data, path
    return [p.name for p in files]


def test_api_key_from_the_environment_is_sent_and_never_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "run"
    with ChatServer() as server:
        assert main(_run_argv(server, out)) == 0
    # 2 models x 2 questions, then 2 questions x 1 pair x 2 orders.
    assert len(server.requests) == 8
    assert {h["authorization"] for h in server.headers} == {f"Bearer {SECRET}"}
    names = _assert_secret_nowhere(out, SECRET)
    assert {"cache.sqlite", "config.yaml", "answers.jsonl", "judgments.jsonl", "usage.csv"} <= set(names)
    captured = capsys.readouterr()
    assert "## Usage" in captured.out
    assert SECRET not in captured.out + captured.err and SECRET[-10:] not in captured.out + captured.err


def test_api_key_from_a_key_file_is_sent_and_only_its_path_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    key_file = tmp_path / "secrets" / "openai.key"
    key_file.parent.mkdir()
    key_file.write_text(SECRET + "\n", encoding="utf-8")
    with ChatServer() as server:
        config = tmp_path / "keyed.yaml"
        config.write_text(yaml.safe_dump({
            "tasks": ["en_law"], "limit": 2, "out": "keyed-run",
            "models": [{"name": "a", "spec": f"openai:alpha@{server.url}", "decoding": {"max_new_tokens": 8}},
                       {"name": "b", "spec": f"openai:beta@{server.url}", "decoding": {"max_new_tokens": 8}}],
            "judge": {"spec": f"openai:judge@{server.url}"},
            "api": {"api_key_file": str(key_file)}}), encoding="utf-8")
        assert main(["run", str(config), "--no-progress"]) == 0
        assert len(server.requests) == 8
        # `harness judge` on that run directory takes the key file from the run's config.
        assert main(["judge", str(tmp_path / "keyed-run"), "--judge", f"openai:judge2@{server.url}",
                     "--no-progress"]) == 0
    assert len(server.requests) > 8
    assert {h["authorization"] for h in server.headers} == {f"Bearer {SECRET}"}
    out = tmp_path / "keyed-run"
    _assert_secret_nowhere(out, SECRET)
    written = (out / "config.yaml").read_text(encoding="utf-8")
    assert str(key_file) in written and yaml.safe_load(written)["api"]["api_key_file"] == str(key_file)
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err


@pytest.mark.parametrize("api", [
    {"api_key": SECRET},
    {"endpoints": {"http://127.0.0.1:8000/v1": {"concurrency": 2, "api_key": SECRET}}},
])
def test_an_api_key_in_a_run_config_is_refused(api: dict[str, Any], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "leaky.yaml"
    config.write_text(yaml.safe_dump({"tasks": ["en_law"], "limit": 1, "out": "leaky-run",
                                      "models": [{"name": "a", "spec": "openai:alpha@http://127.0.0.1:9/v1"},
                                                 {"name": "b", "spec": "openai:beta@http://127.0.0.1:9/v1"}],
                                      "api": api}), encoding="utf-8")
    assert main(["run", str(config), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: error: ") and err.count("\n") == 1
    assert "do not put an API key in a run config" in err and "api_key_file" in err
    assert SECRET not in err
    assert not (tmp_path / "leaky-run").exists()


def test_a_nested_session_joins_with_the_same_settings_and_refuses_others() -> None:
    from harness.core.errors import HarnessError
    from harness.models.endpoints import current

    api = ApiConfig(default=EndpointSettings(concurrency=3), max_cost=1.0)
    with session(api) as outer:
        with session(api) as same, session(None) as unspecified:
            assert same is outer is unspecified is current()
        with pytest.raises(HarnessError, match="other settings"), session(ApiConfig(max_cost=2.0)):
            pass
        assert current() is outer and outer.budget.max_cost == 1.0
    assert current() is not outer
