"""Floor 3, reports (``harness.reports``): HTML, LaTeX and Markdown from a run directory alone.

``data`` reads the run's files into one ``ReportData``; ``tables`` turns it into the tables every
format renders; ``markdown``, ``latex``, ``html`` and ``plots`` render them; ``build`` writes the
report folder.

Makes no model call. Imports core, models (usage figures), stats and tasks; not judges or
finetune (its siblings), nor the app.
"""
