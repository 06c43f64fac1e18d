"""Judge prompts: each ``*.yaml`` file here (or in a ``--prompts-dir`` folder) is one prompt.

A prompt file holds Jinja2 templates (``system``, ``user``, ``retry``), optional few-shot
``examples`` and the allowed verdict labels. Modes:

- ``pairwise``: labels map to ``better`` / ``worse`` / ``equal`` (Assistant 1 vs Assistant 2);
  the user template uses ``question``, ``answer_1`` and ``answer_2``.
- ``pairwise_reference``: the same, and the template must show the task's ``reference`` answer.
- ``single``: one answer graded alone; labels map to scores (e.g. ``"Rating: [[7]]": 7``); the
  template uses ``question`` and ``answer``.

Every template may also use ``input`` (the question's optional context) and ``reference``.
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

from harness.core.errors import HarnessError
from harness.core.files import check_fields, read_yaml
from harness.core.plugins import discover, unknown
from harness.core.types import Message

BUILTIN_DIR = Path(__file__).parent
MEANINGS = ("better", "worse", "equal")
REQUIRED = ("language", "mode", "user", "labels")
OPTIONAL = ("name", "description", "system", "retry", "examples")
PLACEHOLDERS = {
    "pairwise": ("question", "answer_1", "answer_2"),
    "pairwise_reference": ("question", "answer_1", "answer_2", "reference"),
    "single": ("question", "answer"),
}
MODES = tuple(PLACEHOLDERS)
VARIABLES = frozenset({"question", "input", "reference", "answer_1", "answer_2", "answer"})
DEFAULT_RETRY = "Reply with exactly one line containing only one of: {{ labels }}."

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                          autoescape=False)


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
        return self.mode != "single"

    def render(self, question: str, answer_1: str = "", answer_2: str = "", input: str = "",
               reference: str = "", answer: str = "") -> list[Message]:
        """The chat messages for one comparison (Assistant 1 first) or one graded answer."""
        values = dict(question=question, input=input, reference=reference, answer_1=answer_1,
                      answer_2=answer_2, answer=answer)
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
    except jinja2.TemplateError as exc:
        raise HarnessError(f"{prompt.source}: cannot render: {exc}") from None


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
    _check_template(source, "user", data["user"], required=PLACEHOLDERS[data["mode"]])
    for key in ("system", "retry"):
        if key in data:
            _check_template(source, key, data[key], required=(),
                            extra={"labels"} if key == "retry" else set())
    return JudgePrompt(name=name or path.stem, language=data["language"], mode=data["mode"],
                       user=data["user"], labels=labels, system=data.get("system", ""),
                       retry=data.get("retry", DEFAULT_RETRY), description=data.get("description", ""),
                       examples=_check_examples(source, data.get("examples", [])), source=source)


def _check_labels(source: str, mode: str, labels: Any) -> dict[str, Any]:
    if not isinstance(labels, dict) or not labels:
        raise HarnessError(f"{source}: field 'labels' must map each label to "
                           + ("a score" if mode == "single" else f"one of {MEANINGS}"))
    out = {str(k): v for k, v in labels.items()}
    if mode == "single":
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
                    extra: set[str] | frozenset[str] = frozenset()) -> None:
    try:
        used = jinja2.meta.find_undeclared_variables(_ENV.parse(text))
    except jinja2.TemplateSyntaxError as exc:
        raise HarnessError(f"{source}: field {field!r}: template error line {exc.lineno}: "
                           f"{exc.message}") from None
    for name in required:
        if name not in used:
            raise HarnessError(f"{source}: field {field!r} lacks the placeholder {{{{ {name} }}}}")
    for name in sorted(used - VARIABLES - extra):
        raise HarnessError(f"{source}: field {field!r} uses unknown placeholder {{{{ {name} }}}}; "
                           f"known: {', '.join(sorted(VARIABLES))}")
