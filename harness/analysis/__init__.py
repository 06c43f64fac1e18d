"""Floor 4, the read model (``harness.analysis``): every figure anything prints, computed once from
a run directory's files.

``files`` (:class:`~harness.analysis.files.RunFiles`) reads each run file at most once, on first
use, through :mod:`harness.core.rundir`; ``figures`` (:class:`~harness.analysis.figures.Figures`)
computes each figure on first use (leaderboards overall, per judge and per turn, soft and
style-controlled; pairs and sign tests; bias; agreement; the human leaderboard; usage; health);
``pairs`` the judged pairs a reader browses; ``sweep`` a checkpoint sweep's figures; ``frames``
the run as pandas DataFrames for notebooks
(``harness.load_run``). The report, ``leaderboard.md``, the commands and the voting app's owner page
all take their numbers from here, so they print the same ones.

Imports core, models (adapter specs), stats and tasks; never judges, finetune, reports, web or
app. Not handled: writing anything.
"""
