"""Unaligned frame sequences for the tokens file (DESIGN §3: `audio_frames`, `vision_frames`).

Models that read unaligned input (SenBERT, MHMF) get, per utterance, the frame-level features of
the acoustic and visual stages resampled to one common rate, padded, with lengths:

1. read the frame-level file (`acoustic/{fset}/{shard}.h5`, `visual/{vset}/{shard}.h5`, SDK
   layout) of the utterances that will be tokenised;
2. resample to `rate` Hz: frame i (midpoint m_i of its interval, seconds from the utterance
   start) falls into window floor(m_i * rate); each window is the nan-aware mean of its frames
   (a column with no finite value in a window stays NaN there; a window without any finite value
   is "not valid", e.g. no face in any of its video frames, or a gap between frames);
3. cap at `max_frames` windows (the first ones; counted and noted in QC);
4. z-normalise each column with the train split's windows (nan-aware mean and std; a column
   without variance keeps std 1), then set every non-finite value to 0 (= the train mean);
5. pad to the longest sequence of the split: `{m}_frames` (N x T x D, float16 or float32),
   `{m}_frame_lengths` (N, int64), `{m}_frames_valid` (N x T, bool; False at padding and at
   windows that held no finite value).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from msaflow.common import MsaflowError, progress

FRAME_DTYPES = ("float16", "float32")
_EDGE_EPS = 1e-9  # a midpoint exactly on a window edge belongs to the later window despite rounding


@dataclass
class FrameSequence:
    """One utterance's resampled frames before normalisation."""

    values: np.ndarray  # (W x D) float32, NaN where undefined
    valid: np.ndarray  # (W,) bool: the window held at least one finite value
    n_windows: int  # windows before the max_frames cap

    @property
    def cut(self) -> bool:
        return self.n_windows > len(self.values)


@dataclass
class FrameInputs:
    """Settings and per-utterance data of the frame sequences for the tokens stage.

    `audio` / `vision`: {utterance_id: FrameSequence} already resampled, or None when that
    modality has no frame file (then its frame keys are absent and `{m}_frames_dim` is 0).
    """

    rate: float = 20.0
    max_frames: int = 500
    dtype: str = "float16"
    audio: dict | None = None
    vision: dict | None = None
    audio_dim: int = 0
    vision_dim: int = 0
    # "speaker": each speaker's own statistics before the train split's (msaflow.normalization)
    znorm: str = "train"
    speaker_min_utterances: int = 5
    speakers: dict | None = None  # {utterance_id: speaker}, needed for "speaker"


def resample(features: np.ndarray, intervals: np.ndarray, rate: float, max_frames: int) -> FrameSequence:
    """(T x D) frames with (T x 2) intervals in seconds -> windows of 1/rate s (nan-aware means)."""
    if rate <= 0:
        raise MsaflowError(f"tokens.frame_rate must be positive, got {rate}")
    if max_frames < 1:
        raise MsaflowError(f"tokens.max_frames must be at least 1, got {max_frames}")
    features = np.asarray(features, dtype=np.float64)
    intervals = np.asarray(intervals, dtype=np.float64)
    if features.ndim != 2 or intervals.shape != (len(features), 2):
        raise MsaflowError(f"frames {features.shape} / intervals {intervals.shape} are not T x D / T x 2")
    n, dim = features.shape
    if n == 0:
        return FrameSequence(np.zeros((0, dim), np.float32), np.zeros(0, bool), 0)
    mid = np.clip(intervals.mean(axis=1), 0.0, None)
    if not np.isfinite(mid).all():
        raise MsaflowError("frame intervals hold non-finite times")
    window = np.floor(mid * rate + _EDGE_EPS).astype(np.int64)
    n_windows = int(window.max()) + 1
    kept = min(n_windows, max_frames)
    inside = window < kept
    window, features = window[inside], features[inside]
    finite = np.isfinite(features)
    flat = (window[:, None] * dim + np.arange(dim)[None, :])[finite]
    sums = np.bincount(flat, weights=features[finite], minlength=kept * dim).reshape(kept, dim)
    counts = np.bincount(flat, minlength=kept * dim).reshape(kept, dim)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).astype(np.float32)
    return FrameSequence(values, counts.sum(axis=1) > 0, n_windows)


