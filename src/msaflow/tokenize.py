"""Word-pieces and word-level features aligned to them (DESIGN §3, tokens contract).

The words are the alignment stage's normalised words (align/{shard}.tsv, in order); the fast
tokenizer splits each into word-pieces, and `word_ids()` maps every piece back to its word. Each
word's feature vector is copied to each of its word-pieces; [CLS], [SEP] and padding positions are
zero (a model that wants something else at [CLS] sets it itself, see models/cmbert.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from msaflow.common import MsaflowError

SPLITS = ("train", "valid", "test")


@dataclass
class PieceAlignment:
    input_ids: np.ndarray  # (L,) int64
    attention_mask: np.ndarray  # (L,) int64
    word_index: np.ndarray  # (L,) int64; -1 for special and padding positions
    n_words: int
    n_words_kept: int  # words with at least one word-piece inside max_length
    n_pieces: int  # word-pieces of the whole utterance (without specials)
    n_pieces_kept: int

    @property
    def truncated(self) -> bool:
        return self.n_pieces_kept < self.n_pieces


def align_words(tokenizer, words: list[str], max_length: int) -> PieceAlignment:
    """Tokenise pre-split `words`, padded/truncated to `max_length`, with the piece -> word map."""
    if max_length < 3:
        raise MsaflowError(f"tokens.max_length must be at least 3, got {max_length}")
    if not words:
        raise MsaflowError("no words to tokenise")
    full = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
    n_pieces = len(full["input_ids"])
    enc = tokenizer(
        words, is_split_into_words=True, truncation=True, max_length=max_length, padding="max_length",
        return_attention_mask=True,
    )
    word_ids = enc.word_ids()
    word_index = np.array([-1 if w is None else w for w in word_ids], dtype=np.int64)
    kept = word_index[word_index >= 0]
    return PieceAlignment(
        input_ids=np.asarray(enc["input_ids"], dtype=np.int64),
        attention_mask=np.asarray(enc["attention_mask"], dtype=np.int64),
        word_index=word_index,
        n_words=len(words),
        n_words_kept=int(len(np.unique(kept))),
        n_pieces=n_pieces,
        n_pieces_kept=int(len(kept)),
    )


def spread_to_pieces(word_features: np.ndarray, word_index: np.ndarray) -> np.ndarray:
    """(n_words x D) -> (L x D): row p = features of word word_index[p]; zero where word_index < 0."""
    out = np.zeros((len(word_index), word_features.shape[1]), dtype=np.float32)
    valid = word_index >= 0
    if valid.any():
        if word_index[valid].max() >= len(word_features):
            raise MsaflowError(
                f"word index {int(word_index[valid].max())} out of range for {len(word_features)} feature rows"
            )
        out[valid] = word_features[word_index[valid]]
    return out


def build_split_tensors(items: list[dict], max_length: int, audio_dim: int, vision_dim: int = 0) -> dict:
    """Stack per-utterance items into the tokens contract for one split.

    Each item: id, label, alignment (PieceAlignment), audio_words (n_words x Da), optional
    vision_words (n_words x Dv). Besides the piece-aligned tensors we keep the word-level
    (unaligned to pieces) sequences, padded, for models that want them.
    """
    import torch

    n = len(items)
    max_words = max([len(it["audio_words"]) for it in items] + [1])
    input_ids = np.zeros((n, max_length), dtype=np.int64)
    attention_mask = np.zeros((n, max_length), dtype=np.int64)
    word_index = np.full((n, max_length), -1, dtype=np.int64)
    audio = np.zeros((n, max_length, audio_dim), dtype=np.float32)
    vision = np.zeros((n, max_length, vision_dim), dtype=np.float32)
    audio_words = np.zeros((n, max_words, audio_dim), dtype=np.float32)
    word_lengths = np.zeros((n,), dtype=np.int64)
    labels = np.zeros((n,), dtype=np.float32)
    for i, it in enumerate(items):
        al: PieceAlignment = it["alignment"]
        input_ids[i], attention_mask[i], word_index[i] = al.input_ids, al.attention_mask, al.word_index
        audio[i] = spread_to_pieces(it["audio_words"], al.word_index)
        if vision_dim:
            vision[i] = spread_to_pieces(it["vision_words"], al.word_index)
        audio_words[i, : len(it["audio_words"])] = it["audio_words"]
        word_lengths[i] = len(it["audio_words"])
        labels[i] = it["label"]
    return {
        "ids": [it["id"] for it in items],
        "input_ids": torch.from_numpy(input_ids),
        "attention_mask": torch.from_numpy(attention_mask),
        "word_index": torch.from_numpy(word_index),
        "audio": torch.from_numpy(audio),
        "vision": torch.from_numpy(vision),
        "labels": torch.from_numpy(labels),
        "audio_words": torch.from_numpy(audio_words),
        "word_lengths": torch.from_numpy(word_lengths),
    }


def load_tokens(path) -> dict:
    """Load a tokens file written by the tokens stage, with a clear error for a wrong file."""
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise MsaflowError(f"tokens file {path} does not exist; run the tokens stage first") from None
    except Exception as error:  # corrupt or not a torch file
        raise MsaflowError(f"tokens file {path} cannot be read ({error}); delete it and rerun the tokens stage") from None
    if not isinstance(data, dict) or "meta" not in data or not all(s in data for s in SPLITS):
        raise MsaflowError(f"{path} is not a tokens file (expected keys meta, {', '.join(SPLITS)})")
    return data
