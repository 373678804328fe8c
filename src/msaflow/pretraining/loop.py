"""The CMT pretraining loop (Chu et al. 2022 §3.2.2, §3.3, §4.2.1), shared by PT and TAPT.

Per step, on a batch of (word-pieces, waveform) pairs:
  text stream : queries = TextEncoder(dynamically masked word-pieces), keys/values = SpeechEncoder(clean audio)
  audio stream: queries = SpeechEncoder(audio with span-masked frames), keys/values = TextEncoder(clean text)
  L_w = CE(linear(h_w), original token) on the selected tokens
  L_a = CE(cos(P h_a, codeword embeddings) / 0.1, k-means codeword of the frame) on the masked frames
  L   = L_w + L_a
"the unmasked key and value pair from the [other modality's] embedding" (§3.2.2) costs a second pass of
each encoder per step. AdamW with linear warmup then linear decay (the paper: AdamW, 5e-5, linear
decay, effective batch 256, 100k updates on LibriSpeech 960 h; our defaults in config `pretrain`).

After every epoch the held-out utterances are scored with fixed masks (the same every epoch): text
MLM accuracy and audio codeword accuracy on the masked positions, both losses, and the majority
baselines (always the most frequent token / codeword) to read them against. History: every step's
two losses and learning rate, and the per-epoch records. A killed job resumes from `resume.pt` after
the last finished epoch with the same result.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from msaflow.common import MsaflowError, atomic_path, progress
from msaflow.pretraining.codewords import assign, mfcc_features, n_frames
from msaflow.pretraining.masking import IGNORE_INDEX, mask_tokens, span_mask


@dataclass
class PretrainConfig:
    epochs: int = 8
    batch_size: int = 16
    lr: float = 5e-5  # parameters that start pretrained (text encoder, a hub speech encoder); TAPT: everything
    lr_scratch: float = 5e-4  # parameters that start random (cross-modal blocks, heads, the embedded speech encoder)
    warmup_proportion: float = 0.08
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    feature_grad_mult: float = 0.1  # HuBERT's gradient scale into the conv waveform encoder
    text_mask_prob: float = 0.15
    text_mask_token_fraction: float = 0.8
    text_random_token_fraction: float = 0.1
    audio_mask_prob: float = 0.075
    audio_mask_span: int = 10
    audio_min_spans: int = 2
    seed: int = 1
    device: str = "auto"
    threads: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> PretrainConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise MsaflowError(f"unknown pretraining settings: {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
        return cls(**d)


# -- data ------------------------------------------------------------------------------------------

def codeword_targets(waves: list[np.ndarray], centroids: np.ndarray) -> list[np.ndarray]:
    return [assign(mfcc_features(w), centroids) for w in progress(waves, desc="codeword targets", total=len(waves))]


def build_set(ids, input_ids, attention_mask, maskable, waves: list[np.ndarray], targets: list[np.ndarray]) -> dict:
    """Tensors of one pretraining set; targets padded with IGNORE_INDEX to the longest utterance's frames."""
    from msaflow.waveforms import stack

    waveform, lengths = stack(waves)
    frames = max([n_frames(len(w)) for w in waves] + [1])
    target = torch.full((len(waves), frames), IGNORE_INDEX, dtype=torch.long)
    for i, (w, t) in enumerate(zip(waves, targets, strict=True)):
        if len(t) != n_frames(len(w)):
            raise MsaflowError(f"{ids[i]}: {len(t)} codeword targets for {n_frames(len(w))} frames")
        target[i, : len(t)] = torch.from_numpy(t)
    return {"ids": list(ids), "input_ids": torch.as_tensor(input_ids), "attention_mask": torch.as_tensor(attention_mask),
            "maskable": torch.as_tensor(maskable).bool(), "waveform": waveform, "waveform_lengths": lengths,
            "targets": target}


def batches(data: dict, order: np.ndarray, batch_size: int):
    """Batches cut to their longest text, waveform and frame sequence."""
    for start in range(0, len(order), batch_size):
        idx = torch.as_tensor(order[start : start + batch_size])
        batch = {k: v.index_select(0, idx) for k, v in data.items() if torch.is_tensor(v)}
        text_len = int(batch["attention_mask"].sum(1).max())
        for key in ("input_ids", "attention_mask", "maskable"):
            batch[key] = batch[key][:, :text_len]
        samples = int(batch["waveform_lengths"].max())
        batch["waveform"] = batch["waveform"][:, :samples]
        batch["targets"] = batch["targets"][:, : max(1, n_frames(samples))]
        yield batch


# -- objective -------------------------------------------------------------------------------------

