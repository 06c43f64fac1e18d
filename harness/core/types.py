"""The records that flow between stages: Task -> Question -> Answer -> Judgment -> Battle.

Every record is a frozen dataclass that round-trips through one JSON line (``to_row`` /
``from_row``), so each stage's output in the run directory can be inspected or replaced by hand.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Message = dict[str, str]
"""One chat message, ``{"role": "system" | "user" | "assistant", "content": str}``."""

Order = Literal["ab", "ba", "once"]
"""Which model sits in the judge prompt's first slot: ``ab`` puts ``model_a`` first. ``once``: the
judge saw the pair a single time, in an order the source does not record (imported verdicts; see
``docs/interop.md``); such a verdict is its comparison's battle on its own."""

Winner = Literal["model_a", "model_b", "tie", "tie (bothbad)"]
JudgmentWinner = Literal["model_a", "model_b", "tie", "error"]
HumanWinner = Literal["model_a", "model_b", "tie"]


# --- checking rows read back from files -------------------------------------------------------
# Run files are plain text that people edit by hand, so every field read back is checked: a
# number where text belongs would otherwise travel on to paid judge calls and fail later, or
# compare unequal to the same id spelled as text. Each check raises ValueError naming the field;
# the file readers add the file and line.

def _show(value: Any, limit: int = 60) -> str:
    """``repr`` cut short, so that one error line stays short for any input."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"field {key!r}: expected a string, got {_show(value)}")
    return value


def _count(value: Any, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"field {key!r}: expected a positive whole number, got {_show(value)}")
    return value


def _score(value: Any, key: str) -> float | None:
    ok = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                           and math.isfinite(value))
    if not ok:
        raise ValueError(f"field {key!r}: expected a finite number or null, got {_show(value)}")
    return None if value is None else float(value)


def _maybe_text(value: Any, key: str) -> str | None:
    return None if value is None else _text(value, key)


MAX_TURN = 100
"""The highest turn number a record may name. Multi-turn benchmarks have a handful (MT-Bench 2);
without a ceiling, a hand-edited or imported ``turn: 3000000`` of a question the run does not know
makes every screen that shows the conversation up to that turn build millions of rows. A run that
knows the question checks the turn against its own count (``harness.core.rundir``)."""


def turn_number(value: Any, key: str = "turn") -> int | None:
    """A judged turn (1 is the first) as a record holds it, or None (a single-turn question).

    >>> turn_number(2), turn_number(None)
    (2, None)
    >>> turn_number(10**30)
    Traceback (most recent call last):
    ...
    ValueError: field 'turn': expected a turn number from 1 to 100, got 1000000000000000000000000000000
    """
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_TURN:
        raise ValueError(f"field {key!r}: expected a turn number from 1 to {MAX_TURN}, got {_show(value)}")
    return value


def _soft(value: Any, key: str) -> tuple[float, float, float] | None:
    """Three probabilities (a wins, tie, b wins) adding up to 1, or null."""
    if value is None:
        return None
    ok = (isinstance(value, (list, tuple)) and len(value) == 3
          and all(isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p)
                  and 0 <= p <= 1 for p in value)
          and abs(math.fsum(value) - 1) <= 1e-6)
    if not ok:
        raise ValueError(f"field {key!r}: expected three probabilities [a wins, tie, b wins] adding up "
                         f"to 1, or null, got {_show(value)}")
    return (float(value[0]), float(value[1]), float(value[2]))


def _choice(allowed: tuple[str, ...]) -> Callable[[Any, str], str]:
    def check(value: Any, key: str) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"{key} {_show(value)} is not one of {', '.join(allowed)}")
        return value
    return check


# A field's annotation (a string under ``from __future__ import annotations``) picks its check.
_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "str": _text, "int": _count, "float | None": _score, "int | None": turn_number, "str | None": _maybe_text,
    "tuple[float, float, float] | None": _soft,
    "Order": _choice(get_args(Order)), "JudgmentWinner": _choice(get_args(JudgmentWinner)),
    "Winner": _choice(get_args(Winner)), "HumanWinner": _choice(get_args(HumanWinner)),
}


OPTIONAL_FIELDS = ("turn", "soft", "source")
"""Fields written only when set, so rows without them are what they were before they existed."""


class RowRecord:
    """A record whose JSON row is its fields; ``turn`` and ``soft`` only when set, so single-turn
    rows are what they were before multi-turn questions, and text verdicts before soft ones."""

    def to_row(self) -> dict[str, Any]:
        # Field by field, not dataclasses.asdict: the fields are flat (text, numbers, a tuple of
        # floats), and asdict's recursive deep copy was most of writing a million judgments.
        names, values = _fields_of(type(self))
        row = dict(zip(names, values(self)))
        for key in OPTIONAL_FIELDS:
            if row.get(key, 0) is None:
                del row[key]
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Any:
        """The record of one row: every field type-checked (ValueError naming it); a field with a
        default may be absent (rows written before it existed); other fields are ignored."""
        values = {}
        for name, check, required in _layout(cls):
            if name in row:
                values[name] = check(row[name], name)
            elif required:
                raise KeyError(name)
        return cls(**values)


_Layout = tuple[tuple[str, Callable[[Any, str], Any], bool], ...]
_LAYOUTS: dict[type, _Layout] = {}
_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def _layout(cls: type) -> _Layout:
    """A row record's fields, worked out once per class: name, check, and whether a row must have
    it (no default)."""
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = tuple((f.name, _CHECKS[str(f.type)], f.default is dataclasses.MISSING)
                                       for f in dataclasses.fields(cls))
    return layout


def _fields_of(cls: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """A row record's field names, and a getter of all their values at once (in C:
    operator.attrgetter), worked out once per class."""
    found = _FIELDS.get(cls)
    if found is None:
        names = tuple(name for name, _, _ in _layout(cls))
        found = _FIELDS[cls] = (names, operator.attrgetter(*names))
    return found


@dataclass(frozen=True)
class Question:
    """One test question of a task."""

    id: str
    """Unique within its task, e.g. ``q01``."""
    question: str
    """The instruction shown to the model."""
    category: str
    """A short label used to break results down, e.g. ``contracts``."""
    reference: str
    """A short reference answer (used by reference-guided judge prompts and by people)."""
    input: str = ""
    """Optional context for the instruction (Alpaca's ``input`` field)."""
    turns: tuple[str, ...] = ()
    """The user messages after the first, for a multi-turn question (MT-Bench's second turn);
    empty for a single-turn one. The first message stays in ``question`` so that every
    single-turn path reads the question as before."""
    turn_references: tuple[str, ...] = ()
    """Reference answers for ``turns``, one per turn where given (``reference`` is turn 1's);
    empty when the later turns have none; otherwise exactly one per turn."""

    def __post_init__(self) -> None:
        if self.turn_references and len(self.turn_references) != len(self.turns):
            raise ValueError(f"question {self.id}: {len(self.turn_references)} references for "
                             f"{len(self.turns)} later turns; give one per turn or none")

    @property
    def all_turns(self) -> tuple[str, ...]:
        """Every user message in order, ``question`` first.

        >>> Question("q1", "Write a poem.", "writing", "", turns=("Shorter.",)).all_turns
        ('Write a poem.', 'Shorter.')
        """
        return (self.question, *self.turns)

    @property
    def all_references(self) -> tuple[str, ...]:
        """A reference per turn, ``reference`` first; ``""`` for later turns that have none.

        >>> Question("q1", "Write a poem.", "writing", "A poem.", turns=("Shorter.",)).all_references
        ('A poem.', '')
        """
        return (self.reference, *(self.turn_references or ("",) * len(self.turns)))

    @property
    def is_multi_turn(self) -> bool:
        """Whether the question has more than one user message."""
        return bool(self.turns)


@dataclass(frozen=True)
class Task:
    """A named test set: the unit users pick with ``--tasks``."""

    id: str
    """The task's name, taken from its file name (``tasks/en_law.yaml`` is ``en_law``)."""
    language: str
    """``en`` or ``zh``; judge prompts may be chosen per language."""
    domain: str
    """E.g. ``law``, ``medical``, ``finance``."""
    description: str
    """One sentence for ``harness tasks list``."""
    questions: tuple[Question, ...]
    """The questions, in file order."""
    source: str = ""
    """Where the task was loaded from (a path or an entry point), for error messages."""


@dataclass(frozen=True)
class DecodingParams:
    """Decoding parameters (seed 004's list) plus a seed. ``temperature == 0`` means greedy."""

    max_new_tokens: int = 128
    """Longest answer in tokens; answers that hit it are truncated."""
    temperature: float = 0.0
    """0 decodes greedily (or with beams); above 0 samples."""
    top_k: int = 0
    """Sample only from the k most likely tokens; 0 turns the filter off."""
    top_p: float = 1.0
    """Sample only from the smallest set of tokens whose probability adds up to p."""
    num_beams: int = 1
    """Beam search width; 1 turns beam search off."""
    seed: int = 0
    """Seed for sampling, so that runs repeat."""
    reasoning_effort: str = ""
    """How hard a reasoning model thinks (``low``, ``medium``, ``high``...), sent as
    ``reasoning_effort`` to endpoints that take it; "" leaves it to the model."""

    def to_row(self) -> dict[str, Any]:
        """The settings as one row (part of every cache key); ``reasoning_effort`` only when set,
        so that the rows, and the cache keys, of runs made before it existed are unchanged."""
        row = dataclasses.asdict(self)
        if not self.reasoning_effort:
            del row["reasoning_effort"]
        return row


TokenAlternatives = tuple[str, tuple[tuple[str, float], ...]]
"""One position of a reply: the token written, and the most likely tokens there with their natural
log-probabilities, most likely first (an OpenAI-compatible endpoint's ``top_logprobs``)."""


@dataclass(frozen=True)
class Completion:
    """One model reply with the token counts the backend reported (``None`` when it does not)."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    top: tuple[TokenAlternatives, ...] | None = None
    """The reply's first positions with their likeliest tokens, when they were asked for and the
    endpoint returned them; None otherwise."""
    reasoning: str | None = None
    """The endpoint's separate reasoning field (``reasoning_content``), when it sent one."""
    reasoning_tokens: int | None = None
    """Completion tokens spent reasoning (included in ``completion_tokens``), when reported."""
    cached_tokens: int | None = None
    """Prompt tokens the provider read from its prompt cache (billed at a discount), when reported."""
    budget_retries: int = 0
    """Times the reply was asked again with a larger completion budget because it was cut off
    while reasoning (those calls' tokens are in the counts: they are billed)."""
    failure: str = ""
    """Why there is no answer (cut off while reasoning at the largest budget allowed); "" for a
    reply."""
    budget: int | None = None
    """The completion budget of the last attempt (what a failure reached)."""


@dataclass(frozen=True)
class ModelConfig:
    """A candidate model: a display name, a backend spec and how it decodes."""

    name: str
    """The name shown on the leaderboard; unique within a run."""
    spec: str
    """Backend spec, e.g. ``embedded``, ``hf:Qwen/Qwen2.5-0.5B-Instruct+lora:out/``,
    ``openai:gpt-4o-mini@http://localhost:8000/v1``."""
    decoding: DecodingParams = field(default_factory=DecodingParams)
    """How this model decodes; part of every cache key."""
    system_prompt: str = ""
    """Optional system message sent before each question."""
    reasoning_tags: tuple[tuple[str, str], ...] | None = None
    """The markers of a leading reasoning block in this model's replies, kept apart from its
    answers; None: the built-in ones (``<think>...</think>`` and a few others), empty: none."""


@dataclass(frozen=True)
class Answer:
    """One model's answer to one question."""

    model: str
    task: str
    question_id: str
    answer: str
    spec: str = ""
    """The backend spec that produced it (empty for answers imported by hand)."""
    decoding: Mapping[str, Any] = field(default_factory=dict)
    turns: tuple[str, ...] = ()
    """The answers to a multi-turn question's later turns (``Question.turns``), turn 2 first; the
    answer to turn 1 stays in ``answer``. Empty for a single-turn question."""
    reasoning: tuple[str, ...] = ()
    """The model's reasoning before each turn's answer, one per turn ("" where it showed none),
    kept apart from the answers that judges, statistics and reports see; empty when no turn had
    any (and then absent from the row)."""

    @property
    def only_trace(self) -> tuple[int, ...]:
        """The turns (1 is the first) where the model reasoned and never answered.

        >>> Answer("m", "t", "q1", "", reasoning=("Let me think",)).only_trace
        (1,)
        """
        return tuple(i for i, (text, trace) in enumerate(zip(self.all_turns, self.reasoning), 1)
                     if trace and not text)

    @property
    def all_turns(self) -> tuple[str, ...]:
        """The answer to every turn in order, ``answer`` first.

        >>> Answer("m", "t", "q1", "A poem.", turns=("Shorter.",)).all_turns
        ('A poem.', 'Shorter.')
        """
        return (self.answer, *self.turns)

    def at_turn(self, turn: int | None) -> str | None:
        """The answer to ``turn`` (1 is the first; None, a single-turn judgment, means ``answer``),
        or None when this answer has no such turn.

        >>> a = Answer("m", "t", "q1", "A poem.", turns=("Shorter.",))
        >>> a.at_turn(None), a.at_turn(2), a.at_turn(3)
        ('A poem.', 'Shorter.', None)
        """
        if turn is None:
            return self.answer
        return self.all_turns[turn - 1] if 1 <= turn <= len(self.all_turns) else None

    def to_row(self) -> dict[str, Any]:
        """The ``answers.jsonl`` row; ``turns`` only when there are later turns, so a single-turn
        row is what it was before multi-turn answers existed."""
        row = {**dataclasses.asdict(self), "decoding": dict(self.decoding)}
        for key in ("turns", "reasoning"):
            if getattr(self, key):
                row[key] = list(getattr(self, key))
            else:
                del row[key]
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Answer:
        """One ``answers.jsonl`` row; a missing or wrongly typed field is a KeyError / ValueError."""
        texts = {k: _text(row[k], k) for k in ("model", "task", "question_id", "answer")}
        decoding = row.get("decoding", {})
        if not isinstance(decoding, dict):
            raise ValueError(f"field 'decoding': expected an object, got {_show(decoding)}")
        for name, value in decoding.items():
            # Decoding settings are flat scalars; anything nested is not one (and deep nesting
            # would reach the recursion limit when the record is copied).
            if not (value is None or isinstance(value, (str, bool, int))
                    or (isinstance(value, float) and math.isfinite(value))):
                raise ValueError(f"field 'decoding': {name!r} must be a number, string, boolean or "
                                 f"null, got {_show(value)}")
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("turns", "reasoning"):
            value = row.get(key, [])
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise ValueError(f"field {key!r}: expected a list of strings, got {_show(value)}")
            lists[key] = tuple(value)
        if lists["reasoning"] and len(lists["reasoning"]) != 1 + len(lists["turns"]):
            raise ValueError(f"field 'reasoning': expected one trace per turn "
                             f"({1 + len(lists['turns'])}), got {len(lists['reasoning'])}")
        return cls(texts["model"], texts["task"], texts["question_id"], texts["answer"],
                   spec=_text(row.get("spec", ""), "spec"), decoding=decoding, turns=lists["turns"],
                   reasoning=lists["reasoning"])


@dataclass(frozen=True)
class Judgment(RowRecord):
    """The judge's verdict on one question for one model pair in one order."""

    task: str
    question_id: str
    model_a: str
    model_b: str
    order: Order
    """``ab``: model_a was Assistant 1; ``ba``: model_b was Assistant 1; ``once``: judged a single
    time, order not recorded (files written before ``once`` existed hold only ``ab``/``ba``)."""
    winner: JudgmentWinner
    """Mapped back to the pair: ``error`` when no valid label could be read."""
    label: str
    """The label read from the reply (``better``/``worse``/``equal``), or ``""`` on error."""
    judge: str
    """The judge's backend spec."""
    method: str
    """``generate`` (parse the reply) or ``likelihood`` (most likely label)."""
    prompt: str
    """The judge prompt's name."""
    prompt_hash: str
    """Hash of the judge prompt's template, so edited prompts never mix with old verdicts."""
    raw: str
    """The judge's raw reply (all attempts), kept so a person can check the verdict."""
    attempts: int = 1
    turn: int | None = None
    """Which turn of a multi-turn question was judged (1 is the first), the judge shown both
    conversations up to it; None for a single-turn question, and then absent from the row, so
    single-turn files read and write as before turns existed."""
    soft: tuple[float, float, float] | None = None
    """(P(model_a wins), P(tie), P(model_b wins)) read from the judge's log-probabilities at the
    verdict position (method ``logprobs``), or an imported verdict's own expected outcome
    (AlpacaEval's fractional preferences); None for a verdict read from text alone (absent from
    the row)."""
    source: str | None = None
    """Where an imported event came from (``battles.jsonl:17``, ``.../game2``): a published battle
    file's rows are battles each, repeated rows included, so the row, not the question, keys them;
    None for a judgment of a comparison (absent from the row)."""


@dataclass(frozen=True)
class Battle(RowRecord):
    """Both orders of one pair on one question, combined (FastChat's battle format)."""

    model_a: str
    model_b: str
    winner: Winner
    task: str
    question_id: str
    judge: str = ""
    turn: int | None = None
    """The judged turn of a multi-turn question; None for a single-turn one (absent from the row)."""
    soft: tuple[float, float, float] | None = None
    """Expected outcome (P(model_a wins), P(tie), P(model_b wins)): the mean of both orders'
    probability-weighted verdicts; None when either order has none (absent from the row)."""
    source: str | None = None
    """The imported row this battle is (:attr:`Judgment.source`); None for a run's own battles."""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Battle:
        """One battle row (``battles.jsonl`` or a FastChat battle file): the one place that decides
        what a valid battle is. Extra fields are ignored; FastChat's numeric question ids are kept
        as text; anything else wrong is a KeyError / ValueError naming the field."""
        for key in ("model_a", "model_b", "winner"):
            if not isinstance(row[key], str) or not row[key]:
                raise ValueError(f"field {key!r} must be a non-empty string")
        winner = _choice(get_args(Winner))(row["winner"], "winner")
        if row["model_a"] == row["model_b"]:
            raise ValueError(f"a model cannot battle itself ({_show(row['model_a'])})")
        qid = row.get("question_id", "")
        if isinstance(qid, int) and not isinstance(qid, bool):
            qid = str(qid)
        return cls(model_a=row["model_a"], model_b=row["model_b"], winner=winner,  # type: ignore[arg-type]
                   task=_text(row.get("task", ""), "task"), question_id=_text(qid, "question_id"),
                   judge=_text(row.get("judge", ""), "judge"), turn=turn_number(row.get("turn")),
                   soft=_soft(row.get("soft"), "soft"), source=_maybe_text(row.get("source"), "source"))


@dataclass(frozen=True)
class PairRecord:
    """Win/tie/lose counts of ``model`` against ``opponent`` (the seed's 'win 12 tie 35 lose 53')."""

    model: str
    opponent: str
    wins: int
    ties: int
    losses: int

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def win_rate(self) -> float:
        """Share of battles won, a tie counting half (0 when they never met)."""
        return (self.wins + 0.5 * self.ties) / self.n if self.n else 0.0


@dataclass(frozen=True)
class Rating:
    """One leaderboard row: Bradley-Terry and Elo ratings with 95% bootstrap intervals."""

    model: str
    bt: float
    """Bradley-Terry rating on the Elo scale (maximum likelihood)."""
    bt_lower: float
    bt_upper: float
    elo: float
    """Online Elo (K=4), averaged over shuffled battle orders."""
    elo_lower: float
    elo_upper: float
    rank: int
    """1 + the number of models whose BT lower bound is above this model's BT upper bound."""
    wins: int
    ties: int
    losses: int

    @property
    def battles(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def win_rate(self) -> float:
        """Share of battles won, a tie counting half."""
        return (self.wins + 0.5 * self.ties) / self.battles if self.battles else 0.0


@dataclass(frozen=True)
class Grade(RowRecord):
    """A single-answer grade: one model's answer to one question, scored alone."""

    task: str
    question_id: str
    model: str
    score: float | None
    """The score read from the judge's reply; None when no valid label could be read."""
    judge: str
    method: str
    prompt: str
    prompt_hash: str
    raw: str
    attempts: int = 1
    turn: int | None = None
    """The graded turn of a multi-turn question (the judge shown the conversation up to it);
    None for a single-turn question, and then absent from the row."""


@dataclass(frozen=True)
class Perturbation(RowRecord):
    """An answer and a copy altered by one bias probe, stored so a person can read both."""

    probe: str
    """``factual_error``, ``gender_bias``, ``fake_references``, ``rich_content``,
    ``repetitive_list`` or ``ignores_earlier_turns``."""
    task: str
    question_id: str
    model: str
    """Whose answer was altered."""
    language: str
    original: str
    perturbed: str
    method: str = "rules"
    """``rules``, or the spec of the model that wrote the perturbed copy."""
    turn: int | None = None
    """The altered turn of a multi-turn question (``original`` and ``perturbed`` are that turn's
    answers, the earlier turns kept); None for a single-turn answer, and then absent from the row."""


@dataclass(frozen=True)
class HumanLabel(RowRecord):
    """A person's verdict on one comparison (``harness human import``)."""

    task: str
    question_id: str
    model_a: str
    model_b: str
    winner: HumanWinner
    """``model_a``, ``model_b`` or ``tie``."""
    annotator: str = ""
    shown_first: str = ""
    """The model the annotator saw as "Answer 1" (empty when not recorded, as in imported files)."""
    seconds: float | None = None
    """Time the annotator spent on the item (``harness human serve``), when recorded."""
    reason: str = ""
    """The annotator's optional reason."""


class CheckKind(enum.Enum):
    """What a bias figure measures; its value is the figure's name in tables and ``bias.csv``."""

    SWAP_CONSISTENCY = "position: swap consistency"
    FIRST_SLOT = "position: prefers first slot"
    LONGER_WINS = "length: longer answer wins"
    LENGTH_SLOPE = "length: slope per 100 chars"
    LC_WIN_RATE = "length: LC win rate"
    SELF_PREFERENCE = "self-preference"
    PROBE = "probe"

    @property
    def is_share(self) -> bool:
        """A share in [0, 1] (printed as a percentage); the length slope is a log-odds change."""
        return self is not CheckKind.LENGTH_SLOPE


# How a subject (a model, a probe) joins the kind's name: "length: LC win rate (a)", "probe: x".
_SUBJECT_FORMS = {CheckKind.LC_WIN_RATE: "{kind} ({subject})", CheckKind.SELF_PREFERENCE: "{kind}: {subject}",
                  CheckKind.PROBE: "{kind}: {subject}"}


@dataclass(frozen=True)
class BiasCheck:
    """One bias figure for one judge, with its 95% interval and the number of items behind it."""

    judge: str
    kind: CheckKind
    value: float
    lower: float
    upper: float
    n: int
    note: str = ""
    """What the figure means, in words a student understands."""
    subject: str = ""
    """The model (LC win rate, self-preference) or the probe the figure is about; empty otherwise."""

    @property
    def check(self) -> str:
        """The figure's name, e.g. ``position: swap consistency`` or ``probe: fake_references``."""
        if not self.subject:
            return self.kind.value
        return _SUBJECT_FORMS[self.kind].format(kind=self.kind.value, subject=self.subject)

    @classmethod
    def named(cls, judge: str, check: str, value: float, lower: float, upper: float, n: int,
              note: str = "") -> BiasCheck:
        """A figure read back by its name (``bias.csv``); an unknown name is a ValueError.

        >>> BiasCheck.named("j", "length: LC win rate (a (b))", 0.5, 0.4, 0.6, 9).subject
        'a (b)'
        """
        for kind in CheckKind:
            if check == kind.value:
                return cls(judge, kind, value, lower, upper, n, note)
            form = _SUBJECT_FORMS.get(kind)
            if form is not None:
                prefix, suffix = form.format(kind=kind.value, subject="\0").split("\0")
                subject = check[len(prefix):len(check) - len(suffix)]
                if check.startswith(prefix) and check.endswith(suffix) and subject:
                    return cls(judge, kind, value, lower, upper, n, note, subject)
        raise ValueError(f"unknown check {check!r}")


@dataclass(frozen=True)
class UsageLine:
    """Model calls, tokens and cost for one model or judge (one row of ``usage.csv``)."""

    stage: str
    """``generate`` (a candidate model) or ``judge``."""
    name: str
    spec: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    """US dollars; 0 for local models; None when the model has no known price."""
    unreported: int = 0
    """Calls whose backend gave no token counts (likelihood scoring; some local servers)."""
    reasoning_tokens: int = 0
    """Completion tokens spent reasoning (part of ``completion_tokens``, billed as output)."""
    cached_tokens: int = 0
    """Prompt tokens read from the provider's prompt cache (part of ``prompt_tokens``)."""
    budget_retries: int = 0
    """Calls asked again with a larger completion budget after a reply was cut off while reasoning."""
    not_sent: tuple[str, ...] = ()
    """Sampling settings the endpoint refuses for this model, so never sent: the model decided its
    own decoding there."""
