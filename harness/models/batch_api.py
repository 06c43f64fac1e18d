"""``--batch-api``: a stage's calls sent through the endpoint's own Batch API, resumable.

:class:`ProviderBatches` is a router (:func:`harness.models.calls.routed`): the misses of each call
of a stage become one provider batch (OpenAI's Files and Batches API through the official SDK, or
Anthropic's Message Batches over HTTP), written by :mod:`harness.models.batch`. The batch id is
recorded in the run's cache *before* anything waits on it, so a run killed while a batch is pending
resumes that batch when started again and never submits the same calls twice; a crash between the
provider creating a batch and the id being stored is covered too, by the batch's metadata (a hash
of its calls' keys), looked up among the provider's recent batches before a new one is created.

Each reply is committed as a synchronous reply is. Lines that expired, or failed with a server
error or a rate limit, go into a new batch (up to :data:`ROUNDS` batches in all); a line refused
for good (400) stops the stage with that error, every reply already stored.

Not handled here: local models (the router declines them: they answer as usual) and the request
and result formats (:mod:`harness.models.batch`).
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from harness.core.errors import BackendError
from harness.core.types import Completion
from harness.models import batch, calls, endpoints
from harness.models.backends import Backend
from harness.models.budget import Price, Ticket, estimate_tokens
from harness.models.cache import CallCache, PendingCall

ROUNDS = 3
"""Batches one stage call may take: the first, then resubmissions of expired or failed lines."""
DONE = ("completed", "failed", "expired", "cancelled", "ended")
"""Provider statuses after which a batch changes no more (``ended``: Anthropic's)."""


class ProviderBatches:
    """The router of ``--batch-api``; ``poll``: seconds between status checks."""

    def __init__(self, *, poll: float = 30.0, say: Callable[[str], None] | None = None) -> None:
        self.poll = poll
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self._tickets: dict[str, tuple[Ticket, Price | None]] = {}
        """The budget booked for each batch this run submitted, settled when its results come."""

    def __call__(self, backend: Backend, misses: Sequence[calls.Miss], cache: CallCache
                 ) -> Iterator[tuple[int, Completion]] | None:
        if getattr(backend, "batch_body", None) is None:
            return None
        return self._answer(backend, misses, cache)

    def _answer(self, backend: Any, misses: Sequence[calls.Miss], cache: CallCache
                ) -> Iterator[tuple[int, Completion]]:
        index = {m.key: j for j, m in enumerate(misses)}
        lines = {m.key: batch.Line(PendingCall(m.key, m.kind, dict(m.request), m.name, backend.spec,
                                               m.top_logprobs),
                                   backend.batch_body(m.messages, m.params, m.top_logprobs, m.schema))
                 for m in misses}
        provider = _Provider.of(backend)
        # Batches submitted earlier (a killed run) that hold some of these calls: waited on, not sent again.
        known = cache.pending(list(lines))
        resumed = list(dict.fromkeys(c.batch for c in known.values() if c.batch))
        for batch_id in resumed:
            self.say(f"{backend.spec}: resuming batch {batch_id}, submitted by an earlier run (its id is "
                     "stored in the run directory): its calls are not sent again")
        todo = [k for k in lines if not (k in known and known[k].batch)]
        rounds = 0
        while True:
            batch_ids = resumed
            resumed = []
            if todo:
                if rounds == ROUNDS:
                    raise BackendError(f"{backend.spec}: {_calls(len(todo))} still unanswered after {ROUNDS} "
                                       "batches; every reply so far is stored (a re-run sends the rest)")
                rounds += 1
                batch_ids = [*batch_ids, self._submit(provider, cache, [lines[k] for k in todo])]
                todo = []
            if not batch_ids:
                return
            for batch_id in batch_ids:
                outcomes = self._wait(provider, batch_id)
                self._settle(batch_id, [o.done for o in outcomes if o.key in index and o.done is not None])
                answered = []
                for o in outcomes:
                    if o.key not in index or o.key in answered:
                        continue
                    if o.done is not None:
                        answered.append(o.key)
                        yield index[o.key], o.done
                    elif _resubmit(o):
                        todo.append(o.key)
                    else:
                        raise BackendError(f"{backend.spec}: batch {batch_id}: {o.problem} (every other "
                                           "reply is stored)")
                missing = [k for k in cache.batch_keys(batch_id) if k in lines and k not in answered
                           and k not in todo]
                todo += missing  # a line the provider left out is asked again in the next batch
                cache.drop_pending(answered)
                cache.close_batch(batch_id, "done")
            todo = list(dict.fromkeys(todo))
            if todo:
                self.say(f"{backend.spec}: {_calls(len(todo))} came back without a reply (expired or a "
                         "server error); sending them in a new batch")

    def _submit(self, provider: _Provider, cache: CallCache, lines: list[batch.Line]) -> str:
        cache.add_pending([line.call for line in lines])
        tag = hashlib.sha256("\n".join(sorted(line.call.key for line in lines)).encode()).hexdigest()[:32]
        # A batch of the same calls that this run directory does not know: created by a run killed
        # before it stored the id. (One it knows has ended, and its failed lines are being resent.)
        found = provider.find(tag, known=set(cache.batch_ids()))
        # --max-cost holds for a batch as for single calls: booked at its worst case (every reply at
        # its limit, at the Batch API's price) before it is sent.
        session = endpoints.current()
        known = session.prices.lookup(provider.backend.model)
        price = known.for_batch() if known is not None else None
        ticket = None if found else session.budget.reserve(
            provider.spec, sum(estimate_tokens(line.body["messages"]) for line in lines),
            sum(_limit(line.body) for line in lines), price)
        try:
            batch_id = found or provider.create(lines, tag)
        except BaseException:
            if ticket is not None:
                session.budget.release(ticket)
            raise
        if ticket is not None:
            self._tickets[batch_id] = (ticket, price)
        cache.record_batch(batch_id, endpoint=provider.url, provider=provider.kind,
                           keys=[line.call.key for line in lines])
        self.say(f"{provider.spec}: {'resumed' if found else 'submitted'} batch {batch_id} "
                 f"({_calls(len(lines))}); its id is stored in the run directory, so a run stopped now "
                 "resumes it")
        return batch_id

    def _settle(self, batch_id: str, replies: list[Completion]) -> None:
        """Replace a batch's booking by what its replies used (as billed)."""
        if batch_id not in self._tickets:
            return
        ticket, price = self._tickets.pop(batch_id)
        prompt = sum(d.prompt_tokens or 0 for d in replies)
        completion = sum(d.completion_tokens or 0 for d in replies)
        cost = price.cost(prompt, completion) if price is not None else 0.0
        endpoints.current().budget.settle(ticket, prompt + completion, cost)

    def _wait(self, provider: _Provider, batch_id: str) -> list[batch.Outcome]:
        last = ""
        while True:
            status, done, total = provider.status(batch_id)
            line = f"{provider.spec}: batch {batch_id}: {status}, {done}/{total} done"
            if line != last:
                self.say(line)
                last = line
            if status in DONE:
                break
            time.sleep(self.poll)
        if status == "failed":
            raise BackendError(f"{provider.spec}: batch {batch_id} failed: {provider.errors(batch_id)}")
        return provider.results(batch_id)


def _calls(n: int) -> str:
    return f"{n:,} call" + ("" if n == 1 else "s")


def _limit(body: dict[str, Any]) -> int:
    """The most completion tokens a request may take."""
    return int(body.get("max_completion_tokens") or body.get("max_tokens") or 0)


def _resubmit(outcome: batch.Outcome) -> bool:
    """Whether a line without a reply may succeed in a new batch: it expired, was canceled, or
    failed with a rate limit or a server error."""
    problem = outcome.problem
    return problem in ("expired", "canceled") or problem.startswith(("HTTP 429", "HTTP 5")) or \
        "rate_limit" in problem or "overloaded" in problem


class _Provider:
    """One endpoint's batch API."""

    kind = "openai"

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.spec = backend.spec
        self.url = endpoints.normalise_url(backend.base_url)

    @staticmethod
    def of(backend: Any) -> _Provider:
        host = urlsplit(endpoints.normalise_url(backend.base_url)).hostname or ""
        return _Anthropic(backend) if host == "api.anthropic.com" else _OpenAI(backend)

    def find(self, tag: str, known: set[str]) -> str | None:
        """A batch of these calls (``tag``) the provider holds and ``known`` does not list."""
        raise NotImplementedError

    def create(self, lines: list[batch.Line], tag: str) -> str:
        """Submit ``lines`` as one batch; its id."""
        raise NotImplementedError

    def status(self, batch_id: str) -> tuple[str, int, int]:
        """``(status, lines done, lines in all)``."""
        raise NotImplementedError

    def results(self, batch_id: str) -> list[batch.Outcome]:
        """Every result line of an ended batch (output and error lines alike)."""
        raise NotImplementedError

    def errors(self, batch_id: str) -> str:
        """Why a failed batch failed, in a few words."""
        raise NotImplementedError


class _OpenAI(_Provider):
    """OpenAI's Files and Batches API, through the official client (any endpoint that implements
    ``/v1/files`` and ``/v1/batches``)."""

    def _client(self) -> Any:
        session = endpoints.current()
        return self.backend._client(session.endpoint(self.backend.base_url))

    def find(self, tag: str, known: set[str]) -> str | None:
        try:
            page = self._client().batches.list(limit=100)
        except Exception:  # noqa: BLE001 -- a provider without listing: nothing to adopt
            return None
        for b in getattr(page, "data", None) or []:
            meta = getattr(b, "metadata", None) or {}
            ended = getattr(b, "status", "") in ("failed", "cancelled", "expired")
            if meta.get("harness") == tag and not ended and str(b.id) not in known:
                return str(b.id)
        return None

    def create(self, lines: list[batch.Line], tag: str) -> str:
        client = self._client()
        text = "".join(json.dumps(batch.request_line(line, "openai"), ensure_ascii=False) + "\n"
                       for line in lines)
        try:
            uploaded = client.files.create(file=("harness-batch.jsonl", io.BytesIO(text.encode("utf-8"))),
                                           purpose="batch")
            made = client.batches.create(input_file_id=uploaded.id, endpoint=batch.CHAT_URL,
                                         completion_window="24h", metadata={"harness": tag})
        except Exception as exc:  # noqa: BLE001 -- the SDK's errors, said in one line
            raise BackendError(f"{self.spec}: cannot submit a batch ({_why(exc)})") from None
        return str(made.id)

    def status(self, batch_id: str) -> tuple[str, int, int]:
        try:
            b = self._client().batches.retrieve(batch_id)
        except Exception as exc:  # noqa: BLE001
            raise BackendError(f"{self.spec}: cannot read batch {batch_id} ({_why(exc)}); its id is stored: "
                               "run again to resume it") from None
        counts = getattr(b, "request_counts", None)
        done = (getattr(counts, "completed", 0) or 0) + (getattr(counts, "failed", 0) or 0)
        return str(b.status), done, int(getattr(counts, "total", 0) or 0)

    def results(self, batch_id: str) -> list[batch.Outcome]:
        client = self._client()
        b = client.batches.retrieve(batch_id)
        out: list[batch.Outcome] = []
        for name in ("output_file_id", "error_file_id"):
            file_id = getattr(b, name, None)
            if not file_id:
                continue
            try:
                text = client.files.content(file_id).text
            except Exception as exc:  # noqa: BLE001
                raise BackendError(f"{self.spec}: cannot download {file_id} of batch {batch_id} "
                                   f"({_why(exc)}); run again to resume it") from None
            out += [batch.result_line(t, f"batch {batch_id} {name[:-8]} line {n}")
                    for n, t in enumerate(text.splitlines(), 1) if t.strip()]
        return out

    def errors(self, batch_id: str) -> str:
        b = self._client().batches.retrieve(batch_id)
        data = getattr(getattr(b, "errors", None), "data", None) or []
        said = [f"line {getattr(e, 'line', '?')}: {getattr(e, 'message', '')}" for e in data[:3]]
        return "; ".join(said) or "no reason given"


class _Anthropic(_Provider):
    """Anthropic's Message Batches API over plain HTTP (no SDK needed)."""

    kind = "anthropic"

    base = "https://api.anthropic.com/v1"
    """Where the Message Batches API is (a test points it at its scripted server)."""

    def _http(self, method: str, path: str, body: Any = None) -> str:
        key = endpoints.current().endpoint(self.backend.base_url).settings.api_key() or ""
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120.0) as resp:
                return str(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            raise BackendError(f"{self.spec}: {method} {path}: HTTP {exc.code}: "
                               f"{batch._message(_json(text)) or text[:200]}") from None
        except OSError as exc:
            raise BackendError(f"{self.spec}: {method} {path} failed ({exc}); run again to resume") from None

    def find(self, tag: str, known: set[str]) -> str | None:
        return None  # Message Batches carry no metadata to match

    def create(self, lines: list[batch.Line], tag: str) -> str:
        body = {"requests": [batch.request_line(line, "anthropic") for line in lines]}
        return str(json.loads(self._http("POST", "/messages/batches", body))["id"])

    def status(self, batch_id: str) -> tuple[str, int, int]:
        b = json.loads(self._http("GET", f"/messages/batches/{batch_id}"))
        counts = b.get("request_counts") or {}
        done = sum(int(counts.get(k) or 0) for k in ("succeeded", "errored", "canceled", "expired"))
        return str(b.get("processing_status")), done, done + int(counts.get("processing") or 0)

    def results(self, batch_id: str) -> list[batch.Outcome]:
        b = json.loads(self._http("GET", f"/messages/batches/{batch_id}"))
        url = b.get("results_url")
        if not url:
            return []
        path = urlsplit(url).path.split("/v1", 1)[-1]
        text = self._http("GET", path)
        return [batch.result_line(t, f"batch {batch_id} results line {n}")
                for n, t in enumerate(text.splitlines(), 1) if t.strip()]

    def errors(self, batch_id: str) -> str:
        return "the batch ended without results"


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _why(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    return batch._message(body) or str(exc).splitlines()[0][:200]
