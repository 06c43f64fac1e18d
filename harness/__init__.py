"""harness: an evaluation-centric benchmark harness for fine-tuned LLMs.

The public Python API, imported on first use so that ``harness --help`` starts without torch::

    from harness import RunConfig, run
    result = run(RunConfig(tasks=("en_law",), limit=5))
    board = harness.load_run("runs/default").leaderboard  # a pandas DataFrame

The package is built in floors whose imports point down only (checked by import-linter in CI;
docs/architecture.md draws them):

1. ``harness.core``: records, errors, plugin discovery, the run-directory format;
2. ``harness.models`` (backends, endpoints, the cached-call layer), ``harness.stats`` (pure
   statistics) and ``harness.tasks`` (the task plugins);
3. ``harness.judges`` (asking judges) and ``harness.finetune`` (training);
4. ``harness.analysis``: the read model, every figure anything prints, computed once from a run
   directory's files (``load_run`` is its notebook face);
5. ``harness.reports``: formats only (HTML, Markdown, LaTeX, JSON, plots), from the read model's
   figures; it imports no statistics, models, judges, fine-tuning or tasks;
6. ``harness.web``: the voting web app of ``harness human serve``;
7. ``harness.app``: the run config, the pipeline, one module per command. Nothing imports it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.analysis.frames import Run, load_run
    from harness.app.config import RunConfig
    from harness.app.pipeline import RunResult, generate, judge, rate, run
    from harness.reports.build import write_report

__version__ = "0.1.0"
__all__ = ["Run", "RunConfig", "RunResult", "generate", "judge", "load_run", "rate", "run", "write_report"]

_HOMES = {"RunConfig": "harness.app.config", "RunResult": "harness.app.pipeline",
          "generate": "harness.app.pipeline", "judge": "harness.app.pipeline",
          "rate": "harness.app.pipeline", "run": "harness.app.pipeline",
          "write_report": "harness.reports.build", "load_run": "harness.analysis.frames",
          "Run": "harness.analysis.frames"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
