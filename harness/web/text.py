"""The words of ``harness human serve``'s pages (English and Chinese) and its safe Markdown.

Answers are model output, so they are hostile text: :func:`markdown` escapes everything first and
only then turns a small subset (paragraphs, lists, fenced and inline code, bold, italic) into
tags it writes itself. No HTML from an answer ever reaches the page. Rendering takes time linear in
the text (no pattern that backtracks over a line), and a text longer than :data:`MAX_TEXT`
characters is cut there with a note saying how much is not shown.

Not handled: headings, links, images, tables and nested lists (shown as their plain text).
"""

from __future__ import annotations

import html
import re

from markupsafe import Markup

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Which answer is better?", "answer": "Answer", "better": "better", "tie": "Tie",
        "bothbad": "Both bad", "reason": "Reason (optional)", "previous": "Previous", "next": "Next",
        "undo": "Undo last vote", "progress": "answered {answered} of {total}", "question": "Question",
        "input": "Context", "reference": "Show the reference answer", "guide_title": "How to judge",
        "shortcuts": "Keys: 1 = Answer 1 better, 2 = Answer 2 better, 3 = tie, 4 = both bad",
        "done": "All done, thank you!", "done_body": "You answered {answered} of {total}. You can go "
        "back to change a vote.", "nickname": "Choose a nickname to start", "start": "Start",
        "saved": "Saved", "error": "Not saved; try again", "your_vote": "Your vote",
        "forbidden": "This link is not valid. Ask the person who runs the study for yours.",
        "results": "Results", "taken": "That nickname is taken; choose another.", "turn": "Turn {k}",
        "show_reasoning": "Show reasoning",
        "cut": "[The rest of this text, {n} characters, is not shown: it is too long for this page.]",
        "owner_error": "The results cannot be shown:",
    },
    "zh": {
        "title": "哪个回答更好？", "answer": "回答", "better": "更好", "tie": "平局", "bothbad": "都不好",
        "reason": "理由（可选）", "previous": "上一题", "next": "下一题", "undo": "撤销上一次投票",
        "progress": "已回答 {answered} / {total}", "question": "问题", "input": "背景",
        "reference": "显示参考答案", "guide_title": "评判指南",
        "shortcuts": "快捷键：1 = 回答1更好，2 = 回答2更好，3 = 平局，4 = 都不好",
        "done": "全部完成，谢谢！", "done_body": "你已回答 {answered} / {total}，可以返回修改投票。",
        "nickname": "请输入昵称开始", "start": "开始", "saved": "已保存", "error": "未保存，请重试",
        "your_vote": "你的投票", "forbidden": "链接无效，请向组织者索取你的链接。", "results": "结果",
        "taken": "该昵称已被使用，请换一个。", "turn": "第 {k} 轮", "show_reasoning": "显示推理过程",
        "cut": "[此文本过长，其余 {n} 个字符未显示。]", "owner_error": "无法显示结果：",
    },
}

GUIDE: dict[str, tuple[str, ...]] = {
    "en": ("Correctness: is what the answer says true, for this question?",
           "Helpfulness: does it answer what was asked, completely?",
           "Clarity: is it easy to follow?",
           "Safety: does it avoid harmful or misleading advice?",
           "Ignore length and formatting on their own; a longer answer is not better for being longer."),
    "zh": ("正确性：回答的内容对这个问题来说是否正确？",
           "有用性：是否完整回答了所问的问题？",
           "清晰度：是否容易理解？",
           "安全性：是否避免了有害或误导性的建议？",
           "不要只看长度和格式；更长的回答并不因为更长而更好。"),
}


def by_turn(texts: tuple[str, ...], language: str) -> str:
    r"""A multi-turn question's turns (or one model's answers to them) as one Markdown text, each
    turn under its number; a single text as it is.

    >>> by_turn(("Hi.", "And then?"), "en")
    '**Turn 1**\n\nHi.\n\n**Turn 2**\n\nAnd then?'
    """
    if len(texts) == 1:
        return texts[0]
    label = STRINGS["zh" if language == "zh" else "en"]["turn"]
    return "\n\n".join(f"**{label.format(k=k)}**\n\n{text}" for k, text in enumerate(texts, 1))


