"""Shared fixtures: a real OpenAI-compatible server (llama.cpp on the embedded GGUF) on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests must never reach for the network


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT/v1``) of llama-cpp-python's server on the embedded GGUF.

    CI installs the server, so there a missing package fails the test instead of skipping it.
    """
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("llama-cpp-python[server] is not installed (pip install -e '.[test]')")
    from harness.models.backends.embedded import gguf_path

    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()),
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
           "--model_alias", "smollm2", "--verbose", "False"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text()[-2000:]
                    raise RuntimeError(f"llama.cpp server did not start:\n{tail}") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    """A valid user task file with 20 short questions, to be broken by tests."""
    lines = ["language: en", "domain: testing", "description: A small test task.", "questions:"]
    for i in range(1, 21):
        lines += [f"  - id: q{i:02d}", "    category: arithmetic",
                  f"    question: What is {i} plus {i}?", f"    reference: '{2 * i}'"]
    path = tmp_path / "tasks" / "mini_math.yaml"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
