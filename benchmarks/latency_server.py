"""A fixed-latency OpenAI-compatible chat server on loopback, for throughput benchmarks.

Every ``POST .../chat/completions`` is answered after exactly ``--latency`` seconds with a fixed
reply, and any number of requests wait at once, so the best throughput a client can reach is
``concurrency / latency`` requests per second. To keep the server from being the bottleneck it is
one asyncio loop with hand-written minimal HTTP/1.1 (request line, headers, Content-Length body,
keep-alive), not ``http.server`` threads, and it runs in its own process so it does not compete
for the client's GIL.

    python benchmarks/latency_server.py --latency 0.5 [--port 0] [--reply TEXT]

prints ``READY http://127.0.0.1:PORT/v1`` once listening and runs until SIGTERM/SIGINT.
``GET .../models`` answers at once (a readiness probe); ``GET /stats`` gives ``{"served": N,
"cpu_s": S}``: chat completions answered so far and the server process's CPU seconds, so a
benchmark can check its request count and the server's per-request cost.

From Python, ``serve(latency)`` runs it in a subprocess and yields the base URL, and
``raw_client_rate(url, concurrency, n)`` measures what the bare official ``openai`` client
reaches against it: the baseline for the harness's own concurrent judging.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

DEFAULT_REPLY = "[[A]]"
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 411: "Length Required"}


class LatencyServer:
    def __init__(self, latency: float, reply: str) -> None:
        self.latency = latency
        self.reply = reply
        self.completion_tokens = max(1, len(reply) // 4)
        self.served = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass  # the client went away mid-request, or sent a head we cannot parse
        except asyncio.CancelledError:
            # Shutdown cancels the open connections; Python 3.11's start_server then calls
            # task.exception() on the cancelled task and prints a traceback, so end quietly instead.
            pass
        finally:
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is to be closed."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            return False  # a clean close between requests: the usual end of a keep-alive connection
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            # Only Content-Length bodies are read; the openai client always sends one.
            await self._send(writer, 411, {"error": {"message": "send a Content-Length body"}}, False)
            return False
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""

        path = target.split("?", 1)[0].rstrip("/")
        if method == "POST" and path.endswith("/chat/completions"):
            try:
                request = json.loads(body)
                messages = request.get("messages", [])
                prompt_chars = sum(len(m.get("content") or "") for m in messages if isinstance(m, dict))
            except (ValueError, AttributeError, TypeError) as exc:
                await self._send(writer, 400, {"error": {"message": f"bad request body: {exc}"}}, keep_alive)
                return keep_alive
            await asyncio.sleep(self.latency)
            await self._send(writer, 200, self._completion(request.get("model"), prompt_chars), keep_alive)
            # Counted once written, so /stats after the client has its answers includes them all.
            self.served += 1
        elif method == "GET" and path.endswith("/models"):
            await self._send(writer, 200, {"object": "list", "data": [{"id": "latency", "object": "model"}]},
                             keep_alive)
        elif method == "GET" and path == "/stats":
            await self._send(writer, 200, {"served": self.served, "cpu_s": time.process_time()}, keep_alive)
        else:
            error = {"error": {"message": f"no route for {method} {target}"}}
            await self._send(writer, 404, error, keep_alive)
        return keep_alive

    def _completion(self, model: Any, prompt_chars: int) -> dict[str, Any]:
        prompt_tokens = max(1, prompt_chars // 4)
        return {
            "id": "chatcmpl-latency", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": self.reply}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": self.completion_tokens,
                      "total_tokens": prompt_tokens + self.completion_tokens},
        }

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, payload: dict[str, Any],
                    keep_alive: bool) -> None:
        body = json.dumps(payload).encode()
        connection = "keep-alive" if keep_alive else "close"
        head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: {connection}\r\n\r\n")
        # One write per response: with TCP_NODELAY (asyncio's default) a split head and body would
        # cost two segments per answer.
        writer.write(head.encode("latin-1") + body)
        await writer.drain()


async def _main(latency: float, port: int, reply: str) -> None:
    app = LatencyServer(latency, reply)
    server = await asyncio.start_server(app.handle, "127.0.0.1", port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()[1]
    print(f"READY http://127.0.0.1:{bound}/v1", flush=True)
    async with server:
        await stop.wait()
    # Open keep-alive connections are still being handled; asyncio.run cancels them on return.


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, required=True, help="seconds before each chat answer")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--reply", default=DEFAULT_REPLY,
                        help=f"the assistant's reply (default {DEFAULT_REPLY})")
    opts = parser.parse_args(argv)
    asyncio.run(_main(opts.latency, opts.port, opts.reply))


@contextlib.contextmanager
def serve(latency: float, reply: str = DEFAULT_REPLY) -> Iterator[str]:
    """Start the server in a subprocess (sys.executable this file), wait for READY, yield the base URL,
    terminate on exit."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--latency", repr(latency), "--reply", reply]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"latency server did not start (exit code {proc.poll()}, said {line!r})")
        yield line.split(" ", 1)[1].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def raw_client_rate(url: str, concurrency: int, n: int) -> float:
    """Requests/second of the bare official openai client: n chat.completions.create calls spread over
    a ThreadPoolExecutor(concurrency), sharing one client whose connection pool allows `concurrency`
    connections."""
    import openai

    client_kwargs: dict[str, Any] = {}
    # openai's own pool (1000 connections, 100 kept alive, in 1.x through 3.x) is already wide enough;
    # a narrower one would cap the baseline below what the server allows, so widen it only then.
    # The Limits class is taken from the defaults because openai 3.x uses httpx2, not httpx.
    limits = getattr(getattr(openai, "_constants", None), "DEFAULT_CONNECTION_LIMITS", None)
    if limits is None or min(limits.max_connections or concurrency,
                             limits.max_keepalive_connections or concurrency) < concurrency:
        import httpx

        wide = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client_kwargs["http_client"] = openai.DefaultHttpxClient(limits=wide)
    client = openai.OpenAI(base_url=url, api_key="x", max_retries=0, **client_kwargs)
    messages: list[Any] = [{"role": "user", "content": "Which answer is better? Reply [[A]] or [[B]]."}]

    def call(_: int) -> None:
        client.chat.completions.create(model="latency", messages=messages, max_tokens=8)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        start = time.perf_counter()
        list(pool.map(call, range(n)))
        elapsed = time.perf_counter() - start
    client.close()
    return n / elapsed


if __name__ == "__main__":
    main()
