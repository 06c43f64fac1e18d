"""Text from the user (model, judge and task names) made safe for the formats harness writes.

Names are free text: a model may be called ``=HYPERLINK(...)``, ``<img onerror=...>`` or
``a|b`` and hold newlines or terminal escapes. Each function here makes one kind of output safe
and keeps the text as readable as it can:

- :func:`csv_cell` / :func:`csv_text`: CSV that a spreadsheet opens as data, not formulas
  (:func:`csv_value` undoes the neutralising on read, so names round-trip exactly);
- :func:`md_cell`: one Markdown table cell, with no HTML and no line break;
- :func:`terminal_text`: text for the terminal without control characters;
- :func:`valid_unicode`: text that can be written as UTF-8 at all (a model's reply may hold lone
  surrogates, which JSON's ``\\ud800`` escape allows and no file or database can store);
- :func:`has_chinese`: the one test of whether a text is (partly) Chinese, for every part of
  harness that picks a language, a font or a tokenisation by it (:data:`HAN` is its characters).

Not handled here: Markdown emphasis and links (``*x*``, ``[a](b)``) in names render as Markdown;
a formula behind leading spaces or written with full-width signs (``＝``); Unicode bidirectional
and zero-width characters; HTML and LaTeX, which ``harness.reports`` escapes itself (Jinja
autoescape, ``latex.escape``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

# OWASP's list: a spreadsheet reads a cell that starts with one of these as a formula. The quote
# is here so that a name that really starts with one is quoted too, which keeps csv_value exact.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# C0 and C1 controls and DEL: escapes (ESC, CSI), bell, carriage return, backspace.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Everything str.splitlines() breaks at, so a cell is one line for any reader.
_LINE_BREAK = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
# Only an & that starts a character reference needs escaping; R&D stays readable.
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# Half of a UTF-16 surrogate pair: what a JSON "\ud800" escape gives, and UTF-8 cannot hold.
_SURROGATE = re.compile("[\ud800-\udfff]")
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
"""Chinese characters (CJK ideographs: Extension A, the unified block, compatibility ideographs),
as a regular-expression character range."""
# Ideographs, or CJK punctuation (。、「」) or full-width forms (，：？), which need a CJK font too.
_CHINESE = re.compile(f"[{HAN}\u3000-\u303f\uff00-\uffef]")
_MD_SPECIAL = {"\\": "\\\\", "|": "\\|", "<": "&lt;", ">": "&gt;"}


def csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text: a string that starts like a formula gets a
    ``'`` in front. Numbers (and strings that are plain decimal numbers, such as ``-12.5``) stay
    numbers; None is an empty cell, as the csv module writes it.

    >>> csv_cell('=HYPERLINK("http://x","click")'), csv_cell("-12.5"), csv_cell(-3.0), csv_cell("-x")
    ('\\'=HYPERLINK("http://x","click")', '-12.5', '-3.0', "'-x")
    """
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_value(cell: str) -> str:
    """The text :func:`csv_cell` was given (its exact inverse on strings).

    >>> csv_value("'=1+1"), csv_value("'quoted"), csv_value("''quoted"), csv_value("-12.5")
    ('=1+1', "'quoted", "'quoted", '-12.5')
    """
    if cell.startswith("'") and csv_cell(cell[1:]) == cell:
        return cell[1:]
    return cell


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """CSV (header included in ``rows``) with ``\\n`` line ends, every cell through :func:`csv_cell`.

    The csv module quotes a cell holding a delimiter, a quote or a character of the line
    terminator; with ``\\n`` as terminator that leaves a bare ``\\r`` unquoted, which readers
    take for a line end, so a row holding one is written fully quoted.

    >>> text = csv_text([("model", "rating"), ('say "hi", b', -1.5), ("=x\\ry", 2)])
    >>> text.split("\\n")[1], list(csv.reader(io.StringIO(text, newline="")))[2]
    ('"say ""hi"", b",-1.5', ["'=x\\ry", '2'])
    """
    buf = io.StringIO()
    minimal = csv.writer(buf, lineterminator="\n")
    quoted = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in rows:
        cells = [csv_cell(v) for v in row]
        (quoted if any("\r" in c for c in cells) else minimal).writerow(cells)
    return buf.getvalue()


def md_cell(text: object) -> str:
    """One Markdown table cell: line breaks and tabs become spaces, other control characters go, ``<``,
    ``>`` and an ``&`` that would start an entity become HTML entities, and ``|`` and ``\\`` are
    backslash-escaped (so a pipe cannot end the cell).

    >>> md_cell("<img src=x onerror=alert(1)>"), md_cell("a|b\\nc\\x07"), md_cell("R&D &amp;")
    ('&lt;img src=x onerror=alert(1)&gt;', 'a\\\\|b c', 'R&D &amp;amp;')
    """
    flat = _CONTROL.sub("", _LINE_BREAK.sub(" ", str(text)).replace("\t", " "))
    flat = _ENTITY.sub("&amp;", flat)
    return "".join(_MD_SPECIAL.get(c, c) for c in flat)


def terminal_text(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` without control characters (escape sequences, bell, carriage return, backspace).

    Line breaks (``\\r\\n``, a lone ``\\r`` and the rest of what ``str.splitlines`` splits at) become
    ``\\n`` and tabs stay, unless ``keep_newlines`` is false: then both become spaces (one table
    row stays one line).

    >>> terminal_text("bell\\x07\\x1b[31mred\\r\\nnext\\rend")
    'bell[31mred\\nnext\\nend'
    >>> terminal_text("a\\nb\\tc\\x9b", keep_newlines=False)
    'a b c'
    """
    if keep_newlines:
        return _CONTROL.sub(lambda m: m.group() if m.group() in "\n\t" else "",
                            _LINE_BREAK.sub("\n", text))
    return _CONTROL.sub("", _LINE_BREAK.sub(" ", text).replace("\t", " "))


def valid_unicode(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, so that it can be encoded as UTF-8.

    A JSON string may escape half of a surrogate pair (``"\\ud800"``): valid JSON, read by Python
    as a string that no UTF-8 writer accepts. A high and a low surrogate that stand together are
    one character split in two, and are joined back; text without surrogates is returned as it is.

    >>> valid_unicode("a\\ud800b"), valid_unicode("\\ud83d\\ude00!"), valid_unicode("plain")
    ('a\ufffdb', '\U0001f600!', 'plain')
    """
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def has_chinese(text: str) -> bool:
    """Whether ``text`` holds a Chinese character, or CJK punctuation or full-width forms (text
    that needs a CJK font and reads as Chinese).

    >>> has_chinese("什么是合同？"), has_chinese("What is a tort?"), has_chinese("Ａ")
    (True, False, True)
    """
    return _CHINESE.search(text) is not None
