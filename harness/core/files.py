"""Plain text files written atomically, and read with one error line naming the file and line.

Generic JSONL / CSV / YAML helpers; which file of a run holds what is ``harness.core.rundir``.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from harness.core.errors import HarnessError
from harness.core.text import csv_text

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
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            # A failed write() names no file; the one line the user sees must (the old file is kept).
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


# The characters str.splitlines() (and many other tools) break lines at that json.dumps leaves raw
# inside strings with ensure_ascii=False (it escapes the control characters itself): written
# escaped, a JSON line stays one line for any reader, and reads back as the same text.
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}
_BREAK = re.compile("[" + "".join(_LINE_BREAKS) + "]")


def json_line(row: Any) -> str:
    r"""One JSON value as one line of a JSONL file (no newline): UTF-8 text kept readable, and every
    character any reader might break a line at escaped.

    >>> json_line({"a": "x\u2028y", "b": "é"})
    '{"a": "x\\u2028y", "b": "é"}'
    """
    return _BREAK.sub(lambda m: _LINE_BREAKS[m.group()], json.dumps(row, ensure_ascii=False))


def text_lines(text: str) -> list[str]:
    r"""The lines of a JSONL file: split at \n only (a \r before it dropped), never at the other
    characters ``str.splitlines`` breaks at, which a JSON string may hold raw.

    >>> text_lines('{"a": "x\u2028y"}\r\n{}\n') == ['{"a": "x\u2028y"}', '{}']
    True
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    atomic_write(path, "".join(json_line(r) + "\n" for r in rows))


def read_jsonl(path: Path, parse: Callable[[dict[str, Any]], T],
               key: Callable[[T], Hashable | None] | None = None, what: str = "row") -> list[T]:
    """Read one record per line; a bad line is an error naming the file and line.

    With ``key``, two records with the same key (say, two answers to one question by one model)
    are an error naming both lines, because whichever one a later stage picked would silently
    win; a key of None is never a duplicate. ``what`` names the record in that error.
    """
    lines = text_lines(read_text(path, expected="a JSONL file"))
    out: list[T] = []
    seen: dict[Hashable, int] = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        with row_errors(f"{path}:{lineno}"):
            row = parse_json(line)
            if not isinstance(row, dict):
                raise ValueError("expected a JSON object")
            record = parse(row)
        k = key(record) if key is not None else None
        if k is not None:
            if k in seen:
                raise HarnessError(f"{path}:{lineno}: duplicate {what} {_show_key(k)}; line {seen[k]} "
                                   "has the same")
            seen[k] = lineno
        out.append(record)
    return out


def _show_key(key: Hashable) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    return "(" + ", ".join(_short(p) for p in parts) + ")"


