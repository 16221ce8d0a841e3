"""Fine-tuning on the training set of one condition: LoRA on the attention projections (default),
QLoRA (4-bit NF4 base via bitsandbytes) or full fine-tuning; loss on the answer tokens only.

Preemption-safe: checkpoints go to a folder outside the rule's outputs, a retried or requeued job
resumes from the last one, and SIGTERM (SLURM preemption or time limit) saves a checkpoint at the
end of the current step and exits non-zero without writing the output. The output is written under a
temporary name and renamed, so a killed job never leaves a half-written one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import signal
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from synthctx.data.files import atomic_path
from synthctx.data.tasks import encode
from synthctx.plan.settings import TrainSettings

PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM, what schedulers expect from a job that stopped on SIGTERM
COMPLETE_MARKER = "synthctx-checkpoint-complete"


RUN_FILE = "run.json"


def run_identity(
    cfg: TrainSettings, seed: int, records: list[dict[str, Any]], model_dir: Path, code: str | None
) -> dict[str, str]:
    """What a checkpoint must have been trained with to be resumed: the train slice, the seed, the training
    records, the base model's files, and the code digest the workflow passes. Checkpoint folders are named by
    condition only, so without this a rerun after a config change would resume the old run."""
    records_hash = hashlib.sha256()
    for rec in records:
        records_hash.update(json.dumps(rec, sort_keys=True).encode())
    model_files = sorted(
        (str(p.relative_to(model_dir)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in Path(model_dir).rglob("*")
        if p.is_file()
    )
    return {
        "config": hashlib.sha256(json.dumps(dataclasses.asdict(cfg), sort_keys=True).encode()).hexdigest(),
        "seed": str(seed),
        "records": records_hash.hexdigest(),
        "model_files": hashlib.sha256(json.dumps(model_files).encode()).hexdigest(),
        "code": code or "",
    }


def claim_checkpoint_dir(checkpoint_dir: Path, identity: dict[str, str]) -> None:
    """Keep the checkpoints only if they belong to this run (same identity); otherwise remove them and say
    which parts differ, then record this run's identity."""
    run_file = checkpoint_dir / RUN_FILE
    if checkpoint_dir.exists():
        try:
            previous = json.loads(run_file.read_text())
        except (OSError, ValueError):
            previous = None
        if previous != identity:
            changed = sorted(k for k in identity if not previous or previous.get(k) != identity[k])
            print(f"discarding the checkpoints in {checkpoint_dir}: they belong to another run "
                  f"(differs in: {', '.join(changed) if previous else 'no run record'})", flush=True)  # fmt: skip
            shutil.rmtree(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(identity, indent=1, sort_keys=True))


def last_complete_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest checkpoint that was fully written; half-written ones (a kill mid-save) are removed."""
    complete = []
    for path in checkpoint_dir.glob("checkpoint-*"):
        if (path / COMPLETE_MARKER).is_file():
            complete.append(path)
        else:
            shutil.rmtree(path, ignore_errors=True)
    return max(complete, key=lambda p: int(p.name.rsplit("-", 1)[-1]), default=None)


class AnswerOnlyDataset(torch.utils.data.Dataset):
    """Chat-templated examples whose labels mask everything but the answer and its end-of-turn."""

    def __init__(self, tokenizer, records: list[dict[str, Any]], max_length: int):
        self.items = []
        for rec in records:
            enc = encode(tokenizer, rec, rec["answers"][0])
            if len(enc.input_ids) > max_length:
                raise ValueError(
                    f"record {rec['id']}: {len(enc.input_ids)} tokens exceed train.max_length={max_length}"
                )
            labels = [-100] * enc.prompt_length + enc.input_ids[enc.prompt_length :]
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


def answer_only_loss(
    model, batch: dict[str, torch.Tensor], num_items: int | torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy on the labelled (answer) tokens, computing logits only at the positions that
    predict them: the LM head over a long context is most of the logits memory and a share of FLOPs."""
    labels = batch.pop("labels")
    targets = labels[:, 1:]
    keep = (targets != -100).any(dim=0).nonzero().squeeze(-1)  # positions t whose logits predict token t+1
    logits = model(**batch, use_cache=False, logits_to_keep=keep).logits
    picked = targets[:, keep]
    total = F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), picked.reshape(-1), ignore_index=-100, reduction="sum"
    )
    denominator = num_items if num_items is not None else (picked != -100).sum()
    return total / denominator


