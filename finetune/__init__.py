"""Minimal QLoRA fine-tuning: ``harness finetune`` turns a base model and domain data into a
peft LoRA adapter, usable as ``BASE+lora:DIR`` on the leaderboard.

``data`` reads and checks training records, ``contamination`` keeps test questions out of them,
``train`` loads the 4-bit base and encodes records, ``loop`` runs transformers' Trainer, ``cli``
holds the command's options.
"""
