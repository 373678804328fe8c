"""`egemaps` (eGeMAPSv02 LLD, 25 columns) and `compare` (ComParE_2016 LLD, 65 columns) via opensmile.

opensmile frames have their own windows (20 ms / 60 ms for eGeMAPS, 20-60 ms for ComParE) at a
10 ms hop; each of our 10 ms grid frames takes the opensmile frame whose window centre is nearest
to the grid frame's centre (`nearest_frames`). Both grids have a 10 ms hop but are offset by half a
hop (opensmile's centres lie on multiples of 10 ms, ours in between), so every grid centre is
exactly halfway between two opensmile centres: the tie goes to the later frame, decided with a
tolerance so that floating-point noise in the timestamps cannot flip it (it did: ~10 % of the
frames were duplicated or skipped). For eGeMAPS, grid frame k thus takes the opensmile frame that
starts at the same time, k * 10 ms. opensmile writes 0 where a voicing-dependent LLD is undefined
(`*_sma3nz` in eGeMAPS; F0final, jitter, shimmer in ComParE); those zeros become NaN here, like
the unvoiced frames of covarep_like, and are filled at the words stage.
"""

from __future__ import annotations

import functools
import importlib.metadata

import numpy as np

from msaflow.common import MsaflowError
from msaflow.features import HOP_S, Column, FrameFeatures, frame_grid

SETS = {
    "egemaps": ("eGeMAPSv02", 25),
    "compare": ("ComParE_2016", 65),
}
COMPARE_ZERO_MEANS_UNVOICED = ("F0final_sma", "jitterLocal_sma", "jitterDDP_sma", "shimmerLocal_sma")


@functools.lru_cache(maxsize=4)
def _smile(fset: str):
    import opensmile

    feature_set = getattr(opensmile.FeatureSet, SETS[fset][0])
    return opensmile.Smile(feature_set=feature_set, feature_level=opensmile.FeatureLevel.LowLevelDescriptors)


def _unvoiced_zero(fset: str, name: str) -> bool:
    return name.endswith("_sma3nz") if fset == "egemaps" else name in COMPARE_ZERO_MEANS_UNVOICED


@functools.lru_cache(maxsize=4)
def columns(fset: str) -> list[Column]:
    names = list(_smile(fset).feature_names)
    if len(names) != SETS[fset][1]:
        raise MsaflowError(f"opensmile {SETS[fset][0]} LLD has {len(names)} columns, expected {SETS[fset][1]}")
    method = f"opensmile {SETS[fset][0]} LowLevelDescriptors (opensmile {settings(fset)['libraries']['opensmile']})"
    return [
        Column(n, method, "exact-method", "unvoiced frame (opensmile writes 0)" if _unvoiced_zero(fset, n) else "")
        for n in names
    ]


def settings(fset: str) -> dict:
    return {"feature_set": SETS[fset][0], "level": "LowLevelDescriptors", "hop_s": HOP_S,
            "libraries": {"opensmile": importlib.metadata.version("opensmile")}}


TIE_TOLERANCE_S = 1e-7  # far below one sample (62.5 us at 16 kHz), far above timestamp rounding noise


def nearest_frames(grid_centres: np.ndarray, smile_centres: np.ndarray) -> np.ndarray:
    """For each grid centre, the index of the nearest opensmile centre (sorted); an exact tie, up to
    TIE_TOLERANCE_S, goes to the later opensmile frame."""
    last = len(smile_centres) - 1
    right = np.clip(np.searchsorted(smile_centres, grid_centres - TIE_TOLERANCE_S, side="left"), 0, last)
    left = np.maximum(right - 1, 0)
    left_is_nearer = (grid_centres - smile_centres[left]) < (smile_centres[right] - grid_centres) - TIE_TOLERANCE_S
    return np.where(left_is_nearer, left, right)


def extract(x: np.ndarray, sr: int, fset: str) -> FrameFeatures:
    if fset not in SETS:
        raise MsaflowError(f"unknown opensmile feature set {fset!r} (known: {', '.join(SETS)})")
    x = np.asarray(x, dtype=np.float32)
    centres, intervals = frame_grid(len(x), sr)
    cols = columns(fset)
    # opensmile needs a few windows of signal; pad short clips with silence (frames stay ours)
    min_len = int(0.1 * sr)
    padded = np.concatenate([x, np.zeros(min_len - len(x), np.float32)]) if len(x) < min_len else x
    frame = _smile(fset).process_signal(padded, sr)
    values = frame.to_numpy(dtype=np.float64)
    starts = frame.index.get_level_values("start").total_seconds().to_numpy()
    ends = frame.index.get_level_values("end").total_seconds().to_numpy()
    notes = []
    if len(values) == 0:
        notes.append("opensmile returned no frame: all columns NaN")
        return FrameFeatures(np.full((len(centres), len(cols)), np.nan, np.float32), intervals, notes)
    out = values[nearest_frames(centres, (starts + ends) / 2)]
    for j, col in enumerate(cols):
        if col.nan_when:
            out[out[:, j] == 0, j] = np.nan
    return FrameFeatures(out.astype(np.float32), intervals, notes)
