"""The fault-injecting proxy itself, against the scripted server, with a stdlib client."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fault_proxy import MAX_FAULTS_PER_BODY, FaultProxy
from scripted_server import ScriptedServer


def _body(n: int = 0) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": f"question {n}"}]}


def _conn(url: str, timeout: float = 1.0) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def _post(url: str, body: dict[str, Any], timeout: float = 1.0) -> http.client.HTTPResponse:
    conn = _conn(url, timeout)
    conn.request("POST", urlsplit(url).path + "/chat/completions", body=json.dumps(body),
                 headers={"Content-Type": "application/json"})
    return conn.getresponse()


@pytest.fixture(scope="module")
def _shared_upstream() -> Iterator[ScriptedServer]:
    # One server for the module: each one costs half a second to shut down.
    with ScriptedServer(lambda body: "ok") as server:
        yield server


@pytest.fixture
def upstream(_shared_upstream: ScriptedServer) -> ScriptedServer:
    _shared_upstream.requests.clear()
    return _shared_upstream


@pytest.mark.parametrize("fault", ["429", "500", "503"])
def test_error_statuses_never_reach_upstream(upstream: ScriptedServer, fault: str) -> None:
    with FaultProxy(upstream.url, faults=[fault], rate=1.0, retry_after="7") as proxy:
        resp = _post(proxy.url, _body())
        assert resp.status == int(fault)
        assert "error" in json.loads(resp.read())
        assert resp.getheader("Retry-After") == ("7" if fault == "429" else None)
    assert upstream.requests == [] and proxy.delivered == []
    assert proxy.faults_injected == {fault: 1} and proxy.requests_seen == 1


def test_hang_times_the_client_out_and_exit_does_not_wait(upstream: ScriptedServer) -> None:
    proxy = FaultProxy(upstream.url, faults=["hang"], rate=1.0, hang_s=30)
    with proxy:
        with pytest.raises(TimeoutError):
            _post(proxy.url, _body(), timeout=0.5)
        start = time.monotonic()
    assert time.monotonic() - start < 2
    assert upstream.requests == []


def test_drop_closes_without_a_response(upstream: ScriptedServer) -> None:
    with FaultProxy(upstream.url, faults=["drop"], rate=1.0) as proxy:
        with pytest.raises(ConnectionError):  # http.client.RemoteDisconnected, or a reset
            _post(proxy.url, _body())
    assert upstream.requests == [] and proxy.delivered == []


def test_truncate_reaches_upstream_but_cuts_the_body(upstream: ScriptedServer) -> None:
    with FaultProxy(upstream.url, faults=["truncate"], rate=1.0) as proxy:
        resp = _post(proxy.url, _body())
        assert resp.status == 200
        with pytest.raises(http.client.IncompleteRead):
            resp.read()
    assert upstream.requests == [_body()]
    assert proxy.delivered == [] and proxy.faults_injected == {"truncate": 1}


def test_rate_zero_forwards_and_records_deliveries(upstream: ScriptedServer) -> None:
    calls: list[int] = []
    with FaultProxy(upstream.url, rate=0.0, on_delivered=lambda p: calls.append(len(p.delivered))) as proxy:
        conn = _conn(proxy.url)
        for n in range(3):  # one kept-alive connection, as httpx would use
            conn.request("POST", "/v1/chat/completions", body=json.dumps(_body(n)),
                         headers={"Content-Type": "application/json", "Authorization": "Bearer x"})
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read())["choices"][0]["message"]["content"] == "ok"
        conn.request("GET", "/v1/models")
        assert json.loads(conn.getresponse().read())["data"][0]["id"] == "scripted"
        conn.close()
    assert proxy.delivered == upstream.requests == [_body(n) for n in range(3)]
    assert calls == [1, 2, 3] and proxy.requests_seen == 3 and not proxy.faults_injected


def test_an_identical_body_is_faulted_at_most_three_times(upstream: ScriptedServer) -> None:
    with FaultProxy(upstream.url, faults=["500"], rate=1.0) as proxy:
        statuses = []
        for _ in range(MAX_FAULTS_PER_BODY + 1):
            resp = _post(proxy.url, _body())
            resp.read()
            statuses.append(resp.status)
        assert statuses == [500, 500, 500, 200]
        assert _post(proxy.url, _body(1)).status == 500  # a different body is still faulted
    assert proxy.delivered == [_body()] and proxy.faults_injected == {"500": 4}


def test_the_same_seed_gives_the_same_faults(upstream: ScriptedServer) -> None:
    def statuses(seed: int) -> list[int]:
        with FaultProxy(upstream.url, faults=["429", "500", "503"], rate=0.5, seed=seed) as proxy:
            out = []
            for n in range(20):
                resp = _post(proxy.url, _body(n))
                resp.read()
                out.append(resp.status)
            return out

    first = statuses(3)
    assert first == statuses(3)
    assert 200 in first and {429, 500, 503} & set(first)
    assert first != statuses(4)
