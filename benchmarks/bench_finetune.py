"""Fine-tune throughput (tokens/s) and peak memory: 4-bit QLoRA vs 16-bit and 32-bit LoRA.

Each precision trains the same LoRA (r=8 on q/k/v/o) for the same steps on the same data (a
task's built-in training set) in a fresh process, so peak memory is that configuration's own:
peak resident memory on CPU, peak allocated GPU memory on CUDA. Run where a GPU is lent with
``--base hf:Qwen/Qwen2.5-0.5B-Instruct`` (or another 0.5B-1B model) to see the GPU figures.

    python benchmarks/bench_finetune.py [--base embedded] [--task en_medical] [--steps 8]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

PRECISIONS = ("4bit", "bf16", "fp32")


def child(base: str, task: str, steps: int, precision: str, batch: int) -> dict[str, float]:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    from harness.finetune.data import load_examples, task_train_file
    from harness.finetune.train import base_source, collate, encode

    cuda = torch.cuda.is_available()
    source = base_source(base)
    dtype = {"4bit": torch.bfloat16 if cuda else torch.float32, "bf16": torch.bfloat16,
             "fp32": torch.float32}[precision]
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=dtype) if precision == "4bit" else None
    tok = AutoTokenizer.from_pretrained(source)
    tok.pad_token = tok.pad_token or tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(source, quantization_config=quant, dtype=dtype,
                                                 device_map={"": 0} if cuda else None)
    if quant is not None:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj",
                                                                                 "v_proj", "o_proj"],
                                             task_type="CAUSAL_LM"))
    data = [encode(tok, e, 1024) for e in load_examples(str(task_train_file(task)))]
    pad = collate(tok.pad_token_id)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    device = "cuda" if cuda else "cpu"
    tokens, start = 0, 0.0
    for step in range(steps + 1):  # step 0 warms up and is not timed
        if step == 1:
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
        batch_rows = [data[(step * batch + i) % len(data)] for i in range(batch)]
        inputs = {k: v.to(device) for k, v in pad(batch_rows).items()}
        loss = model(**inputs).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step:
            tokens += int(inputs["attention_mask"].sum())
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"tokens_per_s": tokens / elapsed, "peak_mib": peak,
            "weights_mib": model.get_memory_footprint() / 2**20, "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="embedded")
    parser.add_argument("--task", default="en_medical")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--child", choices=PRECISIONS, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        print(json.dumps(child(opts.base, opts.task, opts.steps, opts.child, opts.batch_size)))
        return
    results = {}
    for precision in PRECISIONS:
        proc = subprocess.run([sys.executable, __file__, "--child", precision, "--base", opts.base,
                               "--task", opts.task, "--steps", str(opts.steps),
                               "--batch-size", str(opts.batch_size)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{precision} failed:\n{proc.stderr[-2000:]}")
        results[precision] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"base {opts.base}, task {opts.task}, {opts.steps} steps x batch {opts.batch_size}")
    print(f"{'precision':10} {'tokens/s':>10} {'peak MiB':>10} {'model MiB':>10}")
    for precision, r in results.items():
        print(f"{precision:10} {r['tokens_per_s']:10.1f} {r['peak_mib']:10.0f} {r['weights_mib']:10.0f}")
    q, full = results["4bit"], results["fp32"]
    print(f"4-bit vs fp32: throughput x{q['tokens_per_s'] / full['tokens_per_s']:.2f}, "
          f"peak memory x{q['peak_mib'] / full['peak_mib']:.2f}, "
          f"model memory x{q['weights_mib'] / full['weights_mib']:.2f}")


if __name__ == "__main__":
    main()
