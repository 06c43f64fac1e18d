"""Floor 3, fine-tuning (``harness.finetune``): a base model and domain data -> a LoRA adapter.

``data`` reads and checks training records, ``contamination`` keeps test questions out of them,
``train`` loads the 4-bit base and encodes records, ``loop`` runs transformers' Trainer and writes
the adapter folder (``checkpoints``: the adapters kept every N steps, found again by ``harness
sweep``). ``selfinstruct`` and ``synth`` make training data with a teacher model
(``harness synth``).

The commands' options are ``harness.app.finetune_command`` and ``harness.app.synth_command``, and
the loss plot is the report's (``harness.reports.plots``). Imports core, models, stats and tasks;
not judges (its sibling), nor the read model, reports, web or app above it.
"""
