"""The ``factual_error`` rule of :mod:`harness.judges.perturb`: one number changed, or failing that one claim
word flipped, with the number patterns and the table of claim words and their opposites.

Also the span edit (``Edit``, ``apply_edit``) and ``match_case``, which the ``gender_bias`` rule reuses.
"""

from __future__ import annotations

import random
import re

Edit = tuple[int, int, str]
"""Replace ``text[start:end]`` with the string."""


def apply_edit(text: str, edit: Edit) -> str:
    start, end, new = edit
    return text[:start] + new + text[end:]


# Numbers glued to a letter are names, not quantities ("H1N1", "B12", "COVID-19"), and ordinals
# ("2nd") would be misspelt by a bump, so neither is a candidate.
_ARABIC = re.compile(r"(?<![A-Za-z0-9.,])(?<![A-Za-z]-)[0-9]+(?:[.,][0-9]+)*(?!(?:st|nd|rd|th)\b)")
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
_ZH_NUMERAL = "零一二两三四五六七八九十百千万亿"
_ZH_DIGITS = "一二三四五六七八九"
# Chinese numerals count only next to a measure word (or after 百分之), because 一 also spells
# words like 一般 and 统一 that a bump would turn into nonsense; 次性 and 四周 are such words too.
_ZH_NUMBER = re.compile(
    rf"(?<=百分之)[{_ZH_NUMERAL}]+"
    rf"|(?<![{_ZH_NUMERAL}])[{_ZH_NUMERAL}]+(?=个|年|月|日|天|倍|次(?!性)|岁|元|条|款|项|章|节|小时|分钟)"
)
_LIANG_BEFORE = "个倍次岁条项年天小分"  # measure words that take 两, not 二, for the number 2


def factual_error(answer: str, language: str, question: str, rng: random.Random) -> str | None:
    numbers = _number_spans(answer)
    if numbers:
        asked = {question[s:e] for s, e in _number_spans(question)}
        own = [(s, e) for s, e in numbers if answer[s:e] not in asked]
        start, end = rng.choice(own or numbers)
        up = rng.random() < 0.5
        token = answer[start:end]
        new = _shift_arabic(token, up) if token[0].isdigit() else _shift_chinese(answer, start, end, up)
        return apply_edit(answer, (start, end, new))
    flips = _flip_edits(answer)
    return apply_edit(answer, rng.choice(flips)) if flips else None


def _number_spans(text: str) -> list[tuple[int, int]]:
    spans = [m.span() for m in _ARABIC.finditer(text) if not _is_list_marker(text, m)]
    spans += [m.span() for m in _ZH_NUMBER.finditer(text) if m.group()[0] in _ZH_DIGITS + "两十"]
    return sorted(spans)


def _is_list_marker(text: str, number: re.Match[str]) -> bool:
    """Whether ``number`` numbers a list item ("1. ", "2) " opening a line, "3、" opening a clause)
    rather than stating a quantity.

    >>> t = "Steps:\\n1. Wait 2 days.\\n1、先协商。2、再仲裁，3、4个月内起诉。"
    >>> [t[m.start()] for m in _ARABIC.finditer(t) if not _is_list_marker(t, m)]
    ['2', '3', '4']
    """
    before = text[text.rfind("\n", 0, number.start()) + 1:number.start()].strip()
    after = text[number.end():]
    if after.startswith("、"):
        return not before or before[-1] in "。；！？：:"
    return not before and bool(re.match(r"[.)](?:\s|$)", after))


def _shift_arabic(token: str, up: bool) -> str:
    """``token`` off by one step, in its own format: years by one, round numbers in their leading
    digit (20% -> 30%, 10,000 -> 20,000), others by one in the integer part (18 -> 19, 3.45 -> 4.45).

    >>> [_shift_arabic(t, True) for t in ("18", "2021", "20", "10,000", "3.45", "09", "9")]
    ['19', '2022', '30', '20,000', '4.45', '10', '10']
    >>> [_shift_arabic(t, False) for t in ("18", "2021", "20", "1", "0.5", "90")]
    ['17', '2020', '10', '2', '1.5', '80']
    """
    if _THOUSANDS.fullmatch(token):
        return _shift_leading(token, up)
    integer = re.match(r"[0-9]+", token)
    assert integer is not None  # _ARABIC matches start with a digit
    digits, rest = integer.group(), token[integer.end():]
    value = int(digits)
    if len(digits) == 4 and 1900 <= value <= 2099 and not rest:
        return str(value + (1 if up else -1))
    if value >= 10 and value % 10 == 0 and not digits.startswith("0"):
        return _shift_leading(digits, up) + rest
    if value <= 1:
        up = True  # "0 days" or a negative would read as a typo, not as a false claim
    return str(value + (1 if up else -1)).zfill(len(digits)) + rest


def _shift_leading(digits: str, up: bool) -> str:
    lead = int(digits[0])
    if (up and lead == 9) or (not up and lead == 1):
        up = not up  # keep the number's length: 90 -> 80 rather than 100, 10 -> 20 rather than 00
    return str(lead + (1 if up else -1)) + digits[1:]


