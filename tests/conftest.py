"""Shared fixtures: a real OpenAI-compatible server (llama.cpp on the embedded GGUF) on loopback, and
Debian's headless Chromium (through playwright) for the tests that look at pages as a person would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests must never reach for the network


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen[Any], *, what: str, log: Path, timeout: float = 60) -> None:
    """Poll ``url`` until it answers; a server process that exits or a timeout fails with its log."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.2)


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by playwright (never a downloaded browser)."""
    from judged_run import need

    chromium = need("chromium", "Debian: chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("playwright-python", "pip install -e '.[test]'")  # fails in CI, skips elsewhere
        raise
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield b
        b.close()


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
        wait_until_up(f"{url}/models", proc, what="llama.cpp server", log=log, timeout=120)
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
