"""Floor 1, core: what every other floor builds on.

Holds the records (``types``: frozen dataclasses for tasks, answers, judgments, battles...), the
user-facing errors (``errors``), notes said once (``notes``), plugin discovery by file name
(``plugins``), safe file writing and reading (``files``), the run directory's files (``rundir``),
what each way of reaching a verdict measures, in words for the reports (``methods``), the one range
check of a numeric setting (``numbers``), the user's text made safe for CSV, Markdown and the
terminal (``text``), the one-writer lock of a run directory (``runlock``), other tools' files
(FastChat, Arena-Hard, AlpacaEval, generic) read as these records (``interop``), and
judge-evaluation sets (JudgeBench, LLMBar, PandaLM, Auto-J), one module each (``judge_sets``).

Must not import any other ``harness`` package: everything imports core, core imports nothing.
"""
