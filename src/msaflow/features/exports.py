"""Exports of word-level features for other frameworks' models.

* MMSA-style aligned pickle (as MMSA's `aligned_50.pkl`): {"train"|"valid"|"test": {
    "raw_text": (N,) str, "id": (N,) str ("<video_id>$_$<clip_id>"), "annotations": (N,) str,
    "regression_labels": (N,) float32, "audio": (N, L, Da) float32 word-level features (word i at
    row i, zero padding after the last word, truncated at L words), "audio_lengths": (N,) int,
    "vision": (N, L, Dv) word-level visual features when the items carry them (`vision`, rows as
    `audio`), else zeros with Dv = `vision_dim`,
    "text_bert": (N, 3, L) int64 [input_ids, attention_mask, token_type_ids] from the configured
    tokenizer (word pieces of the transcript words, [CLS]/[SEP], padding to L)}}.
* MAG-BERT-style word-level pickle (as MAG's `mosi.pkl`): {"train"|"dev"|"test": [
    ((words: list[str], visual: (n_words, Dv) float32, acoustic: (n_words, Da) float32),
     label: np.ndarray [[label]] float32, segment: utterance_id), ...]}.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable

import numpy as np

from msaflow.common import MsaflowError, atomic_path

SPLITS_MMSA = {"train": "train", "valid": "valid", "test": "test"}
SPLITS_MAG = {"train": "train", "valid": "dev", "test": "test"}


def _text_bert(tokenize: Callable | None, words: list[str], length: int) -> np.ndarray:
    if tokenize is None:
        raise MsaflowError("MMSA export needs a tokenizer for text_bert (words.exports.tokenizer)")
    enc = tokenize(words)
    ids = np.zeros((3, length), np.int64)
    input_ids = list(enc["input_ids"])[:length]
    ids[0, : len(input_ids)] = input_ids
    ids[1, : len(input_ids)] = 1
    if "token_type_ids" in enc:
        tt = list(enc["token_type_ids"])[:length]
        ids[2, : len(tt)] = tt
    return ids


def hf_tokenize_function(tokenizer, length: int) -> Callable:
    def tokenize(words: list[str]):
        return tokenizer(words, is_split_into_words=True, truncation=True, max_length=length)
    return tokenize


def build_mmsa(items: list[dict], length: int, vision_dim: int, tokenize: Callable | None) -> dict:
    """items: dicts with id, words, text, annotation, label, mode, features (n_words x D)."""
    if not items:
        raise MsaflowError("MMSA export: no utterance to export")
    dim = items[0]["features"].shape[1]
    out = {}
    for mode, key in SPLITS_MMSA.items():
        rows = [it for it in items if it["mode"] == mode]
        n = len(rows)
        audio = np.zeros((n, length, dim), np.float32)
        vision = np.zeros((n, length, vision_dim), np.float32)
        lengths = np.zeros(n, np.int64)
        for i, it in enumerate(rows):
            k = min(len(it["features"]), length)
            audio[i, :k] = it["features"][:k]
            if "vision" in it:
                vision[i, :k] = it["vision"][:k]
            lengths[i] = k
        out[key] = {
            "raw_text": np.array([it["text"] for it in rows], dtype=object),
            "id": np.array([it["id"] for it in rows], dtype=object),
            "annotations": np.array([it["annotation"] for it in rows], dtype=object),
            "regression_labels": np.array([it["label"] for it in rows], dtype=np.float32),
            "audio": audio,
            "audio_lengths": lengths,
            "vision": vision,
            "text_bert": (np.stack([_text_bert(tokenize, it["words"], length) for it in rows])
                          if rows else np.zeros((0, 3, length), np.int64)),
        }
    return out


def build_mag(items: list[dict], vision_dim: int) -> dict:
    out = {key: [] for key in SPLITS_MAG.values()}
    for it in items:
        n = len(it["words"])
        acoustic = np.asarray(it["features"], np.float32)
        visual = np.asarray(it["vision"], np.float32) if "vision" in it else np.zeros((n, vision_dim), np.float32)
        label = np.array([[it["label"]]], dtype=np.float32)
        out[SPLITS_MAG[it["mode"]]].append(((list(it["words"]), visual, acoustic), label, it["id"]))
    return out


def write_pickle(path, obj) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            pickle.dump(obj, handle, protocol=4)
