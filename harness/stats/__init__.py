"""Floor 2, stats: pure statistics on records, with worked examples as doctests.

Holds battles from judgments, Bradley-Terry and Elo ratings with bootstrap intervals,
significance tests, judge-panel agreement, human agreement, grade summaries, and the
position / length / self-preference bias figures; ``sweep`` picks a checkpoint on half the
questions and measures it on the other half.

Reads no file and calls no model. Imports only ``harness.core``; not models or tasks (its
siblings), nor anything above.
"""
