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
