"""Minimal QLoRA fine-tuning (issue 5): produces ``+lora:DIR`` adapters for the leaderboard.

Not built yet; the adapter spec ``embedded+lora:DIR`` / ``hf:BASE+lora:DIR`` already loads any
peft LoRA adapter directory.
"""