def _short(value: Any, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters: one error line stays one line for any input."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class NestedTooDeeply(ValueError):
    """JSON or YAML nested deeper than the parser's recursion allows; ``line`` is where it got so."""

    def __init__(self, line: int = 1) -> None:
        super().__init__("nested too deeply")
        self.line = line


def parse_json(text: str) -> Any:
    """``json.loads``, but nesting too deep for Python's recursion limit is a ValueError
    (:class:`NestedTooDeeply`) rather than a RecursionError and its thousands of traceback lines."""
    try:
        return json.loads(text)
    except RecursionError:
        raise NestedTooDeeply(_deepest_line(text)) from None


def read_text(path: Path, *, expected: str = "a text file", newline: str | None = None) -> str:
    """A user's text file (a byte-order mark accepted); a missing file, a folder or bytes that are
    not UTF-8 are one error naming the file (and the line of the bad byte). ``newline`` as for
    :func:`open` (``""`` keeps line endings as they are, which the csv module needs)."""
    try:
        # utf-8-sig: a file saved by a Windows editor starts with a byte-order mark.
        with path.open(encoding="utf-8-sig", newline=newline) as f:
            return f.read()
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise HarnessError(f"{path}: is a directory, expected {expected}") from None
    except UnicodeDecodeError as exc:
        data = path.read_bytes()
        start = exc.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
        lineno = data[:start].count(b"\n") + 1
        raise HarnessError(f"{path}:{lineno}: not UTF-8 text ({exc.reason})") from None


def json_rows(path: Path, *, expected: str = "a JSONL file or a JSON list"
              ) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every object of a JSON-lines file, or of a ``.json`` file holding one list, as
    ``(where, place, row)``: ``FILE:LINE`` and ``line N``, or ``FILE: item N`` and ``item N``. A line
    or item that is not a JSON object, invalid JSON or nesting too deep is one error naming it."""
    text = read_text(path, expected=expected)
    if path.suffix.lower() == ".json":
        try:
            data = parse_json(text)
        except NestedTooDeeply as exc:
            raise HarnessError(f"{path}:{exc.line}: nested too deeply") from None
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(data, list):
            raise HarnessError(f"{path}: expected a JSON list of objects, got {_json_kind(data)}")
        for index, item in enumerate(data, 1):
            if not isinstance(item, dict):
                raise HarnessError(f"{path}: item {index}: expected a JSON object, got {_json_kind(item)}")
            yield f"{path}: item {index}", f"item {index}", item
        return
    for lineno, line in enumerate(text_lines(text), 1):
        if not line.strip():
            continue
        with row_errors(f"{path}:{lineno}"):
            row = parse_json(line)
            if not isinstance(row, dict):
                raise ValueError(f"expected a JSON object, got {_json_kind(row)}")
        yield f"{path}:{lineno}", f"line {lineno}", row


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true or false",
            type(None): "null"}.get(type(value), "a number")


def _deepest_line(text: str) -> int:
    """The line on which JSON brackets first reach their greatest depth (strings skipped)."""
    depth = deepest = 0
    line = where = 1
    in_string = escaped = False
    for ch in text:
        if ch == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, line
        elif ch in "]}":
            depth -= 1
    return where


@contextlib.contextmanager
def row_errors(where: str) -> Iterator[None]:
    """Turn a record parser's KeyError / ValueError / TypeError into one error naming ``where``."""
    try:
        yield
    except KeyError as exc:
        raise HarnessError(f"{where}: missing field {exc.args[0]!r}") from None
    except (ValueError, TypeError) as exc:
        raise HarnessError(f"{where}: {exc}") from None
    except RecursionError:  # a parser walking a record nested deeper than the stack allows
        raise HarnessError(f"{where}: nested too deeply") from None


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A CSV file whose text cells cannot run as spreadsheet formulas (:func:`harness.core.text.csv_cell`:
    a ``'`` goes in front of ``=cmd...``); readers undo that with :func:`harness.core.text.csv_value`."""
    atomic_write(path, csv_text([header, *rows]))


def read_csv(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a CSV file with a header; a missing column or a short row names the file and line."""
    header, rows = read_csv_table(path)
    missing = [c for c in columns if c not in header]
    if missing:
        raise HarnessError(f"{path}: missing column {missing[0]!r}")
    return [row for _, row in rows]


def read_csv_table(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A CSV file's header, and each row with the line it ends on.

    A byte-order mark (Excel's "CSV UTF-8") is accepted; a row with fewer or more fields than
    the header, a column named twice or a malformed line is an error naming the file and line,
    never a row with ``None`` in it or a field that silently moved to the next column.
    """
    # newline="" as the csv module asks: a quoted field may hold a line break of its own.
    reader = csv.DictReader(io.StringIO(read_text(path, expected="a CSV file", newline=""), newline=""))
    try:
        header = list(reader.fieldnames or ())
        twice = [c for i, c in enumerate(header) if c in header[:i]]
        if twice:
            raise HarnessError(f"{path}:1: column {twice[0]!r} appears twice")
        rows = []
        for row in reader:
            if None in row:
                raise HarnessError(f"{path}:{reader.line_num}: too many fields "
                                   f"({len(header) + len(row[None])}; the header has {len(header)})")
            short = [c for c in header if row[c] is None]
            if short:
                raise HarnessError(f"{path}:{reader.line_num}: too few fields (no {short[0]!r}; "
                                   f"the header has {len(header)})")
            rows.append((reader.line_num, row))
    except csv.Error as exc:  # a NUL byte, a field over the size limit
        raise HarnessError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    return header, rows


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; any problem is one line naming the file (and the line, if known)."""
    text = read_text(path, expected="a YAML file")
    try:
        # The pure-Python SafeLoader (what yaml.safe_load uses) composes nested nodes recursively,
        # so a few thousand nested brackets raise RecursionError; the loader's reader position
        # then says on which line the nesting got too deep.
        loader = yaml.SafeLoader(text)
        try:
            return loader.get_single_data()
        except RecursionError:
            lineno = loader.get_mark().line + 1
            raise HarnessError(f"{path}:{lineno}: nested too deeply") from None
        finally:
            loader.dispose()
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
