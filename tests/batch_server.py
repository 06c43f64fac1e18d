"""A scripted OpenAI-compatible server with OpenAI's Files and Batches API and Anthropic's Message
Batches, on loopback: the peer of the ``--batch-api`` and ``harness batch`` tests.

Chat completions are answered by ``reply(body) -> str`` (as :mod:`scripted_server`), both for
synchronous calls and for each line of a batch, so a batch run and a synchronous run see the same
model. A batch is ``in_progress`` for ``polls`` status reads, then ``completed`` (``ended`` for
Anthropic), with its output lines shuffled; custom_ids picked by ``fail`` get a 500 line in the error
file (an ``errored`` result for Anthropic) and ones picked by ``expire`` an expired line, each only
the first time they are sent. The shapes are those of the providers' API references.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scripted_server import Loopback, send_json

Pick = Callable[[str], bool]


def chat_completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` object answering ``body`` with ``text``."""
    prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4 + 1
    return {"id": "chatcmpl-scripted", "object": "chat.completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": len(text) // 4 + 1,
                      "total_tokens": prompt + len(text) // 4 + 1}}


class BatchServer(Loopback):
    def __init__(self, reply: Callable[[dict[str, Any]], str], *, polls: int = 1,
                 fail: Pick = lambda key: False, expire: Pick = lambda key: False, seed: int = 0) -> None:
        self.reply = reply
        self.polls = polls
        self.fail, self.expire = fail, expire
        self.rng = random.Random(seed)
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.anthropic: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []
        """Every batch created (both APIs), in order."""
        self.chats = 0
        """Synchronous chat completions answered."""
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with server.lock:
                    if path == "/v1/batches":
                        data = [server._batch_view(b) for b in server.batches.values()]
                        return send_json(self, 200, {"object": "list", "data": data[::-1], "has_more": False})
                    if path.startswith("/v1/batches/"):
                        b = server.batches.get(path.rsplit("/", 1)[1])
                        if b is None:
                            return send_json(self, 404, {"error": {"message": "no such batch"}})
                        b["reads"] += 1
                        return send_json(self, 200, server._batch_view(b))
                    if path.startswith("/v1/files/") and path.endswith("/content"):
                        data = server.files.get(path.split("/")[3])
                        if data is None:
                            return send_json(self, 404, {"error": {"message": "no such file"}})
                        self.send_response(200)
                        self.send_header("Content-Type", "application/octet-stream")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return None
                    if path.startswith("/v1/messages/batches/") and path.endswith("/results"):
                        data = server.anthropic[path.split("/")[4]]["results"]
                        self.send_response(200)
                        self.send_header("Content-Type", "application/x-jsonl")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return None
                    if path.startswith("/v1/messages/batches/"):
                        b = server.anthropic[path.rsplit("/", 1)[1]]
                        b["reads"] += 1
                        return send_json(self, 200, server._anthropic_view(b))
                return send_json(self, 404, {"error": {"message": f"no route {path}"}})

            def do_POST(self) -> None:
                path = self.path.split("?")[0]
                raw = self._body()
                with server.lock:
                    if path == "/v1/files":
                        return send_json(self, 200, server._upload(self.headers["Content-Type"], raw))
                    if path == "/v1/batches":
                        return send_json(self, 200, server._create(json.loads(raw)))
                    if path == "/v1/messages/batches":
                        return send_json(self, 200, server._create_anthropic(json.loads(raw)))
                    if path == "/v1/chat/completions":
                        body = json.loads(raw)
                        server.chats += 1
                        return send_json(self, 200, chat_completion(body, server.reply(body)))
                return send_json(self, 404, {"error": {"message": f"no route {path}"}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _upload(self, content_type: str, raw: bytes) -> dict[str, Any]:
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        data = next(part.get_payload(decode=True) for part in message.iter_parts()
                    if part.get_param("name", header="content-disposition") == "file")
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = data
        return {"id": file_id, "object": "file", "bytes": len(data), "created_at": 0,
                "filename": "batch.jsonl", "purpose": "batch"}

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        lines = [json.loads(t) for t in self.files[body["input_file_id"]].decode().splitlines() if t.strip()]
        batch_id = f"batch_{len(self.created) + 1}"
        self.created.append(batch_id)
        out, err = [], []
        for line in lines:
            key = line["custom_id"]
            first = key not in self.seen
            self.seen.add(key)
            row_id = f"batch_req_{len(out) + len(err)}"
            if first and self.fail(key):
                err.append({"id": row_id, "custom_id": key, "response": {
                    "status_code": 500, "request_id": "req", "body": {"error": {
                        "message": "The server had an error processing your request.", "type": "server_error"}}},
                    "error": None})
            elif first and self.expire(key):
                err.append({"id": row_id, "custom_id": key, "response": None, "error": {
                    "code": "batch_expired", "message": "This request could not be executed before the "
                    "completion window expired."}})
            else:
                out.append({"id": row_id, "custom_id": key, "response": {
                    "status_code": 200, "request_id": "req",
                    "body": chat_completion(line["body"], self.reply(line["body"]))}, "error": None})
        self.rng.shuffle(out)
        ids = {}
        for name, rows in (("output", out), ("error", err)):
            if rows:
                file_id = f"file-{len(self.files) + 1}"
                self.files[file_id] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                ids[name] = file_id
        self.batches[batch_id] = {"id": batch_id, "reads": 0, "total": len(lines), "failed": len(err),
                                  "output": ids.get("output"), "error": ids.get("error"),
                                  "metadata": body.get("metadata") or {}, "input": body["input_file_id"]}
        return self._batch_view(self.batches[batch_id])

    def _batch_view(self, b: dict[str, Any]) -> dict[str, Any]:
        done = b["reads"] > self.polls
        return {"id": b["id"], "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
                "input_file_id": b["input"], "completion_window": "24h",
                "status": "completed" if done else "in_progress",
                "output_file_id": b["output"] if done else None, "error_file_id": b["error"] if done else None,
                "created_at": 0, "metadata": b["metadata"],
                "request_counts": {"total": b["total"], "completed": b["total"] - b["failed"] if done else 0,
                                   "failed": b["failed"] if done else 0}}

    def _create_anthropic(self, body: dict[str, Any]) -> dict[str, Any]:
        batch_id = f"msgbatch_{len(self.created) + 1:04d}"
        self.created.append(batch_id)
        rows = []
        for req in body["requests"]:
            key, params = req["custom_id"], req["params"]
            first = key not in self.seen
            self.seen.add(key)
            if first and self.fail(key):
                result = {"type": "errored", "error": {"type": "error", "error": {
                    "type": "api_error", "message": "Internal server error"}}}
            elif first and self.expire(key):
                result = {"type": "expired"}
            else:
                messages = ([{"role": "system", "content": params["system"]}] if "system" in params else []) \
                    + params["messages"]
                text = self.reply({"model": params["model"], "messages": messages})
                result = {"type": "succeeded", "message": {
                    "id": "msg_1", "type": "message", "role": "assistant", "model": params["model"],
                    "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                    "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": len(text) // 4 + 1}}}
            rows.append({"custom_id": key, "result": result})
        self.rng.shuffle(rows)
        self.anthropic[batch_id] = {"id": batch_id, "reads": 0, "rows": rows,
                                    "results": "".join(json.dumps(r) + "\n" for r in rows).encode()}
        return self._anthropic_view(self.anthropic[batch_id])

    def _anthropic_view(self, b: dict[str, Any]) -> dict[str, Any]:
        done = b["reads"] > self.polls
        kinds = [r["result"]["type"] for r in b["rows"]]
        counts = {k: kinds.count(k) if done else 0 for k in ("succeeded", "errored", "canceled", "expired")}
        return {"id": b["id"], "type": "message_batch", "processing_status": "ended" if done else "in_progress",
                "request_counts": {"processing": 0 if done else len(kinds), **counts},
                "results_url": f"{self.url}/messages/batches/{b['id']}/results" if done else None}
