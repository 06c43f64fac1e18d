"""A fault-injecting HTTP proxy in front of an OpenAI-compatible server on loopback, for tests.

Each POST is, with probability ``rate``, answered by one of the ``FAULTS`` instead of being
forwarded: ``429`` (with ``Retry-After``), ``500``, ``503``, ``hang`` (no answer for ``hang_s``),
``drop`` (connection closed, no response) or ``truncate`` (upstream's 200 cut off half-way).
Draws come from ``random.Random(seed)`` in arrival order, so a sequential client sees the same
faults on every run. No request body is faulted more than ``MAX_FAULTS_PER_BODY`` times, so a
client that retries always gets through. GETs are never faulted.

``first`` lists faults injected on the first POSTs before the random schedule takes over.
``delivered`` lists, in order, the parsed bodies of POSTs whose complete 200 response was written
to the client; ``on_delivered(proxy)`` runs after each one (e.g. to kill the client after N).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import socket
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

FAULTS = ("429", "500", "503", "hang", "drop", "truncate")
MAX_FAULTS_PER_BODY = 3
# Generous: a CPU llama.cpp upstream can be slow, and the client's own timeout is what tests exercise.
UPSTREAM_TIMEOUT_S = 600.0

_ERRORS: dict[str, tuple[int, dict[str, Any]]] = {
    "429": (429, {"message": "Rate limit reached (injected)", "type": "rate_limit_error",
                  "code": "rate_limit_exceeded"}),
    "500": (500, {"message": "Internal server error (injected)", "type": "server_error", "code": None}),
    "503": (503, {"message": "Service unavailable (injected)", "type": "server_error", "code": None}),
}


class FaultProxy:
    def __init__(self, upstream: str, faults: Sequence[str] = FAULTS, rate: float = 0.3, seed: int = 0,
                 retry_after: str = "1", hang_s: float = 5.0,
                 on_delivered: Callable[[FaultProxy], None] | None = None,
                 first: Sequence[str] = ()) -> None:
        unknown = sorted(set(faults) - set(FAULTS))
        if unknown or not faults:
            raise ValueError(f"faults must be a non-empty subset of {FAULTS}, got {list(faults)}")
        parts = urlsplit(upstream)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream needs an explicit host and port, got {upstream!r}")
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self._path = parts.path.rstrip("/")
        self.faults = tuple(faults)
        self.rate = rate
        self.retry_after = retry_after
        self.hang_s = hang_s
        self.on_delivered = on_delivered
        self.delivered: list[dict[str, Any]] = []
        self.faults_injected: Counter[str] = Counter()
        self.requests_seen = 0
        self._rng = random.Random(seed)
        # Faults for the first POSTs, whatever the draw: concurrent clients make arrival order,
        # hence the drawn schedule, vary; this guarantees each listed fault happens.
        self._first = list(first)
        self._faults_per_body: Counter[bytes] = Counter()
        self._lock = threading.Lock()
        # Set on exit so hanging handlers stop waiting instead of outliving the proxy.
        self._stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        # A short poll: shutdown() waits up to one poll interval, and tests start many proxies.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{self._path}"

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _decide(self, raw: bytes) -> str | None:
        """The fault to inject for this POST, or None to forward it."""
        key = hashlib.sha256(raw).digest()
        with self._lock:
            self.requests_seen += 1
            # Draw even when the body is capped, so the cap does not shift later requests' faults.
            fault = self._rng.choice(self.faults) if self._rng.random() < self.rate else None
            capped = self._faults_per_body[key] >= MAX_FAULTS_PER_BODY
            # A listed fault waits for a body that may still be faulted, so each one happens even
            # when the first POSTs retry one body (a client that sends one request before the rest).
            if self._first and not capped:
                fault = self._first.pop(0)
            if fault is None or capped:
                return None
            self._faults_per_body[key] += 1
            self.faults_injected[fault] += 1
            return fault

    def _forward(self, method: str, path: str, body: bytes | None,
                 headers: dict[str, str]) -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=UPSTREAM_TIMEOUT_S)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type", "application/json"), resp.read()
        finally:
            conn.close()

    def _record_delivery(self, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        with self._lock:
            self.delivered.append(body)
        if self.on_delivered is not None:
            self.on_delivered(self)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like a real server behind httpx

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, content_type: str, data: bytes,
                      extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

            def _relay(self, method: str, body: bytes | None) -> tuple[int, str, bytes] | None:
                headers = {k: v for k in ("Content-Type", "Authorization") if (v := self.headers.get(k))}
                try:
                    return proxy._forward(method, self.path, body, headers)
                except OSError as e:
                    error = {"error": {"message": f"upstream unreachable: {e}", "type": "proxy_error",
                                       "code": None}}
                    self._send(502, "application/json", json.dumps(error).encode())
                    return None

            def do_GET(self) -> None:
                if (got := self._relay("GET", None)) is not None:
                    self._send(*got)

            def do_POST(self) -> None:
                # Read the whole body first: the fault is keyed on it, and a client mid-send
                # would see a reset rather than the fault we mean to show it.
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy._decide(raw)
                if fault in _ERRORS:
                    status, error = _ERRORS[fault]
                    extra = {"Retry-After": proxy.retry_after} if fault == "429" else None
                    self._send(status, "application/json", json.dumps({"error": error}).encode(), extra)
                elif fault == "hang":
                    proxy._stopping.wait(proxy.hang_s)
                    self.close_connection = True
                elif fault == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass  # the client already went away: dropped either way
                elif (got := self._relay("POST", raw)) is not None:
                    status, content_type, data = got
                    if fault == "truncate":
                        # Full Content-Length but half the bytes, then EOF: an incomplete body.
                        self.send_response(status)
                        self.send_header("Content-Type", content_type)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data[:len(data) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    try:
                        self._send(status, content_type, data)
                    except OSError:
                        self.close_connection = True
                        return  # the client is gone (killed, timed out): not delivered
                    if status == 200:
                        proxy._record_delivery(raw)

        return Handler
