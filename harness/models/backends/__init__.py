"""Model backends, one file each, chosen by the scheme of a spec string.

A spec is ``SCHEME[:ARG][+lora:ADAPTER_DIR]``: ``embedded``, ``hf:Qwen/Qwen2.5-0.5B-Instruct``,
``openai:gpt-4o-mini@http://localhost:8000/v1``. The scheme is the backend's file name in this
folder (or an entry point in the ``harness.backends`` group); the module's ``create(arg, adapter)``
checks the spec and returns a backend that loads its weights or client only on first use, so a
fully cached run never imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from harness.core.errors import SpecError
from harness.core.plugins import discover, unknown
from harness.core.types import Completion, DecodingParams, Message

ADAPTER_MARK = "+lora:"


@runtime_checkable
class Backend(Protocol):
    """Anything that answers chat conversations."""

    spec: str

    def generate(self, conversations: list[list[Message]], params: DecodingParams) -> list[str]:
        """One reply per conversation, in order."""
        ...


@runtime_checkable
class Streamer(Protocol):
    """A backend that hands back each reply as soon as it is done (remote endpoints)."""

    def stream(self, conversations: list[list[Message]], params: DecodingParams
               ) -> Iterator[tuple[int, Completion]]:
        """``(index, completion)`` pairs in the order they finish. If a request fails for good,
        the replies already finished are still yielded before the error is raised."""
        ...


@runtime_checkable
class LogprobStreamer(Protocol):
    """A backend whose replies can carry the likeliest tokens at each position (OpenAI-compatible
    endpoints: the probability-weighted judge reads its verdict there)."""

    def stream_logprobs(self, conversations: list[list[Message]], params: DecodingParams,
                        top_logprobs: int) -> Iterator[tuple[int, Completion]]:
        """As :meth:`Streamer.stream`, each completion's ``top`` filled when the endpoint returns
        log-probabilities (None when it does not)."""
        ...


@runtime_checkable
class StructuredStreamer(Protocol):
    """A backend that can ask for JSON following a schema (OpenAI's ``response_format``)."""

    def stream_structured(self, conversations: list[list[Message]], params: DecodingParams,
                          schema: Mapping[str, Any]) -> Iterator[tuple[int, Completion]]:
        """As :meth:`Streamer.stream`, each reply asked for as JSON following ``schema`` where the
        endpoint takes it (plain text where it refuses)."""
        ...


def completions(backend: Backend, conversations: list[list[Message]], params: DecodingParams,
                batch_size: int = 16, top_logprobs: int = 0, schema: Mapping[str, Any] | None = None
                ) -> Generator[tuple[int, Completion], None, None]:
    """Every reply with its index, as soon as it exists: streamed by backends that can, else one
    batch of ``batch_size`` at a time. Callers commit each reply to the cache as it arrives.
    ``top_logprobs`` asks a :class:`LogprobStreamer` for that many alternatives per position;
    ``schema`` asks a :class:`StructuredStreamer` for JSON (other backends reply as usual)."""
    if top_logprobs:
        if not isinstance(backend, LogprobStreamer):
            raise TypeError(f"{backend.spec}: this backend cannot return log-probabilities")
        yield from backend.stream_logprobs(conversations, params, top_logprobs)
        return
    if schema is not None and isinstance(backend, StructuredStreamer):
        yield from backend.stream_structured(conversations, params, schema)
        return
    if isinstance(backend, Streamer):
        yield from backend.stream(conversations, params)
        return
    with_usage = getattr(backend, "generate_completions", None)
    for start in range(0, len(conversations), batch_size):
        chunk = conversations[start : start + batch_size]
        if with_usage is not None:
            done = with_usage(chunk, params)
        else:
            done = [Completion(t) for t in backend.generate(chunk, params)]
        yield from enumerate(done, start)


@runtime_checkable
class LabelScorer(Protocol):
    """A backend that can score fixed replies (used by the likelihood judge)."""

    def label_logprobs(self, conversation: list[Message], labels: list[str]) -> list[float]:
        """Total log-probability of each label as the assistant's whole reply."""
        ...


@dataclass(frozen=True)
class ParsedSpec:
    """A spec string split into its parts.

    >>> parse_spec("hf:org/model+lora:out/adapter")
    ParsedSpec(scheme='hf', arg='org/model', adapter='out/adapter')
    >>> parse_spec("openai:gpt-4o@http://localhost:8000/v1")
    ParsedSpec(scheme='openai', arg='gpt-4o@http://localhost:8000/v1', adapter=None)
    """

    scheme: str
    arg: str
    adapter: str | None


def parse_spec(spec: str) -> ParsedSpec:
    base, mark, adapter = spec.partition(ADAPTER_MARK)
    if mark and not adapter.strip():
        raise SpecError(f"model spec {spec!r}: '+lora:' needs an adapter directory")
    scheme, _, arg = base.partition(":")
    if not scheme.strip() or scheme != scheme.strip():
        raise SpecError(f"model spec {spec!r}: expected SCHEME[:ARG][+lora:DIR], e.g. 'embedded'")
    return ParsedSpec(scheme, arg, adapter if mark else None)


def _backend_modules() -> dict[str, Any]:
    return discover([Path(__file__).parent], (".py",), "harness.backends")


_LOADED: dict[str, Backend] = {}


def load_backend(spec: str) -> Backend:
    """The backend for ``spec``: checked now, loaded lazily, one instance per spec per process."""
    if spec in _LOADED:
        return _LOADED[spec]
    parsed = parse_spec(spec)
    refs = _backend_modules()
    if parsed.scheme not in refs:
        raise unknown("model backend", parsed.scheme, refs)
    ref = refs[parsed.scheme]
    if ref.path is not None:
        module = importlib.import_module(f"{__name__}.{parsed.scheme}")
        factory = module.create
    else:
        obj = ref.load_entry_point()
        factory = getattr(obj, "create", obj)
    if parsed.adapter is not None and not Path(parsed.adapter).is_dir():
        raise SpecError(f"model spec {spec!r}: adapter directory {parsed.adapter!r} does not exist")
    backend = factory(spec, parsed.arg, parsed.adapter)
    _LOADED[spec] = backend
    return backend


def check_spec(spec: str) -> None:
    """Raise :class:`SpecError` early (before any work) if ``spec`` cannot be used."""
    load_backend(spec)
