"""`egemaps` (eGeMAPSv02 LLD, 25 columns) and `compare` (ComParE_2016 LLD, 65 columns) via opensmile.

opensmile frames have their own windows (20 ms / 60 ms for eGeMAPS, 20-60 ms for ComParE) at a
10 ms hop; each of our 10 ms grid frames takes the opensmile frame whose window centre is nearest
to the grid frame's centre. opensmile writes 0 where a voicing-dependent LLD is undefined
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
    smile_centres = (starts + ends) / 2
    pos = np.clip(np.searchsorted(smile_centres, centres), 1, max(len(smile_centres) - 1, 1))
    left = np.maximum(pos - 1, 0)
    right = np.minimum(pos, len(smile_centres) - 1)
    nearest = np.where(np.abs(centres - smile_centres[left]) <= np.abs(smile_centres[right] - centres), left, right)
    out = values[nearest]
    for j, col in enumerate(cols):
        if col.nan_when:
            out[out[:, j] == 0, j] = np.nan
    return FrameFeatures(out.astype(np.float32), intervals, notes)
