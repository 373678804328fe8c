"""A small synthetic text+audio(+vision) corpus for tests, benchmarks and smoke runs (no files needed).

Sentences are drawn from a tiny sentiment lexicon; the label is the text's sentiment plus a part
carried only by the audio (a per-utterance "arousal" offset present in every word's audio vector),
so a model whose audio path reaches the output can beat a text-only model. `make_av_corpus` adds
a visual part the same way (a per-utterance offset in column 0 of every word's visual vector) and
frame-level sequences of both (each word's vector over a few frames, plus noise), drawn from
separate random streams so that the text and audio of `make_corpus` stay what they were.
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


def frames_from_words(word_features: np.ndarray, rng: np.random.Generator, frames_per_word=(3, 8), hop: float = 0.01,
                      noise: float = 0.3):
    """Frames of one utterance: each word's vector over a few `hop`-second frames, plus noise.

    Returns (features T x D float32, intervals T x 2 seconds from the utterance start).
    """
    counts = rng.integers(frames_per_word[0], frames_per_word[1] + 1, size=len(word_features))
    feats = np.repeat(np.asarray(word_features, dtype=np.float32), counts, axis=0)
    feats = feats + rng.normal(scale=noise, size=feats.shape).astype(np.float32)
    start = np.arange(len(feats)) * hop
    return feats, np.stack([start, start + hop], axis=1)


def make_av_corpus(n: int = 120, audio_dim: int = 5, vision_dim: int = 4, seed: int = 0, audio_weight: float = 1.0,
                   vision_weight: float = 1.0) -> dict:
    """rows, words, audio (word level), vision (word level), audio_frames and vision_frames ({uid: (T x D, T x 2)}).

    Audio frames at 100 Hz (10 ms hop, 3-8 per word), vision frames at 25 Hz (40 ms, 1-3 per word).
    """
    rows, words, audio = make_corpus(n, audio_dim, seed, audio_weight)
    rng = np.random.default_rng([seed, 1])
    vision, audio_frames, vision_frames = {}, {}, {}
    for row in rows:
        uid = row["utterance_id"]
        face = float(rng.normal())
        row["label"] = f"{float(np.clip(float(row['label']) + vision_weight * face, -3, 3)):.4f}"
        v = rng.normal(size=(len(words[uid]), vision_dim)).astype(np.float32) * 0.5
        v[:, 0] += face
        vision[uid] = v
        audio_frames[uid] = frames_from_words(audio[uid], rng)
        vision_frames[uid] = frames_from_words(v, rng, frames_per_word=(1, 3), hop=0.04)
    return {"rows": rows, "words": words, "audio": audio, "vision": vision, "audio_frames": audio_frames,
            "vision_frames": vision_frames}


def make_tokens(tokenizer, n: int = 120, audio_dim: int = 5, max_length: int = 50, seed: int = 0, audio_weight: float = 1.0,
                vision_dim: int = 0, vision_weight: float = 0.0, frames: bool = False, frame_rate: float = 20.0,
                max_frames: int = 500, frame_dtype: str = "float32"):
    """A tokens dict (as the tokens stage writes it) from the synthetic corpus.

    `vision_dim` > 0 adds word-level vision (signal weight `vision_weight`); `frames` adds the
    unaligned sequences (`audio_frames`, and `vision_frames` with vision) at `frame_rate`.
    """
    from msaflow import frames as fr
    from msaflow.stages.tokens import build_tokens

    if not vision_dim and not frames:
        rows, words, audio = make_corpus(n, audio_dim, seed, audio_weight)
        data, qc = build_tokens(rows, words, audio, {}, tokenizer, max_length)
        data["meta"]["encoder"] = "minilm-l6"
        return data
    c = make_av_corpus(n, audio_dim, max(vision_dim, 1), seed, audio_weight, vision_weight if vision_dim else 0.0)
    inputs = fr.FrameInputs(rate=frame_rate, max_frames=max_frames, dtype=frame_dtype)
    if frames:
        inputs.audio = {u: fr.resample(f, i, frame_rate, max_frames) for u, (f, i) in c["audio_frames"].items()}
        inputs.audio_dim = audio_dim
        if vision_dim:
            inputs.vision = {u: fr.resample(f, i, frame_rate, max_frames) for u, (f, i) in c["vision_frames"].items()}
            inputs.vision_dim = vision_dim
    data, qc = build_tokens(c["rows"], c["words"], c["audio"], c["vision"] if vision_dim else {}, tokenizer, max_length,
                            frames=inputs, vision_dim=vision_dim)
    data["meta"]["encoder"] = "minilm-l6"
    return data


def make_trimodal_batch(n: int = 16, length: int = 12, vocab: int = 120, audio_dim: int = 5, vision_dim: int = 4,
                        audio_frames: int = 30, audio_frames_dim: int = 6, vision_frames: int = 20,
                        vision_frames_dim: int = 3, signal: str | None = None, full_length: bool = False,
                        seed: int = 0) -> dict:
    """A batch in the tokens contract (word-piece aligned `audio`/`vision` and unaligned
    `*_frames` with lengths), for tests and benchmarks; no tokenizer or files needed.

    The label is 2 z with z ~ N(0, 1) per utterance. `signal` = "audio" or "vision" adds z to
    column 0 of that modality's word-level and frame-level features, so that only that modality
    predicts the label (the word-pieces are random). `full_length`: no padding anywhere.
    A dimension of 0 leaves the modality out (width 0, as an audio-only tokens file).
    """
    import torch

    g = torch.Generator().manual_seed(seed)

    def sizes(maximum: int, minimum: int) -> torch.Tensor:
        if full_length:
            return torch.full((n,), maximum, dtype=torch.long)
        return torch.randint(minimum, maximum + 1, (n,), generator=g)

    z = torch.randn(n, generator=g)
    text_lengths = sizes(length, min(5, length))
    input_ids = torch.zeros(n, length, dtype=torch.long)
    attention_mask = torch.zeros(n, length, dtype=torch.long)
    word_index = torch.full((n, length), -1, dtype=torch.long)
    for i, k in enumerate(text_lengths.tolist()):
        input_ids[i, :k] = torch.randint(5, vocab, (k,), generator=g)
        input_ids[i, 0], input_ids[i, k - 1] = 1, 2  # [CLS] ... [SEP]
        attention_mask[i, :k] = 1
        word_index[i, 1 : k - 1] = torch.arange(k - 2) // 2  # two word-pieces per word
    words = (word_index >= 0).unsqueeze(-1).float()
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "word_index": word_index,
             "labels": 2 * z}
    for m, dim, frames, frames_dim in (("audio", audio_dim, audio_frames, audio_frames_dim),
                                       ("vision", vision_dim, vision_frames, vision_frames_dim)):
        per_word = torch.randn(n, length, dim, generator=g) * 0.5
        frame_lengths = sizes(frames, max(1, frames // 3))
        frame_values = torch.randn(n, frames, frames_dim, generator=g) * 0.5
        if signal == m:
            if dim:
                per_word[:, :, 0] += z.unsqueeze(1)
            if frames_dim:
                frame_values[:, :, 0] += z.unsqueeze(1)
        frame_mask = (torch.arange(frames).unsqueeze(0) < frame_lengths.unsqueeze(1)).unsqueeze(-1)
        batch[m] = per_word * words  # zero at special and padding positions (the tokens contract)
        batch[f"{m}_frames"] = frame_values * frame_mask
        batch[f"{m}_frame_lengths"] = frame_lengths
    return batch


def trimodal_meta(batch: dict) -> dict:
    """The tokens meta (feature widths) describing a `make_trimodal_batch` batch."""
    return {"audio_dim": batch["audio"].shape[-1], "vision_dim": batch["vision"].shape[-1],
            "audio_frames_dim": batch["audio_frames"].shape[-1], "vision_frames_dim": batch["vision_frames"].shape[-1]}
