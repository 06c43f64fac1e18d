"""Endpoints served by several replicas, over real HTTP on loopback: calls spread over them, a
replica that dies is set aside and its calls go to the others, limits hold per replica, and the
cache never learns which replica answered.

Each replica is a :class:`ReplicaServer`: an OpenAI-compatible chat server that records what it
answered and how many requests it held at once, and that can be killed mid-run the way a crashed
vLLM process dies: it stops listening and drops the requests it held without a reply.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from scripted_server import Loopback, send_json

from harness.app.cli import main
from harness.app.config import parse_api
from harness.core.errors import BackendError, HarnessError
from harness.core.rundir import read_answers, read_judgments
from harness.core.types import DecodingParams
from harness.models.backends import load_backend
from harness.models.endpoints import ApiConfig, EndpointSettings, current, session

JUDGE_REPLY = "Both are fine, the first is clearer.\nAssistant 1 is better than Assistant 2"
POOL = "http://gpu-pool.invalid/v1"
"""The endpoint's name: never resolved, let alone reached; only its replicas are."""
PARAMS = DecodingParams(max_new_tokens=8)


def reply_to(body: dict[str, Any]) -> str:
    """Candidates echo the question; a model called ``judge`` always prefers Assistant 1."""
    if body["model"] == "judge":
        return JUDGE_REPLY
    return f"{body['model']} says: {body['messages'][-1]['content'][:40]}"


