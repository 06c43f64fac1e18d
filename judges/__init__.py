"""Floor 3, judging (``harness.judges``): asking a judge model and reading its verdicts.

Holds the judge prompts (``prompts/``, one YAML file each), verdict parsing (``verdict``), asking
with retries and likelihood calibration (``asking``, with ``BuiltJudge``: a judge built once by
``built`` and passed whole to every judging function), pairwise and single-answer judging
(``pairwise``, ``single``), the judge with no model (``reference``: chrF against the reference
answer), prompt calibration (``calibration``), and the bias probes with their
rule-based perturbations (``probes``, ``perturb``, ``perturb_facts``, ``bias``).

Imports core, models, stats and tasks; not finetune (its sibling), nor the read model, reports, web
or app above it.
"""
