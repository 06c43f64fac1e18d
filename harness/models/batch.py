"""Batch files: the calls a stage still needs, as provider batch requests, and their results read
back into the cache.

One owner of the format both ways. A request line is OpenAI's Batch API input (``custom_id``,
``method``, ``url``, ``body``), which ``vllm run-batch`` also reads, or Anthropic's Message Batches
request (``custom_id``, ``params``). ``custom_id`` is the call's cache key (64 hex digits, within
every provider's limit), so a result is matched to its call by id, never by line order, and
equal calls are one line. Each exported call is recorded in the cache's ``pending`` table; a result
line is committed exactly as a synchronous reply is (:func:`harness.models.calls.commit_completion`:
the same response, usage and repairs), after every line of every file has been read: a malformed
line or an unknown ``custom_id`` is one error naming the file and line, with nothing written.

Which calls a stage needs is not decided here: the stage itself runs with :class:`Collector` as
its router (:func:`harness.models.calls.routed`), so a batch holds exactly what a synchronous run
would send first. Not handled here: sending batches to a provider (:mod:`harness.models.batch_api`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.types import Completion
from harness.models import calls
from harness.models.backends import Backend
from harness.models.backends.openai import completion_from_reply
from harness.models.cache import CallCache, PendingCall

FORMATS = ("openai", "anthropic")
"""Request formats :func:`write_requests` writes (OpenAI's is also ``vllm run-batch``'s)."""
CHAT_URL = "/v1/chat/completions"
ANTHROPIC_DEFAULT_MAX_TOKENS = 1024
"""Anthropic requires ``max_tokens``; a body without a limit gets this one."""


@dataclass(frozen=True)
class Line:
    """One call of a batch: what the cache records and the request body sent."""

    call: PendingCall
    body: dict[str, Any]
    """The OpenAI chat request (``model``, ``messages`` and this model's parameters)."""


@dataclass
class Collector:
    """A router that answers nothing: it records each call a stage would send (once per key), so
    the stage walks every call it can form now; a call whose input is not answered yet (turn 2 of
    an unanswered turn 1) is not formed, and waits for the next export."""

    lines: dict[str, Line] = field(default_factory=dict)
    local: Counter[str] = field(default_factory=Counter)
    """Calls of local models (no endpoint to batch them for), by spec: the run makes them itself."""

    def __call__(self, backend: Backend, misses: Sequence[calls.Miss], cache: CallCache
                 ) -> Iterator[tuple[int, Completion]]:
        body_of = getattr(backend, "batch_body", None)
        for miss in misses:
            if body_of is None:
                self.local[backend.spec] += 1
            elif miss.key not in self.lines:
                call = PendingCall(miss.key, miss.kind, dict(miss.request), miss.name, backend.spec,
                                   miss.top_logprobs)
                self.lines[miss.key] = Line(call, body_of(miss.messages, miss.params, miss.top_logprobs,
                                                          miss.schema))
        return iter(())


def user_turns(line: Line) -> int:
    """How many user turns a call's conversation holds (turn K of a multi-turn question)."""
    return sum(m.get("role") == "user" for m in line.body["messages"])


def request_line(line: Line, fmt: str) -> dict[str, Any]:
    """One line of a request file in ``fmt`` (:data:`FORMATS`)."""
    if fmt == "openai":
        return {"custom_id": line.call.key, "method": "POST", "url": CHAT_URL, "body": line.body}
    return {"custom_id": line.call.key, "params": anthropic_params(line.body)}


def anthropic_params(body: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI chat body as Anthropic's Messages ``params``: system messages in ``system``, the
    token limit as ``max_tokens``, ``stop`` as ``stop_sequences``; ``seed``, ``reasoning_effort``
    and ``response_format`` have no equivalent and are left out (verdicts are then read from the
    text, as from any endpoint that refuses JSON)."""
    if body.get("logprobs") or body.get("top_logprobs"):
        raise HarnessError("Anthropic's batches return no log-probabilities: export a logprobs judge "
                           "with --format openai, or judge with --judge-method generate")
    messages = [dict(m) for m in body["messages"]]
    system = "\n\n".join(str(m["content"]) for m in messages if m.get("role") == "system")
    limit = body.get("max_tokens") or body.get("max_completion_tokens") or ANTHROPIC_DEFAULT_MAX_TOKENS
    params: dict[str, Any] = {"model": body["model"], "max_tokens": limit,
                              "messages": [m for m in messages if m.get("role") != "system"]}
    if system:
        params["system"] = system
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            params[name] = body[name]
    if body.get("stop"):
        params["stop_sequences"] = body["stop"] if isinstance(body["stop"], list) else [body["stop"]]
    return params


def shard_of(key: str, shards: int) -> int:
    """The shard a call goes to: by its key, so each call has one shard whatever else is exported."""
    return int(key[:8], 16) % shards


def shard_paths(out: Path, shards: int) -> list[Path]:
    """``out`` itself for one shard; ``NAME-1-of-4.jsonl``... for several."""
    if shards == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i + 1}-of-{shards}{out.suffix}") for i in range(shards)]


def write_requests(cache: CallCache, lines: Sequence[Line], *, out: Path, fmt: str = "openai",
                   shards: int = 1) -> list[tuple[Path, int]]:
    """Record ``lines`` as pending in ``cache`` and write them to ``out`` (split by key into
    ``shards`` files); returns each file with its line count. Each file is written whole or not at
    all (a temporary file renamed)."""
    if fmt not in FORMATS:
        raise HarnessError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    texts: list[list[str]] = [[] for _ in range(shards)]
    for line in lines:
        texts[shard_of(line.call.key, shards)].append(
            json.dumps(request_line(line, fmt), ensure_ascii=False, separators=(",", ":")))
    cache.add_pending([line.call for line in lines])
    written = []
    for path, part in zip(shard_paths(out, shards), texts):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(t + "\n" for t in part)
            os.replace(tmp, path)
        except OSError as exc:
            raise HarnessError(f"{path}: cannot write the batch file ({exc.strerror})") from None
        written.append((path, len(part)))
    return written


# --- results ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """One result line: a reply, or why there is none (the call stays pending)."""

    key: str
    where: str
    """``FILE:LINE``, for messages."""
    done: Completion | None
    problem: str = ""
    """Why there is no reply: the provider's error, ``expired``, ``canceled``."""


@dataclass(frozen=True)
class Imported:
    """What an import stored, and what stays pending."""

    stored: Counter[str]
    """Replies committed, by stage."""
    already: int
    """Lines whose call the cache already held (an import run twice): nothing written."""
    failed: tuple[Outcome, ...]
    """Lines with no reply (errors, expired, canceled): their calls stay pending."""
    waiting: int
    """Calls still pending after the import (failed ones and ones no file answered)."""

    def summary(self) -> str:
        total = sum(self.stored.values())
        stages = ", ".join(f"{k} {n:,}" for k, n in sorted(self.stored.items()))
        text = f"imported {total:,} repl{'y' if total == 1 else 'ies'}" + (f" ({stages})" if stages else "")
        if self.already:
            text += f"; {self.already:,} already stored"
        if self.failed:
            lapsed = ("expired", "canceled")
            kinds = Counter(o.problem if o.problem in lapsed else "error" for o in self.failed)
            first = next((o for o in self.failed if o.problem not in lapsed), self.failed[0])
            parts = ", ".join(f"{n:,} {k}" for k, n in sorted(kinds.items()))
            text += f"; {len(self.failed):,} without a reply ({parts}; e.g. {first.where}: {first.problem})"
        if self.waiting:
            text += (f"; {self.waiting:,} call{'s' if self.waiting != 1 else ''} still pending (the next "
                     "run sends them, or export them again)")
        return text


def read_results(paths: Sequence[Path]) -> list[Outcome]:
    """Every line of OpenAI, vLLM and Anthropic batch result files (output and error files alike);
    a line that is none of them is one error naming its file and line."""
    out = []
    for path in paths:
        try:
            f = open(path, encoding="utf-8")
        except OSError as exc:
            raise HarnessError(f"{path}: cannot read the batch results ({exc.strerror})") from None
        with f:
            try:
                for n, text in enumerate(f, 1):
                    if text.strip():
                        out.append(result_line(text, f"{path}:{n}"))
            except UnicodeDecodeError as exc:
                raise HarnessError(f"{path}: not UTF-8 text ({exc.reason})") from None
    return out


def result_line(text: str, where: str) -> Outcome:
    """One result line, read: OpenAI's and vLLM's (``response`` / ``error``), or Anthropic's
    (``result``)."""
    try:
        row = json.loads(text)
    except ValueError as exc:
        raise HarnessError(f"{where}: not a JSON line ({exc})") from None
    if not isinstance(row, dict) or not isinstance(row.get("custom_id"), str) or not row["custom_id"]:
        raise HarnessError(f"{where}: not a batch result line (no custom_id)")
    key = row["custom_id"]
    try:
        if "result" in row:
            return _anthropic(key, where, row["result"])
        if "response" in row or "error" in row:
            return _openai(key, where, row.get("response"), row.get("error"))
    except (ValueError, TypeError, AttributeError) as exc:
        raise HarnessError(f"{where}: custom_id {key!r}: malformed result ({exc})") from None
    if "body" in row or "params" in row:
        raise HarnessError(f"{where}: custom_id {key!r}: a request line, not a result: import the file the "
                           "engine wrote (its output and error files)")
    raise HarnessError(f"{where}: custom_id {key!r}: not a batch result line (no response, error or result)")


def _openai(key: str, where: str, response: Any, error: Any) -> Outcome:
    if isinstance(response, dict) and response.get("status_code") == 200 and response.get("body") is not None:
        if not isinstance(response["body"], dict):
            raise ValueError("the response body is not an object")
        # Log-probabilities are read whenever present; the import keeps them only for a call that
        # asked for them. A result does not say the request's budget (a failure is asked again).
        return Outcome(key, where, completion_from_reply(response["body"], budget=None, top_logprobs=1))
    if isinstance(response, dict) and not isinstance(response.get("status_code"), int) and error is None:
        raise ValueError("the response has no status_code")
    status = response.get("status_code") if isinstance(response, dict) else None
    body = response.get("body") if isinstance(response, dict) else None
    message = _message(error) or _message(body) or "no reason given"
    if _code(error) == "batch_expired":
        return Outcome(key, where, None, "expired")
    return Outcome(key, where, None, f"HTTP {status}: {message}" if status else message)


def _anthropic(key: str, where: str, result: Any) -> Outcome:
    kind = result.get("type")
    if kind == "succeeded":
        return Outcome(key, where, anthropic_completion(result["message"]))
    if kind in ("expired", "canceled"):
        return Outcome(key, where, None, kind)
    if kind == "errored":
        return Outcome(key, where, None, _message(result.get("error")) or "errored")
    raise ValueError(f"unknown result type {kind!r}")


def anthropic_completion(message: Mapping[str, Any]) -> Completion:
    """An Anthropic Messages reply as a completion: its text blocks, its thinking blocks as the
    reasoning, usage with cache reads as cached prompt tokens."""
    blocks = message["content"]
    if not isinstance(blocks, list):
        raise ValueError("the message content is not a list of blocks")
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    thinking = "".join(b.get("thinking", "") for b in blocks if b.get("type") == "thinking")
    usage = message.get("usage") or {}
    prompt, completion = usage.get("input_tokens"), usage.get("output_tokens")
    cached = usage.get("cache_read_input_tokens")
    if message.get("stop_reason") == "max_tokens" and not text.strip():
        return Completion("", prompt, completion, None, thinking or None, None, cached, failure=(
            "cut off while reasoning: no answer within the batch request's max_tokens (a batch "
            "reply); a synchronous run asks it again with a larger budget"))
    return Completion(text.strip(), prompt, completion, None, thinking or None, None, cached)


def _message(error: Any) -> str:
    """The human part of an error as providers nest it (``{"error": {"message"}}``, ``{"message"}``,
    vLLM's bare string)."""
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        inner = error.get("error")
        if isinstance(inner, (dict, str)) and _message(inner):
            return _message(inner)
        if isinstance(error.get("message"), str):
            return str(error["message"])
    return ""


def _code(error: Any) -> str:
    return str(error.get("code") or "") if isinstance(error, dict) else ""


def import_results(cache: CallCache, paths: Sequence[Path]) -> Imported:
    """Commit every answered line of ``paths`` to ``cache`` (one transaction), after checking every
    line: an unknown ``custom_id`` is an error naming its file and line, with nothing written."""
    outcomes = read_results(paths)
    keys = list(dict.fromkeys(o.key for o in outcomes))
    pending = cache.pending(keys)
    # A call the cache holds already (imported before, or answered by a run since the export) keeps
    # the reply it has: later stages may have used it.
    stored = cache.stored_keys(keys)
    for o in outcomes:
        if o.key not in pending and o.key not in stored:
            raise HarnessError(f"{o.where}: custom_id {o.key!r} is no call exported from this run "
                               f"directory ({cache.path.parent}); nothing was imported")
    answered: dict[str, Outcome] = {}
    for o in outcomes:
        if o.done is not None and o.key not in stored:
            answered.setdefault(o.key, o)
    failed = tuple(o for o in outcomes if o.done is None and o.key not in stored and o.key not in answered)
    counts: Counter[str] = Counter()
    with cache.transaction():
        for key, o in answered.items():
            call = pending[key]
            assert o.done is not None
            done = o.done if call.top_logprobs else dataclasses.replace(o.done, top=None)
            calls.commit_completion(cache, kind=call.kind, request=call.request, name=call.name,
                                    spec=call.spec, top_logprobs=call.top_logprobs, done=done)
            counts[call.kind] += 1
        cache.drop_pending([*answered, *(k for k in stored if k in pending)])
    already = sum(1 for o in outcomes if o.key in stored)
    return Imported(counts, already, failed, cache.waiting())