def masks_for(batch: dict, model, cfg: PretrainConfig, mask_token_id: int, vocab_size: int, generator):
    masked_ids, text_labels = mask_tokens(
        batch["input_ids"], batch["maskable"], mask_token_id, vocab_size, generator, cfg.text_mask_prob,
        cfg.text_mask_token_fraction, cfg.text_random_token_fraction)
    frame_lengths = model.speech.frame_lengths(batch["waveform_lengths"])
    frame_mask = span_mask(frame_lengths, batch["targets"].shape[1], generator, cfg.audio_mask_prob,
                           cfg.audio_mask_span, cfg.audio_min_spans)
    return masked_ids, text_labels, frame_mask


def objective(model, heads, batch: dict, masked_ids, text_labels, frame_mask) -> dict:
    """Both MLM losses (means over the masked positions) and the counts of correct predictions."""
    w_mask = batch["attention_mask"].bool()
    e_w_masked = model.encode_text(masked_ids, batch["attention_mask"])
    e_w = model.encode_text(batch["input_ids"], batch["attention_mask"])
    e_a_masked, a_mask = model.encode_audio(batch["waveform"], batch["waveform_lengths"], frame_mask)
    e_a, _ = model.encode_audio(batch["waveform"], batch["waveform_lengths"])
    h_w = model.cross_text(e_w_masked, w_mask, e_a, a_mask)[-1]
    h_a = model.cross_audio(e_a_masked, a_mask, e_w, w_mask)[-1]
    frames = h_a.shape[1]
    targets = batch["targets"][:, :frames]
    if targets.shape[1] < frames:
        targets = nn.functional.pad(targets, (0, frames - targets.shape[1]), value=IGNORE_INDEX)
    text_sel = text_labels != IGNORE_INDEX
    audio_sel = frame_mask[:, :frames] & a_mask & (targets != IGNORE_INDEX)
    zero = h_w.sum() * 0.0
    out = {"text_count": int(text_sel.sum()), "audio_count": int(audio_sel.sum())}
    if out["text_count"]:
        logits = heads.text_logits(h_w[text_sel])
        out["loss_text"] = nn.functional.cross_entropy(logits.float(), text_labels[text_sel])
        out["text_correct"] = int((logits.argmax(-1) == text_labels[text_sel]).sum())
    else:
        out["loss_text"], out["text_correct"] = zero, 0
    if out["audio_count"]:
        logits = heads.codeword_logits(h_a[audio_sel])
        out["loss_audio"] = nn.functional.cross_entropy(logits.float(), targets[audio_sel])
        out["audio_correct"] = int((logits.argmax(-1) == targets[audio_sel]).sum())
    else:
        out["loss_audio"], out["audio_correct"] = zero, 0
    return out


@torch.no_grad()
def evaluate(model, heads, data: dict, cfg: PretrainConfig, mask_token_id: int, vocab_size: int, device) -> dict:
    """Held-out losses and accuracies with the same masks at every call (generator seeded per batch)."""
    model.eval()
    heads.eval()
    sums = {"loss_text": 0.0, "loss_audio": 0.0, "text_correct": 0, "text_count": 0, "audio_correct": 0, "audio_count": 0}
    for k, batch in enumerate(batches(data, np.arange(len(data["ids"])), cfg.batch_size)):
        generator = torch.Generator().manual_seed(cfg.seed * 7919 + k)
        masked_ids, labels, frame_mask = masks_for(batch, model, cfg, mask_token_id, vocab_size, generator)
        batch = {key: v.to(device) for key, v in batch.items()}
        out = objective(model, heads, batch, masked_ids.to(device), labels.to(device), frame_mask.to(device))
        sums["loss_text"] += float(out["loss_text"].detach()) * out["text_count"]
        sums["loss_audio"] += float(out["loss_audio"].detach()) * out["audio_count"]
        for key in ("text_correct", "text_count", "audio_correct", "audio_count"):
            sums[key] += out[key]
    return {
        "heldout_loss_text": sums["loss_text"] / max(1, sums["text_count"]),
        "heldout_loss_audio": sums["loss_audio"] / max(1, sums["audio_count"]),
        "heldout_text_accuracy": sums["text_correct"] / max(1, sums["text_count"]),
        "heldout_audio_accuracy": sums["audio_correct"] / max(1, sums["audio_count"]),
        "heldout_masked_tokens": sums["text_count"],
        "heldout_masked_frames": sums["audio_count"],
    }


