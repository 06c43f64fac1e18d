r"""LaTeX output: booktabs three-line tables, each a standalone ``.tex`` file, and ``report.tex``.

Each table file needs only ``\usepackage{booktabs}`` and ``\usepackage{graphicx}`` (for the
shrink-to-fit box), so it can be ``\input`` into a student's own paper; a table of long text (``p``
columns: answers) is a ``longtable`` and needs ``array`` and ``longtable`` instead of graphicx.
``report.tex`` inputs them all with the figures and compiles with xelatex (and, for English text,
pdflatex); Chinese content switches on ``ctex``, which sets up xeCJK and its fonts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from harness.analysis.figures import THRESHOLDS, JudgedPair
from harness.core.files import atomic_write
from harness.reports.sections import heading, sectioned
from harness.reports.tables import Bold, Cell, Table

_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
            "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
            # a row starting with '[' would be read as the optional argument of the '\\' before it
            "[": "{[}", "]": "{]}"}
_SPECIAL_RE = re.compile(r"[&%$#_{}~^\\\[\]]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
CASE_CHARS = 700
WIDTHS = {"heatmap": 0.6}
FIGURES = {"ratings": "Bradley-Terry ratings with 95% bootstrap confidence intervals.",
           "heatmap": "Pairwise win rate of the row model against the column model (a tie counts half).",
           "tasks": "Win / tie / lose shares of each model per task.",
           "loss": "Fine-tune loss: training loss per step and held-out eval loss."}


def escape(s: str) -> str:
    r"""Plain text as LaTeX: every special character printed as itself, in one pass.

    >>> print(escape(r"50% of $x_1 & {y}~^\ #[1]"))
    50\% of \$x\_1 \& \{y\}\textasciitilde{}\textasciicircum{}\textbackslash{} \#{[}1{]}
    >>> escape("two\n\nlines\x07")
    'two  lines'
    """
    flat = _CONTROL_RE.sub("", s).replace("\n", " ")  # a blank line would end a table cell's paragraph
    return _SPECIAL_RE.sub(lambda m: _SPECIAL[m.group()], flat)


def paragraphs(s: str) -> str:
    """Multi-line text as escaped paragraphs (blank lines of the source are kept as breaks)."""
    return "\n".join(rf"{escape(line)}\par" if line.strip() else r"\medskip" for line in s.splitlines())


def _cell(c: Cell) -> str:
    return rf"\textbf{{{escape(c.text)}}}" if isinstance(c, Bold) else escape(c)


def render_table(t: Table) -> str:
    t = t.short  # a table of answers: their texts cut (the HTML report and report.json hold them whole)
    if "p" in t.align:
        return render_long_table(t)
    body = [" & ".join(_cell(c) for c in row) + r" \\" for row in t.rows]
    if not body:
        body = [rf"\multicolumn{{{len(t.header)}}}{{c}}{{(no rows)}} \\"]
    return "\n".join([
        rf"% {escape(t.title)} -- written by harness. "
        r"Needs \usepackage{booktabs} and \usepackage{graphicx}.",
        r"\begin{table}[htbp]",
        r"  \centering",
        rf"  \caption{{{escape(t.caption)}}}",
        rf"  \label{{tab:{t.key}}}",
        # shrink a table wider than the text, never enlarge a narrow one
        r"  \resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
        rf"  \begin{{tabular}}{{{t.align}}}",
        r"    \toprule",
        "    " + " & ".join(escape(h) for h in t.header) + r" \\",
        r"    \midrule",
        *("    " + line for line in body),
        r"    \bottomrule",
        r"  \end{tabular}}",
        r"\end{table}",
        ""])


def _columns(align: str) -> str:
    r"""A column spec where each ``p`` (long text) is a paragraph column set ragged right (narrow
    justified columns leave gaps): all ``p``, they share the line; beside others, 60% of it.

    >>> print(_columns("pp"))
    >{\raggedright\arraybackslash}p{\dimexpr(\linewidth-4\tabcolsep)/2\relax}>{\raggedright\arraybackslash}p{\dimexpr(\linewidth-4\tabcolsep)/2\relax}
    >>> print(_columns("lp"))
    l>{\raggedright\arraybackslash}p{0.600\linewidth}
    """
    count = align.count("p")
    width = (rf"\dimexpr(\linewidth-{2 * len(align)}\tabcolsep)/{count}\relax" if count == len(align)
             else rf"{0.6 / count:.3f}\linewidth")
    return "".join(rf">{{\raggedright\arraybackslash}}p{{{width}}}" if a == "p" else a for a in align)


def render_long_table(t: Table) -> str:
    """A table with long text (``p`` columns): a ``longtable``, which breaks across pages where a
    float could not, in small type; its header repeats on every page."""
    body = [" & ".join(_cell(c) for c in row) + r" \\" for row in t.rows]
    if not body:
        body = [rf"\multicolumn{{{len(t.header)}}}{{c}}{{(no rows)}} \\"]
    header = "    " + " & ".join(escape(h) for h in t.header) + r" \\"
    return "\n".join([
        rf"% {escape(t.title)} -- written by harness. "
        r"Needs \usepackage{booktabs}, \usepackage{array} and \usepackage{longtable}.",
        r"{\footnotesize",
        rf"\begin{{longtable}}{{{_columns(t.align)}}}",
        rf"  \caption{{{escape(t.caption)}}}\label{{tab:{t.key}}} \\",
        r"    \toprule",
        header,
        r"    \endfirsthead",  # later pages repeat the header, not the caption and its label
        r"    \toprule",
        header,
        r"    \endhead",
        r"    \midrule",
        *("    " + line for line in body),
        r"    \bottomrule",
        r"\end{longtable}}",
        ""])


def _answer(label: str, answer: str) -> list[str]:
    cut = answer if len(answer) <= CASE_CHARS else answer[:CASE_CHARS].rstrip() + " [...]"
    return [rf"\noindent\textbf{{{escape(label)}.}}", paragraphs(cut) or r"(empty answer)\par"]


def render_cases(cases: Sequence[JudgedPair]) -> str:
    out = ["% Case studies -- written by harness: one judged pair per task, answers cut at "
           f"{CASE_CHARS} characters.", r"\setlength{\parindent}{0pt}"]
    for p in cases:
        turn = "" if p.turn is None else f", turn {p.turn}"
        out.append(rf"\subsection*{{{escape(p.task)}, {escape(p.question_id)}{turn}: "
                   rf"{escape(p.model_a)} vs.\ {escape(p.model_b)}}}")
        if not p.conversation:
            out += [r"\noindent\textbf{Question.}", paragraphs(p.question)]
            for model, answer in ((p.model_a, p.answer_a), (p.model_b, p.answer_b)):
                out += _answer(model, answer)
        # a judged turn: the conversation up to it, as the judge saw it
        for k, (user, answer_a, answer_b) in enumerate(p.conversation, start=1):
            out += [rf"\noindent\textbf{{User, turn {k}.}}", paragraphs(user),
                    *_answer(f"{p.model_a}, turn {k}", answer_a),
                    *_answer(f"{p.model_b}, turn {k}", answer_b)]
        out += [rf"\noindent\textbf{{Verdict ({escape(p.judge)}).}} {escape(p.outcome)}\par", ""]
    return "\n".join(out) + "\n"


def _figure(stem: str) -> str:
    return "\n".join([r"\begin{figure}[htbp]", r"  \centering",
                      rf"  \includegraphics[width={WIDTHS.get(stem, 0.85)}\linewidth]{{figures/{stem}.pdf}}",
                      rf"  \caption{{{escape(FIGURES[stem])}}}", rf"  \label{{fig:{stem}}}", r"\end{figure}"])


def render_report(title: str, tables: Sequence[Table], figures: Sequence[str], cases: bool,
                  cjk: bool, health: Sequence[str] = ()) -> str:
    """``report.tex``: every table of ``tables`` (each its own file, ``\\input`` here) and the
    plots, section by section (:data:`harness.reports.sections.SECTIONS`); ``health`` holds one line
    per judge (:mod:`harness.stats.health`), put first."""
    lines = [
        "% Written by harness. Compile with: xelatex report.tex  (or latexmk -xelatex report.tex)",
        r"\documentclass[11pt]{article}",
        r"\usepackage{iftex}",
        r"\ifPDFTeX",
        r"  \usepackage[T1]{fontenc}",
        r"  \usepackage[utf8]{inputenc}",
        r"  \usepackage{lmodern}",
        r"\else",
        r"  \usepackage{fontspec}",
        r"\fi",
        *([r"\usepackage[UTF8]{ctex}  % Chinese text (xeCJK and fonts, under xelatex)"] if cjk else []),
        r"\usepackage{booktabs}",
        r"\usepackage{array}  % ragged-right paragraph columns",
        r"\usepackage{longtable}  % tables of long text (answers) break across pages",
        r"\usepackage{graphicx}",
        r"\usepackage[margin=2.5cm]{geometry}",
        r"\usepackage[section]{placeins}  % floats stay in their own section",
        rf"\title{{{escape(title)}}}",
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
        *([r"\section*{Judge health}", r"\begin{itemize}", *(rf"\item {escape(line)}" for line in health),
           r"\end{itemize}", rf"{{\small {escape(THRESHOLDS)}\par}}"] if health else []),
    ]
    for section, mine, plots in sectioned(tables, figures=figures):
        lines += [rf"\section{{{escape(heading(section, mine))}}}", rf"\label{{sec:{section.key}}}"]
        lines += [rf"{escape(section.intro)}\par"] if section.intro else []
        lines += [rf"\input{{{t.key}}}" for t in mine]
        lines += [_figure(s) for s in plots]
    if cases:
        lines += [r"\clearpage", r"\section{Case studies}", r"\input{cases}"]
    return "\n".join([*lines, r"\end{document}", ""])


def write_latex(out: Path, title: str, tables: Sequence[Table], figures: Sequence[str],
                cases: Sequence[JudgedPair], cjk: bool, health: Sequence[str] = ()) -> None:
    """Write each table's ``.tex``, ``cases.tex`` and ``report.tex`` into ``out``."""
    for t in tables:
        atomic_write(out / f"{t.key}.tex", render_table(t))
    if cases:
        atomic_write(out / "cases.tex", render_cases(cases))
    atomic_write(out / "report.tex", render_report(title, tables, figures, bool(cases), cjk, health))
