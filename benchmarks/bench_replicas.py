"""Throughput of one endpoint served by two replicas against one server (issue 31).

Each server is a loopback OpenAI-compatible chat server that answers at most ``--server-slots``
requests at once, ``--latency`` seconds each (a GPU server's batch is full at some point: more
requests only queue), so one server's best is ``slots / latency`` calls per second whatever the
client sends. The harness sends ``--calls`` chat calls through its real path (``OpenAIBackend``'s
concurrent stream: endpoint limits, budget, the official openai client) three ways:

- one server, ``concurrency: C`` (C = the server's slots);
- one server, ``concurrency: 2C``: the client pushes harder, the server still serves C at once;
- two replicas of one endpoint (``replicas: [URL1, URL2]``), ``concurrency: C`` per replica.

Target: two replicas give at least 1.8x one server's throughput.

    python benchmarks/bench_replicas.py [--calls 200] [--server-slots 4] [--latency 0.05]

``measure(calls=...)`` returns the figures as a dict, for another benchmark to print.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.core.types import DecodingParams
from harness.models import endpoints
from harness.models.backends import load_backend
from harness.models.endpoints import ApiConfig, EndpointSettings

PARAMS = DecodingParams(max_new_tokens=8)
POOL = "http://gpu-pool.invalid/v1"
"""The two-replica endpoint's name (never reached itself)."""
TARGET = 1.8


class SlotServer:
    """A chat server that serves at most ``slots`` requests at once, ``latency`` seconds each;
    ``served`` counts the replies and ``most`` the most it served at once."""

    def __init__(self, slots: int, latency: float) -> None:
        self.served = self.busy = self.most = 0
        self._lock = threading.Lock()
        gate = threading.BoundedSemaphore(slots)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as vLLM's server does
            # Headers and body go out in two writes: without this, Nagle's algorithm holds the
            # body back until the client's delayed ACK, 40 ms a reply on Linux.
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with gate:  # the server's own limit: a request past it waits for a free slot
                    with server._lock:
                        server.busy += 1
                        server.most = max(server.most, server.busy)
                    time.sleep(latency)
                    with server._lock:
                        server.busy -= 1
                        server.served += 1
                data = json.dumps({
                    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "An answer."}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @contextmanager
    def running(self) -> Iterator[SlotServer]:
        thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()


def _rate(spec: str, api: ApiConfig, calls: int) -> float:
    """Calls per second of ``calls`` chats through ``spec``'s backend under ``api``, after a
    warm-up that makes the clients and opens their connections (a run pays that once)."""
    with endpoints.session(api):
        backend = load_backend(spec)
        backend.generate([[{"role": "user", "content": f"warm-up {i}"}] for i in range(8)], PARAMS)
        chats = [[{"role": "user", "content": f"question {i}"}] for i in range(calls)]
        start = time.perf_counter()
        texts = backend.generate(chats, PARAMS)
        elapsed = time.perf_counter() - start
    assert texts == ["An answer."] * calls
    return calls / elapsed


def measure(calls: int = 200, *, server_slots: int = 4, latency: float = 0.05) -> dict[str, Any]:
    """The three throughputs (calls per second) and the two replicas' ratio to one server."""
    c = server_slots
    with ExitStack() as stack:
        one, two = (stack.enter_context(SlotServer(c, latency).running()) for _ in range(2))
        alone = f"openai:bench@{one.url}"
        single = _rate(alone, ApiConfig(default=EndpointSettings(concurrency=c)), calls)
        pushed = _rate(alone, ApiConfig(default=EndpointSettings(concurrency=2 * c)), calls)
        served_before = (one.served, two.served)
        pooled = _rate(f"openai:bench@{POOL}", ApiConfig(
            endpoints={POOL: EndpointSettings(concurrency=c, replicas=(one.url, two.url))}), calls)
        split = (one.served - served_before[0], two.served - served_before[1])
        most = (one.most, two.most)
    return {"calls": calls, "server_slots": c, "latency_s": latency,
            "server_limit_per_s": c / latency,
            "one_server_per_s": single, "one_server_2c_per_s": pushed, "two_replicas_per_s": pooled,
            "ratio": pooled / single, "ratio_vs_2c": pooled / pushed, "target": TARGET,
            "split": split, "most_at_once": most}


def report(figures: dict[str, Any]) -> str:
    """The figures as the lines this script prints."""
    f = figures
    return "\n".join([
        f"replicas: {f['calls']} calls; each server serves {f['server_slots']} at once, "
        f"{f['latency_s'] * 1000:.0f} ms each (at most {f['server_limit_per_s']:.0f} calls/s per server)",
        f"  one server, concurrency {f['server_slots']}:       {f['one_server_per_s']:7.1f} calls/s",
        f"  one server, concurrency {2 * f['server_slots']}:       {f['one_server_2c_per_s']:7.1f} calls/s",
        f"  two replicas, concurrency {f['server_slots']} each: {f['two_replicas_per_s']:7.1f} calls/s "
        f"(split {f['split'][0]} / {f['split'][1]} with warm-up)",
        f"  ratio two replicas / one server: {f['ratio']:.2f}x (target >= {f['target']}x); "
        f"{f['ratio_vs_2c']:.2f}x against one server driven at concurrency {2 * f['server_slots']}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--server-slots", type=int, default=4, help="requests each server serves at once (4)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request (0.05)")
    args = parser.parse_args()
    figures = measure(args.calls, server_slots=args.server_slots, latency=args.latency)
    print(report(figures))
    if figures["ratio"] < TARGET:
        raise SystemExit(f"below target: {figures['ratio']:.2f}x < {TARGET}x")


if __name__ == "__main__":
    main()