def read_frame_files(paths: Iterable, wanted: set[str], rate: float, max_frames: int, what: str):
    """Resampled sequences of the `wanted` utterances found in the shard files.

    Returns ({utterance_id: FrameSequence}, column names, metadata of the first file). Reads one
    shard at a time so that only the resampled copies (5x smaller at 20 Hz for 10 ms frames) are
    held in memory for the whole dataset.
    """
    from msaflow.features.csd import read_csd

    out: dict[str, FrameSequence] = {}
    columns, metadata = None, {}
    for path in paths:
        entries, meta = read_csd(path)
        ids = sorted(set(entries) & wanted)
        names = meta.get("column names")
        if not isinstance(names, list):
            raise MsaflowError(f"{path}: metadata lacks 'column names'; not a frame-level feature file")
        if columns is None:
            columns, metadata = list(names), meta
        elif list(names) != columns:
            raise MsaflowError(f"{path}: its {what} columns differ from the other shards' ({names[:3]}... vs {columns[:3]}...); "
                               "rebuild the feature files with one setting")
        for uid in progress(ids, desc=f"{what} frames {path}", total=len(ids)):
            feats, intervals = entries.pop(uid)
            if feats.shape[1] != len(columns):
                raise MsaflowError(f"{path}: utterance {uid!r} has {feats.shape[1]} columns, metadata names {len(columns)}")
            out[uid] = resample(feats, intervals, rate, max_frames)
    return out, columns or [], metadata


def fit_znorm(sequences: Iterable[FrameSequence], dim: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-column nan-aware mean and std over all windows of `sequences` (the train split).

    A column without a finite value gets mean 0; a column with std 0 (or undefined) gets std 1.
    Returns (mean, std, number of windows).
    """
    total = np.zeros(dim)
    total_sq = np.zeros(dim)
    count = np.zeros(dim)
    windows = 0
    for seq in sequences:
        v = seq.values.astype(np.float64)
        finite = np.isfinite(v)
        v = np.where(finite, v, 0.0)
        total += v.sum(0)
        total_sq += (v * v).sum(0)
        count += finite.sum(0)
        windows += len(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
        var = np.where(count > 1, (total_sq - count * mean**2) / np.maximum(count - 1, 1), 0.0)
    std = np.sqrt(np.clip(var, 0.0, None))
    std = np.where(np.isfinite(std) & (std > 1e-8 * np.maximum(1.0, np.abs(mean))), std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32), windows


def stack(sequences: list[FrameSequence | None], dim: int, mean: np.ndarray, std: np.ndarray, dtype: str = "float16"):
    """Normalise and pad one split: (frames N x T x D, lengths N, valid N x T) as torch tensors.

    `None` stands for a missing sequence (only with `vision_missing: zero`): one zero window, not
    valid, so that no model meets an empty sequence.
    """
    import torch

    if dtype not in FRAME_DTYPES:
        raise MsaflowError(f"tokens.frame_dtype must be one of {FRAME_DTYPES}, got {dtype!r}")
    limit = float(np.finfo(np.dtype(dtype)).max)
    lengths = np.array([1 if s is None else max(1, len(s.values)) for s in sequences], dtype=np.int64)
    longest = int(lengths.max()) if len(lengths) else 1
    frames = np.zeros((len(sequences), longest, dim), dtype=np.dtype(dtype))
    valid = np.zeros((len(sequences), longest), dtype=bool)
    for i, seq in enumerate(sequences):
        if seq is None or len(seq.values) == 0:
            continue
        z = (seq.values - mean) / std
        # float16 holds |x| <= 65504: a wild outlier must not become inf
        frames[i, : len(z)] = np.clip(np.where(np.isfinite(z), z, 0.0), -limit, limit)
        valid[i, : len(z)] = seq.valid
    return torch.from_numpy(frames), torch.from_numpy(lengths), torch.from_numpy(valid)


def cut_note(modality: str, seq: FrameSequence, rate: float) -> str:
    kept = len(seq.values)
    return (f"{modality} frames cut: kept {kept} of {seq.n_windows} windows "
            f"({kept / rate:.1f} s of {seq.n_windows / rate:.1f} s at {rate:g} Hz)")


def storage_bytes(n: int, frames: int, dim: int, dtype: str) -> int:
    """Bytes of one padded frame tensor (for the memory note in docs and logs)."""
    return int(n * frames * dim * np.dtype(dtype).itemsize)
