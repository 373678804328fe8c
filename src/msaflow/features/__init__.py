"""Acoustic feature extraction (frame level), word-level averaging, computational sequences, exports.

Feature sets share one contract: `extract(signal, sample_rate) -> FrameFeatures` with frames on a
10 ms grid (frame i covers [i*0.01, (i+1)*0.01) s) and per-column metadata (name, method, quality).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HOP_S = 0.01  # 10 ms grid, as COVAREP in the CMU-MultimodalSDK releases
QUALITIES = ("exact-method", "approximation", "substitute")


@dataclass(frozen=True)
class Column:
    name: str
    method: str
    quality: str  # one of QUALITIES
    nan_when: str = ""  # when the column is NaN at frame level ("" = never)

    def as_dict(self) -> dict:
        return {"name": self.name, "method": self.method, "quality": self.quality, "nan_when": self.nan_when}


@dataclass
class FrameFeatures:
    features: np.ndarray  # (T, D) float32, NaN where undefined (see Column.nan_when)
    intervals: np.ndarray  # (T, 2) float64 seconds
    notes: list[str] = field(default_factory=list)


def frame_grid(n_samples: int, sample_rate: int, hop_s: float = HOP_S) -> tuple[np.ndarray, np.ndarray]:
    """Frame centres and [start, end) intervals of the 10 ms grid covering a signal.

    The number of frames is ceil(duration / hop) so the last partial hop still gets a frame
    (a word at the very end of an utterance must find a frame).
    """
    duration = n_samples / float(sample_rate)
    n_frames = max(1, int(np.ceil(duration / hop_s - 1e-9)))
    starts = np.arange(n_frames) * hop_s
    intervals = np.stack([starts, starts + hop_s], axis=1)
    return starts + hop_s / 2, intervals
