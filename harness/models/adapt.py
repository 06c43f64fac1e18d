"""How each endpoint and model is asked: the parameters it takes, learned once and remembered.

Every OpenAI-compatible endpoint takes ``max_tokens``, ``temperature`` and ``top_p``, except the
ones that do not: OpenAI's reasoning models (the o-series, the gpt-5 family) answer HTTP 400 to
``max_tokens`` ("Use 'max_completion_tokens' instead"), to any ``temperature`` but 1, to ``top_p``
and to ``logprobs``; Anthropic's newer models refuse ``temperature`` and ``top_p`` together;
Gemini's OpenAI endpoint refuses fields it does not know (``top_k``). A :class:`Shape` records,
for one endpoint and model, the name that carries the completion budget, the parameters not sent,
whether the model reasons before it answers (its budget then has room to think), and the budget
its replies were found to need.

A shape starts from the model's known family (:func:`known_shape`) and changes when the endpoint
refuses a parameter (:func:`refusal` reads OpenAI's, Anthropic's and Gemini's error bodies). The
:class:`Adaptations` of a session hold the shapes, let only one request through for a model until
one reply proves its shape (so a refusal is met once, not by every request in flight), say each
change once, and write every change to the run's call cache, so a resumed run starts from what the
last one learned instead of paying to learn it again.

Not handled here: sending and retrying requests (the backends), and parameters whose *value* is
wrong (``max_tokens`` too large, an unknown ``reasoning_effort`` level): those stay errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.core.notes import say_once
from harness.core.types import DecodingParams

SAMPLING = ("temperature", "top_p", "top_k", "seed")
"""Decoding settings a model may refuse; one that is not sent is decided by the model itself."""
DROPPABLE = frozenset({*SAMPLING, "reasoning_effort", "response_format", "presence_penalty",
                       "frequency_penalty"})
"""Parameters harness stops sending when an endpoint refuses them (the request still means the
same question); a refused ``logprobs`` cannot be dropped, since the judge asked for it."""
TOKEN_PARAMS = ("max_tokens", "max_completion_tokens")
LOGPROBS = ("logprobs", "top_logprobs")
REFUSAL_STATUS = (400, 403, 422)


@dataclass(frozen=True)
class Shape:
    """How one model on one endpoint is asked."""

    token_param: str = "max_tokens"
    """The request field that carries the completion budget."""
    not_sent: frozenset[str] = frozenset()
    """Parameters the model refuses (or, for its family, is known to refuse)."""
    reasoning: bool = False
    """Whether the model reasons before it answers, spending completion tokens it does not show:
    its first budget is ``max_new_tokens`` plus the endpoint's ``reasoning_budget``."""
    budget: int = 0
    """The completion budget its replies were found to need (a reply was cut off while reasoning
    with less); calls start there. 0: nothing learned."""
    proven: bool = False
    """A reply came back asked this way, so requests need not wait for the first one."""
    family: str = ""
    """The known family the shape started from, for the notes ("" for any other model)."""

    def to_row(self) -> dict[str, Any]:
        return {"token_param": self.token_param, "not_sent": sorted(self.not_sent),
                "reasoning": self.reasoning, "budget": self.budget, "proven": self.proven,
                "family": self.family}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Shape:
        """A stored shape; anything malformed (a hand-edited cache) reads as the default."""
        try:
            token = str(row.get("token_param", "max_tokens"))
            not_sent = frozenset(str(p) for p in row.get("not_sent", ()))
            budget = int(row.get("budget", 0))
            token = token if token in TOKEN_PARAMS else "max_tokens"
            return cls(token, not_sent - {token},
                       bool(row.get("reasoning", False)), max(0, budget), bool(row.get("proven", False)),
                       str(row.get("family", "")))
        except (TypeError, ValueError, AttributeError):
            return cls()

    @property
    def decided_by_model(self) -> tuple[str, ...]:
        """The sampling settings this model decides itself (they are not sent)."""
        return tuple(p for p in SAMPLING if p in self.not_sent)

    def refuses(self, param: str) -> bool:
        return param in self.not_sent

    def adapted_to(self, refused: Refusal) -> Shape | None:
        """This shape without the refused parameter, or None when that cannot help (the
        parameter is needed, or both names of the budget were refused)."""
        param = refused.param
        if param in TOKEN_PARAMS:
            other = TOKEN_PARAMS[1 - TOKEN_PARAMS.index(param)]
            if param != self.token_param or other in self.not_sent:
                return None
            return dataclasses.replace(self, token_param=other, not_sent=self.not_sent | {param})
        if param in DROPPABLE and param not in self.not_sent:
            return dataclasses.replace(self, not_sent=self.not_sent | {param})
        return None


@dataclass(frozen=True)
class Family:
    """Models known to refuse parameters, matched by name before any request is sent."""

    name: str
    pattern: re.Pattern[str]
    token_param: str
    not_sent: frozenset[str]
    reasoning: bool


def _family(name: str, pattern: str, token_param: str, not_sent: Collection[str],
            reasoning: bool = True) -> Family:
    return Family(name, re.compile(pattern), token_param, frozenset(not_sent), reasoning)