def majority_baselines(train: dict, heldout: dict) -> dict:
    """Accuracy of always predicting the train set's most frequent token / codeword, on held-out data."""
    tokens = train["input_ids"][train["maskable"]]
    codes = train["targets"][train["targets"] != IGNORE_INDEX]
    top_token = int(torch.mode(tokens).values) if len(tokens) else -1
    top_code = int(torch.mode(codes).values) if len(codes) else -1
    held_tokens = heldout["input_ids"][heldout["maskable"]]
    held_codes = heldout["targets"][heldout["targets"] != IGNORE_INDEX]
    return {"text_majority_accuracy": float((held_tokens == top_token).float().mean()) if len(held_tokens) else None,
            "audio_majority_accuracy": float((held_codes == top_code).float().mean()) if len(held_codes) else None}


# -- the loop --------------------------------------------------------------------------------------

NO_DECAY = ("bias", "norm", "LayerNorm", "layer_norm", "mask_embedding", "codeword_embeddings")


def parameter_groups(model, heads, cfg: PretrainConfig, scratch_prefixes: tuple[str, ...]) -> list[dict]:
    groups: dict[tuple[str, bool], dict] = {}
    named = [(n, p) for n, p in model.named_parameters()] + [(f"heads.{n}", p) for n, p in heads.named_parameters()]
    for name, param in named:
        if not param.requires_grad or name == "speech.hubert.masked_spec_embed":
            continue
        scratch = name.startswith(scratch_prefixes)
        decay = not any(tag in name for tag in NO_DECAY)
        key = ("scratch" if scratch else "pretrained", decay)
        if key not in groups:
            groups[key] = {"name": f"{key[0]}{'' if decay else '_no_decay'}", "params": [],
                           "lr": cfg.lr_scratch if scratch else cfg.lr, "weight_decay": cfg.weight_decay if decay else 0.0}
        groups[key]["params"].append(param)
    return list(groups.values())


