"""Modality ablation on test: does the trained model's prediction depend on each non-text input?

After training (in the train stage, with the selected weights), the test split is predicted again
with each non-text modality the model declares in `model.modalities`:

* `zero`: every feature tensor of the modality set to 0 (word-piece `audio`, word-level
  `audio_words`, unaligned `audio_frames`, ...); lengths, validity masks and the text unchanged;
* `shuffle`: all tensors of the modality (features, lengths, masks) taken together from another
  test utterance, by a fixed derangement (no utterance keeps its own; the same permutation for
  every seed and model, so conditions pair across runs).

A modality's tensors are the split's per-utterance tensors named `{m}` or `{m}_*` (e.g. `audio`,
`audio_words`, `audio_frames`, `audio_frame_lengths`, `audio_frames_valid`; `vision_present`).
Rows go to `ablation.tsv` (utterance_id, condition, prediction), `intact` included;
msaflow.evaluation.ablation turns them into metric changes with paired bootstrap CIs.
"""

from __future__ import annotations

import numpy as np
import torch

ABLATION_COLUMNS = ("utterance_id", "condition", "prediction")
KINDS = ("zero", "shuffle")
INTACT = "intact"
SHUFFLE_SEED = 20240611  # fixed: every run and model sees the same permutation


def modality_keys(split: dict, modality: str) -> list[str]:
    """Per-utterance tensors of `modality` in the split (see the module docstring)."""
    n = len(split["labels"])
    return sorted(k for k, v in split.items()
                  if (k == modality or k.startswith(modality + "_")) and torch.is_tensor(v) and v.dim() >= 1
                  and v.shape[0] == n)


def has_modality(split: dict, modality: str) -> bool:
    """True when the split carries features of `modality` (a feature tensor with a non-zero last dim)."""
    return any(split[k].is_floating_point() and split[k].dim() >= 2 and split[k].shape[-1] > 0
               for k in modality_keys(split, modality))


def derangement(n: int, seed: int = SHUFFLE_SEED) -> np.ndarray:
    """A permutation p of range(n) with p[i] != i for all i (n >= 2): a random cycle."""
    if n < 2:
        return np.arange(n)
    order = np.random.default_rng(seed).permutation(n)
    perm = np.empty(n, dtype=np.int64)
    perm[order] = np.roll(order, -1)
    return perm


def ablate(split: dict, modality: str, kind: str, seed: int = SHUFFLE_SEED) -> dict:
    """A copy of `split` with `modality` zeroed or shuffled (other keys shared, not copied)."""
    if kind not in KINDS:
        raise ValueError(f"ablation kind must be one of {KINDS}, got {kind!r}")
    keys = modality_keys(split, modality)
    out = dict(split)
    if kind == "zero":
        for k in keys:
            if split[k].is_floating_point():
                out[k] = torch.zeros_like(split[k])
    else:
        perm = torch.as_tensor(derangement(len(split["labels"]), seed))
        for k in keys:
            out[k] = split[k].index_select(0, perm)
    return out


def ablated_modalities(model, split: dict) -> list[str]:
    """The model's non-text modalities that the split actually carries."""
    return [m for m in getattr(model, "modalities", ("text",)) if m != "text" and has_modality(split, m)]


def run_ablation(predict, model, split: dict) -> tuple[list[tuple[str, str, str]], dict]:
    """Predict `split` intact and under each ablation; `predict(split) -> (predictions, loss)`.

    Returns the ablation.tsv rows and a summary {condition: mean |change of prediction|}.
    """
    intact, _ = predict(split)
    rows = [(uid, INTACT, f"{p:.8g}") for uid, p in zip(split["ids"], intact.tolist(), strict=True)]
    summary = {}
    for modality in ablated_modalities(model, split):
        for kind in KINDS:
            condition = f"{modality}_{kind}"
            preds, _ = predict(ablate(split, modality, kind))
            rows += [(uid, condition, f"{p:.8g}") for uid, p in zip(split["ids"], preds.tolist(), strict=True)]
            summary[condition] = float(np.mean(np.abs(preds - intact))) if len(preds) else 0.0
    return rows, summary