FAMILIES: tuple[Family, ...] = (
    # gpt-5-chat-latest (and gpt-5.1-chat...) is the non-reasoning model behind ChatGPT: it takes
    # the usual parameters.
    _family("OpenAI reasoning model", r"^(o\d+(-|$)|gpt-5(?!(\.\d+)?-chat))", "max_completion_tokens",
            ("max_tokens", "temperature", "top_p", "top_k", "logprobs", "top_logprobs")),
    # DeepSeek ignores sampling settings on its reasoner (so they are not claimed as used) and
    # refuses logprobs.
    _family("DeepSeek reasoner", r"^deepseek-(reasoner|r1)", "max_tokens",
            ("temperature", "top_p", "top_k", "logprobs", "top_logprobs")),
    # Gemini 2.5 and later think by default; their max_tokens covers the thoughts.
    _family("Gemini thinking model", r"^gemini-(2\.5|[3-9])", "max_tokens", ("top_k",)),
)


def model_name(model: str) -> str:
    """A model name without a router's provider prefix, lower-cased, for family matching.

    >>> model_name("openai/o4-mini"), model_name("models/gemini-2.5-pro"), model_name("GPT-5-mini")
    ('o4-mini', 'gemini-2.5-pro', 'gpt-5-mini')
    """
    return model.rsplit("/", 1)[-1].strip().lower()


def known_shape(model: str) -> Shape:
    """The shape a model starts with: its family's, else the plain Chat Completions one.

    >>> known_shape("o3-mini").token_param, known_shape("gpt-5-chat-latest").reasoning
    ('max_completion_tokens', False)
    >>> sorted(known_shape("gpt-5.1").decided_by_model)
    ['temperature', 'top_k', 'top_p']
    """
    name = model_name(model)
    for fam in FAMILIES:
        if fam.pattern.search(name):
            return Shape(fam.token_param, fam.not_sent, fam.reasoning, family=fam.name)
    return Shape()


def first_budget(shape: Shape, max_new_tokens: int, reasoning_budget: int, cap: int | None = None) -> int:
    """The completion budget a call starts with: ``max_new_tokens``, plus room to reason for a
    reasoning model, or the budget its replies were found to need; never above ``cap`` (unless
    ``max_new_tokens`` itself is).

    >>> first_budget(Shape(), 512, 4096), first_budget(Shape(reasoning=True), 512, 4096)
    (512, 4608)
    >>> first_budget(Shape(reasoning=True, budget=18432), 512, 4096, cap=16384)
    16384
    """
    wanted = max_new_tokens + (reasoning_budget if shape.reasoning else 0)
    wanted = max(wanted, shape.budget)
    return wanted if cap is None else min(wanted, max(cap, max_new_tokens))


def request_body(shape: Shape, params: DecodingParams, budget: int, top_logprobs: int = 0,
                 schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The request's parameters besides the model and messages, as this shape asks them.

    ``top_k`` is not part of OpenAI's API: it goes only when set, which vLLM and llama.cpp's server
    understand. ``seed`` and ``top_p`` go as before, so a server's decoding is what it always was.

    >>> sorted(request_body(known_shape("o3-mini"), DecodingParams(), 4608))
    ['max_completion_tokens', 'seed']
    """
    body: dict[str, Any] = {shape.token_param: budget, "temperature": params.temperature,
                            "top_p": params.top_p, "seed": params.seed}
    if params.top_k:
        body["top_k"] = params.top_k
    if params.reasoning_effort:
        body["reasoning_effort"] = params.reasoning_effort
    if top_logprobs:
        body.update(logprobs=True, top_logprobs=top_logprobs)
    if schema is not None:
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": "verdict", "strict": True, "schema": dict(schema)}}
    return {k: v for k, v in body.items() if k not in shape.not_sent or k == shape.token_param}


# --- reading a refusal ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Refusal:
    """An endpoint's refusal of one parameter of a request."""

    param: str
    message: str


_UNSUPPORTED = re.compile(
    r"unsupported|not supported|does not support|not allowed|not enabled|cannot find field|"
    r"unknown (name|field|parameter)|unrecognized|may only be set|only the default|"
    r"cannot both be specified|extra inputs are not permitted|not permitted", re.IGNORECASE)
_QUOTED = re.compile(r"""['"`\\]+([A-Za-z_][A-Za-z0-9_]*)['"`\\]+""")
_GOOGLE_UNKNOWN = re.compile(r"""Unknown name \\?["']?([A-Za-z_][A-Za-z0-9_]*)""")


def error_fields(body: Any) -> tuple[str, str, str]:
    """``(message, param, code)`` of an error body in OpenAI's shape (``{"error": {...}}``),
    Anthropic's (``{"type": "error", "error": {...}}``) or Gemini's (a list holding one).

    >>> error_fields([{"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}])
    ('bad', '', '400')
    """
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return (str(body) if body else "", "", "")
    inner = body.get("error", body)
    if not isinstance(inner, dict):
        return (str(inner), "", "")
    return (str(inner.get("message") or ""), str(inner.get("param") or ""),
            str(inner.get("code") or ""))


def refusal(status: int, body: Any, sent: Collection[str]) -> Refusal | None:
    """The parameter an error refuses, when it is one of those ``sent``; None for any other error.

    OpenAI names it (``param``, with ``code`` ``unsupported_parameter`` or ``unsupported_value``);
    otherwise the message must say the parameter is not supported, and name it.

    >>> body = {"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with "
    ...         "this model. Use 'max_completion_tokens' instead.", "type": "invalid_request_error",
    ...         "param": "max_tokens", "code": "unsupported_parameter"}}
    >>> refusal(400, body, {"max_tokens", "temperature"}).param
    'max_tokens'
    >>> refusal(400, {"error": {"message": "maximum context length is 8 tokens"}}, {"max_tokens"}) is None
    True
    """
    if status not in REFUSAL_STATUS:
        return None
    message, param, code = error_fields(body)
    said_unsupported = bool(_UNSUPPORTED.search(message)) or code in ("unsupported_parameter",
                                                                        "unsupported_value")
    if not said_unsupported:
        return None
    if param in sent:
        return Refusal(param, message)
    if "cannot both be specified" in message and {"temperature", "top_p"} <= set(sent):
        return Refusal("top_p", message)  # Anthropic: keep the temperature, the one harness sets
    named = [m.group(1) for m in _GOOGLE_UNKNOWN.finditer(message)]
    named += [m.group(1) for m in _QUOTED.finditer(message)]
    for name in named:
        if name in sent:
            return Refusal(name, message)
    # Named bare: "Unrecognized request argument supplied: top_k"; "You are not allowed to request
    # logprobs from this model" (HTTP 403). The first one the message mentions is the one refused.
    words = [(m.start(), name) for name in sent
             for m in [re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message,
                                 re.IGNORECASE)] if m]
    return Refusal(min(words)[1], message) if words else None


