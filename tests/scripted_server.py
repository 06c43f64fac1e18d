"""A scripted OpenAI-compatible chat server on loopback, for judges with known behaviour.

``reply(request_body) -> str | Scored`` decides each answer (the body has ``model`` and
``messages``); a :class:`Scored` reply also has the likeliest tokens at each position, sent back as
OpenAI's ``logprobs`` when the request asks for them. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar


@dataclass(frozen=True)
class Scored:
    """A reply with known log-probabilities: per position, the token written and the likeliest
    tokens there (the written one among them), as (token, natural log-probability)."""

    text: str
    positions: Sequence[tuple[str, Sequence[tuple[str, float]]]]

    def logprobs(self) -> dict[str, Any]:
        """OpenAI's ``choices[0].logprobs`` for this reply."""
        return {"content": [{"token": token, "logprob": dict(alts)[token], "bytes": None,
                             "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in alts]}
                            for token, alts in self.positions]}


Reply = Callable[[dict[str, Any]], "str | Scored"]


L = TypeVar("L", bound="Loopback")


class Loopback:
    """A test server on 127.0.0.1 with its serving thread: ``with Server(...) as s: s.url``."""

    httpd: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self: L) -> L:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send_json(handler: BaseHTTPRequestHandler, code: int, body: Any) -> None:
    """Answer a request with ``body`` as JSON (an object, or a list as Gemini's errors are)."""
    data = json.dumps(body).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class ScriptedServer(Loopback):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                send_json(self, code, body)

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                got = server.reply(body)
                text = got.text if isinstance(got, Scored) else got
                choice: dict[str, Any] = {"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": text}}
                if isinstance(got, Scored) and body.get("logprobs"):
                    choice["logprobs"] = got.logprobs()
                self._send(200, {
                    "id": "chatcmpl-scripted", "object": "chat.completion", "created": 0,
                    "model": body["model"],
                    "choices": [choice],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
