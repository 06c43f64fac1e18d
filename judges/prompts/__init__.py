"""Judge prompts: each ``*.yaml`` file here (or in a ``--prompts-dir`` folder) is one prompt.

A prompt file holds Jinja2 templates (``system``, ``user``, ``retry``) and the allowed verdict
labels, each mapped to ``better`` / ``worse`` / ``equal`` (Assistant 1 compared with Assistant 2).
The user template sees ``question``, ``input``, ``reference``, ``answer_1`` and ``answer_2``.
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

from harness.errors import HarnessError
from harness.plugins import discover, unknown
from harness.storage import read_yaml
from harness.types import Message

BUILTIN_DIR = Path(__file__).parent
MEANINGS = ("better", "worse", "equal")
REQUIRED = ("language", "mode", "user", "labels")
OPTIONAL = ("description", "system", "retry")
PLACEHOLDERS = ("question", "answer_1", "answer_2")
VARIABLES = frozenset({*PLACEHOLDERS, "input", "reference"})
MODES = ("pairwise",)
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
    labels: Mapping[str, str]
    """Label text -> ``better``/``worse``/``equal``."""
    system: str = ""
    retry: str = DEFAULT_RETRY
    description: str = ""
    source: str = ""

    @property
    def hash(self) -> str:
        """Hash of everything that shapes the judge's reply; part of every judgment cache key."""
        blob = json.dumps([self.system, self.user, self.retry, dict(self.labels)], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def render(self, question: str, answer_1: str, answer_2: str, input: str = "",
               reference: str = "") -> list[Message]:
        """The chat messages for one comparison (Assistant 1 first)."""
        values = dict(question=question, input=input, reference=reference, answer_1=answer_1,
                      answer_2=answer_2)
        messages: list[Message] = []
        if self.system:
            messages.append({"role": "system", "content": _render(self.system, values, self)})
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
    for key in data:
        if key not in REQUIRED + OPTIONAL:
            raise HarnessError(f"{source}: unknown field {key!r}")
    for key in REQUIRED:
        if key not in data:
            raise HarnessError(f"{source}: missing field {key!r}")
    for key in ("language", "mode", "user", *[k for k in OPTIONAL if k in data]):
        if not isinstance(data[key], str) or not data[key].strip():
            raise HarnessError(f"{source}: field {key!r} must be a non-empty string")
    if data["mode"] not in MODES:
        raise HarnessError(f"{source}: field 'mode' is {data['mode']!r}; known: {', '.join(MODES)}")
    labels = data["labels"]
    if not isinstance(labels, dict) or not labels:
        raise HarnessError(f"{source}: field 'labels' must map each label to one of {MEANINGS}")
    for label, meaning in labels.items():
        if meaning not in MEANINGS:
            raise HarnessError(f"{source}: label {label!r} maps to {meaning!r}; use one of {MEANINGS}")
    for meaning in MEANINGS:
        if meaning not in labels.values():
            raise HarnessError(f"{source}: field 'labels' has no label meaning {meaning!r}")
    _check_template(source, "user", data["user"], required=PLACEHOLDERS)
    if "system" in data:
        _check_template(source, "system", data["system"], required=())
    return JudgePrompt(name=name or path.stem, language=data["language"], mode=data["mode"],
                       user=data["user"], labels={str(k): v for k, v in labels.items()},
                       system=data.get("system", ""), retry=data.get("retry", DEFAULT_RETRY),
                       description=data.get("description", ""), source=source)


def _check_template(source: str, field: str, text: str, required: Sequence[str]) -> None:
    try:
        used = jinja2.meta.find_undeclared_variables(_ENV.parse(text))
    except jinja2.TemplateSyntaxError as exc:
        raise HarnessError(f"{source}: field {field!r}: template error line {exc.lineno}: "
                           f"{exc.message}") from None
    for name in required:
        if name not in used:
            raise HarnessError(f"{source}: field {field!r} lacks the placeholder {{{{ {name} }}}}")
    for name in sorted(used - VARIABLES):
        raise HarnessError(f"{source}: field {field!r} uses unknown placeholder {{{{ {name} }}}}; "
                           f"known: {', '.join(sorted(VARIABLES))}")
