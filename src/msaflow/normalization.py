"""Per-speaker z-normalisation of the non-text features (word-level averages and frame sequences).

Why: a speaker's own pitch, loudness, speaking rate and face shift the level of every column. A
model fitted on a few training speakers learns those levels as if they were sentiment and then
meets other levels on unseen speakers (measured on the demo: LF-BERT predicted better with its
audio zeroed than with it; docs/models.md). Normalising each speaker by their own statistics keeps
the variation *within* a speaker, which is where prosody and expression live. It uses no label,
only the speaker's features (all of their utterances, any split), as speaker normalisation in
speech emotion recognition does.

A speaker is the manifest's `speaker` column where a corpus has one, else the video (one speaker
per video in CMU-MOSI/MOSEI). A speaker with fewer than `min_utterances` utterances, and any
column a speaker never defines (or defines fewer than twice), falls back to the train split's
statistics of the raw values, so that a lone clip is not normalised away to zero. `msaflow
predict` sees one clip, i.e. always the fallback (documented in docs/models.md).

After this step the usual train-split z-normalisation runs as before (close to identity here);
`words_build` and `frames` keep doing that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from msaflow.common import MsaflowError

SCOPES = ("speaker", "train", "none")


def scope_of(value) -> str:
    """Config value -> scope; booleans are the older `words.znorm: true|false`."""
    if value is True:
        return "train"
    if value is False or value is None:
        return "none"
    if value not in SCOPES:
        raise MsaflowError(f"words.znorm must be one of {', '.join(SCOPES)} (or true/false), got {value!r}")
    return value


def speaker_of(row: Mapping) -> str:
    """The speaker of a manifest row: its `speaker` column when set, else its video."""
    return str(row.get("speaker") or row["video_id"])


def nan_stats(blocks: Iterable[np.ndarray], dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: mean, population std and count of the finite values of all rows of `blocks`."""
    total = np.zeros(dim)
    total_sq = np.zeros(dim)
    count = np.zeros(dim)
    for block in blocks:
        v = np.asarray(block, dtype=np.float64).reshape(-1, dim)
        finite = np.isfinite(v)
        v = np.where(finite, v, 0.0)
        total += v.sum(0)
        total_sq += (v * v).sum(0)
        count += finite.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
        var = np.where(count > 0, total_sq / np.maximum(count, 1) - mean**2, 0.0)
    std = np.sqrt(np.clip(var, 0.0, None))
    return mean, std, count


def _usable_std(std: np.ndarray, mean: np.ndarray) -> np.ndarray:
    return np.isfinite(std) & (std > 1e-8 * np.maximum(1.0, np.abs(mean)))


@dataclass
class SpeakerNorm:
    """Fitted per-speaker statistics; `apply` maps one utterance's rows into speaker z-space."""

    fallback_mean: np.ndarray
    fallback_std: np.ndarray
    by_speaker: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    fallback_speakers: list[str] = field(default_factory=list)
    min_utterances: int = 5

    def apply(self, speaker: str | None, values: np.ndarray) -> np.ndarray:
        mean, std = self.by_speaker.get(speaker, (self.fallback_mean, self.fallback_std))
        return ((np.asarray(values, dtype=np.float64) - mean) / std).astype(np.float32)

    def metadata(self) -> dict:
        return {"min_utterances": self.min_utterances, "n_speakers": len(self.by_speaker),
                "fallback_speakers": sorted(self.fallback_speakers),
                "fallback_fitted_on": "train", "fallback_mean": [float(v) for v in self.fallback_mean],
                "fallback_std": [float(v) for v in self.fallback_std]}

    @classmethod
    def from_metadata(cls, meta: Mapping) -> SpeakerNorm:
        """The fallback only: what `msaflow predict` applies to a clip of an unknown speaker."""
        return cls(np.asarray(meta["fallback_mean"], np.float64), np.asarray(meta["fallback_std"], np.float64),
                   min_utterances=int(meta.get("min_utterances", 5)))


def fit_speaker_norm(values: Mapping[str, np.ndarray], speakers: Mapping[str, str], train_ids: Iterable[str],
                     dim: int, min_utterances: int = 5) -> SpeakerNorm:
    """Statistics per speaker over `values` ({utterance: rows x dim}, NaN = undefined).

    `speakers` maps every utterance of `values` to its speaker; `train_ids` gives the fallback's
    utterances (train split). A column a speaker defines fewer than twice, or holds constant, takes
    the fallback's mean/std for that speaker.
    """
    if min_utterances < 1:
        raise MsaflowError(f"speaker normalisation: min_utterances must be >= 1, got {min_utterances}")
    missing = [u for u in values if u not in speakers]
    if missing:
        raise MsaflowError(f"speaker normalisation: utterance {missing[0]!r} has no speaker (manifest video_id/speaker)")
    train = [values[u] for u in train_ids if u in values]
    if not train:
        raise MsaflowError("speaker normalisation: no train-split utterance to fit the fallback statistics on")
    fb_mean, fb_std, fb_count = nan_stats(train, dim)
    fb_mean = np.where(fb_count > 0, fb_mean, 0.0)
    fb_std = np.where(_usable_std(fb_std, fb_mean), fb_std, 1.0)
    norm = SpeakerNorm(fb_mean, fb_std, min_utterances=min_utterances)
    groups: dict[str, list[np.ndarray]] = {}
    for uid in sorted(values):
        groups.setdefault(speakers[uid], []).append(values[uid])
    for speaker, blocks in sorted(groups.items()):
        if len(blocks) < min_utterances:
            norm.fallback_speakers.append(speaker)
            continue
        mean, std, count = nan_stats(blocks, dim)
        own = count >= 2
        mean = np.where(own, mean, fb_mean)
        std = np.where(own & _usable_std(std, mean), std, fb_std)
        norm.by_speaker[speaker] = (mean, std)
    return norm