def _trainer_class():
    from transformers import Trainer

    class AnswerOnlyTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = answer_only_loss(model, inputs, num_items_in_batch)
            return (loss, None) if return_outputs else loss

    return AnswerOnlyTrainer


def _callbacks(history: list[dict[str, float]], snapshot_every: int | None, snapshot_dir: Path, extension: dict):
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                history.append({"step": state.global_step, "loss": float(logs["loss"])})
                print(f"step {state.global_step}/{state.max_steps} loss {logs['loss']:.4f}", flush=True)

    class MarkComplete(TrainerCallback):
        """Trainer calls on_save after a checkpoint is on disk: only then does it count for resuming."""

        def on_save(self, args, state, control, **kw):
            (Path(args.output_dir) / f"checkpoint-{state.global_step}" / COMPLETE_MARKER).touch()

    class StopOnSigterm(TrainerCallback):
        """Checkpoint and stop at the end of the current step once SIGTERM arrived."""

        def __init__(self):
            self.requested = False
            signal.signal(signal.SIGTERM, self._request)

        def _request(self, signum, frame):
            self.requested = True
            print("SIGTERM received: checkpointing at the end of this step", flush=True)

        def on_step_end(self, args, state, control, **kw):
            if self.requested:
                control.should_save = True
                control.should_training_stop = True

    class Snapshots(TrainerCallback):
        """Weights every `snapshot_every` steps (before the last), for head recall over training. Kept beside
        the checkpoints, so a killed job that resumes past a snapshot still has it."""

        def on_step_end(self, args, state, control, model=None, **kw):
            step = state.global_step
            if snapshot_every and step % snapshot_every == 0 and step < state.max_steps:
                _save_weights(model, snapshot_dir / f"step-{step}", extension)

    return Progress(), MarkComplete(), StopOnSigterm(), Snapshots()


def _save_weights(model, out_dir: Path, extension: dict) -> None:
    """The trained weights (adapter, or whole model) and the context extension they need, written whole."""
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        adapter_config = tmp / "adapter_config.json"
        if adapter_config.is_file():  # peft keeps target_modules as a set: its order follows the hash seed
            settings = json.loads(adapter_config.read_text())
            if isinstance(settings.get("target_modules"), list):
                settings["target_modules"] = sorted(settings["target_modules"])
            adapter_config.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
        (tmp / "context_extension.json").write_text(json.dumps(extension, sort_keys=True) + "\n")


def _load_for_training(model_dir: Path, cfg: TrainSettings):
    from synthctx.models.model_io import DTYPES, load_weights

    quantization = None
    if cfg.method == "qlora":
        from transformers import BitsAndBytesConfig  # needs the `qlora` extra (bitsandbytes)

        quantization = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=DTYPES[cfg.dtype],
        )
    model = load_weights(
        model_dir,
        cfg.dtype,
        cfg.attn_implementation,
        extension=cfg.context_extension.active(),
        quantization_config=quantization,
    )
    model.config.use_cache = False
    return model


