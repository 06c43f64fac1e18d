"""A LoRA adapter on a serving engine (issue 31, part 4): ``openai:BASE@URL+lora:DIR`` asks the
server to load the adapter at run time, once per content, and sends the candidate's requests to
the name it loaded it under; the cache key holds the adapter's content hash, not its folder.

The server is scripted on loopback: it records ``/v1/load_lora_adapter`` (vLLM's route) or
``/load_lora_adapter`` (SGLang's), answers as vLLM and SGLang do (a name loaded twice is refused
with vLLM's own message), and answers chats only for a model name it serves, so an answer shows
which adapter gave it. Runs go through the real command line on a small slice of ``en_law``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from scripted_server import Loopback, send_json

from harness.app.cli import main
from harness.core import rundir
from harness.core.errors import SpecError
from harness.core.types import ModelConfig
from harness.models.adapters import adapter_hash, keyed_spec, served_name
from harness.models.backends.openai import create
from harness.models.generate import generation_request

BASE = "org/base-7b"
LIMIT = "4"


class LoraServer(Loopback):
    """An OpenAI-compatible server that loads LoRA adapters at run time, as ``kind`` does:
    ``vllm`` (``POST /v1/load_lora_adapter``, chats to ``NAME``), ``sglang`` (``POST
    /load_lora_adapter``, chats to ``BASE:NAME``) or ``none`` (started without runtime loading:
    both routes are 404). It records every load request and every chat body."""

    def __init__(self, kind: str = "vllm") -> None:
        self.kind = kind
        self.loads: list[dict[str, Any]] = []
        self.chats: list[dict[str, Any]] = []
        self.loaded: dict[str, str] = {}
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    if self.path.endswith("/load_lora_adapter"):
                        self._load(body)
                    elif self.path == "/v1/chat/completions":
                        self._chat(body)
                    else:
                        send_json(self, 404, {"detail": "Not Found"})

            def _load(self, body: dict[str, Any]) -> None:
                route = {"vllm": "/v1/load_lora_adapter", "sglang": "/load_lora_adapter"}.get(server.kind)
                if self.path != route:
                    send_json(self, 404, {"detail": "Not Found"})  # FastAPI's answer to no such route
                    return
                server.loads.append(body)
                name = body["lora_name"]
                if name in server.loaded:
                    send_json(self, 400, {"error": {  # vLLM's own words
                        "message": f"The lora adapter '{name}' has already been loaded.",
                        "type": "InvalidUserInput", "param": None, "code": 400}})
                    return
                server.loaded[name] = body["lora_path"]
                if server.kind == "vllm":  # vLLM answers in plain text
                    data = f"Success: LoRA adapter '{name}' added successfully.".encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    send_json(self, 200, {"success": True, "error_message": "",
                                          "loaded_adapters": dict(server.loaded)})

            def _chat(self, body: dict[str, Any]) -> None:
                server.chats.append(body)
                model = body["model"]
                name = model.removeprefix(f"{BASE}:") if server.kind == "sglang" else model
                if name not in server.loaded:
                    send_json(self, 404, {"error": {"message": f"The model `{model}` does not exist.",
                                                    "type": "NotFoundError", "code": 404}})
                    return
                send_json(self, 200, {
                    "id": "chatcmpl-lora", "object": "chat.completion", "created": 0, "model": model,
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {
                        "role": "assistant", "content": f"{name} answers: {body['messages'][-1]['content'][:30]}"}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)


def make_adapter(folder: Path, weights: bytes = b"\x00\x01" * 64) -> Path:
    """A tiny peft adapter folder: its config and a weights file (the server never reads them)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": 8, "lora_alpha": 16, "base_model_name_or_path": BASE,
        "target_modules": ["q_proj", "v_proj"]}), encoding="utf-8")
    header = json.dumps({"__metadata__": {"format": "pt"}}).encode()
    (folder / "adapter_model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + weights)
    (folder / "manifest.json").write_text("{}", encoding="utf-8")  # not part of the adapter's identity
    return folder


def expected_hash(folder: Path) -> str:
    """The content hash, computed here independently: names and bytes of the adapter's files."""
    h = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        data = (folder / name).read_bytes()
        h.update(name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def generate(server: LoraServer, adapter: Path, out: Path) -> int:
    return main(["generate", "--tasks", "en_law", "--limit", LIMIT, "--out", str(out), "--no-progress",
                 "--models", f"ft=openai:{BASE}@{server.url}+lora:{adapter}"])


def answers(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / rundir.ANSWERS).read_text(encoding="utf-8").splitlines()]


def test_an_adapter_is_loaded_once_and_its_answers_come_from_it(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    name = f"harness-{expected_hash(adapter)[:16]}"
    out = tmp_path / "run"
    with LoraServer() as server:
        assert generate(server, adapter, out) == 0
        assert generate(server, adapter, out) == 0  # a second run: every answer is cached
    assert server.loads == [{"lora_name": name, "lora_path": str(adapter.resolve())}]
    assert len(server.chats) == int(LIMIT) and {c["model"] for c in server.chats} == {name}
    rows = answers(out)
    assert len(rows) == int(LIMIT) and all(r["answer"].startswith(f"{name} answers: ") for r in rows)
    # answers.jsonl keeps the spec as written: reports find the adapter's folder (and manifest) there.
    assert {r["spec"] for r in rows} == {f"openai:{BASE}@{server.url}+lora:{adapter}"}


def test_retrained_weights_are_asked_again_under_a_new_name(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    out = tmp_path / "run"
    with LoraServer() as server:
        assert generate(server, adapter, out) == 0
        first = server.loads[0]["lora_name"]
        make_adapter(adapter, weights=b"\x07" * 200)  # retrained in place
        second = f"harness-{expected_hash(adapter)[:16]}"
        assert second != first
        assert generate(server, adapter, out) == 0
    assert [load["lora_name"] for load in server.loads] == [first, second]
    assert [c["model"] for c in server.chats] == [first] * int(LIMIT) + [second] * int(LIMIT)
    assert all(r["answer"].startswith(f"{second} answers: ") for r in answers(out))


def test_a_moved_or_copied_adapter_is_not_asked_again(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    out = tmp_path / "run"
    with LoraServer() as server:
        assert generate(server, adapter, out) == 0
        copied = tmp_path / "elsewhere" / "same-adapter"
        shutil.copytree(adapter, copied)
        moved = tmp_path / "moved"
        adapter.rename(moved)
        assert generate(server, copied, out) == 0
        assert generate(server, moved, out) == 0
    assert len(server.loads) == 1 and len(server.chats) == int(LIMIT)


def test_a_server_that_has_the_adapter_already_counts_it_as_loaded(tmp_path: Path) -> None:
    """A server started earlier (by another run) answers vLLM's 400 "has already been loaded"."""
    adapter = make_adapter(tmp_path / "adapter")
    name = served_name(expected_hash(adapter))
    with LoraServer() as server:
        server.loaded[name] = "/path/on/an/earlier/run"
        assert generate(server, adapter, tmp_path / "run") == 0
    assert len(server.loads) == 1 and {c["model"] for c in server.chats} == {name}


def test_sglang_loads_at_its_root_route_and_is_asked_as_base_colon_name(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    name = served_name(expected_hash(adapter))
    out = tmp_path / "run"
    with LoraServer("sglang") as server:
        assert generate(server, adapter, out) == 0
    assert server.loads == [{"lora_name": name, "lora_path": str(adapter.resolve())}]
    assert {c["model"] for c in server.chats} == {f"{BASE}:{name}"}
    assert all(r["answer"].startswith(f"{name} answers: ") for r in answers(out))


def test_a_server_without_runtime_loading_is_one_clear_error(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    with LoraServer("none") as server:
        assert generate(server, adapter, tmp_path / "run") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("harness: error: ") and "Traceback" not in err
    for words in ("--enable-lora", "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True", "--lora-modules"):
        assert words in err
    assert server.chats == []


def test_a_folder_without_an_adapter_is_refused_before_any_call(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "not-an-adapter"
    empty.mkdir()
    with LoraServer() as server:
        assert generate(server, empty, tmp_path / "run") == 2
    assert "holds no peft LoRA adapter" in capsys.readouterr().err
    assert server.loads == [] and server.chats == []
    with pytest.raises(SpecError, match="needs the server that loads it"):
        create(f"openai:{BASE}+lora:{empty}", BASE, str(empty))


def test_every_backend_keys_an_adapter_by_its_content(tmp_path: Path) -> None:
    """The cache key (``generation_request``) of any ``+lora:`` spec, local ones included."""
    adapter = make_adapter(tmp_path / "a")
    copy = tmp_path / "b"
    shutil.copytree(adapter, copy)
    messages = [{"role": "user", "content": "hi"}]

    def key_spec(folder: Path) -> str:
        return str(generation_request(ModelConfig("ft", f"embedded+lora:{folder}"), messages)["spec"])

    assert key_spec(adapter) == key_spec(copy) == f"embedded+lora:sha256:{expected_hash(adapter)}"
    assert keyed_spec("embedded") == "embedded"
    (copy / "manifest.json").write_text('{"steps": 6}', encoding="utf-8")  # not the adapter
    assert adapter_hash(copy) == adapter_hash(adapter)
    make_adapter(copy, weights=b"\x09" * 128)
    assert key_spec(copy) != key_spec(adapter)


def test_every_replica_of_a_pooled_endpoint_loads_the_adapter(tmp_path: Path) -> None:
    """An endpoint served by two replicas: the adapter is loaded on each (once), and its calls go
    to both under the same name."""
    adapter = make_adapter(tmp_path / "adapter")
    name = served_name(expected_hash(adapter))
    pool = "http://gpu-pool.invalid/v1"  # the endpoint's name: never reached, only its replicas are
    with LoraServer() as a, LoraServer() as b:
        config = tmp_path / "pool.yaml"
        config.write_text(yaml.safe_dump({
            "tasks": ["en_law"], "limit": 6,
            "models": [{"name": "ft", "spec": f"openai:{BASE}@{pool}+lora:{adapter}"}],
            "api": {"endpoints": {pool: {"replicas": [a.url, b.url], "concurrency": 2}}}}), encoding="utf-8")
        assert main(["generate", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    for replica in (a, b):
        assert replica.loads == [{"lora_name": name, "lora_path": str(adapter.resolve())}]
        assert replica.chats and {c["model"] for c in replica.chats} == {name}
    assert len(a.chats) + len(b.chats) == 6
