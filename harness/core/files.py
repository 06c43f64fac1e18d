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
import stat
import sys
import tempfile
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from harness.core.errors import HarnessError
from harness.core.notes import say_once
from harness.core.text import csv_text, valid_unicode

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
# The C1 controls (U+0080-U+009F, U+0085 among them) are escaped too: U+009B starts a terminal
# escape sequence on some terminals, and `cat`ing a run file should not run one.
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029",
                **{chr(c): f"\\u{c:04x}" for c in range(0x80, 0xA0)}}
_BREAK = re.compile("[\u2028\u2029\x80-\x9f]")


def json_line(row: Any) -> str:
    r"""One JSON value as one line of a JSONL file (no newline): UTF-8 text kept readable, and every
    character any reader might break a line at escaped.

    >>> json_line({"a": "x\u2028y", "b": "é"})
    '{"a": "x\\u2028y", "b": "é"}'
    """
    line = _ENCODER.encode(row)
    return line if line.isascii() else _BREAK.sub(lambda m: _LINE_BREAKS[m.group()], line)


# allow_nan=False: NaN and Infinity are not JSON; a run file never holds them (every reader,
# harness's own included, would refuse the file afterwards). One encoder for every line: json.dumps
# with options builds a new one per call, a fifth of writing a million judgments.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


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
    replaced = [0]
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        with row_errors(f"{path}:{lineno}"):
            row = parse_json(line, replaced=replaced)
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
    _say_replaced(path, replaced[0])
    return out


def _show_key(key: Hashable) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    return "(" + ", ".join(short_repr(p) for p in parts) + ")"


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters: one error line stays one line for any input."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class NestedTooDeeply(ValueError):
    """JSON or YAML nested deeper than the parser's recursion allows; ``line`` is where it got so."""

    def __init__(self, line: int = 1) -> None:
        super().__init__("nested too deeply")
        self.line = line


class NumberTooLong(ValueError):
    """A JSON integer with more digits than Python converts (``sys.get_int_max_str_digits``)."""

    def __init__(self, line: int = 1) -> None:
        super().__init__(f"a number of more than {sys.get_int_max_str_digits()} digits")
        self.line = line


# JSON may spell half of a UTF-16 surrogate pair on its own ("\ud800"): valid JSON, but no UTF-8
# file can hold the character it decodes to, so every later write of that text would fail.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _repaired(value: Any, text: str) -> tuple[Any, int]:
    """``value`` (parsed from ``text``) with its lone surrogates replaced by U+FFFD, and how many;
    the walk only when ``text`` spells one."""
    if not _SURROGATE_ESCAPE.search(text):
        return value, 0
    count = [0]
    return _replace_surrogates(value, count), count[0]


def _replace_surrogates(value: Any, count: list[int]) -> Any:
    if isinstance(value, str):
        text = valid_unicode(value)
        count[0] += text.count("\ufffd") - value.count("\ufffd")
        return text
    if isinstance(value, list):
        return [_replace_surrogates(v, count) for v in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k, count): _replace_surrogates(v, count) for k, v in value.items()}
    return value


def parse_json(text: str, *, replaced: list[int] | None = None) -> Any:
    """``json.loads``, made safe for any input: nesting too deep for Python's recursion limit is a
    ValueError (:class:`NestedTooDeeply`) rather than a RecursionError and its thousands of
    traceback lines; an integer too long to convert is a :class:`NumberTooLong` naming its line;
    lone surrogates in strings become U+FFFD, so the text can be written to a file again (their
    number is added to ``replaced[0]`` when given)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise NestedTooDeeply(_deepest_line(text)) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        # Python refuses to convert integers of over 4300 digits (a guard against quadratic time).
        if "digits" not in str(exc):
            raise
        long = re.search(r"\d{" + str(sys.get_int_max_str_digits() + 1) + "}", text)
        raise NumberTooLong(text.count("\n", 0, long.start()) + 1 if long else 1) from None
    value, count = _repaired(value, text)
    if replaced is not None:
        replaced[0] += count
    return value


def _say_replaced(path: Path, count: int) -> None:
    if count:
        say_once(f"{path}: {count} lone surrogate character{'s' if count != 1 else ''} (half of a "
                 "UTF-16 pair, which no UTF-8 file can hold) replaced by U+FFFD")


def read_text(path: Path, *, expected: str = "a text file", newline: str | None = None) -> str:
    """A user's text file (a byte-order mark accepted); a missing file, a folder or bytes that are
    not UTF-8 are one error naming the file (and the line of the bad byte). ``newline`` as for
    :func:`open` (``""`` keeps line endings as they are, which the csv module needs)."""
    try:
        # utf-8-sig: a file saved by a Windows editor starts with a byte-order mark.
        with open_regular(path, expected=expected) as raw, \
                io.TextIOWrapper(raw, encoding="utf-8-sig", newline=newline) as f:
            return f.read()
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        data = path.read_bytes()
        start = exc.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
        lineno = data[:start].count(b"\n") + 1
        raise HarnessError(f"{path}:{lineno}: not UTF-8 text ({exc.reason})") from None


def check_regular(path: Path, *, expected: str = "a file") -> None:
    """An error naming ``path`` unless it is a regular file (or a link to one): missing, a folder, a
    FIFO (which would block the first read for ever), a socket or a device."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such file") from None
    _require_regular(path, mode, expected)


