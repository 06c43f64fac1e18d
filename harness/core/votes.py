"""The vote store of ``harness human serve``: ``RUN_DIR/votes.sqlite``, one owner of its schema.

Every vote is committed on its own (SQLite in WAL mode, ``synchronous=FULL``) before the server
acknowledges it, so killing the server loses no acknowledged vote. Nothing is ever deleted: a
re-vote adds a row that supersedes the earlier one, an undo marks the annotator's latest vote
undone, and the history stays for quality control. A vote or undo carries a client nonce; the
same nonce twice (a double click, a retried request) is one vote. A nonce says only "this exact
request again": reused for anything else (another choice, position or reason, or by another
annotator) it is a :class:`NonceConflict`, never an acknowledgement of something not stored.

Tables:

- ``tokens(sha256, annotator, role, created)``: the sha256 of each secret link token (``role`` is
  ``annotator`` or ``owner``); tokens themselves are never stored.
- ``items(annotator, position, kind, task, question_id, model_a, model_b, shown_first, ref)``:
  each annotator's assignment in the order they see it. ``kind`` is ``pair`` (a comparison the
  run has), ``gold`` (a labelled pair from ``--gold``; ``ref`` is its id) or ``repeat`` (an
  earlier position shown again swapped; ``ref`` is that position). ``shown_first`` is the model
  (or, for gold, ``answer_1``/``answer_2``) shown as "Answer 1".
- ``votes(id, annotator, position, choice, reason, seconds, nonce, created, undone)``: ``choice``
  is ``1`` (Answer 1 better), ``2``, ``tie`` or ``bothbad``.
- ``undos(nonce, vote_id, created, annotator)``: each undo request (``vote_id`` the vote it took
  back, NULL when there was none).
- ``meta(key, value)``: settings that must survive a restart (the CSRF secret).

Only ``pair`` items become human labels (:func:`read_labels`); gold and repeats are kept for QC.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.types import HumanLabel

CHOICES = ("1", "2", "tie", "bothbad")
"""Answer 1 better, Answer 2 better, a tie, both bad."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (sha256 TEXT PRIMARY KEY, annotator TEXT NOT NULL,
    role TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS items (annotator TEXT NOT NULL, position INTEGER NOT NULL,
    kind TEXT NOT NULL, task TEXT NOT NULL, question_id TEXT NOT NULL, model_a TEXT NOT NULL,
    model_b TEXT NOT NULL, shown_first TEXT NOT NULL, ref TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (annotator, position));
