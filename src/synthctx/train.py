"""LoRA fine-tuning on the attention projections, loss on the answer tokens only (HF Trainer + peft).

Checkpoints go to a folder outside the rule's outputs, so a killed or requeued job resumes from the
last one instead of starting over; the adapter is written under a temporary name and renamed.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from synthctx.prompting import encode


class AnswerOnlyDataset(torch.utils.data.Dataset):
    """Chat-templated examples whose labels mask everything but the answer and its end-of-turn."""

    def __init__(self, tokenizer, records: list[dict[str, Any]], max_length: int):
        self.items = []
        for rec in records:
            enc = encode(tokenizer, rec, rec["answers"][0])
            if len(enc.input_ids) > max_length:
                raise ValueError(f"record {rec['id']}: {len(enc.input_ids)} tokens exceed train.max_length={max_length}")
            labels = [-100] * enc.prompt_length + enc.input_ids[enc.prompt_length:]
            self.items.append({"input_ids": enc.input_ids, "labels": labels})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.items[i]


def pad_batch(pad_id: int):
    def collate(batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            labels[i, :n] = torch.tensor(b["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
    return collate


def fine_tune(model_dir: Path, records: list[dict[str, Any]], cfg: dict[str, Any], seed: int,
              adapter_dir: Path, checkpoint_dir: Path) -> dict[str, Any]:
    """Train a LoRA adapter; returns the training log for provenance."""
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

    from synthctx.model_io import load_model, load_tokenizer

    torch.set_flush_denormal(True)  # CPU steps slow down 3-4x on denormals once the loss gets small
    set_seed(seed)
    tokenizer = load_tokenizer(model_dir)
    model = load_model(model_dir, cfg["dtype"])
    model.config.use_cache = False
    lora = cfg["lora"]
    model = get_peft_model(model, LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                                             target_modules=list(lora["target_modules"]), task_type="CAUSAL_LM"))
    dataset = AnswerOnlyDataset(tokenizer, records, cfg["max_length"])
    history: list[dict[str, float]] = []

    class Progress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                history.append({"step": state.global_step, "loss": float(logs["loss"])})
                print(f"step {state.global_step}/{state.max_steps} loss {logs['loss']:.4f}", flush=True)

    args = TrainingArguments(
        output_dir=str(checkpoint_dir), max_steps=cfg["max_steps"], per_device_train_batch_size=cfg["batch_size"],
        gradient_accumulation_steps=cfg["gradient_accumulation_steps"], learning_rate=cfg["learning_rate"],
        warmup_steps=cfg["warmup_steps"], lr_scheduler_type="linear", weight_decay=0.0,
        logging_steps=cfg["log_every"], save_steps=cfg["checkpoint_every"], save_total_limit=1,
        seed=seed, data_seed=seed, report_to=[], disable_tqdm=True, dataloader_num_workers=0,
        remove_unused_columns=False, use_cpu=not torch.cuda.is_available(),
        gradient_checkpointing=cfg["gradient_checkpointing"],
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=pad_batch(tokenizer.pad_token_id),
                      callbacks=[Progress()])
    resume = any(checkpoint_dir.glob("checkpoint-*"))
    if resume:
        print(f"resuming from the last checkpoint in {checkpoint_dir}", flush=True)
    trainer.train(resume_from_checkpoint=resume or None)
    tmp = adapter_dir.with_name(adapter_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    if adapter_dir.exists():
        shutil.rmtree(adapter_dir)
    os.replace(tmp, adapter_dir)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return {"history": history, "resumed": resume, "n_examples": len(dataset),
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)}
