"""A small synthetic text+audio corpus for tests, benchmarks and smoke runs (no files needed).

Sentences are drawn from a tiny sentiment lexicon; the label is the text's sentiment plus a part
carried only by the audio (a per-utterance "arousal" offset present in every word's audio vector),
so a model whose audio path reaches the output can beat a text-only model.
"""

from __future__ import annotations

import numpy as np

POSITIVE = ["good", "great", "wonderful", "loved", "enjoyed", "excellent", "funny", "beautiful"]
NEGATIVE = ["bad", "terrible", "boring", "hated", "awful", "worst", "dull", "annoying"]
NEUTRAL = ["the", "movie", "was", "really", "i", "think", "plot", "actors", "it", "and", "story", "film", "quite"]


def make_corpus(n: int = 120, audio_dim: int = 5, seed: int = 0, audio_weight: float = 1.0,
                splits=(0.6, 0.2, 0.2)):
    """Returns (manifest rows, words by utterance, audio features by utterance)."""
    rng = np.random.default_rng(seed)
    rows, words, audio = [], {}, {}
    n_train, n_valid = int(n * splits[0]), int(n * splits[1])
    for i in range(n):
        length = int(rng.integers(4, 14))
        sentiment = 0.0
        w = []
        for _ in range(length):
            r = rng.random()
            if r < 0.2:
                w.append(POSITIVE[rng.integers(len(POSITIVE))])
                sentiment += 1
            elif r < 0.4:
                w.append(NEGATIVE[rng.integers(len(NEGATIVE))])
                sentiment -= 1
            else:
                w.append(NEUTRAL[rng.integers(len(NEUTRAL))])
        arousal = float(rng.normal())
        label = float(np.clip(np.tanh(sentiment / 2) * 2 + audio_weight * arousal, -3, 3))
        feats = rng.normal(size=(length, audio_dim)).astype(np.float32) * 0.5
        feats[:, 0] += arousal
        uid = f"vid{i // 4:03d}$_${i % 4}"
        mode = "train" if i < n_train else "valid" if i < n_train + n_valid else "test"
        rows.append({"utterance_id": uid, "video_id": f"vid{i // 4:03d}", "clip_id": str(i % 4), "text": " ".join(w),
                     "label": f"{label:.4f}", "annotation": "", "mode": mode})
        words[uid] = w
        audio[uid] = feats
    return rows, words, audio


def make_tokens(tokenizer, n: int = 120, audio_dim: int = 5, max_length: int = 50, seed: int = 0, audio_weight: float = 1.0):
    """A tokens dict (as the tokens stage writes it) from the synthetic corpus."""
    from msaflow.stages.tokens import build_tokens

    rows, words, audio = make_corpus(n, audio_dim, seed, audio_weight)
    data, qc = build_tokens(rows, words, audio, {}, tokenizer, max_length)
    data["meta"]["encoder"] = "minilm-l6"
    return data
