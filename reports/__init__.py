"""Floor 5, reports (``harness.reports``): formats only. The figures of a run come computed from the
read model (:mod:`harness.analysis`); this package turns them into cells and files.

``tables`` turns the figures into the tables every format renders (one formatter per kind of
number); ``sections`` is the one ordered list of the report's sections and the tables each holds;
``markdown`` (``leaderboard.md``, ``report.md``), ``html``, ``latex``, ``report_json`` and ``plots``
render them; ``build`` writes the report folder (``stamp``: skipped when its inputs are unchanged).

Makes no model call and computes no statistic: it imports core and the read model, and none of
stats, models, judges, finetune or tasks (an import-linter ``forbidden`` contract), nor web or app.
"""
