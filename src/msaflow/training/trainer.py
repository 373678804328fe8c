"""The shared trainer.

* optimizer groups and the loss come from the model (`MsaModel.param_groups()`, `.loss()`);
* `optimizer: adamw` (default): AdamW with linear warmup (`warmup_proportion` of all steps) then
  linear decay to 0, gradients clipped over all parameters together (`max_grad_norm`);
  `optimizer: bertadam`: the BERT reference code's BertAdam as the published CM-BERT code uses it
  (no bias correction, clipping per parameter tensor, its own warmup_linear; `bertadam.py`);
* frozen parameters: the model's own patterns plus `freeze` regexes from config;
* gradient clipping (`max_grad_norm`), deterministic seeding (same seed -> same metrics on CPU);
* device chosen at run time; bf16 (or fp16 with a grad scaler) autocast on CUDA;
* a checkpoint after every epoch (model, optimizer, scheduler, history, best weights) from which a
  killed job resumes; model selection on the validation set only (never test);
* `history.json`-ready per-epoch losses and validation metrics, a progress bar per epoch.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from msaflow.common import MsaflowError, atomic_path, get_logger, progress

# Word-piece sequences: cut to the batch's longest attention mask when trim_padding is on.
SEQUENCE_KEYS = ("input_ids", "attention_mask", "word_index", "audio", "vision")
# Unaligned frame sequences (msaflow.frames): `{m}_frames` and `{m}_frames_valid` are cut to the
# batch's longest `{m}_frame_lengths`.
FRAME_LENGTHS_SUFFIX = "_frame_lengths"


@dataclass
class TrainConfig:
    batch_size: int = 24
    eval_batch_size: int = 64
    epochs: int = 3
    warmup_proportion: float = 0.1
    max_grad_norm: float | None = 1.0
    optimizer: str = "adamw"  # adamw | bertadam
    freeze: list = field(default_factory=list)
    select_by: str = "valid_loss"  # valid_loss | valid_mae | valid_corr
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto (bf16/fp16 on CUDA, fp32 on CPU) | fp32 | bf16 | fp16
    threads: int = 0  # torch intra-op threads on CPU (0 = torch default)
    trim_padding: bool = True  # cut each batch to its longest sequence (exact: padding is masked)
    accumulate: int = 1  # batches per optimizer step: effective batch = batch_size * accumulate
    keep_checkpoint: bool = False  # keep the resumable checkpoint after training finished

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise MsaflowError(f"unknown train settings: {', '.join(sorted(unknown))}")
        return cls(**d)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def choose_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise MsaflowError(f"train.device is {requested!r} but CUDA is not available; use auto or cpu")
    return torch.device(requested)


def autocast_dtype(device: torch.device, precision: str):
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "bf16" or (precision == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def warmup_linear(step: int, total: int, warmup_proportion: float) -> float:
    """LR multiplier: linear warmup over the first `warmup_proportion` of steps, then linear decay to 0."""
    warm = max(1, int(round(total * warmup_proportion))) if warmup_proportion > 0 else 0
    if step < warm:
        return (step + 1) / warm
    return max(0.0, (total - step) / max(1, total - warm))


OPTIMIZERS = ("adamw", "bertadam")


def build_optimizer(groups: list[dict], config: TrainConfig, n_train: int):
    """(optimizer, scheduler or None) for the model's parameter groups.

    bertadam takes its schedule inside the optimizer, with run_classifier.py's step budget
    t_total = int(n_train / batch_size) * epochs (at least one batch's worth), and clips each
    parameter tensor on its own; the trainer then does no global clipping.
    """
    if config.optimizer not in OPTIMIZERS:
        raise MsaflowError(f"train.optimizer {config.optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
    for g in groups:
        g.setdefault("initial_lr", g["lr"])
    if config.optimizer == "bertadam":
        from msaflow.training.bertadam import BertAdam

        if not 0.0 <= config.warmup_proportion < 1.0:
            raise MsaflowError(f"train.warmup_proportion {config.warmup_proportion}: bertadam needs a value in [0, 1)")
        t_total = max(1, n_train // (config.batch_size * config.accumulate)) * config.epochs
        optimizer = BertAdam(groups, lr=groups[0]["lr"], warmup=config.warmup_proportion, t_total=t_total,
                             max_grad_norm=config.max_grad_norm or -1.0)
        return optimizer, None
    optimizer = torch.optim.AdamW(groups, lr=groups[0]["lr"], betas=(0.9, 0.999), eps=1e-6)
    total_steps = math.ceil(math.ceil(n_train / config.batch_size) / config.accumulate) * config.epochs  # optimizer steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_linear(step, total_steps, config.warmup_proportion)
    )
    return optimizer, scheduler


def current_lrs(optimizer) -> list[float]:
    if hasattr(optimizer, "current_lrs"):
        return optimizer.current_lrs()
    return [g["lr"] for g in optimizer.param_groups]


def move(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def batch_keys(split: dict) -> list[str]:
    """Every tensor of the split with one row per utterance (ids and other lists stay out)."""
    n = len(split["labels"])
    return [k for k, v in split.items() if torch.is_tensor(v) and v.dim() >= 1 and v.shape[0] == n]


def make_batches(split: dict, indices: np.ndarray, batch_size: int, trim: bool):
    """Batches of the split's per-utterance tensors in `indices` order.

    float16 storage (frame sequences) becomes float32; with `trim`, word-piece tensors are cut to
    the longest text and frame tensors to the longest frame sequence of the batch (exact: models
    mask padding).
    """
    keys = batch_keys(split)
    for start in range(0, len(indices), batch_size):
        idx = torch.as_tensor(indices[start : start + batch_size])
        batch = {}
        for k in keys:
            v = split[k].index_select(0, idx)
            batch[k] = v.float() if v.dtype == torch.float16 else v
        if trim:
            length = int(batch["attention_mask"].sum(1).max())
            for k in SEQUENCE_KEYS:
                if k in batch:
                    batch[k] = batch[k][:, :length]
            for k in [k for k in batch if k.endswith(FRAME_LENGTHS_SUFFIX)]:
                base = k[: -len(FRAME_LENGTHS_SUFFIX)]
                frames = max(1, int(batch[k].max()))
                for seq in (f"{base}_frames", f"{base}_frames_valid"):
                    if seq in batch:
                        batch[seq] = batch[seq][:, :frames]
            if "audio_waveform_lengths" in batch and "audio_waveform" in batch:  # raw audio (msaflow.waveforms, CMT)
                batch["audio_waveform"] = batch["audio_waveform"][:, : max(1, int(batch["audio_waveform_lengths"].max()))]
        yield batch


def apply_freeze(model: torch.nn.Module, patterns: list[str]) -> int:
    regexes = [re.compile(p) for p in patterns]
    frozen = 0
    for name, param in model.named_parameters():
        if any(r.search(name) for r in regexes):
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen


class Trainer:
    def __init__(self, model, config: TrainConfig, seed: int, run_dir, log=None, metrics_fn=None):
        self.model = model
        self.config = config
        self.seed = int(seed)
        self.run_dir = Path(run_dir)
        self.log = log or get_logger("train")
        self.device = choose_device(config.device)
        self.amp_dtype = autocast_dtype(self.device, config.precision)
        if metrics_fn is None:
            from msaflow.evaluation.metrics import compute_metrics as metrics_fn
        self.metrics_fn = metrics_fn
        if self.device.type == "cpu":
            if config.threads:
                torch.set_num_threads(int(config.threads))
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.checkpoint_path = self.run_dir / "checkpoint.pt"

    # -- helpers ---------------------------------------------------------------------------
    def _autocast(self):
        if self.amp_dtype is None:
            return torch.autocast(device_type="cpu", enabled=False)
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def fingerprint(self, extra: dict) -> str:
        text = json.dumps({"train": asdict(self.config), "seed": self.seed, **extra}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def trim_padding(self) -> bool:
        """Cut batches to their longest sequence unless the model's output depends on the padding
        (CM-BERT's `norm: code` normalises the whole padded batch, as the published code does)."""
        return bool(self.config.trim_padding and getattr(self.model, "padding_invariant", True))

    @torch.no_grad()
    def predict(self, split: dict) -> tuple[np.ndarray, float]:
        """Predictions (N,) in split order and the mean loss."""
        self.model.eval()
        preds, loss_sum = [], 0.0
        n = len(split["labels"])
        self._prepare(split, "predict")
        for batch in make_batches(split, np.arange(n), self.config.eval_batch_size, self.trim_padding()):
            batch = move(batch, self.device)
            with self._autocast():
                out = self.model(batch)
            loss_sum += float(self.model.loss(out, batch["labels"])) * len(out)
            preds.append(out.float().cpu().numpy())
        return (np.concatenate(preds) if preds else np.zeros(0, dtype=np.float32)), loss_sum / max(1, n)

    def _prepare(self, split: dict, role: str) -> None:
        """The model's split-level statistics (MsaModel.prepare_split), from batches in split order."""
        prepare = getattr(self.model, "prepare_split", None)
        if prepare is None:
            return
        batches = (move(b, self.device) for b in make_batches(split, np.arange(len(split["labels"])),
                                                             self.config.eval_batch_size, self.trim_padding()))
        with torch.no_grad(), self._autocast():
            prepare(batches, role)

    def _selection_score(self, valid_loss: float, metrics: dict) -> float:
        """Lower is better."""
        if self.config.select_by == "valid_loss":
            return valid_loss
        if self.config.select_by == "valid_mae":
            return metrics["mae"]
        if self.config.select_by == "valid_corr":
            return -metrics["corr"] if np.isfinite(metrics["corr"]) else math.inf
        raise MsaflowError(f"train.select_by {self.config.select_by!r}: use valid_loss, valid_mae or valid_corr")

    # -- training --------------------------------------------------------------------------
    def fit(self, train: dict, valid: dict, fingerprint_extra: dict | None = None) -> dict:
        cfg = self.config
        model = self.model
        frozen = apply_freeze(model, list(model.frozen_patterns()) + list(cfg.freeze))
        model.to(self.device)
        groups = model.param_groups()
        if not groups:
            raise MsaflowError("the model has no trainable parameters (check train.freeze)")
        n_train = len(train["labels"])
        if n_train == 0:
            raise MsaflowError("no training utterances")
        if cfg.accumulate < 1:
            raise MsaflowError(f"train.accumulate must be at least 1, got {cfg.accumulate}")
        batches_per_epoch = math.ceil(n_train / cfg.batch_size)
        optimizer, scheduler = build_optimizer(groups, cfg, n_train)
        trim = self.trim_padding()
        if cfg.trim_padding and not trim:
            self.log.info("not trimming padding: the model's predictions depend on it (norm: code)")
        scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        fingerprint = self.fingerprint(fingerprint_extra or {})
        history = {"seed": self.seed, "device": str(self.device), "precision": str(self.amp_dtype or "fp32"),
                   "select_by": cfg.select_by, "optimizer": cfg.optimizer, "trim_padding": trim,
                   "epochs": [], "frozen_parameters": frozen,
                   "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
                   "optimizer_groups": [{"name": g["name"], "lr": g["lr"], "weight_decay": g["weight_decay"],
                                         "n_params": sum(p.numel() for p in g["params"])} for g in groups],
                   "resumed_at_epoch": None}
        best_state, best_score, start_epoch = None, math.inf, 0
        state = self._load_checkpoint(fingerprint)
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(state["scheduler"])
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            history, best_state, best_score = state["history"], state["best_state"], state["best_score"]
            start_epoch = state["epoch"] + 1
            history["resumed_at_epoch"] = start_epoch + 1
            self.log.info("resuming from %s after epoch %d", self.checkpoint_path, start_epoch)

        for epoch in range(start_epoch, cfg.epochs):
            # Per-epoch seeding: shuffling and dropout depend only on (seed, epoch), so a resumed
            # run continues exactly as an uninterrupted one would.
            seed_everything(self.seed * 1000 + epoch)
            order = np.random.default_rng(self.seed * 1000 + epoch).permutation(n_train)
            self._prepare(train, "train")
            model.train()
            t0 = time.time()
            loss_sum, seen = 0.0, 0
            bar = progress(make_batches(train, order, cfg.batch_size, trim),
                           desc=f"seed {self.seed} epoch {epoch + 1}/{cfg.epochs}", total=batches_per_epoch)
            optimizer.zero_grad(set_to_none=True)
            for k, batch in enumerate(bar):
                batch = move(batch, self.device)
                with self._autocast():
                    loss, out = model.training_loss(batch)
                if not torch.isfinite(loss):
                    raise MsaflowError(f"seed {self.seed} epoch {epoch + 1}: the training loss became {float(loss)}; "
                                       "lower the learning rates in config 'models'")
                # With accumulation, each batch's loss is weighted by its share of the optimizer step's
                # samples, so the step's gradient is that of the mean loss over all of them.
                group_start = k - k % cfg.accumulate
                group_samples = min(n_train, (group_start + cfg.accumulate) * cfg.batch_size) - group_start * cfg.batch_size
                scaled = loss * (len(out) / group_samples) if cfg.accumulate > 1 else loss
                if scaler is not None:
                    scaler.scale(scaled).backward()
                else:
                    scaled.backward()
                if (k + 1) % cfg.accumulate == 0 or k + 1 == batches_per_epoch:
                    if scaler is not None:
                        scaler.unscale_(optimizer)
                    if cfg.max_grad_norm and cfg.optimizer != "bertadam":  # bertadam clips per parameter itself
                        torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], cfg.max_grad_norm)
                    if scaler is not None:
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        optimizer.step()
                    if scheduler is not None:
                        scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                loss_sum += float(loss.detach()) * len(out)
                seen += len(out)
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{loss_sum / seen:.4f}", refresh=False)
            train_time = time.time() - t0
            valid_pred, valid_loss = self.predict(valid)
            metrics = self.metrics_fn(valid["labels"].numpy(), valid_pred)
            score = self._selection_score(valid_loss, metrics)
            improved = score < best_score
            if improved:
                best_score = score
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            record = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "valid_loss": valid_loss,
                      "valid_metrics": metrics, "lr": current_lrs(optimizer),
                      "train_time_s": round(train_time, 3), "train_samples_per_s": round(seen / train_time, 2),
                      "selected": improved}
            history["epochs"].append(record)
            self.log.info("seed %d epoch %d: train loss %.4f, valid loss %.4f, valid mae %.4f corr %.4f%s",
                          self.seed, epoch + 1, record["train_loss"], valid_loss, metrics["mae"], metrics["corr"],
                          " (best)" if improved else "")
            self._save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                   "scheduler": scheduler.state_dict() if scheduler else None, "scaler": scaler.state_dict() if scaler else None,
                                   "history": history, "best_state": best_state, "best_score": best_score,
                                   "epoch": epoch, "fingerprint": fingerprint})
        chosen = [r for r in history["epochs"] if r["selected"]]
        history["best_epoch"] = chosen[-1]["epoch"] if chosen else None
        if best_state is not None:
            model.load_state_dict(best_state)
        return history

    def _save_checkpoint(self, state: dict) -> None:
        with atomic_path(self.checkpoint_path) as tmp:
            torch.save(state, tmp)

    def _load_checkpoint(self, fingerprint: str):
        if not self.checkpoint_path.exists():
            return None
        try:
            state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        except Exception as error:  # a corrupt checkpoint: start over
            self.log.warning("ignoring unreadable checkpoint %s (%s)", self.checkpoint_path, error)
            return None
        if state.get("fingerprint") != fingerprint:
            self.log.warning("ignoring checkpoint %s: it was written with other settings", self.checkpoint_path)
            return None
        return state

    def finish(self) -> None:
        if not self.config.keep_checkpoint and self.checkpoint_path.exists():
            os.unlink(self.checkpoint_path)
