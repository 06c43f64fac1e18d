"""Tasks read from a Hugging Face dataset: ``--tasks hf:NAME[:CONFIG][@SPLIT]``.

The spec is the task's id, everywhere a task id goes (``harness run --tasks hf:NAME``,
``harness tasks show hf:NAME``, ``harness tasks validate hf:NAME``), so a later stage of the same
run finds the task again the same way. The rows are read by :mod:`harness.tasks.formats`, in
whichever format the dataset's columns are (MT-Bench's ``turns``, AlpacaEval's ``instruction``,
...). ``datasets.load_dataset`` downloads the dataset once and keeps it in its cache.

Without a network this must not hang: ``load_dataset`` retries for about half a minute before it
gives up, so the hub is asked first with a short timeout, and an unreachable hub is one error line
at once. With ``HF_HUB_OFFLINE=1`` the hub is not asked and the dataset comes from the cache.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from harness.core.errors import HarnessError
from harness.core.types import Task
from harness.tasks.formats import Row, task_from_rows

PREFIX = "hf:"
PROBE_TIMEOUT_S = 5.0
_SPEC = re.compile(r"hf:(?P<name>[\w.-]+(?:/[\w.-]+)?)(?::(?P<config>[\w.-]+))?(?:@(?P<split>[\w.-]+))?")
_TRUE = ("1", "on", "yes", "true")


def is_spec(name: str) -> bool:
    """Whether a task name asks for a Hugging Face dataset (``hf:...``)."""
    return name.startswith(PREFIX)


def load_hub_task(spec: str) -> Task:
    """Load the dataset ``spec`` names as a task; no hub, no such dataset, or a bad row is one error.

    >>> load_hub_task("hf:not a name")
    Traceback (most recent call last):
    ...
    harness.core.errors.HarnessError: hf:not a name: expected hf:NAME[:CONFIG][@SPLIT], e.g. ...
    """
    match = _SPEC.fullmatch(spec)
    if match is None:
        raise HarnessError(f"{spec}: expected hf:NAME[:CONFIG][@SPLIT], e.g. "
                           "hf:tatsu-lab/alpaca_eval:alpaca_eval@eval")
    offline = any(os.environ.get(v, "").lower() in _TRUE for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    if not offline:
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        problem = _unreachable(endpoint)
        if problem:
            raise HarnessError(f"{spec}: cannot reach the Hugging Face hub at {endpoint} ({problem}); "
                               "offline? A dataset downloaded before loads from the cache with "
                               "HF_HUB_OFFLINE=1")
    dataset = _load(spec, match["name"], match["config"], match["split"], offline)
    return task_from_rows(_rows(spec, dataset), name=spec, source=spec,
                          origin=f"the Hugging Face dataset {match['name']}")


def _unreachable(endpoint: str) -> str | None:
    """Why the hub cannot be reached, or None when it answers (any HTTP status is an answer)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"),
                                    timeout=PROBE_TIMEOUT_S):
            return None
    except urllib.error.HTTPError:
        return None
    except urllib.error.URLError as exc:
        return str(exc.reason)
    except (OSError, ValueError) as exc:  # a timeout; an HF_ENDPOINT that is not a URL
        return str(exc) or type(exc).__name__


def _load(spec: str, name: str, config: str | None, split: str | None, offline: bool) -> Any:
    try:
        import datasets  # heavy (pyarrow, pandas): only when a hub task is asked for
    except ImportError:
        raise HarnessError(f"{spec}: reading a Hugging Face dataset needs the datasets package "
                           "(pip install datasets)") from None
    try:
        loaded = datasets.load_dataset(name, config, split=split)
    except Exception as exc:  # a missing dataset, config or split, a gated one, a broken cache
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        hint = " (HF_HUB_OFFLINE is set: only datasets in the local cache can be loaded)" if offline else ""
        raise HarnessError(f"{spec}: cannot load the dataset ({type(exc).__name__}: {first}){hint}") from None
    if isinstance(loaded, datasets.DatasetDict):
        if len(loaded) != 1:
            choices = ", ".join(f"{spec}@{s}" for s in loaded)
            raise HarnessError(f"{spec}: the dataset has {len(loaded)} splits; name one: {choices}")
        loaded = next(iter(loaded.values()))
    return loaded


def _rows(spec: str, dataset: Any) -> Iterator[Row]:
    for index, row in enumerate(dataset, 1):
        if not isinstance(row, dict):
            raise HarnessError(f"{spec}: row {index}: expected a record, got {type(row).__name__}")
        yield f"{spec}: row {index}", f"row {index}", row
