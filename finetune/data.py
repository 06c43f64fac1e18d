"""Training data: Alpaca records (``instruction``, ``input``, ``output``) or chat records
(``messages``), from a local JSON / JSONL / CSV file or a Hugging Face dataset name.

Every record becomes the same chat messages that generation sends, so the model is trained on
exactly the prompt format it is evaluated with. A bad record is an error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import tasks
from harness.core.errors import HarnessError
from harness.core.files import json_rows, read_csv_table
from harness.core.types import Message
from harness.models.generate import user_text


@dataclass(frozen=True)
class Example:
    """One training conversation; the last message is the assistant's reply to learn."""

    messages: tuple[Message, ...]
    where: str
    """``file:line`` (or ``dataset[i]``), for error messages and the contamination report."""

    @property
    def prompt_text(self) -> str:
        """What the user said: compared with the test questions by the contamination guard."""
        return "\n".join(m["content"] for m in self.messages if m["role"] == "user")


def task_train_file(task_id: str) -> Path:
    """A built-in task's training set: ``tasks/train/<task>.jsonl``."""
    path = Path(tasks.__file__).parent / "train" / f"{task_id}.jsonl"
    if not path.is_file():
        raise HarnessError(f"task {task_id!r} has no built-in training set ({path} is missing); "
                           "pass --data FILE")
    return path


def load_examples(source: str) -> list[Example]:
    """Read a local file (by extension) or, if no such file exists, a Hugging Face dataset."""
    path = Path(source)
    if path.exists():
        return [to_example(row, where) for row, where in _read_rows(path)]
    if path.suffix in (".json", ".jsonl", ".csv") or "/" not in source:
        raise HarnessError(f"{source}: no such file")
    return _load_hub(source)


def _read_rows(path: Path) -> list[tuple[Any, str]]:
    if path.suffix in (".jsonl", ".json"):
        return [(row, where) for where, _, row in json_rows(path, expected="a .json, .jsonl or .csv file")]
    if path.suffix == ".csv":
        # A row shorter than the header would give None fields (not text); the table reader
        # makes it, and a row longer than the header, an error naming the line.
        return [(row, f"{path}:{i}") for i, row in read_csv_table(path)[1]]
    raise HarnessError(f"{path}: unknown file type {path.suffix!r}; use .json, .jsonl or .csv")


def _load_hub(name: str) -> list[Example]:
    try:
        import datasets

        data = datasets.load_dataset(name, split="train")
    except Exception as exc:  # offline, unknown name, gated dataset: all one line for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HarnessError(f"cannot load dataset {name!r} from the Hugging Face hub ({first}); "
                           "offline, pass a local --data FILE instead") from None
    return [to_example(dict(row), f"{name}[{i}]") for i, row in enumerate(data)]


def to_example(row: Any, where: str) -> Example:
    """Check one record and turn it into chat messages."""
    if not isinstance(row, dict):
        raise HarnessError(f"{where}: expected an object with instruction/output or messages")
    if "messages" in row:
        return Example(_messages(row["messages"], where), where)
    for key in ("instruction", "output"):
        if key not in row:
            raise HarnessError(f"{where}: missing field {key!r} (or give 'messages')")
    for key in ("instruction", "input", "output"):
        value = row.get(key) or ""
        if not isinstance(value, str):
            raise HarnessError(f"{where}: field {key!r} must be text")
    if not row["instruction"].strip():
        raise HarnessError(f"{where}: field 'instruction' is empty")
    if not row["output"].strip():
        raise HarnessError(f"{where}: field 'output' is empty")
    user = user_text(row["instruction"].strip(), (row.get("input") or "").strip())
    return Example(({"role": "user", "content": user},
                    {"role": "assistant", "content": row["output"].strip()}), where)


def _messages(raw: Any, where: str) -> tuple[Message, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise HarnessError(f"{where}: field 'messages' must be a list of at least two messages")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") or \
                not isinstance(m.get("content"), str) or not m["content"].strip():
            raise HarnessError(f"{where}: messages[{i}] needs a role (system/user/assistant) and "
                               "non-empty content")
        out.append({"role": m["role"], "content": m["content"].strip()})
    if out[-1]["role"] != "assistant":
        raise HarnessError(f"{where}: the last message must be the assistant's reply to learn")
    return tuple(out)
