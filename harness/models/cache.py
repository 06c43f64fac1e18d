"""The run directory's SQLite cache of model calls.

Each finished call is committed as soon as it returns (WAL mode), keyed by a hash of everything
that determines its result, so a re-run makes no repeated call and a killed run loses at most the
calls in flight.

What is stored is always storable: the calls layer (:mod:`harness.models.calls`) makes every reply
valid Unicode and finite, and counts the replies it repaired (:attr:`CallCache.repaired`, said in
one line per stage when the cache closes); as a backstop, a text this module is still handed with
a lone surrogate is stored with JSON escapes, and a non-finite number as null, never refused: a
reply that was paid for is kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sqlite3
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.types import Completion

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL DEFAULT (julianday('now'))
)
"""
# Added for usage and cost reports; caches written before them get the columns, empty.
USAGE_COLUMNS = {"name": "TEXT NOT NULL DEFAULT ''", "spec": "TEXT NOT NULL DEFAULT ''",
                 "prompt_tokens": "INTEGER", "completion_tokens": "INTEGER",
                 "reasoning_tokens": "INTEGER", "cached_tokens": "INTEGER",
                 "budget_retries": "INTEGER NOT NULL DEFAULT 0"}
# How each endpoint and model is asked (harness.models.adapt), so that a resumed run does not pay
# to learn a refused parameter again.
SHAPES = """
CREATE TABLE IF NOT EXISTS shapes (
    endpoint TEXT NOT NULL,
    model TEXT NOT NULL,
    shape TEXT NOT NULL,
    PRIMARY KEY (endpoint, model)
)
"""

# Calls written to a batch file (``harness batch export``, ``--batch-api``) and not yet answered:
# a result line is matched to its request by key (the file's custom_id), never by line order.
PENDING = """
CREATE TABLE IF NOT EXISTS pending (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    top_logprobs INTEGER NOT NULL DEFAULT 0,
    batch TEXT,
    created REAL NOT NULL DEFAULT (julianday('now'))
)
"""
# Provider batches submitted (``--batch-api``), recorded before waiting on them, so a killed run
# resumes them instead of paying for the same calls again.
BATCHES = """
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    provider TEXT NOT NULL,
    status TEXT NOT NULL,
    calls INTEGER NOT NULL,
    created REAL NOT NULL DEFAULT (julianday('now'))
)
"""


@dataclass(frozen=True)
class PendingCall:
    """A call written to a batch file, waiting for its result."""

    key: str
    kind: str
    request: dict[str, Any]
    name: str
    """The model or judge the usage report books it to."""
    spec: str
    """The spec of the model that answers it."""
    top_logprobs: int = 0
    """Likeliest tokens asked for at each position (a ``logprobs`` judge); 0 for none."""
    batch: str | None = None
    """The provider batch it was submitted in (``--batch-api``); None for an exported file."""


@dataclass(frozen=True)
class UsageRow:
    """Model calls in a cache, summed per stage and per model or judge."""

    kind: str
    name: str
    spec: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    unreported: int
    """Calls whose backend reported no token counts (likelihood scoring)."""
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    budget_retries: int = 0