# --- the session's shapes ------------------------------------------------------------------------

class ShapeStore(Protocol):
    """Where shapes outlive the process: the run's call cache."""

    def shapes(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Every stored ``(endpoint, model, shape row)``."""
        ...

    def put_shape(self, endpoint: str, model: str, row: dict[str, Any]) -> None:
        ...


@dataclass
class Adaptations:
    """The shapes of every endpoint and model of one session (thread-safe)."""

    _shapes: dict[tuple[str, str], Shape] = field(default_factory=dict)
    _gates: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _store: ShapeStore | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, store: ShapeStore) -> None:
        """Read what ``store`` remembers (it wins over what this process assumed) and write later
        changes there."""
        with self._lock:
            if store is self._store:
                return
            self._store = store
            for endpoint, model, row in store.shapes():
                self._shapes[(endpoint, model)] = Shape.from_row(row)

    def shape(self, endpoint: str, model: str) -> Shape:
        with self._lock:
            key = (endpoint, model)
            if key not in self._shapes:
                self._shapes[key] = known_shape(model)
            return self._shapes[key]

    def learned(self) -> dict[tuple[str, str], Shape]:
        with self._lock:
            return dict(self._shapes)

    def change(self, endpoint: str, model: str, how: Callable[[Shape], Shape | None],
               note: str | Callable[[Shape], str] = "") -> Shape | None:
        """Apply ``how`` to the current shape (another request may have changed it since this one
        read it), write the result to the store and say ``note`` (or ``note(result)``) once; the
        result, or None when ``how`` returns None (nothing can be changed)."""
        with self._lock:
            key = (endpoint, model)
            current = self._shapes.get(key) or known_shape(model)
            changed = how(current)
            if changed is None or changed == current:
                return changed
            self._shapes[key] = changed
            store = self._store
        if store is not None:
            store.put_shape(endpoint, model, changed.to_row())
        said = note(changed) if callable(note) else note
        if said:
            say_once(said)
        return changed

    def needs_budget(self, endpoint: str, model: str, budget: int, note: str) -> Shape | None:
        """Remember that the model reasons and its replies need ``budget`` completion tokens."""
        return self.change(endpoint, model, lambda s: dataclasses.replace(
            s, reasoning=True, budget=max(s.budget, budget)), note)

    def proven(self, endpoint: str, model: str, reasoned: bool) -> None:
        """Remember that a reply came back as the model is now asked (and whether it reasoned)."""
        self.change(endpoint, model, lambda s: dataclasses.replace(
            s, proven=True, reasoning=s.reasoning or reasoned))

    @contextlib.contextmanager
    def first_light(self, endpoint: str, model: str) -> Iterator[None]:
        """Let one request at a time through for a model until one reply proves its shape, so
        that a refused parameter is met by one request, not by every one in flight."""
        key = (endpoint, model)
        if self.shape(endpoint, model).proven:
            yield
            return
        with self._lock:
            gate = self._gates.setdefault(key, threading.Lock())
        gate.acquire()
        if self.shape(endpoint, model).proven:  # proven while this request waited: go at once
            gate.release()
            yield
            return
        try:
            yield
        finally:
            gate.release()
