"""Judge prompts: each ``*.yaml`` file here (or in a ``--prompts-dir`` folder) is one prompt.

A prompt file holds Jinja2 templates (``system``, ``user``, ``retry``), optional few-shot
``examples`` and the allowed verdict labels. Modes:

- ``pairwise``: labels map to ``better`` / ``worse`` / ``equal`` (Assistant 1 vs Assistant 2);
  the user template uses ``question``, ``answer_1`` and ``answer_2``.
- ``pairwise_reference``: the same, and the template must show the task's ``reference`` answer.
- ``single``: one answer graded alone; labels map to scores (e.g. ``"Rating: [[7]]": 7``); the
  template uses ``question`` and ``answer``.
- ``pairwise_turns`` and ``single_turns``: the same verdicts on one turn of a conversation (a
  multi-turn question). The template shows ``conversation_1`` and ``conversation_2`` (or
  ``conversation``): the user's turns and that assistant's answers up to the judged ``turn``, a
  list of ``{user, assistant, reference}``; ``question``, ``answer_1``/``answer_2``/``answer`` and
  ``reference`` are the judged turn's. A single-turn question is a conversation of one turn, so a
  turns prompt judges any question; a run whose prompt is not a turns prompt judges its
  multi-turn questions with the built-in ``multiturn[_single]_LANG`` prompt of the same language.

Every template may also use ``input`` (the question's optional context) and ``reference``.

Prompt files are shared between people, so they are untrusted: templates render in Jinja2's
immutable sandbox (no attribute starting with ``_``, no calls that change objects, no ``include`` or
``import`` of other files, bounded ``*`` and ``**``), and every template is rendered once against a
sample comparison when the file is loaded, so a template that fails fails there, naming the file and
field, not in the middle of a paid run. Not handled: a template that renders but reads badly (that
is what ``harness prompts test`` measures).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from harness.core.errors import HarnessError
from harness.core.files import check_fields, read_yaml
from harness.core.plugins import discover, unknown
from harness.core.types import Message
from harness.judges.verdict import label_tokens

BUILTIN_DIR = Path(__file__).parent
MEANINGS = ("better", "worse", "equal")
REQUIRED = ("language", "mode", "user", "labels")
OPTIONAL = ("name", "description", "system", "retry", "examples")
PLACEHOLDERS = {
    "pairwise": ("question", "answer_1", "answer_2"),
    "pairwise_reference": ("question", "answer_1", "answer_2", "reference"),
    "single": ("question", "answer"),
    "pairwise_turns": ("conversation_1", "conversation_2", "turn"),
    "single_turns": ("conversation", "turn"),
}
MODES = tuple(PLACEHOLDERS)
TURN_MODES = ("pairwise_turns", "single_turns")
VARIABLES = frozenset({"question", "input", "reference", "answer_1", "answer_2", "answer"})
TURN_VARIABLES = VARIABLES | {"conversation_1", "conversation_2", "conversation", "turn"}
DEFAULT_RETRY = "Reply with exactly one line containing only one of: {{ labels }}."

MAX_RESULT = 1_000_000
"""Longest string or list one ``*`` in a template may make."""
MAX_BITS = 65_536
"""Largest number (in bits, about 20,000 digits) one ``**`` in a template may make."""
SAMPLE = dict(question="Give an example.", input="", reference="A 10-year Treasury note.",
              answer_1="A 10-year Treasury note.", answer_2="A share of Apple.",
              answer="A 10-year Treasury note.", turn=2,
              conversation_1=[{"user": "What is a bond?", "assistant": "A debt security.",
                               "reference": "A loan to the issuer."},
                              {"user": "Give an example.", "assistant": "A 10-year Treasury note.",
                               "reference": "A 10-year Treasury note."}],
              conversation_2=[{"user": "What is a bond?", "assistant": "A share of a company.",
                               "reference": "A loan to the issuer."},
                              {"user": "Give an example.", "assistant": "A share of Apple.",
                               "reference": "A 10-year Treasury note."}])
SAMPLE["conversation"] = SAMPLE["conversation_1"]
"""The comparison every template is rendered against when its file is loaded (a two-turn one,
judged at turn 2; plain templates read only its last turn)."""


def turn_record(user: str, assistant: str, reference: str = "") -> dict[str, str]:
    """One turn of a conversation as a turns template sees it."""
    return {"user": user, "assistant": assistant, "reference": reference}


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, with ``*`` and ``**`` bounded so a template cannot exhaust memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _is_number(left) and _is_number(right) and abs(left) > 1 \
                and abs(right) * int(abs(left)).bit_length() > MAX_BITS:
            raise SecurityError(f"{left!r} ** {right!r}: result too large")
        if operator == "*":
            sized, times = (left, right) if isinstance(left, (str, list, tuple)) else (right, left)
            if isinstance(sized, (str, list, tuple)) and _is_number(times) \
                    and len(sized) * times > MAX_RESULT:
                raise SecurityError(f"repeating a sequence {times!r} times: result too large")
        return super().call_binop(context, operator, left, right)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_ENV = _Sandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
_ENV.globals.clear()  # cycler, joiner, namespace, lipsum, range, dict: nothing a judge prompt needs
_FORBIDDEN = {jinja2.nodes.Include: "include", jinja2.nodes.Import: "import",
              jinja2.nodes.FromImport: "import", jinja2.nodes.Extends: "extends"}


@dataclass(frozen=True)
class JudgePrompt:
    """A loaded, validated judge prompt."""

    name: str
    language: str
    mode: str
    user: str
    labels: Mapping[str, Any]
    """Label text -> ``better``/``worse``/``equal`` (pairwise modes) or a score (``single``)."""
    system: str = ""
    retry: str = DEFAULT_RETRY
    description: str = ""
    examples: tuple[tuple[str, str], ...] = ()
    """Few-shot (user, assistant) turns shown before the real comparison."""
    source: str = ""

    @property
    def hash(self) -> str:
        """Hash of everything that shapes the judge's reply; part of every judgment cache key."""
        blob = json.dumps([self.mode, self.system, self.user, self.retry, dict(self.labels),
                           self.examples], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    @property
    def pairwise(self) -> bool:
        return self.mode not in ("single", "single_turns")

    @property
    def turns(self) -> bool:
        """Whether the prompt shows conversations (and so can judge any turn of any question)."""
        return self.mode in TURN_MODES

    def render(self, question: str, answer_1: str = "", answer_2: str = "", input: str = "",
               reference: str = "", answer: str = "", *, turn: int = 1,
               conversation_1: Sequence[Mapping[str, str]] = (),
               conversation_2: Sequence[Mapping[str, str]] = (),
               conversation: Sequence[Mapping[str, str]] = ()) -> list[Message]:
        """The chat messages for one comparison (Assistant 1 first) or one graded answer; a turns
        prompt also reads the conversations up to ``turn`` (see :func:`turn_record`)."""
        values: dict[str, Any] = dict(question=question, input=input, reference=reference,
                                      answer_1=answer_1, answer_2=answer_2, answer=answer)
        if self.turns:
            # No conversation given: a single-turn comparison is a conversation of one turn.
            values.update(turn=turn,
                          conversation_1=list(conversation_1) or [turn_record(question, answer_1, reference)],
                          conversation_2=list(conversation_2) or [turn_record(question, answer_2, reference)],
                          conversation=list(conversation) or [turn_record(question, answer, reference)])
        messages: list[Message] = []
        if self.system:
            messages.append({"role": "system", "content": _render(self.system, values, self)})
        for user, assistant in self.examples:
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        messages.append({"role": "user", "content": _render(self.user, values, self)})
        return messages

    def retry_message(self) -> Message:
        """The follow-up sent when a reply has no valid label."""
        labels = ", ".join(f"'{label}'" for label in self.labels)
        return {"role": "user", "content": _render(self.retry, {"labels": labels}, self)}


@functools.lru_cache(maxsize=64)
def _compiled(template: str) -> jinja2.Template:
    return _ENV.from_string(template)  # compiling costs ~1 ms; a run renders thousands of prompts


def _render(template: str, values: Mapping[str, Any], prompt: JudgePrompt) -> str:
    try:
        return _compiled(template).render(**values).strip()
    except Exception as exc:  # any failure of a user's template is theirs to fix, named in one line
        raise HarnessError(f"{prompt.source}: cannot render: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {text}"


def available(prompts_dirs: Sequence[Path] = ()) -> dict[str, Any]:
    return discover([BUILTIN_DIR, *prompts_dirs], (".yaml", ".yml"), "harness.prompts")


def load_prompt(name: str, prompts_dirs: Sequence[Path] = ()) -> JudgePrompt:
    """Load a prompt by name; unknown names and malformed files are one-line errors."""
    refs = available(prompts_dirs)
    if name not in refs:
        raise unknown("judge prompt", name, refs)
    ref = refs[name]
    path = ref.path if ref.path is not None else Path(str(ref.load_entry_point()))
    return load_prompt_file(path, name)


def load_prompt_file(path: Path, name: str | None = None) -> JudgePrompt:
    source = str(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise HarnessError(f"{source}: expected a mapping with fields {', '.join(REQUIRED)}")
    check_fields(data, REQUIRED, OPTIONAL, source)
    for key in ("language", "mode", "user", *[k for k in OPTIONAL if k in data and k != "examples"]):
        if not isinstance(data[key], str) or not data[key].strip():
            raise HarnessError(f"{source}: field {key!r} must be a non-empty string")
    if data["mode"] not in MODES:
        raise HarnessError(f"{source}: field 'mode' is {data['mode']!r}; known: {', '.join(MODES)}")
    if "name" in data and data["name"] != (name or path.stem):
        raise HarnessError(f"{source}: field 'name' is {data['name']!r} but the file name makes it "
                           f"{name or path.stem!r}; rename one of them")
    labels = _check_labels(source, data["mode"], data["labels"])
    known = TURN_VARIABLES if data["mode"] in TURN_MODES else VARIABLES
    _check_template(source, "user", data["user"], required=PLACEHOLDERS[data["mode"]], known=known)
    for key in ("system", "retry"):
        if key in data:
            _check_template(source, key, data[key], required=(), known=known,
                            extra={"labels"} if key == "retry" else set())
    prompt = JudgePrompt(name=name or path.stem, language=data["language"], mode=data["mode"],
                         user=data["user"], labels=labels, system=data.get("system", ""),
                         retry=data.get("retry", DEFAULT_RETRY), description=data.get("description", ""),
                         examples=_check_examples(source, data.get("examples", [])), source=source)
    _check_renders(prompt)
    return prompt


def _check_renders(prompt: JudgePrompt) -> None:
    """Render every template once against the sample comparison, so a broken one fails at load."""
    labels = ", ".join(f"'{label}'" for label in prompt.labels)
    for field, template, values in (("system", prompt.system, SAMPLE), ("user", prompt.user, SAMPLE),
                                    ("retry", prompt.retry, {"labels": labels})):
        try:
            _compiled(template).render(**values)
        except Exception as exc:  # see _render
            raise HarnessError(f"{prompt.source}: field {field!r}: cannot render: {_reason(exc)}") from None


def _check_labels(source: str, mode: str, labels: Any) -> dict[str, Any]:
    if not isinstance(labels, dict) or not labels:
        raise HarnessError(f"{source}: field 'labels' must map each label to "
                           + ("a score" if mode.startswith("single") else f"one of {MEANINGS}"))
    out = {str(k): v for k, v in labels.items()}
    seen: dict[tuple[str, ...], str] = {}
    for label in out:
        tokens = label_tokens(label)
        if not tokens:
            # An empty pattern matches every reply: each verdict would silently be this label's.
            raise HarnessError(f"{source}: label {label!r} is empty once markup and spacing are ignored")
        if tokens in seen:
            raise HarnessError(f"{source}: labels {seen[tokens]!r} and {label!r} read the same (case, "
                               "markup and spacing are ignored when reading a reply); make them differ")
        seen[tokens] = label
    if mode in ("single", "single_turns"):
        for label, score in out.items():
            if isinstance(score, bool) or not isinstance(score, (int, float)):
                raise HarnessError(f"{source}: label {label!r} maps to {score!r}; a single-grading "
                                   "label maps to a number")
        if len(set(out.values())) < 2:
            raise HarnessError(f"{source}: field 'labels' needs at least two different scores")
        return out
    for label, meaning in out.items():
        if meaning not in MEANINGS:
            raise HarnessError(f"{source}: label {label!r} maps to {meaning!r}; use one of {MEANINGS}")
    for meaning in MEANINGS:
        if meaning not in out.values():
            raise HarnessError(f"{source}: field 'labels' has no label meaning {meaning!r}")
    return out


def _check_examples(source: str, examples: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(examples, list):
        raise HarnessError(f"{source}: field 'examples' must be a list of {{user, assistant}} turns")
    out = []
    for i, ex in enumerate(examples):
        if not isinstance(ex, dict) or set(ex) != {"user", "assistant"} or not all(
                isinstance(v, str) and v.strip() for v in ex.values()):
            raise HarnessError(f"{source}: examples[{i}] must have exactly the fields 'user' and "
                               "'assistant', both non-empty text")
        out.append((ex["user"], ex["assistant"]))
    return tuple(out)


def _check_template(source: str, field: str, text: str, required: Sequence[str],
                    known: frozenset[str], extra: set[str] | frozenset[str] = frozenset()) -> None:
    try:
        tree = _ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise HarnessError(f"{source}: field {field!r}: template error line {exc.lineno}: "
                           f"{exc.message}") from None
    for kind, word in _FORBIDDEN.items():
        node = tree.find(kind)
        if node is not None:
            raise HarnessError(f"{source}: field {field!r}: template line {node.lineno}: "
                               f"{{% {word} %}} is not allowed; a prompt file holds its whole text")
    used = jinja2.meta.find_undeclared_variables(tree)
    for name in required:
        if name not in used:
            raise HarnessError(f"{source}: field {field!r} lacks the placeholder {{{{ {name} }}}}")
    for name in sorted(used - known - extra):
        raise HarnessError(f"{source}: field {field!r} uses unknown placeholder {{{{ {name} }}}}; "
                           f"known: {', '.join(sorted(known))}")