def cache_key(kind: str, request: dict[str, Any]) -> str:
    """A stable hash of a request; key order and whitespace do not matter.

    >>> cache_key("generate", {"b": 1, "a": [1, 2]}) == cache_key("generate", {"a": [1, 2], "b": 1})
    True
    """
    blob = json.dumps([kind, request], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    # surrogatepass: a lone surrogate (a name read from a non-UTF-8 argv) still gets its own key;
    # every other text encodes exactly as before, so existing keys stay valid.
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def stored_json(value: Any, *, sort_keys: bool = False) -> str:
    """``value`` as JSON text that SQLite (and any UTF-8 file) can hold: a string with a lone
    surrogate is written with JSON escapes (read back exactly), and a NaN or infinite number as
    null (strict JSON has none; harness's own readers refuse them).

    >>> stored_json({"t": "a\\ud800", "x": [float("inf"), 1.5]})
    '{"t": "a\\\\ud800", "x": [null, 1.5]}'
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=sort_keys)
    except ValueError:
        text = json.dumps(_finite(value), ensure_ascii=False, allow_nan=False, sort_keys=sort_keys)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(json.loads(text), allow_nan=False, sort_keys=sort_keys)
    return text


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class CallCache:
    """A persistent map from request to response, counting hits and real model calls."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._errors():
            # One connection shared by the worker threads of the openai backend, guarded by a lock.
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(SCHEMA)
            self._db.execute(SHAPES)
            self._db.execute(PENDING)
            self._db.execute(BATCHES)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(calls)")}
            for column, decl in USAGE_COLUMNS.items():
                if column not in have:
                    self._db.execute(f"ALTER TABLE calls ADD COLUMN {column} {decl}")
        self.hits: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        """Requests that went to a model, by kind (``generate``, ``judge``)."""
        self.repaired: Counter[str] = Counter()
        """Of :attr:`calls`, the replies that held text that is not valid Unicode (lone
        surrogates, replaced by U+FFFD before they were stored), by kind."""

    def get(self, kind: str, request: dict[str, Any]) -> Any | None:
        found = self.peek(kind, request)
        if found is not None:
            with self._lock:
                self.hits[kind] += 1
        return found

    def peek(self, kind: str, request: dict[str, Any]) -> Any | None:
        """Like :meth:`get`, without counting a hit (for planning)."""
        key = cache_key(kind, request)
        with self._lock, self._errors():
            row = self._db.execute("SELECT response FROM calls WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def has(self, kind: str, request: dict[str, Any]) -> bool:
        return self.peek(kind, request) is not None

    def put(self, kind: str, request: dict[str, Any], response: Any, name: str = "", spec: str = "",
            usage: Completion | None = None) -> None:
        """Store one finished call (committed at once) and count it as a model call.

        ``name`` (the model or judge) and ``usage`` (its token counts) feed the usage report.
        """
        key = cache_key(kind, request)
        req = stored_json(request, sort_keys=True)
        resp = stored_json(response)
        tokens = ((usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens,
                   usage.cached_tokens, usage.budget_retries) if usage else (None, None, None, None, 0))
        with self._lock, self._errors():
            self._db.execute(
                "INSERT OR REPLACE INTO calls (key, kind, request, response, name, spec, prompt_tokens,"
                " completion_tokens, reasoning_tokens, cached_tokens, budget_retries)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, kind, req, resp, name, spec, *tokens),
            )
            self.calls[kind] += 1

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Every write inside the block is one commit: all of it stored, or none (a bulk import)."""
        with self._lock, self._errors():
            self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with self._lock, self._errors():
                self._db.execute("ROLLBACK")
            raise
        with self._lock, self._errors():
            self._db.execute("COMMIT")

    def add_pending(self, calls: list[PendingCall]) -> None:
        """Record calls written to a batch file (a call already recorded keeps its batch)."""
        rows = [(c.key, c.kind, stored_json(c.request, sort_keys=True), c.name, c.spec, c.top_logprobs,
                 c.batch) for c in calls]
        with self._lock, self._errors():
            self._db.executemany(
                "INSERT INTO pending (key, kind, request, name, spec, top_logprobs, batch)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                " batch = COALESCE(excluded.batch, pending.batch)", rows)

    def pending(self, keys: list[str] | None = None) -> dict[str, PendingCall]:
        """The calls waiting for a batch result, by key (only ``keys`` when given)."""
        query = "SELECT key, kind, request, name, spec, top_logprobs, batch FROM pending"
        with self._lock, self._errors():
            if keys is None:
                rows = self._db.execute(query).fetchall()
            else:
                rows = []
                for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
                    part = keys[start : start + 500]
                    rows += self._db.execute(f"{query} WHERE key IN ({','.join('?' * len(part))})",
                                             part).fetchall()
        return {r[0]: PendingCall(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6]) for r in rows}

    def stored_keys(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` the cache holds a reply for."""
        found: set[str] = set()
        with self._lock, self._errors():
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                found.update(r[0] for r in self._db.execute(
                    f"SELECT key FROM calls WHERE key IN ({','.join('?' * len(part))})", part))
        return found

    def waiting(self) -> int:
        """Calls written to a batch file that the cache holds no reply for yet."""
        with self._lock, self._errors():
            return int(self._db.execute("SELECT COUNT(*) FROM pending WHERE key NOT IN"
                                        " (SELECT key FROM calls)").fetchone()[0])

    def drop_pending(self, keys: list[str]) -> None:
        with self._lock, self._errors():
            self._db.executemany("DELETE FROM pending WHERE key = ?", [(k,) for k in keys])

    def record_batch(self, batch_id: str, *, endpoint: str, provider: str, keys: list[str]) -> None:
        """A submitted provider batch and its calls, stored before anything waits on it."""
        with self._lock, self._errors():
            self._db.execute("INSERT OR REPLACE INTO batches (id, endpoint, provider, status, calls)"
                             " VALUES (?, ?, ?, 'submitted', ?)", (batch_id, endpoint, provider, len(keys)))
            self._db.executemany("UPDATE pending SET batch = ? WHERE key = ?", [(batch_id, k) for k in keys])

    def open_batches(self, endpoint: str) -> list[str]:
        """The endpoint's submitted batches whose results are not imported yet, oldest first."""
        with self._lock, self._errors():
            return [r[0] for r in self._db.execute(
                "SELECT id FROM batches WHERE endpoint = ? AND status = 'submitted' ORDER BY created, id",
                (endpoint,))]

    def batch_ids(self) -> list[str]:
        """Every provider batch this run directory submitted or resumed."""
        with self._lock, self._errors():
            return [r[0] for r in self._db.execute("SELECT id FROM batches")]

    def batch_keys(self, batch_id: str) -> list[str]:
        with self._lock, self._errors():
            return [r[0] for r in self._db.execute("SELECT key FROM pending WHERE batch = ?", (batch_id,))]

    def close_batch(self, batch_id: str, status: str) -> None:
        """A batch whose results are imported (``done``) or that ended without them."""
        with self._lock, self._errors():
            self._db.execute("UPDATE batches SET status = ? WHERE id = ?", (status, batch_id))
            self._db.execute("UPDATE pending SET batch = NULL WHERE batch = ?", (batch_id,))

    def usage(self) -> list[UsageRow]:
        """Every call this cache holds (this run's and earlier ones'), per stage and name."""
        with self._lock, self._errors():
            rows = self._db.execute(
                "SELECT kind, name, spec, COUNT(*), COALESCE(SUM(prompt_tokens), 0),"
                " COALESCE(SUM(completion_tokens), 0), SUM(prompt_tokens IS NULL),"
                " COALESCE(SUM(reasoning_tokens), 0), COALESCE(SUM(cached_tokens), 0),"
                " COALESCE(SUM(budget_retries), 0) FROM calls"
                " GROUP BY kind, name, spec ORDER BY kind DESC, name").fetchall()
        return [UsageRow(*row) for row in rows]

    def shapes(self) -> list[tuple[str, str, dict[str, Any]]]:
        """How each endpoint and model was found to be asked (``harness.models.adapt``)."""
        with self._lock, self._errors():
            rows = self._db.execute("SELECT endpoint, model, shape FROM shapes").fetchall()
        out = []
        for endpoint, model, shape in rows:
            try:
                row = json.loads(shape)
            except ValueError:
                continue  # a hand-damaged row is relearned, at worst, not a stopped run
            if isinstance(row, dict):
                out.append((endpoint, model, row))
        return out

    def put_shape(self, endpoint: str, model: str, row: dict[str, Any]) -> None:
        with self._lock, self._errors():
            self._db.execute("INSERT OR REPLACE INTO shapes (endpoint, model, shape) VALUES (?, ?, ?)",
                             (endpoint, model, json.dumps(row, sort_keys=True)))

    def close(self) -> None:
        with self._lock:
            if hasattr(self, "_db"):
                self._db.close()
            repaired, self.repaired = self.repaired, Counter()
        # Said here, once per stage, whatever stopped it: the replies are stored either way.
        for kind, n in sorted(repaired.items()):
            replies = "reply" if n == 1 else "replies"
            print(f"note: {kind}: {n} {replies} held characters that are not valid Unicode; replaced "
                  "by U+FFFD (stored so: a re-run does not ask again)", file=sys.stderr)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's errors name no file; say which cache failed, why, and what to do."""
        try:
            yield
        except sqlite3.Error as exc:
            text = str(exc)
            if isinstance(exc, sqlite3.DatabaseError) and ("malformed" in text or "not a database" in text):
                raise HarnessError(
                    f"{self.path}: the call cache is corrupt ({text}); move it aside (mv {self.path} "
                    f"{self.path}.broken) and re-run: the run's other files are kept, but calls it "
                    "held will be made again") from None
            if "full" in text or "I/O" in text:
                raise HarnessError(f"{self.path}: cannot store a model's reply ({text}); free some "
                                   "space and re-run: replies already stored are kept") from None
            raise HarnessError(f"{self.path}: call cache error ({text})") from None

    def __enter__(self) -> CallCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
