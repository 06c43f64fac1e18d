"""The fine-tune run: data checks, Trainer, resume, and the output folder.

Output folder: the peft adapter and tokenizer (a ``BASE+lora:DIR`` spec), ``manifest.json``
(base, data hash, hyper-parameters, library versions, seed, losses), ``train_log.jsonl`` (loss
per step, eval loss); ``checkpoints/`` lets an interrupted run resume, and with ``save_every`` it
also keeps the adapter every N steps as ``checkpoints/step-000N`` (:mod:`harness.finetune.checkpoints`,
for ``harness sweep``). Drawing ``loss_curve.png`` is the report's
(``harness.reports.plots.save_loss_curve``), called by ``harness finetune``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.files import atomic_write, read_jsonl, row_errors
from harness.core.types import Task
from harness.finetune.checkpoints import save_checkpoint
from harness.finetune.contamination import Overlap, find_overlaps
from harness.finetune.data import Example
from harness.finetune.train import (
    FinetuneConfig,
    base_source,
    collate,
    config_row,
    data_hash,
    encode,
    load_for_training,
    split,
)

LOG = rundir.TRAIN_LOG
MANIFEST = rundir.MANIFEST


@dataclass(frozen=True)
class FinetuneResult:
    out: Path
    eval_loss_before: float
    eval_loss_after: float
    steps: int
    train_records: int
    eval_records: int


def check_contamination(examples: Sequence[Example], tasks: Sequence[Task], threshold: float,
                        allow: bool) -> list[Overlap]:
    overlaps = find_overlaps(examples, tasks, threshold)
    if overlaps and not allow:
        worst = max(overlaps, key=lambda o: o.score)
        raise HarnessError(
            f"{len(overlaps)} training record(s) overlap the test questions (worst: {worst.where} ~ "
            f"{worst.task}/{worst.question_id}, {worst.score:.0%} of its n-grams); remove them or "
            "pass --allow-overlap")
    return overlaps


def finetune(cfg: FinetuneConfig, examples: list[Example], eval_examples: list[Example] | None = None,
             data_source: str = "", overlaps: Sequence[Overlap] = ()) -> FinetuneResult:
    """Train LoRA adapters on ``examples``; ``eval_examples`` (or a held-out split) gives eval loss."""
    from transformers import Trainer, TrainerCallback, TrainingArguments
    from transformers.trainer_utils import get_last_checkpoint

    if not examples:
        raise HarnessError("no training records")
    train, held = (examples, eval_examples) if eval_examples else split(examples, cfg.eval_fraction, cfg.seed)
    model, tok = load_for_training(base_source(cfg.base), cfg)
    train_set = [encode(tok, e, cfg.max_seq_len) for e in train]
    eval_set = [encode(tok, e, cfg.max_seq_len) for e in held]
    cfg.out.mkdir(parents=True, exist_ok=True)
    log_path = cfg.out / LOG

    class LogToFile(TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            with log_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"step": state.global_step, "epoch": state.epoch, **(logs or {})}) + "\n")

    callbacks: list[Any] = [LogToFile()]
    if cfg.save_every is not None:
        kept = {"base": cfg.base, "data": data_source, "data_sha256": data_hash(examples),
                "train_records": len(train), "eval_records": len(held), "config": config_row(cfg)}
        every_n = cfg.save_every

        class KeepCheckpoints(TrainerCallback):  # type: ignore[misc]
            # on_step_end runs after the optimizer step, so the adapter saved is step N's
            def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
                if state.global_step % every_n == 0 and state.is_world_process_zero:
                    save_checkpoint(model, out=cfg.out, step=state.global_step,
                                    manifest={**kept, "epoch": state.epoch})

        callbacks.append(KeepCheckpoints())

    import torch

    steps_per_epoch = math.ceil(len(train_set) / (cfg.batch_size * cfg.grad_accum))
    total = cfg.max_steps if cfg.max_steps > 0 else math.ceil(steps_per_epoch * cfg.epochs)
    every = max(1, total // 5)
    args = TrainingArguments(
        output_dir=str(cfg.out / "checkpoints"), per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
        logging_steps=1, eval_strategy="steps" if eval_set else "no", eval_steps=every,
        save_strategy="steps", save_steps=every, save_total_limit=2, seed=cfg.seed,
        report_to=[], use_cpu=not torch.cuda.is_available(), remove_unused_columns=False,
        dataloader_num_workers=0, disable_tqdm=False)
    trainer = Trainer(model=model, args=args, train_dataset=train_set, eval_dataset=eval_set or None,
                      data_collator=collate(tok.pad_token_id), callbacks=callbacks)
    last = get_last_checkpoint(str(cfg.out / "checkpoints")) if (cfg.out / "checkpoints").is_dir() else None
    if last is None and eval_set:
        before = trainer.evaluate()["eval_loss"]
        log_path.write_text(json.dumps({"step": 0, "eval_loss": before}) + "\n", encoding="utf-8")
    else:  # resumed: the loss before training was logged by the first run
        before = _first_eval(log_path)
    state = trainer.train(resume_from_checkpoint=last)
    after = trainer.evaluate()["eval_loss"] if eval_set else float("nan")
    model.save_pretrained(cfg.out)
    tok.save_pretrained(cfg.out)
    manifest = {"base": cfg.base, "data": data_source, "data_sha256": data_hash(examples),
                "train_records": len(train), "eval_records": len(held), "config": config_row(cfg),
                "steps": state.global_step, "train_loss": state.training_loss,
                "eval_loss_before": before, "eval_loss_after": after,
                "contamination_overlaps": [o.__dict__ for o in overlaps],
                "versions": {p: _version(p) for p in ("torch", "transformers", "peft", "bitsandbytes")}}
    atomic_write(cfg.out / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return FinetuneResult(cfg.out, before, after, state.global_step, len(train), len(held))


def _first_eval(log_path: Path) -> float:
    for row in read_jsonl(log_path, lambda r: r):  # a hand-edited log is one error naming its line
        if "eval_loss" in row:
            with row_errors(f"{log_path}: field 'eval_loss'"):
                return float(row["eval_loss"])
    return float("nan")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"
