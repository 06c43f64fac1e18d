"""The adapters a fine-tune keeps on the way (``harness finetune --save-every N``), and finding them again.

A kept checkpoint is a peft adapter folder ``OUT/checkpoints/step-000N`` (``adapter_config.json``,
``adapter_model.safetensors``) with a small ``manifest.json``: its step, the base, the run's data
path and hash, and the fine-tune's settings, as the final adapter's manifest holds them. It is
usable as ``BASE+lora:OUT/checkpoints/step-000N`` wherever a model spec is.

:func:`find_checkpoints` lists the adapter folders of a checkpoints folder by step for ``harness
sweep``: harness's own ``step-N`` folders, and also adapters saved by other tools (transformers'
``checkpoint-N``, whose step is read from the folder name). Not handled here: training (``loop``),
resuming (the Trainer's own ``checkpoint-N`` folders beside these), and judging checkpoints.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.files import atomic_write, json_object

PREFIX = "step-"
"""A kept checkpoint's folder name is this, then its step (four digits at least)."""
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
_TRAILING_STEP = re.compile(r"(\d+)$")


def checkpoint_dir(out: Path, step: int) -> Path:
    """Where step ``step`` of the fine-tune writing ``out`` is kept.

    >>> checkpoint_dir(Path("out/law"), 3).as_posix()
    'out/law/checkpoints/step-0003'
    """
    return out / "checkpoints" / f"{PREFIX}{step:04d}"


def save_checkpoint(model: Any, *, out: Path, step: int, manifest: Mapping[str, Any]) -> Path:
    """Save ``model``'s adapter (a peft model) as step ``step``'s folder, with ``manifest`` plus
    the step in its ``manifest.json``. Written beside the target and renamed into place, so a run
    killed while saving leaves no half-written adapter for a sweep to load."""
    target = checkpoint_dir(out, step)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp)
        # "steps" too: the key the final adapter's manifest and the report's fine-tune table use
        atomic_write(tmp / rundir.MANIFEST, json.dumps({**manifest, "step": step, "steps": step},
                                                       indent=2, ensure_ascii=False) + "\n")
        if target.exists():  # the same step again (a resumed run redoing it): the newer weights
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


@dataclass(frozen=True)
class Checkpoint:
    """One adapter folder of a checkpoints folder."""

    step: int
    """The optimizer step it was saved at (its manifest's ``step``, else the folder name's number)."""
    path: Path
    base: str | None
    """The base model spec its manifest names (None without a manifest)."""


def find_checkpoints(folder: Path) -> list[Checkpoint]:
    """Each folder in ``folder`` holding a peft adapter, by step (earliest first).

    Where two folders share a step (``--save-every`` kept ``step-0002`` and the Trainer's resume
    copy ``checkpoint-2`` is the same adapter), the one with a manifest is taken. A folder whose
    step cannot be told, two of the same step both with (or both without) a manifest, or none at
    all, is one error naming the folder.
    """
    if not folder.is_dir():
        raise HarnessError(f"--checkpoints {folder}: no such folder")
    by_step: dict[int, list[tuple[Checkpoint, bool]]] = {}
    for child in sorted(folder.iterdir()):
        if child.name.startswith(".") or not _holds_adapter(child):
            continue  # a half-written save (.step-0003.tmp123) or anything but an adapter
        manifest = _manifest(child)
        step = _step(child, manifest)
        base = manifest.get("base") if manifest else None
        if base is not None and (not isinstance(base, str) or not base.strip()):
            raise HarnessError(f"{child / rundir.MANIFEST}: field 'base' must be a model spec, got {base!r}")
        by_step.setdefault(step, []).append((Checkpoint(step, child, base), manifest is not None))
    if not by_step:
        raise HarnessError(f"--checkpoints {folder}: no adapter folders in it (expected folders such as "
                           f"{PREFIX}0001 holding {ADAPTER_CONFIG}, as harness finetune --save-every N "
                           "keeps them in OUT/checkpoints)")
    out = []
    for step in sorted(by_step):
        found = by_step[step]
        kept = [c for c, has_manifest in found if has_manifest] or [c for c, _ in found]
        if len(kept) > 1:
            raise HarnessError(f"--checkpoints {folder}: {kept[0].path.name} and {kept[1].path.name} are "
                               f"both step {step}; keep one")
        out.append(kept[0])
    return out


def _holds_adapter(path: Path) -> bool:
    return path.is_dir() and (path / ADAPTER_CONFIG).is_file() and \
        any((path / w).is_file() for w in ADAPTER_WEIGHTS)


def _manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / rundir.MANIFEST
    return json_object(path) if path.is_file() else None


def _step(folder: Path, manifest: Mapping[str, Any] | None) -> int:
    if manifest is not None and "step" in manifest:
        step = manifest["step"]
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise HarnessError(f"{folder / rundir.MANIFEST}: field 'step' must be a whole number of "
                               f"optimizer steps, got {step!r}")
        return step
    match = _TRAILING_STEP.search(folder.name)
    if match is None:
        raise HarnessError(f"{folder}: an adapter folder whose step cannot be told (no 'step' in a "
                           f"manifest.json, no number ending its name such as {PREFIX}0003)")
    return int(match.group(1))