def _shift_chinese(text: str, start: int, end: int, up: bool) -> str:
    """The Chinese numeral ``text[start:end]`` with its leading digit moved by one (六个月 -> 七个月,
    第十四条 -> 第二十四条, 一个月 -> 两个月).

    >>> [_shift_chinese(t, 0, n, True) for t, n in (("六个月", 1), ("一个月", 1), ("十四条", 2), ("九倍", 1))]
    ['七', '两', '二十四', '八']
    >>> _shift_chinese("百分之二十", 3, 5, False)
    '十'
    """
    numeral = text[start:end]
    if numeral[0] == "十":
        return "二" + numeral  # a bare 十 stands for 一十, which can only go up
    lead = 2 if numeral[0] == "两" else _ZH_DIGITS.index(numeral[0]) + 1
    if (up and lead == 9) or (not up and lead == 1):
        up = not up
    lead += 1 if up else -1
    ordinal = text[start - 1:start] == "第"
    if lead == 2 and len(numeral) == 1 and text[end:end + 1] in _LIANG_BEFORE and not ordinal:
        return "两"
    shifted = _ZH_DIGITS[lead - 1] + numeral[1:]
    return shifted[1:] if shifted.startswith("一十") else shifted  # 10-19 are written 十…, not 一十…


# Each claim word and its opposite. Only words whose opposite fits the same sentence: the verb
# "lower" has no "higher", and "prohibited from" has no "allowed from", so those go through "not".
_FLIPS = {
    "must not": "must", "mustn't": "must", "must": "must not",
    "should not": "should", "shouldn't": "should", "should": "should not",
    "cannot": "can", "can't": "can", "can": "cannot",
    "does not": "does", "doesn't": "does", "do not": "do", "don't": "do",
    "is not": "is", "isn't": "is", "are not": "are", "aren't": "are",
    "always": "never", "never": "always",
    "increases": "decreases", "increased": "decreased", "increase": "decrease",
    "decreases": "increases", "decreased": "increased", "decrease": "increase",
    "legal": "illegal", "illegal": "legal", "lawful": "unlawful", "unlawful": "lawful",
    "higher": "lower", "lower than": "higher than", "at least": "at most", "at most": "at least",
    "maximum": "minimum", "minimum": "maximum", "before": "after", "after": "before",
    "not allowed": "allowed", "allowed": "not allowed", "not permitted": "permitted",
    "permitted": "not permitted", "prohibited": "not prohibited",
    "effective": "ineffective", "ineffective": "effective", "safe": "unsafe", "unsafe": "safe",
    "不可以": "可以", "可以": "不可以", "不应当": "应当", "应当": "不应当",
    "不应该": "应该", "应该": "不应该",
    "不必": "必须", "必须": "不必", "不得": "可以", "不能": "可以", "增加": "减少", "减少": "增加",
    "提高": "降低", "降低": "提高", "合法": "违法", "违法": "合法", "高于": "低于", "低于": "高于",
    "允许": "禁止", "禁止": "允许", "有权": "无权", "无权": "有权", "最长": "最短", "最短": "最长",
    "最高": "最低", "最低": "最高", "至少": "至多",
}


# Chinese has no word boundaries, so these rule out the longer words a claim word begins:
# 不得不 "has to", 不得已 "no choice", 不必要 "unnecessary".
_NOT_CLAIMS = {"不得": "(?![不已])", "不必": "(?!要)"}


def _alternation(words: list[str]) -> str:
    """A regex alternation of ``words``, longest first (so "must not" wins over "must"), that lets
    any spacing stand for a space and either apostrophe stand for one."""
    longest_first = sorted(words, key=len, reverse=True)
    return "|".join(r"\s+".join(re.escape(part) for part in w.split(" ")).replace("'", "['’]")
                    + _NOT_CLAIMS.get(w, "") for w in longest_first)


_EN_FLIP = re.compile(rf"(?<![\w'’])(?:{_alternation([k for k in _FLIPS if k.isascii()])})(?![\w'’])",
                      re.IGNORECASE)
_ZH_FLIP = re.compile(_alternation([k for k in _FLIPS if not k.isascii()]))
_NEGATED = re.compile(r"(?:\bnot|n['’]t)\s+$", re.IGNORECASE)


def _flip_edits(text: str) -> list[Edit]:
    """Every claim word in ``text`` with its opposite, in either language (an answer to a Chinese task
    may well be written in English).

    >>> _flip_edits("Always ask. It is NOT allowed. 不得不签，但不得超过")
    [(0, 6, 'Never'), (15, 21, 'is'), (37, 39, '可以')]
    """
    edits = []
    for m in _EN_FLIP.finditer(text):
        if _NEGATED.search(text, max(0, m.start() - 12), m.start()):
            continue  # "is not allowed" flips through "is not"; "not not allowed" would be a double negative
        key = " ".join(m.group().lower().replace("’", "'").split())
        edits.append((m.start(), m.end(), match_case(m.group(), _FLIPS[key])))
    edits += [(m.start(), m.end(), _FLIPS[m.group()]) for m in _ZH_FLIP.finditer(text)]
    return sorted(edits)


def match_case(source: str, word: str) -> str:
    if len(source) > 1 and source.isupper():
        return word.upper()
    return word[:1].upper() + word[1:] if source[:1].isupper() else word