def run(model, heads, train: dict, heldout: dict, cfg: PretrainConfig, out_dir, log, mask_token_id: int,
        vocab_size: int, scratch_prefixes: tuple[str, ...] = (), fingerprint_extra: dict | None = None) -> dict:
    from msaflow.training.trainer import choose_device, seed_everything, warmup_linear

    out_dir = Path(out_dir)
    device = choose_device(cfg.device)
    if device.type == "cpu":
        if cfg.threads:
            torch.set_num_threads(int(cfg.threads))
        torch.use_deterministic_algorithms(True, warn_only=True)
    n = len(train["ids"])
    if n == 0:
        raise MsaflowError("no pretraining utterances")
    model.to(device)
    heads.to(device)
    model.speech.feature_grad_scale = cfg.feature_grad_mult
    groups = parameter_groups(model, heads, cfg, scratch_prefixes)
    for g in groups:
        g["initial_lr"] = g["lr"]
    optimizer = torch.optim.AdamW(groups, lr=groups[0]["lr"], betas=(0.9, 0.98), eps=1e-6)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_linear(step, total, cfg.warmup_proportion))
    # what changes the numbers (not threads or device: a job resumed with other resources continues)
    numbers = {k: v for k, v in asdict(cfg).items() if k not in ("threads", "device")}
    fingerprint = hashlib.sha256(json.dumps({"config": numbers, "n": n, **(fingerprint_extra or {})},
                                            sort_keys=True, default=str).encode()).hexdigest()[:16]
    history = {"config": asdict(cfg), "device": str(device), "train_utterances": n,
               "heldout_utterances": len(heldout["ids"]), "steps_per_epoch": steps_per_epoch,
               "optimizer_groups": [{"name": g["name"], "lr": g["lr"], "weight_decay": g["weight_decay"],
                                     "n_params": sum(p.numel() for p in g["params"])} for g in groups],
               **majority_baselines(train, heldout), "steps": [], "epochs": [], "resumed_at_epoch": None}
    resume_path = out_dir / "resume.pt"
    start_epoch = 0
    state = _load_resume(resume_path, fingerprint, log)
    if state is not None:
        model.load_state_dict(state["model"])
        heads.load_state_dict(state["heads"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = state["history"]
        start_epoch = state["epoch"] + 1
        history["resumed_at_epoch"] = start_epoch + 1
        log.info("resuming pretraining from %s after epoch %d", resume_path, start_epoch)
    else:
        history["epochs"].append({"epoch": 0, **evaluate(model, heads, heldout, cfg, mask_token_id, vocab_size, device)})
        log.info("before pretraining: held-out text MLM accuracy %.3f, audio codeword accuracy %.3f",
                 history["epochs"][0]["heldout_text_accuracy"], history["epochs"][0]["heldout_audio_accuracy"])
    params = [p for g in groups for p in g["params"]]
    for epoch in range(start_epoch, cfg.epochs):
        seed_everything(cfg.seed * 1000 + epoch)  # dropout depends on (seed, epoch) only: resumable
        order = np.random.default_rng(cfg.seed * 1000 + epoch).permutation(n)
        model.train()
        heads.train()
        t0 = time.time()
        sums = {"loss_text": 0.0, "loss_audio": 0.0, "text_count": 0, "audio_count": 0, "text_correct": 0, "audio_correct": 0}
        bar = progress(batches(train, order, cfg.batch_size), desc=f"pretrain epoch {epoch + 1}/{cfg.epochs}",
                       total=steps_per_epoch)
        for k, batch in enumerate(bar):
            step = epoch * steps_per_epoch + k
            generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
            masked_ids, labels, frame_mask = masks_for(batch, model, cfg, mask_token_id, vocab_size, generator)
            batch = {key: v.to(device) for key, v in batch.items()}
            out = objective(model, heads, batch, masked_ids.to(device), labels.to(device), frame_mask.to(device))
            loss = out["loss_text"] + out["loss_audio"]
            if not torch.isfinite(loss):
                raise MsaflowError(f"pretraining step {step + 1}: the loss became {float(loss)}; lower pretrain.lr / lr_scratch")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            history["steps"].append({"step": step + 1, "epoch": epoch + 1, "loss_text": round(float(out["loss_text"].detach()), 5),
                                     "loss_audio": round(float(out["loss_audio"].detach()), 5),
                                     "lr": [g["lr"] for g in optimizer.param_groups]})
            sums["loss_text"] += float(out["loss_text"].detach()) * out["text_count"]
            sums["loss_audio"] += float(out["loss_audio"].detach()) * out["audio_count"]
            for key in ("text_count", "audio_count", "text_correct", "audio_correct"):
                sums[key] += out[key]
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(text=f"{float(out['loss_text'].detach()):.3f}", audio=f"{float(out['loss_audio'].detach()):.3f}", refresh=False)
        train_time = time.time() - t0
        record = {"epoch": epoch + 1,
                  "train_loss_text": sums["loss_text"] / max(1, sums["text_count"]),
                  "train_loss_audio": sums["loss_audio"] / max(1, sums["audio_count"]),
                  "train_text_accuracy": sums["text_correct"] / max(1, sums["text_count"]),
                  "train_audio_accuracy": sums["audio_correct"] / max(1, sums["audio_count"]),
                  **evaluate(model, heads, heldout, cfg, mask_token_id, vocab_size, device),
                  "train_time_s": round(train_time, 2), "steps_per_s": round(steps_per_epoch / train_time, 4)}
        history["epochs"].append(record)
        log.info("epoch %d: train loss text %.4f audio %.4f; held-out loss text %.4f audio %.4f, text MLM accuracy %.3f, "
                 "audio codeword accuracy %.3f", epoch + 1, record["train_loss_text"], record["train_loss_audio"],
                 record["heldout_loss_text"], record["heldout_loss_audio"], record["heldout_text_accuracy"],
                 record["heldout_audio_accuracy"])
        with atomic_path(resume_path) as tmp:
            torch.save({"model": model.state_dict(), "heads": heads.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "history": history, "epoch": epoch,
                        "fingerprint": fingerprint}, tmp)
    model.speech.feature_grad_scale = 1.0
    return history


def _load_resume(path: Path, fingerprint: str, log):
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        log.warning("ignoring unreadable %s (%s)", path, error)
        return None
    if state.get("fingerprint") != fingerprint:
        log.warning("ignoring %s: written with other settings", path)
        return None
    return state


def summary(history: dict, stage: str) -> dict:
    """The numbers a fine-tuning result carries about its starting point."""
    first, last = history["epochs"][0], history["epochs"][-1]
    return {"stage": stage, "epochs": len(history["epochs"]) - 1,
            "train_utterances": history["train_utterances"], "heldout_utterances": history["heldout_utterances"],
            "heldout_text_accuracy": round(last["heldout_text_accuracy"], 4),
            "heldout_audio_accuracy": round(last["heldout_audio_accuracy"], 4),
            "heldout_text_accuracy_before": round(first["heldout_text_accuracy"], 4),
            "heldout_audio_accuracy_before": round(first["heldout_audio_accuracy"], 4),
            "text_majority_accuracy": history.get("text_majority_accuracy"),
            "audio_majority_accuracy": history.get("audio_majority_accuracy")}


def save_checkpoint(path, model, heads, centroids: np.ndarray, history: dict, stage: str, extra: dict) -> None:
    state = {"backbone": model.backbone_state(), "heads": {k: v.detach().cpu() for k, v in heads.state_dict().items()},
             "codebook": np.asarray(centroids, dtype=np.float32), "architecture": model.architecture(),
             "summary": summary(history, stage), **extra}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def remove_resume(out_dir) -> None:
    path = Path(out_dir) / "resume.pt"
    if path.exists():
        os.unlink(path)
