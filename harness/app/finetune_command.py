"""``harness finetune``: its options and what it does with them (heavy imports happen inside ``run``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness import tasks as task_plugins
from harness.core.errors import HarnessError
from harness.finetune.data import load_examples, task_train_file
from harness.finetune.loop import check_contamination, finetune
from harness.finetune.train import FinetuneConfig
from harness.reports.plots import save_loss_curve


def add_parser(sub: Any) -> argparse.ArgumentParser:
    f = sub.add_parser("finetune", help="QLoRA fine-tune a base model into a +lora adapter",
                       description="Fine-tune LoRA adapters (4-bit NF4 QLoRA by default) on Alpaca "
                       "(instruction/input/output) or chat (messages) records; the output folder is "
                       "usable as BASE+lora:OUT in harness run.")
    f.add_argument("--base", required=True, metavar="SPEC", help="embedded or hf:PATH_OR_ID")
    src = f.add_mutually_exclusive_group(required=True)
    src.add_argument("--task", metavar="ID", help="use the task's built-in training set")
    src.add_argument("--data", metavar="PATH_OR_HF_NAME", help=".json/.jsonl/.csv file or hub dataset")
    f.add_argument("--eval-data", metavar="PATH", help="held-out records for the eval loss "
                   "(default: 10%% of the data)")
    f.add_argument("--out", type=Path, required=True, metavar="DIR")
    f.add_argument("--epochs", type=float, default=3.0)
    f.add_argument("--max-steps", type=int, default=-1, help="stop after N steps (default: all epochs)")
    f.add_argument("--lr", type=float, default=2e-4, help="learning rate (2e-4)")
    f.add_argument("--lora-r", type=int, default=8)
    f.add_argument("--lora-alpha", type=int, default=16)
    f.add_argument("--lora-dropout", type=float, default=0.05)
    f.add_argument("--target-modules", default="q_proj,k_proj,v_proj,o_proj",
                   help="comma-separated module names (q_proj,k_proj,v_proj,o_proj)")
    f.add_argument("--max-seq-len", type=int, default=512)
    f.add_argument("--batch-size", type=int, default=4)
    f.add_argument("--grad-accum", type=int, default=1)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--save-every", type=int, metavar="N",
                   help="also keep the adapter every N optimizer steps as OUT/checkpoints/step-000N "
                   "(for harness sweep); the final adapter stays in OUT")
    f.add_argument("--4bit", dest="four_bit", action=argparse.BooleanOptionalAction, default=True,
                   help="load the base in 4-bit NF4 with double quantization (QLoRA); default on")
    f.add_argument("--allow-overlap", action="store_true",
                   help="train even if records overlap the test questions (reported in the manifest)")
    f.add_argument("--overlap-threshold", type=float, default=0.5,
                   help="n-gram overlap that counts as contamination (0.5)")
    f.add_argument("--tasks-dir", type=Path, action="append", default=[])
    return f


def run(args: argparse.Namespace) -> int:
    numbers = {"--epochs": args.epochs > 0, "--lr": args.lr > 0, "--lora-r": args.lora_r > 0,
               "--batch-size": args.batch_size > 0, "--grad-accum": args.grad_accum > 0,
               "--max-seq-len": args.max_seq_len > 0, "--lora-dropout": 0 <= args.lora_dropout < 1,
               "--save-every": args.save_every is None or args.save_every >= 1}
    for flag, ok in numbers.items():
        if not ok:
            raise HarnessError(f"{flag} {getattr(args, flag[2:].replace('-', '_'))}: out of range")
    guard = [task_plugins.load_task(args.task, args.tasks_dir)] if args.task else \
        task_plugins.load_tasks(None, args.tasks_dir)
    source = str(task_train_file(args.task)) if args.task else args.data
    examples = load_examples(source)
    overlaps = check_contamination(examples, guard, args.overlap_threshold, args.allow_overlap)
    for o in overlaps:
        print(f"warning: {o.where} overlaps {o.task}/{o.question_id} ({o.score:.0%}); kept because of "
              "--allow-overlap", file=sys.stderr)
    cfg = FinetuneConfig(
        base=args.base, out=args.out, epochs=args.epochs, max_steps=args.max_steps,
        learning_rate=args.lr, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=tuple(m.strip() for m in args.target_modules.split(",") if m.strip()),
        max_seq_len=args.max_seq_len, batch_size=args.batch_size, grad_accum=args.grad_accum,
        seed=args.seed, four_bit=args.four_bit, save_every=args.save_every)
    evals = load_examples(args.eval_data) if args.eval_data else None
    result = finetune(cfg, examples, evals, data_source=source, overlaps=overlaps)
    save_loss_curve(result.out)
    print(f"trained {result.steps} steps on {result.train_records} records; held-out loss "
          f"{result.eval_loss_before:.3f} -> {result.eval_loss_after:.3f}\n"
          f"adapter: {result.out}  (use it as {args.base}+lora:{result.out})")
    if args.save_every is not None:
        kept = result.out / "checkpoints"
        print(f"checkpoints: every {args.save_every} steps in {kept}/step-*  (compare them: harness sweep "
              f"RUN_DIR --checkpoints {kept} --against base)")
    return 0
