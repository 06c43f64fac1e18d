"""Floor 1, core: what every other floor builds on.

Holds the records (``types``: frozen dataclasses for tasks, answers, judgments, battles...), the
user-facing errors (``errors``), plugin discovery by file name (``plugins``), and the run
directory's files (``storage``, ``questions``).

Must not import any other ``harness`` package: everything imports core, core imports nothing.
"""