def _require_regular(path: Path, mode: int, expected: str) -> None:
    if stat.S_ISDIR(mode):
        raise HarnessError(f"{path}: is a directory, expected {expected}")
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise HarnessError(f"{path}: is {kind}, not a regular file; expected {expected}")


@contextlib.contextmanager
def open_regular(path: Path, *, expected: str = "a file") -> Iterator[io.BufferedReader]:
    """``path`` opened for reading in binary, refused unless it is a regular file (or a link to
    one): a FIFO would block the read forever, a device or socket is nobody's data file. The check is
    on the opened descriptor (opening does not block: O_NONBLOCK), so a swap between check and read
    changes nothing."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        _require_regular(path, os.fstat(fd).st_mode, expected)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        raw = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with raw:
        yield raw  # type: ignore[misc]


def json_object(path: Path) -> dict[str, Any]:
    """A ``.json`` file holding one object (a manifest); invalid JSON, nesting too deep or another
    kind of value is one error naming the file."""
    try:
        value = parse_json(read_text(path, expected="a JSON file"))
    except NestedTooDeeply as exc:
        raise HarnessError(f"{path}:{exc.line}: {exc}") from None
    except ValueError as exc:
        raise HarnessError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise HarnessError(f"{path}: expected a JSON object")
    return value


def json_rows(path: Path, *, expected: str = "a JSONL file or a JSON list"
              ) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every object of a JSON-lines file, or of a ``.json`` file holding one list, as
    ``(where, place, row)``: ``FILE:LINE`` and ``line N``, or ``FILE: item N`` and ``item N``. A line
    or item that is not a JSON object, invalid JSON or nesting too deep is one error naming it."""
    text = read_text(path, expected=expected)
    replaced = [0]
    if path.suffix.lower() == ".json":
        try:
            data = parse_json(text, replaced=replaced)
        except (NestedTooDeeply, NumberTooLong) as exc:
            raise HarnessError(f"{path}:{exc.line}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(data, list):
            raise HarnessError(f"{path}: expected a JSON list of objects, got {_json_kind(data)}")
        for index, item in enumerate(data, 1):
            if not isinstance(item, dict):
                raise HarnessError(f"{path}: item {index}: expected a JSON object, got {_json_kind(item)}")
            yield f"{path}: item {index}", f"item {index}", item
        _say_replaced(path, replaced[0])
        return
    name = str(path)
    for lineno, line in enumerate(text_lines(text), 1):
        if not line.strip():
            continue
        # try/except rather than row_errors per line (a generator-based context manager is a third
        # of reading a million short rows); the rare failure goes through it, for the same message.
        try:
            row = parse_json(line, replaced=replaced)
            if not isinstance(row, dict):
                raise ValueError(f"expected a JSON object, got {_json_kind(row)}")
        except (KeyError, ValueError, TypeError, RecursionError):
            with row_errors(f"{name}:{lineno}"):
                raise
        yield f"{name}:{lineno}", f"line {lineno}", row
    _say_replaced(path, replaced[0])


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


class _DuplicateKey(Exception):
    """A mapping that names one key twice; ``line`` is the second one's (1-based)."""

    def __init__(self, line: int, key: Any) -> None:
        super().__init__(line, key)
        self.line, self.key = line, key


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping: PyYAML keeps the last silently, so
    `seed: 1` above a forgotten `seed: -5` would run with the one the user did not read. Keys
    brought in by a merge (``<<: *base``) may still be overridden, as YAML means them to be."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise _DuplicateKey(key_node.start_mark.line + 1, key)
                    seen.add(key)
                except TypeError:  # an unhashable key: the constructor below says so
                    pass
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # over 4,300 digits: Python refuses the conversion
            raise NumberTooLong(node.start_mark.line + 1) from None


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _UniqueKeyLoader.construct_yaml_int)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; any problem is one line naming the file (and the line, if known). A key
    given twice in one mapping is such a problem."""
    text = read_text(path, expected="a YAML file")
    try:
        # The pure-Python SafeLoader (what yaml.safe_load uses) composes nested nodes recursively,
        # so a few thousand nested brackets raise RecursionError; the loader's reader position
        # then says on which line the nesting got too deep.
        loader = _UniqueKeyLoader(text)
        try:
            # A double-quoted "\ud800" is half of a UTF-16 pair, which no UTF-8 file can hold.
            data, count = _repaired(loader.get_single_data(), text)
            _say_replaced(path, count)
            return data
        except NumberTooLong as exc:
            raise HarnessError(f"{path}:{exc.line}: {exc}") from None
        except RecursionError:
            lineno = loader.get_mark().line + 1
            raise HarnessError(f"{path}:{lineno}: nested too deeply") from None
        except _DuplicateKey as exc:
            raise HarnessError(f"{path}:{exc.line}: duplicate key {short_repr(exc.key)} (a key may appear "
                               "once in a mapping)") from None
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
