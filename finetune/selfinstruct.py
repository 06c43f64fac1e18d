"""The self-instruct prompt and the teacher's numbered blocks: rendering one, reading the other.

The prompt (the assignment's Appendix B recipe, written for this project in English and Chinese,
``finetune/prompts/self_instruct_LANG.txt``) shows a few example tasks as numbered blocks and asks
the teacher to continue the list::

    4. Instruction: Explain what a floating charge is.
    4. Input: <noinput>
    4. Output: A floating charge is ...
    ###

A user's prompt file replaces the built-in one. It is untrusted text: its only dynamic parts are
the placeholders ``{{ count }}``, ``{{ shown }}``, ``{{ start }}`` and ``{{ examples }}``, replaced
as plain text (no template language, so nothing in the file can run). Not handled here: what makes
a block worth keeping (:mod:`harness.finetune.synth`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.files import read_text

PROMPTS_DIR = Path(__file__).parent / "prompts"
LANGUAGES = ("en", "zh")
PLACEHOLDERS = ("count", "shown", "start", "examples")
REQUIRED = ("count", "examples")
NO_INPUT = "<noinput>"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Field names in English or Chinese, a colon of either width; the number must repeat on all three.
_FIELD = {"instruction": r"(?:Instruction|指令)", "input": r"(?:Input|输入)", "output": r"(?:Output|输出)"}
_BLOCK = re.compile(
    rf"^\s*(\d+)\s*[.、]\s*{_FIELD['instruction']}\s*[:：](?P<instruction>.*?)"
    rf"^\s*\1\s*[.、]\s*{_FIELD['input']}\s*[:：](?P<input>.*?)"
    rf"^\s*\1\s*[.、]\s*{_FIELD['output']}\s*[:：](?P<output>.*)\Z",
    re.DOTALL | re.MULTILINE)
_SEPARATOR = re.compile(r"^\s*###\s*$", re.MULTILINE)
# C0 controls but tab and line feed, DEL and C1: NUL ends a C string and ESC or CSI (U+009B) start
# terminal escape sequences; no training record needs one.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Record:
    """One training record in Alpaca's layout (what ``harness finetune --data`` reads)."""

    instruction: str
    input: str
    output: str

    def to_row(self) -> dict[str, str]:
        return {"instruction": self.instruction, "input": self.input, "output": self.output}


@dataclass(frozen=True)
class SynthPrompt:
    """A self-instruct prompt: its text with placeholders, and where it came from."""

    name: str
    text: str

    @property
    def hash(self) -> str:
        """Part of every teacher call's cache key: an edited prompt never reuses old replies."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]

    def render(self, *, count: int, examples: Sequence[Record], start: int) -> str:
        values = {"count": str(count), "shown": str(len(examples)), "start": str(start),
                  "examples": "\n###\n".join(format_block(n, r) for n, r in enumerate(examples, 1))}
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.text)


def builtin_prompt(language: str) -> SynthPrompt:
    if language not in LANGUAGES:
        raise HarnessError(f"--language {language!r}: use one of {', '.join(LANGUAGES)}")
    path = PROMPTS_DIR / f"self_instruct_{language}.txt"
    return SynthPrompt(f"self_instruct_{language}", read_text(path))


def load_prompt_file(path: Path) -> SynthPrompt:
    """A user's prompt file, checked now: unknown or missing placeholders are one error naming it."""
    text = read_text(path, expected="a text file with the self-instruct prompt")
    found = _PLACEHOLDER.findall(text)
    unknown = sorted(set(found) - set(PLACEHOLDERS))
    if unknown:
        raise HarnessError(f"{path}: unknown placeholder {{{{ {unknown[0]} }}}}; the prompt may use "
                           + ", ".join(f"{{{{ {p} }}}}" for p in PLACEHOLDERS))
    missing = [p for p in REQUIRED if p not in found]
    if missing:
        raise HarnessError(f"{path}: the prompt must contain {{{{ {missing[0]} }}}} (where "
                           + ("the number of tasks to write" if missing[0] == "count" else "the examples")
                           + " goes)")
    return SynthPrompt(path.name, text)


