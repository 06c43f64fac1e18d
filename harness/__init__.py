"""harness: an evaluation-centric benchmark harness for fine-tuned LLMs.

Nothing is imported here on purpose: ``harness --help`` must start without torch. Use
``harness.run.run(RunConfig(...))`` from Python.
"""

__version__ = "0.1.0"
