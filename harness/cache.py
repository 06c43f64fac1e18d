"""The run directory's SQLite cache of model calls.

Each finished call is committed as soon as it returns (WAL mode), keyed by a hash of everything
that determines its result, so a re-run makes no repeated call and a killed run loses at most the
calls in flight.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import Counter
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL DEFAULT (julianday('now'))
)
"""


def cache_key(kind: str, request: dict[str, Any]) -> str:
    """A stable hash of a request; key order and whitespace do not matter.

    >>> cache_key("generate", {"b": 1, "a": [1, 2]}) == cache_key("generate", {"a": [1, 2], "b": 1})
    True
    """
    blob = json.dumps([kind, request], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CallCache:
    """A persistent map from request to response, counting hits and real model calls."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the worker threads of the openai backend, guarded by a lock.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        """Requests that went to a model, by kind (``generate``, ``judge``)."""

    def get(self, kind: str, request: dict[str, Any]) -> Any | None:
        key = cache_key(kind, request)
        with self._lock:
            row = self._db.execute("SELECT response FROM calls WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        self.hits[kind] += 1
        return json.loads(row[0])

    def put(self, kind: str, request: dict[str, Any], response: Any) -> None:
        """Store one finished call (committed at once) and count it as a model call."""
        key = cache_key(kind, request)
        req = json.dumps(request, sort_keys=True, ensure_ascii=False)
        resp = json.dumps(response, ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO calls (key, kind, request, response) VALUES (?, ?, ?, ?)",
                (key, kind, req, resp),
            )
        self.calls[kind] += 1

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> CallCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