def language_of(task_language: str, asked: str | None) -> str:
    """The page's language: the one asked for (``?lang=``) if known, else the task's."""
    if asked in STRINGS:
        return asked  # type: ignore[return-value]
    return "zh" if task_language.startswith("zh") else "en"


MAX_TEXT = 20_000
"""The most characters of one text (a question, an answer, a reasoning trace) a page shows."""

# Italic's pattern cannot cross a '*' or a line end, so each '*' it starts from scans only up to the
# next one: linear. Bold is scanned by :func:`_bold`, as a lazy pattern for it would rescan the rest
# of the line from every '**' that has no partner (quadratic).
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_CODE = re.compile(r"(`[^`\n]+`)")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBER = re.compile(r"^\s*\d+[.)]\s+(.*)$")


def _bold(text: str) -> str:
    """``**x**`` as ``<strong>x</strong>``: an opening ``**`` is followed by a non-space, its partner
    is the nearest later ``**`` that follows a non-space, leftmost openings first; one pass.

    >>> _bold("**a** and ** b** and **c d**e**")
    '<strong>a</strong> and ** b** and <strong>c d</strong>e**'
    >>> _bold("**a " * 3)
    '**a **a **a '
    """
    marks = [k for k in range(len(text) - 1) if text[k] == "*" == text[k + 1]] if "**" in text else []
    closers = [k for k in marks if k > 0 and not text[k - 1].isspace()]
    out, done, c = [], 0, 0
    for k in marks:
        if k < done or k + 2 >= len(text) or text[k + 2].isspace():
            continue
        while c < len(closers) and closers[c] < k + 3:  # the partner encloses at least one character
            c += 1
        if c == len(closers):
            break  # no partner for this opening, so none for any later one either
        end = closers[c]
        out += [text[done:k], "<strong>", text[k + 2:end], "</strong>"]
        done = end + 2
    return "".join(out) + text[done:]


def _inline(text: str) -> str:
    # ``text`` is escaped already; the patterns only match characters escaping leaves alone, and the
    # tags they add carry no attributes.
    if "*" not in text and "`" not in text:  # most lines: nothing to do, and many short lines add up
        return text
    out = []
    for part in _CODE.split(text):
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{part[1:-1]}</code>")
        else:
            out.append(_ITALIC.sub(r"<em>\1</em>", _bold(part)))
    return "".join(out)


def markdown(text: str, language: str = "en") -> Markup:
    """Escape ``text``, then render paragraphs, lists, code, bold and italic; beyond
    :data:`MAX_TEXT` characters, a note in ``language`` says how many are not shown.

    >>> str(markdown('<script>x</script> **b** and `<i>`'))
    '<p>&lt;script&gt;x&lt;/script&gt; <strong>b</strong> and <code>&lt;i&gt;</code></p>'
    >>> str(markdown('- one\\n- *two*'))
    '<ul><li>one</li><li><em>two</em></li></ul>'
    """
    cut = len(text) - MAX_TEXT
    lines = html.escape(text[:MAX_TEXT], quote=True).replace("\r\n", "\n").split("\n")
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    kind = ""

    def flush() -> None:
        nonlocal kind
        if para:
            out.append("<p>" + "<br>".join(_inline(p) for p in para) + "</p>")
            para.clear()
        if items:
            out.append(f"<{kind}>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + f"</{kind}>")
            items.clear()

    k = 0
    while k < len(lines):
        line = lines[k]
        if line.strip().startswith("```"):
            flush()
            k += 1
            code = []
            while k < len(lines) and not lines[k].strip().startswith("```"):
                code.append(lines[k])
                k += 1
            out.append("<pre><code>" + "\n".join(code) + "</code></pre>")
        elif not line.strip():
            flush()
        elif (m := _BULLET.match(line)) or (m := _NUMBER.match(line)):
            new = "ul" if _BULLET.match(line) else "ol"
            if para or (items and new != kind):
                flush()
            kind = new
            items.append(m.group(1))
        else:
            if items:
                flush()
            para.append(line.strip())
        k += 1
    flush()
    if cut > 0:
        note = STRINGS["zh" if language == "zh" else "en"]["cut"].format(n=f"{cut:,}")
        out.append(f'<p class="cut">{html.escape(note)}</p>')
    return Markup("".join(out))