def format_block(number: int, record: Record) -> str:
    """One task as the prompt shows it.

    >>> print(format_block(2, Record("Define equity.", "", "Ownership.")))
    2. Instruction: Define equity.
    2. Input: <noinput>
    2. Output: Ownership.
    """
    return (f"{number}. Instruction: {record.instruction}\n{number}. Input: {record.input or NO_INPUT}\n"
            f"{number}. Output: {record.output}")


def parse_blocks(reply: str) -> list[tuple[str, Record | None]]:
    """Each ``###``-separated block of a teacher's reply: its text, and its record or None where it
    is malformed (fields missing, out of order, or numbered differently). Empty chunks between
    separators are skipped; ``<noinput>`` (or ``noinput``) is an empty input.

    >>> [r for _, r in parse_blocks("4. Instruction: Define a bond.\\n4. Input: <noinput>\\n"
    ...      "4. Output: A loan.\\n###\\n5. Instruction: Oops\\n6. Output: no input line\\n###\\n")]
    [Record(instruction='Define a bond.', input='', output='A loan.'), None]
    >>> parse_blocks("1、指令：解释对价。\\n1、输入：noinput\\n1、输出：对价是……")[0][1]
    Record(instruction='解释对价。', input='', output='对价是……')
    """
    out: list[tuple[str, Record | None]] = []
    for chunk in _SEPARATOR.split(reply):
        text = chunk.strip()
        if not text:
            continue
        m = _BLOCK.match(text)
        if m is None:
            out.append((text, None))
            continue
        given = m.group("input").strip()
        out.append((text, Record(m.group("instruction").strip(),
                                 "" if given.strip("<>").lower() == "noinput" else given,
                                 m.group("output").strip())))
    return out


def read_seed_rows(rows: Sequence[tuple[str, object]], *, need_output: bool = True) -> list[Record]:
    """Alpaca rows (``instruction``, optional ``input``, ``output``) as records; ``where`` names each
    row in errors. Chat records (``messages``) give their first user turn and the reply to it.
    Without ``need_output`` (instructions for a teacher to answer), ``output`` may be absent. A
    control character (:data:`CONTROL`; CRLF is read as a line feed) in a field is an error."""
    out = []
    for where, row in rows:
        if not isinstance(row, Mapping):
            raise HarnessError(f"{where}: expected an object with instruction and output")
        if "messages" in row and "instruction" not in row:
            msgs = row["messages"] if isinstance(row["messages"], list) else []
            turns = [m for m in msgs if isinstance(m, Mapping)]
            user = next((m.get("content") for m in turns if m.get("role") == "user"), None)
            reply = next((m.get("content") for m in turns if m.get("role") == "assistant"), None)
            if not isinstance(user, str) or not isinstance(reply, str):
                raise HarnessError(f"{where}: field 'messages' needs a user turn and an assistant reply")
            out.append(Record(_no_control(user, where, "messages").strip(), "",
                              _no_control(reply, where, "messages").strip()))
            continue
        fields = {}
        for key in ("instruction", "input", "output"):
            optional = key == "input" or (key == "output" and not need_output)
            value = row.get(key, "" if optional else None)
            if not isinstance(value, str) or (not optional and not value.strip()):
                raise HarnessError(f"{where}: field {key!r} must be " +
                                   ("text" if optional else "non-empty text"))
            fields[key] = _no_control(value, where, key).strip()
        out.append(Record(**fields))
    return out


def line_feeds(text: str) -> str:
    r"""``text`` with Windows line ends (CRLF) as line feeds, so they are not control characters.

    >>> line_feeds("a\r\nb\rc")
    'a\nb\rc'
    """
    return text.replace("\r\n", "\n")


def _no_control(text: str, where: str, key: str) -> str:
    """``text`` (CRLF read as LF), or an error naming its first control character: a seed is shown to
    the teacher and an instruction sent to a model, and neither should carry NUL or an escape sequence."""
    text = line_feeds(text)
    found = CONTROL.search(text)
    if found is not None:
        raise HarnessError(f"{where}: field {key!r} holds the control character U+{ord(found.group()):04X} "
                           f"at character {found.start() + 1}; remove it (tab and line feed are fine)")
    return text