class ReplicaServer(Loopback):
    """A chat server replica: answers after ``delay`` seconds; :meth:`kill` (or its own
    ``kill_at``-th request) takes it down, dropping the requests it holds without a reply.

    ``answered`` holds the bodies it replied to; ``max_in_flight`` the most requests it held at once.
    """

    def __init__(self, delay: float = 0.0, kill_at: int | None = None) -> None:
        self.delay, self.kill_at = delay, kill_at
        self.received = 0
        self.answered: list[dict[str, Any]] = []
        self.in_flight = self.max_in_flight = 0
        self.dead = threading.Event()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.received += 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    dies_now = server.received == server.kill_at
                try:
                    if dies_now:
                        server.kill()
                    server.dead.wait(server.delay)
                    if server.dead.is_set():
                        self.close_connection = True  # no reply: the process is gone
                        return
                    with server.lock:
                        server.answered.append(body)
                finally:
                    with server.lock:
                        server.in_flight -= 1
                send_json(self, 200, {
                    "id": "chatcmpl-replica", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply_to(body)}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def kill(self) -> None:
        """Stop listening (new connections are refused) and drop every request held."""
        if self.dead.is_set():
            return
        self.dead.set()
        # shutdown() waits for the serving loop, which may not be this thread's to wait for.
        threading.Thread(target=self._stop, daemon=True).start()

    def _stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __exit__(self, *exc: object) -> None:
        if not self.dead.is_set():
            self.dead.set()
            self._stop()


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connections to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def pool_api(*replicas: str, **settings: Any) -> ApiConfig:
    return ApiConfig(endpoints={POOL: EndpointSettings(replicas=replicas, **settings)})


# --- spreading the calls -------------------------------------------------------------------------


def test_calls_spread_over_both_replicas_within_each_ones_concurrency() -> None:
    with ReplicaServer(delay=0.2) as a, ReplicaServer(delay=0.2) as b, \
            session(pool_api(a.url, b.url, concurrency=2)):
        backend = load_backend(f"openai:m@{POOL}")
        backend.complete(ask("warm-up"), PARAMS)  # the clients are made once per run, not timed
        a.answered.clear()
        b.answered.clear()
        start = time.monotonic()
        texts = backend.generate([ask(f"q{i}") for i in range(16)], PARAMS)
        elapsed = time.monotonic() - start
    assert texts == [f"m says: q{i}" for i in range(16)]
    # Least outstanding first: each replica holds its 2 at once, so each answers about half.
    assert a.max_in_flight == b.max_in_flight == 2
    assert len(a.answered) + len(b.answered) == 16 and abs(len(a.answered) - len(b.answered)) <= 2
    # 16 calls, 4 at a time (2 per replica), 0.2 s each: 0.8 s, not 1.6 s as through one replica.
    assert 0.75 <= elapsed < 1.4, elapsed


def test_calls_one_at_a_time_go_round_the_replicas() -> None:
    with ReplicaServer() as a, ReplicaServer() as b, session(pool_api(a.url, b.url)):
        backend = load_backend(f"openai:m@{POOL}")
        for i in range(6):
            assert backend.complete(ask(f"q{i}"), PARAMS).text == f"m says: q{i}"
    # With none outstanding anywhere, the replica picked longest ago goes next.
    assert [m["messages"][0]["content"] for m in a.answered] == ["q0", "q2", "q4"]
    assert [m["messages"][0]["content"] for m in b.answered] == ["q1", "q3", "q5"]


def test_rpm_applies_per_replica() -> None:
    # 300 a minute per replica: one every 0.2 s at each, so two replicas take 10 calls in ~0.8 s.
    with ReplicaServer() as a, ReplicaServer() as b, session(pool_api(a.url, b.url, rpm=300)):
        start = time.monotonic()
        load_backend(f"openai:m@{POOL}").generate([ask(f"q{i}") for i in range(10)], PARAMS)
        elapsed = time.monotonic() - start
    assert len(a.answered) == len(b.answered) == 5
    assert 0.75 <= elapsed < 1.5, elapsed  # one endpoint at 300 a minute would need 1.8 s


# --- failures ------------------------------------------------------------------------------------


def test_a_refused_replica_is_set_aside_without_costing_a_retry(capsys: pytest.CaptureFixture[str]) -> None:
    dead = closed_port_url()
    # No retries at all: a call that meets the dead replica must still be answered by the other.
    with ReplicaServer(delay=0.05) as live, session(pool_api(dead, live.url, concurrency=2, max_retries=0)):
        texts = load_backend(f"openai:m@{POOL}").generate([ask(f"q{i}") for i in range(12)], PARAMS)
        replicas = current().endpoint(POOL).replicas
        assert [r.live(time.monotonic()) for r in replicas] == [False, True]
    assert texts == [f"m says: q{i}" for i in range(12)] and len(live.answered) == 12
    err = capsys.readouterr().err
    assert err.count(f"replica {dead} failed; set aside for 5 s") == 1, err


def test_a_replica_that_answers_again_comes_back_after_its_cool_down(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.models import endpoints
    monkeypatch.setattr(endpoints, "COOL_DOWN", 0.2)
    with ReplicaServer() as a, ReplicaServer() as b, session(pool_api(a.url, b.url)):
        backend = load_backend(f"openai:m@{POOL}")
        pool = current().endpoint(POOL)
        first = pool.replicas[0]
        pool.failed(first, at_once=True)
        backend.generate([ask(f"early {i}") for i in range(3)], PARAMS)
        time.sleep(0.25)
        backend.generate([ask(f"late {i}") for i in range(4)], PARAMS)
    assert not [m for m in a.answered if m["messages"][0]["content"].startswith("early")]
    assert len([m for m in a.answered if m["messages"][0]["content"].startswith("late")]) == 2
    assert first.set_asides == 0 and first.live(time.monotonic())


def test_every_replica_refusing_from_the_start_is_one_clear_error() -> None:
    dead = (closed_port_url(), closed_port_url())
    spec = f"openai:m@{POOL}"
    start = time.monotonic()
    with session(pool_api(*dead)), pytest.raises(BackendError) as info:
        load_backend(spec).complete(ask("anyone?"), PARAMS)
    assert time.monotonic() - start < 2.0
    assert str(info.value) == f"{spec}: cannot connect to any replica of {POOL} ({dead[0]}, {dead[1]})"


def test_every_replica_dying_mid_run_ends_in_the_retries_error() -> None:
    with ReplicaServer() as a, ReplicaServer() as b, session(pool_api(a.url, b.url, max_retries=2)):
        backend = load_backend(f"openai:m@{POOL}")
        backend.generate([ask("q0"), ask("q1")], PARAMS)
        a.kill()
        b.kill()
        time.sleep(0.2)
        with pytest.raises(BackendError) as info:
            backend.complete(ask("too late"), PARAMS)
    message = str(info.value)
    assert message.startswith(f"openai:m@{POOL}: gave up after 3 attempts; last error: connection failed")
    assert "\n" not in message


# --- through a whole run -------------------------------------------------------------------------


def run_config(path: Path, endpoint: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({
        "tasks": ["en_law"], "limit": 3, "out": "pooled-run",
        "models": [{"name": "a", "spec": f"openai:alpha@{POOL}", "decoding": {"max_new_tokens": 8}},
                   {"name": "b", "spec": f"openai:beta@{POOL}", "decoding": {"max_new_tokens": 8}}],
        "judge": {"spec": f"openai:judge@{POOL}"},
        "api": {"endpoints": {POOL: endpoint}}}), encoding="utf-8")
    return path


def cached_calls(run_dir: Path) -> int:
    with sqlite3.connect(run_dir / "cache.sqlite") as db:
        return int(db.execute("SELECT count(*) FROM calls").fetchone()[0])


def test_a_replica_killed_mid_run_loses_nothing_and_a_rerun_sends_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "pooled-run"
    # 2 models x 3 questions, then 3 questions x 1 pair x 2 orders: 12 calls. Replica `a` dies as
    # its third request arrives, dropping the requests it holds.
    with ReplicaServer(delay=0.05, kill_at=3) as a, ReplicaServer(delay=0.05) as b:
        config = run_config(tmp_path / "pool.yaml", {"replicas": [a.url, b.url], "concurrency": 2,
                                                     "max_retries": 0})
        assert main(["run", str(config), "--no-progress"]) == 0
        assert a.dead.is_set() and a.received >= 3
        # Every call answered exactly once, and committed.
        assert len(a.answered) + len(b.answered) == 12
        assert a.answered and len(b.answered) >= 6  # `a` answered some before it died
        assert cached_calls(run_dir) == 12
        answers = read_answers(run_dir)
        assert len(answers) == 6 and all(x.answer.startswith(("alpha says", "beta says")) for x in answers)
        judgments = read_judgments(run_dir)
        assert len(judgments) == 6 and "error" not in {j.winner for j in judgments}
        written = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
        assert written["api"]["endpoints"][POOL]["replicas"] == [a.url, b.url]
        assert "replicas" not in written["api"]

        # The same run again, the dead replica still listed: nothing is asked of anyone.
        served = len(b.answered)
        assert main(["run", str(config), "--no-progress"]) == 0
        # Without the dead replica: the same specs, hence the same cache keys; nothing is asked.
        alone = run_config(tmp_path / "alone.yaml", {"replicas": [b.url]})
        assert main(["run", str(alone), "--no-progress"]) == 0
        assert len(b.answered) == served and cached_calls(run_dir) == 12
    # Without replicas at all the name is unreachable, so any call would fail the run.
    bare = run_config(tmp_path / "bare.yaml", {"concurrency": 2})
    assert main(["run", str(bare), "--no-progress"]) == 0


# --- configuration -------------------------------------------------------------------------------


def test_replicas_round_trip_through_a_run_config() -> None:
    raw = {"concurrency": 3, "endpoints": {POOL + "/": {"replicas": ["http://10.0.0.1:8000/v1/",
                                                                    "https://10.0.0.2/v1"], "rpm": 60}}}
    api = parse_api(raw, "run.yaml: api")
    settings = api.settings(POOL)
    assert settings.replicas == ("http://10.0.0.1:8000/v1", "https://10.0.0.2/v1")
    assert (settings.concurrency, settings.rpm) == (3, 60)
    assert api.settings("http://elsewhere:8000/v1").replicas == ()
    row = api.to_row()
    assert "replicas" not in row and row["endpoints"][POOL]["replicas"] == list(settings.replicas)
    assert parse_api(yaml.safe_load(yaml.safe_dump(row)), "config.yaml: api") == api
    with session(api):
        endpoint = current().endpoint(POOL)
        assert [r.url for r in endpoint.replicas] == list(settings.replicas)
        assert endpoint.capacity == 6
        assert [r.url for r in current().endpoint("http://elsewhere:8000/v1").replicas] == \
            ["http://elsewhere:8000/v1"]


@pytest.mark.parametrize(("raw", "message"), [
    ({"replicas": ["http://a:8000/v1"]}, "run.yaml: api: replicas serve one endpoint; list them under endpoints"),
    ({"endpoints": {POOL: {"replicas": "http://a:8000/v1"}}},
     f"run.yaml: api: endpoints[{POOL!r}]: endpoint settings: replicas: expected a list of base URLs, "
     "got 'http://a:8000/v1'"),
    ({"endpoints": {POOL: {"replicas": ["10.0.0.1:8000"]}}},
     "replicas: '10.0.0.1:8000' is not an http(s) URL (write http://HOST:PORT/v1)"),
    ({"endpoints": {POOL: {"replicas": ["ftp://a/v1"]}}}, "replicas: 'ftp://a/v1' is not an http(s) URL"),
    ({"endpoints": {POOL: {"replicas": ["http://a:x/v1"]}}}, "replicas: 'http://a:x/v1' is not an http(s) URL"),
    ({"endpoints": {POOL: {"replicas": [8000]}}}, "replicas: 8000 is not an http(s) URL"),
    ({"endpoints": {POOL: {"replicas": ["http://a:8000/v1", "http://a:8000/v1/"]}}},
     "replicas: 'http://a:8000/v1' is listed twice"),
    ({"endpoints": {POOL: {"replicas": [f"http://10.0.0.{i}/v1" for i in range(65)]}}},
     "replicas: 65 replicas; at most 64"),
    ({"endpoints": {POOL: {"replicas": [f"http://10.0.0.{i}/v1" for i in range(8)], "concurrency": 1000}}},
     "replicas: 8 replicas x concurrency 1000 is 8000 requests in flight; at most 4096"),
])
def test_bad_replicas_are_one_clear_error(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(HarnessError) as info:
        parse_api(raw, "run.yaml: api")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_replicas_in_a_config_file_stop_the_run_before_anything_is_sent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = run_config(tmp_path / "bad.yaml", {"replicas": ["http://127.0.0.1:9/v1", "gpu-2:8000"]})
    assert main(["run", str(config), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: error: ") and err.count("\n") == 1
    assert "replicas: 'gpu-2:8000' is not an http(s) URL" in err
    assert not (tmp_path / "pooled-run").exists()

