"""The state every request of the voting app shares: the run's comparisons, the vote store and the
settings (:class:`Study`), and what ``harness human serve`` was started with (:class:`Options`).

One lock guards the vote store's connection, shared by the request handlers and the worker threads
that render and vote. Not handled here: HTTP (:mod:`harness.web.routes`).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.text import has_chinese
from harness.core.votes import Item, NonceConflict, Vote, VoteStore, fold
from harness.judges.calibration import GoldItem
from harness.tasks import answered_tasks
from harness.web import items as human_items
from harness.web.text import by_turn


@dataclass(frozen=True)
class Options:
    order: str = "disagreement"
    per_annotator: int | None = None
    guide: str | None = None
    """Markdown replacing the default guide (``--guide FILE``)."""
    reference: bool = False
    gold: tuple[GoldItem, ...] = ()
    annotators: tuple[str, ...] = ()
    """The named annotators (folded, :func:`harness.core.votes.annotator_name`): only their links
    work. Empty: open sign-up, ``/`` asks for a nickname and every nickname's link works."""
    tasks_dirs: tuple[Path, ...] = ()
    """Where to find task files besides the built-in ones (runs without ``questions.jsonl``)."""

    @property
    def open_signup(self) -> bool:
        return not self.annotators


class Study:
    """The run's comparisons, the vote store and the settings, shared by every request."""

    def __init__(self, run_dir: Path, options: Options) -> None:
        self.run_dir = run_dir
        self.options = options
        self.store = VoteStore(run_dir / rundir.VOTES)
        self.lock = threading.Lock()
        answers = rundir.read_answers(run_dir)
        self.answers = {(a.model, a.task, a.question_id): a.all_turns for a in answers}
        # A reasoning model's trace, per turn, shown only behind a toggle: people judge the answer.
        self.traces = {(a.model, a.task, a.question_id): a.reasoning for a in answers if any(a.reasoning)}
        tasks = rundir.read_questions(run_dir)
        if tasks is None:  # a run without questions.jsonl: its task files say what was asked
            tasks = answered_tasks(run_dir, options.tasks_dirs)
        self.questions = {(t.id, q.id): (t.language, q) for t in tasks for q in t.questions}
        self.models = sorted({a.model for a in answers})
        battles = rundir.read_judge_battles(run_dir) or []
        self.pairs = human_items.run_pairs(answers, rundir.read_judgments(run_dir), battles)
        if not self.pairs:
            raise HarnessError(f"{run_dir / rundir.ANSWERS}: no question has answers from two models; "
                               "nothing to compare")
        self.gold = {g.id: g for g in options.gold}
        self.secret = self.store.setting("csrf_secret", secrets.token_hex(32)).encode()
        self.shown_at: dict[tuple[str, int], float] = {}

    def join(self, annotator: str) -> str:
        """A new link token for ``annotator`` (their assignment is drawn on first joining)."""
        with self.lock:
            return self._add(annotator)

    def sign_up(self, nickname: str) -> str | None:
        """:meth:`join` for a folded nickname nobody has yet; None when it is taken (else anyone
        typing a name would get that person's votes)."""
        with self.lock:  # the check and the join at once: two people typing one name get one link
            if any(fold(n) == nickname for n in self.store.annotators()):
                return None
            return self._add(nickname)

    def _add(self, annotator: str) -> str:
        token = secrets.token_urlsafe(24)
        self.store.add_token(token, annotator)
        self.store.assign(annotator, human_items.assignment(
            self.pairs, random.Random(secrets.randbits(64)), order=self.options.order,
            per_annotator=self.options.per_annotator, gold=self.options.gold))
        return token

    def may_vote(self, annotator: str) -> bool:
        """Whether ``annotator``'s links work in this session (a name left out of ``--annotators``
        is revoked; their votes stay)."""
        return self.options.open_signup or annotator in self.options.annotators

    def owner_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.store.add_token(token, "", role="owner")
        return token

    def annotator(self, token: str) -> str | None:
        """The annotator whose link ``token`` is, if their links work now; else None."""
        with self.lock:  # one connection, shared with the worker threads that render and vote
            who = self.store.who(token)
        return who[0] if who and who[1] == "annotator" and self.may_vote(who[0]) else None

    def is_owner(self, token: str) -> bool:
        """Whether ``token`` is an owner's link."""
        with self.lock:
            who = self.store.who(token)
        return who is not None and who[1] == "owner"

    def csrf(self, session: str) -> str:
        return hmac.new(self.secret, session.encode(), hashlib.sha256).hexdigest()

    def texts(self, item: Item) -> tuple[str, str, str, str, str, str]:
        """Language, question, context, reference, Answer 1 and Answer 2 of an item."""
        if item.kind == "gold":
            g = self.gold.get(item.ref)
            if g is None:
                return "en", "", "", "", "", ""
            first, second = g.answer_1, g.answer_2
            if item.shown_first != "answer_1":
                first, second = second, first
            lang = "zh" if has_chinese(g.question) else "en"
            return lang, g.question, g.input, g.reference, first, second
        language, q = self.questions.get((item.task, item.question_id), ("", None))
        lang = language or ("zh" if item.task.startswith("zh") else "en")
        # A multi-turn question shows its every turn, and each answer the model's whole conversation.
        first = by_turn(self.answers.get((item.shown_first, item.task, item.question_id), ("",)), lang)
        second = by_turn(self.answers.get((item.shown_second, item.task, item.question_id), ("",)), lang)
        if q is None:
            return lang, item.question_id, "", "", first, second
        references = q.all_references if any(q.all_references[1:]) else (q.reference,)
        return lang, by_turn(q.all_turns, lang), q.input, by_turn(references, lang), first, second

    def reasoning(self, item: Item, lang: str) -> tuple[str, str]:
        """The reasoning behind Answer 1 and Answer 2 of an item ("" where a model showed none)."""
        if item.kind == "gold":
            return "", ""
        return tuple(  # type: ignore[return-value]
            by_turn(trace, lang) if any(trace) else ""
            for trace in (self.traces.get((m, item.task, item.question_id), ())
                          for m in (item.shown_first, item.shown_second)))

    def cast(self, name: str, pos: int, choice: str, nonce: str, reason: str,
             seconds: float | None) -> tuple[int, int, Vote | NonceConflict | str]:
        """Store a vote: (answered, total, the stored vote or the refusal's reason). Without
        ``seconds`` from the page, the time since the item was shown (both clamped to a day)."""
        with self.lock:
            total = len(self.store.items(name))
            if not 0 <= pos < total:
                return 0, total, "no such item"
            if seconds is None and (name, pos) in self.shown_at:
                seconds = time.monotonic() - self.shown_at[(name, pos)]
            if seconds is not None:
                seconds = round(min(max(seconds, 0.0), 86400.0), 3)
            try:
                stored: Vote | NonceConflict = self.store.vote(name, pos, choice, nonce=nonce, reason=reason,
                                                               seconds=seconds)
            except NonceConflict as exc:
                stored = exc
            return len(self.store.current(name)), total, stored

    def take_back(self, name: str, nonce: str) -> tuple[int | None, int, int] | None:
        """Undo: (the position taken back, answered, total); None: the nonce is someone else's."""
        with self.lock:
            try:
                pos = self.store.undo(name, nonce=nonce)
            except NonceConflict:
                return None
            return pos, len(self.store.current(name)), len(self.store.items(name))