CREATE TABLE IF NOT EXISTS votes (id INTEGER PRIMARY KEY AUTOINCREMENT, annotator TEXT NOT NULL,
    position INTEGER NOT NULL, choice TEXT NOT NULL, reason TEXT NOT NULL, seconds REAL,
    nonce TEXT NOT NULL UNIQUE, created REAL NOT NULL, undone INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS undos (nonce TEXT PRIMARY KEY, vote_id INTEGER, created REAL NOT NULL,
    annotator TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


NAME_CHARS = "._-"
"""Besides letters and digits, the characters an annotator's name may have."""


def fold(name: str) -> str:
    """A name as compared and stored: NFKC, case-folded (so ``ALICE``, ``alice`` and the full-width
    ``ａｌｉｃｅ`` are one person).

    >>> fold("ＡＬＩＣＥ"), fold("Straße")
    ('alice', 'strasse')
    """
    # Case-folding can undo NFKC (e.g. it decomposes some ligatures), hence NFKC again after it.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def annotator_name(raw: str) -> str:
    """``raw`` as an annotator's name (:func:`fold` ed); ValueError if it is not 1-40 letters, digits,
    '.', '_' or '-' once folded."""
    name = fold(raw.strip())
    if not name or len(name) > 40 or not all(ch.isalnum() or ch in NAME_CHARS for ch in name):
        raise ValueError("each name must be 1-40 letters, digits, '.', '_' or '-'")
    return name


def token_hash(token: str) -> str:
    """How a link token is stored: its sha256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class NonceConflict(ValueError):
    """A vote's or undo's nonce was used before for a different request (``vote``: what is stored
    under it, None for an undo's)."""

    def __init__(self, vote: Vote | None = None) -> None:
        super().__init__("this nonce was used before for another request")
        self.vote = vote


@dataclass(frozen=True)
class Item:
    """One position in an annotator's assignment."""

    kind: str
    """``pair``, ``gold`` or ``repeat``."""
    task: str
    question_id: str
    model_a: str
    model_b: str
    shown_first: str
    """The model (gold: ``answer_1`` or ``answer_2``) shown as "Answer 1"."""
    ref: str = ""
    """Gold: the pair's id; repeat: the position it repeats."""

    @property
    def shown_second(self) -> str:
        return self.model_b if self.shown_first == self.model_a else self.model_a


@dataclass(frozen=True)
class Vote:
    """One vote as stored (the history keeps superseded and undone votes too)."""

    id: int
    annotator: str
    position: int
    choice: str
    reason: str
    seconds: float | None
    nonce: str
    created: float
    undone: bool


def winner(item: Item, choice: str) -> str:
    """The label's winner for a choice on an item: ``model_a``, ``model_b`` or ``tie``.

    >>> it = Item("pair", "t", "q", "x", "y", shown_first="y")
    >>> winner(it, "1"), winner(it, "2"), winner(it, "bothbad")
    ('model_b', 'model_a', 'tie')
    """
    if choice not in ("1", "2"):
        return "tie"
    model = item.shown_first if choice == "1" else item.shown_second
    return "model_a" if model == item.model_a else "model_b"


class VoteStore:
    """``votes.sqlite`` opened for reading and writing (one connection; not shared across threads
    at the same time: callers serialise, as the server does with a lock)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        try:
            if readonly:  # readers (reports, agreement) never change the file
                self.db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30,
                                          isolation_level=None)
                return
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
            columns = {r[1] for r in self.db.execute("PRAGMA table_info(undos)")}
            if "annotator" not in columns:  # a store written before undos named their annotator
                self.db.execute("ALTER TABLE undos ADD COLUMN annotator TEXT NOT NULL DEFAULT ''")
        except sqlite3.Error as exc:
            raise HarnessError(f"{path}: cannot open the vote store ({exc})") from None

    def close(self) -> None:
        self.db.close()

    # --- tokens and settings -----------------------------------------------------------------

    def add_token(self, token: str, annotator: str, role: str = "annotator") -> None:
        self.db.execute("INSERT OR REPLACE INTO tokens VALUES (?, ?, ?, ?)",
                        (token_hash(token), annotator, role, time.time()))

    def who(self, token: str) -> tuple[str, str] | None:
        """(annotator, role) of a token, or None for a token nobody was given."""
        row = self.db.execute("SELECT annotator, role FROM tokens WHERE sha256 = ?",
                              (token_hash(token),)).fetchone()
        return (row[0], row[1]) if row else None

    def annotators(self) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT annotator FROM tokens WHERE role = 'annotator' ORDER BY annotator")]

    def setting(self, key: str, default: str) -> str:
        """The stored value of ``key``; ``default`` is stored first when there is none."""
        self.db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, default))
        return str(self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    # --- assignments --------------------------------------------------------------------------

    def assign(self, annotator: str, items: Sequence[Item]) -> None:
        """Give ``annotator`` these items, unless they already have an assignment (a restart keeps
        the order each annotator saw)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if self.db.execute("SELECT 1 FROM items WHERE annotator = ?", (annotator,)).fetchone():
                return
            self.db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                (annotator, k, it.kind, it.task, it.question_id, it.model_a, it.model_b, it.shown_first,
                 it.ref) for k, it in enumerate(items)])

    def items(self, annotator: str) -> list[Item]:
        return [Item(*r) for r in self.db.execute(
            "SELECT kind, task, question_id, model_a, model_b, shown_first, ref FROM items "
            "WHERE annotator = ? ORDER BY position", (annotator,))]

    # --- votes --------------------------------------------------------------------------------

    def vote(self, annotator: str, position: int, choice: str, *, nonce: str, reason: str = "",
             seconds: float | None = None) -> Vote:
        """Record a vote (committed before returning). The same request again (nonce, annotator,
        position, choice and reason) returns the vote stored the first time; the nonce with anything
        else raises :class:`NonceConflict`."""
        if choice not in CHOICES:
            raise ValueError(f"choice {choice!r} is not one of {', '.join(CHOICES)}")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            old = self._by_nonce(nonce)
            if old is not None:
                if (old.annotator, old.position, old.choice, old.reason) != (annotator, position, choice,
                                                                              reason):
                    raise NonceConflict(old)
                return old
            cur = self.db.execute(
                "INSERT INTO votes (annotator, position, choice, reason, seconds, nonce, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (annotator, position, choice, reason, seconds, nonce, time.time()))
            vote = self._by_id(int(cur.lastrowid or 0))
        assert vote is not None
        return vote

    def undo(self, annotator: str, *, nonce: str) -> int | None:
        """Mark the annotator's latest live vote undone; the position it was on (None: nothing to
        undo). The same nonce twice undoes once; another annotator's undo nonce raises
        :class:`NonceConflict`."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            done = self.db.execute("SELECT vote_id, annotator FROM undos WHERE nonce = ?",
                                   (nonce,)).fetchone()
            if done is not None:
                old = self._by_id(done[0]) if done[0] is not None else None
                # Rows from before the annotator column have '': their vote says whose they were.
                owner = done[1] or (old.annotator if old else "")
                if owner != annotator:
                    raise NonceConflict()
                return old.position if old else None
            row = self.db.execute("SELECT id, position FROM votes WHERE annotator = ? AND undone = 0 "
                                  "ORDER BY id DESC LIMIT 1", (annotator,)).fetchone()
            self.db.execute("INSERT INTO undos (nonce, vote_id, created, annotator) VALUES (?, ?, ?, ?)",
                            (nonce, row[0] if row else None, time.time(), annotator))
            if row is None:
                return None
            self.db.execute("UPDATE votes SET undone = 1 WHERE id = ?", (row[0],))
            # The vote it replaced (if any) is current again: undo means "as before my last click".
            return int(row[1])

    def history(self, annotator: str | None = None) -> list[Vote]:
        """Every vote, oldest first (superseded and undone ones too)."""
        where, args = ("WHERE annotator = ?", (annotator,)) if annotator is not None else ("", ())
        return [_vote(r) for r in self.db.execute(f"SELECT * FROM votes {where} ORDER BY id", args)]

    def current(self, annotator: str) -> dict[int, Vote]:
        """Each answered position's latest live vote."""
        out: dict[int, Vote] = {}
        for v in self.history(annotator):
            if not v.undone:
                out[v.position] = v
        return out

    def resume(self, annotator: str) -> int:
        """Where the annotator picks up: their first unanswered position (the end when all are)."""
        answered = self.current(annotator)
        n = len(self.items(annotator))
        return next((k for k in range(n) if k not in answered), n)

    def labels(self) -> list[HumanLabel]:
        """The current vote on every ``pair`` item, as human labels (gold and repeats left out)."""
        out = []
        for annotator in self._voters():
            items = self.items(annotator)
            for pos, v in sorted(self.current(annotator).items()):
                if pos >= len(items) or items[pos].kind != "pair":
                    continue
                it = items[pos]
                out.append(HumanLabel(it.task, it.question_id, it.model_a, it.model_b,
                                      winner(it, v.choice), annotator,  # type: ignore[arg-type]
                                      shown_first=it.shown_first, seconds=v.seconds, reason=v.reason))
        return out

    def _voters(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT annotator FROM items ORDER BY annotator")]

    def _by_nonce(self, nonce: str) -> Vote | None:
        row = self.db.execute("SELECT * FROM votes WHERE nonce = ?", (nonce,)).fetchone()
        return _vote(row) if row else None

    def _by_id(self, vote_id: int) -> Vote | None:
        row = self.db.execute("SELECT * FROM votes WHERE id = ?", (vote_id,)).fetchone()
        return _vote(row) if row else None


def _vote(row: tuple[object, ...]) -> Vote:
    i, annotator, position, choice, reason, seconds, nonce, created, undone = row
    return Vote(int(i), str(annotator), int(position), str(choice), str(reason),  # type: ignore[call-overload]
                None if seconds is None else float(seconds), str(nonce), float(created),  # type: ignore[arg-type]
                bool(undone))


def read_labels(path: Path) -> list[HumanLabel]:
    """The labels of a vote store; none when the file does not exist."""
    if not path.is_file():
        return []
    store = VoteStore(path, readonly=True)
    try:
        return store.labels()
    except sqlite3.Error as exc:
        raise HarnessError(f"{path}: not a harness vote store ({exc})") from None
    finally:
        store.close()
