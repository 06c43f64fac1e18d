"""Plain text files written atomically, and read with one error line naming the file and line.

Generic JSONL / CSV / YAML helpers; which file of a run holds what is ``harness.core.rundir``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from harness.core.errors import HarnessError

T = TypeVar("T")

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` so that readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: Path, parse: Callable[[dict[str, Any]], T]) -> list[T]:
    """Read one record per line; a bad line is an error naming the file and line."""
    if not path.is_file():
        raise HarnessError(f"{path}: no such file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise HarnessError(f"{path}: not UTF-8 text") from None
    out: list[T] = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        with row_errors(f"{path}:{lineno}"):
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("expected a JSON object")
            out.append(parse(row))
    return out


@contextlib.contextmanager
def row_errors(where: str) -> Iterator[None]:
    """Turn a record parser's KeyError / ValueError / TypeError into one error naming ``where``."""
    try:
        yield
    except KeyError as exc:
        raise HarnessError(f"{where}: missing field {exc.args[0]!r}") from None
    except (ValueError, TypeError) as exc:
        raise HarnessError(f"{where}: {exc}") from None


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write(path, buf.getvalue())


def read_csv(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a CSV file with a header; a missing column or a short row names the file and line."""
    if not path.is_file():
        raise HarnessError(f"{path}: no such file")
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or ())]
            if missing:
                raise HarnessError(f"{path}: missing column {missing[0]!r}")
            rows = []
            for row in reader:
                if any(row[c] is None for c in columns):
                    raise HarnessError(f"{path}:{reader.line_num}: too few fields")
                rows.append(row)
            return rows
    except UnicodeDecodeError:
        raise HarnessError(f"{path}: not UTF-8 text") from None


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; any problem is one line naming the file (and the line, if known)."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise HarnessError(f"{path}: is a directory, expected a YAML file") from None
    except UnicodeDecodeError as exc:
        raise HarnessError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise HarnessError(f"{path}:{line} not valid YAML ({problem})") from None


def check_fields(raw: Mapping[str, Any], required: Iterable[str], optional: Iterable[str],
                 where: str) -> None:
    """Unknown fields and missing required fields are errors naming the field.

    >>> check_fields({"a": 1, "c": 2}, ["a"], ["b"], "f.yaml")
    Traceback (most recent call last):
    ...
    harness.core.errors.HarnessError: f.yaml: unknown field 'c' (allowed: a, b)
    """
    required = list(required)
    allowed = [*required, *optional]
    for key in raw:
        if key not in allowed:
            raise HarnessError(f"{where}: unknown field {key!r} (allowed: {', '.join(allowed)})")
    for key in required:
        if key not in raw:
            raise HarnessError(f"{where}: missing field {key!r}")