def fine_tune(
    model_dir: Path,
    records: list[dict[str, Any]],
    cfg: TrainSettings,
    seed: int,
    out_dir: Path,
    checkpoint_dir: Path,
    snapshots_out: Path | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """Train and write the fine-tuned weights (a LoRA adapter, or the full model) to `out_dir`, and the
    intermediate snapshots (every `cfg.snapshot_every` steps) to `snapshots_out` as `step-<n>` folders."""
    from transformers import set_seed

    from synthctx.jobs.timing import loading
    from synthctx.models.model_io import load_tokenizer

    torch.set_flush_denormal(True)  # CPU steps slow down 3-4x on denormals once the loss gets small
    claim_checkpoint_dir(checkpoint_dir, run_identity(cfg, seed, records, model_dir, code))
    set_seed(seed)
    tokenizer = load_tokenizer(model_dir)
    with loading():
        model = _load_for_training(model_dir, cfg)
    quantized = sum(1 for m in model.modules() if type(m).__name__ == "Linear4bit")
    model = _with_adapter(model, cfg)
    dataset = AnswerOnlyDataset(tokenizer, records, cfg.max_length)
    history: list[dict[str, float]] = []
    snapshot_dir = checkpoint_dir / "snapshots"
    extension = cfg.context_extension.active()
    progress, mark, stop, snapshots = _callbacks(history, cfg.snapshot_every, snapshot_dir, extension)
    trainer = _trainer_class()(
        model=model,
        args=_training_arguments(cfg, seed, checkpoint_dir),
        train_dataset=dataset,
        data_collator=pad_batch(tokenizer.pad_token_id),
        callbacks=[progress, mark, stop, snapshots],
    )
    resume = last_complete_checkpoint(checkpoint_dir)
    if resume:
        print(f"resuming from the last checkpoint: {resume}", flush=True)
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if stop.requested:
        print(f"stopped by SIGTERM at step {trainer.state.global_step}; rerun to resume", flush=True)
        raise SystemExit(PREEMPTED_EXIT_CODE)
    _save_weights(model, out_dir, extension)
    final = trainer.state.global_step
    steps = _publish_snapshots(snapshot_dir, snapshots_out, final) if snapshots_out else []
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return {
        "history": history,
        "resumed_from_step": int(resume.name.rsplit("-", 1)[-1]) if resume else None,
        "n_examples": len(dataset),
        "method": cfg.method,
        "context_extension": cfg.context_extension.active(),
        "steps": trainer.state.global_step,
        "snapshot_steps": steps,
        "quantized_linear_layers": quantized,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


def _with_adapter(model, cfg: TrainSettings):
    """The model to train: wrapped in a LoRA adapter for lora and qlora (qlora's 4-bit base prepared for
    it first), as loaded for full fine-tuning."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if cfg.method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    if cfg.method not in ("lora", "qlora"):
        return model
    lora = cfg.lora
    return get_peft_model(
        model,
        LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            task_type="CAUSAL_LM",
        ),
    )


def _training_arguments(cfg: TrainSettings, seed: int, checkpoint_dir: Path):
    """The HF Trainer's arguments: the train slice's schedule, checkpoints into `checkpoint_dir`, the GPU
    (and bf16 where asked) when there is one."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_steps,
        lr_scheduler_type="linear",
        weight_decay=0.0,
        logging_steps=cfg.log_every,
        save_steps=cfg.checkpoint_every,
        save_total_limit=2,
        seed=seed,
        data_seed=seed,
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        use_cpu=not torch.cuda.is_available(),
        bf16=cfg.dtype == "bfloat16" and torch.cuda.is_available(),
        gradient_checkpointing=cfg.gradient_checkpointing,
    )


def _publish_snapshots(snapshot_dir: Path, out: Path, final_step: int) -> list[int]:
    """Move the snapshots into the rule's output folder, with an index of their steps."""
    found = [p for p in snapshot_dir.glob("step-*") if p.name.split("-")[1].isdigit()] if snapshot_dir.exists() else []
    steps = []
    with atomic_path(out) as tmp:
        tmp.mkdir()
        for path in sorted(found, key=lambda p: int(p.name.split("-")[1])):
            shutil.copytree(path, tmp / path.name)
            steps.append(int(path.name.split("-")[1]))
        (tmp / "snapshots.json").write_text(json.dumps({"steps": steps, "final_step": final_step}) + "\n")
    return steps


def snapshot_dirs(snapshots: Path) -> tuple[list[tuple[int, Path]], int]:
    """(step, folder) of every snapshot a fine-tuning run kept, by step, and the run's final step."""
    index = json.loads((snapshots / "snapshots.json").read_text())
    return [(step, snapshots / f"step-{step}") for step in index["steps"]], index["final_step"]


def main_weights_file(method: str) -> str:
    """The file that stands for the trained weights (its metadata goes beside it)."""
    return "model.safetensors" if method == "full" else "adapter_model.safetensors"
