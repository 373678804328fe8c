"""Word-level build: frame features + word intervals -> word means, column subset, z-norm, fill.

Order of operations (the documented fill step):
  1. word means (`word_average.average`, mode nanmean by default; mean = CMU semantics);
  2. column subset by name (config `words.columns`, named presets in `words.presets`);
  3. z-normalisation per column, statistics fitted on the train split's words only (nan-aware),
     stored in the output metadata (`znorm`: mean, std, fitted_on, n_words);
  4. NaN (column undefined in every frame of the word) -> `fill_value` (0 = the train mean
     after z-normalisation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from msaflow.common import MsaflowError
from msaflow.features import word_average


@dataclass
class WordTable:
    words: list[str]
    intervals: np.ndarray  # (n, 2)


def group_alignment(rows: list[dict], source: str) -> dict[str, WordTable]:
    """Align-table rows -> per utterance words and intervals in word_index order (validated)."""
    by_uid: dict[str, list[tuple[int, str, float, float]]] = {}
    for row in rows:
        uid = row["utterance_id"]
        try:
            entry = (int(row["word_index"]), row["word"], float(row["start"]), float(row["end"]))
        except (KeyError, ValueError) as error:
            raise MsaflowError(f"{source}: utterance {uid!r}: bad word row {row} ({error})") from None
        by_uid.setdefault(uid, []).append(entry)
    out = {}
    for uid, entries in by_uid.items():
        entries.sort()
        idx = [e[0] for e in entries]
        if idx != list(range(len(idx))):
            raise MsaflowError(f"{source}: utterance {uid!r}: word_index is not 0..n-1 (got {idx[:10]}...)")
        intervals = np.array([[e[2], e[3]] for e in entries], dtype=np.float64)
        if np.any(intervals[:, 1] < intervals[:, 0]):
            raise MsaflowError(f"{source}: utterance {uid!r}: a word ends before it starts")
        out[uid] = WordTable([e[1] for e in entries], intervals)
    return out


def resolve_columns(spec, all_names: list[str], presets: dict[str, list[str]]) -> list[int]:
    """'all' | preset name | list of names -> column indices (in the requested order)."""
    if spec in (None, "all"):
        return list(range(len(all_names)))
    names = presets.get(spec) if isinstance(spec, str) else list(spec)
    if names is None:
        raise MsaflowError(f"unknown column preset {spec!r} (known: {', '.join(presets) or 'none'})")
    index = {n: i for i, n in enumerate(all_names)}
    missing = [n for n in names if n not in index]
    if missing:
        raise MsaflowError(f"columns {missing} are not in this feature set (has {all_names[:6]}...)")
    return [index[n] for n in names]


def fit_znorm(blocks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    if not blocks:
        raise MsaflowError("z-normalisation: no train-split words to fit on")
    stacked = np.concatenate(blocks, axis=0).astype(np.float64)
    with np.errstate(invalid="ignore"):
        count = np.sum(~np.isnan(stacked), axis=0)
        mean = np.where(count > 0, np.nansum(stacked, axis=0) / np.maximum(count, 1), 0.0)
        var = np.where(count > 0, np.nansum((stacked - mean) ** 2, axis=0) / np.maximum(count, 1), 1.0)
    std = np.sqrt(var)
    std = np.where((std > 1e-8) & np.isfinite(std), std, 1.0)  # constant column: centre only
    return mean, std, int(stacked.shape[0])


def apply(features: np.ndarray, mean: np.ndarray | None, std: np.ndarray | None, fill_value: float) -> np.ndarray:
    out = features.astype(np.float64)
    if mean is not None:
        out = (out - mean) / std
    out = np.where(np.isnan(out), fill_value, out)
    return out.astype(np.float32)


def word_means(frame_features: np.ndarray, frame_intervals: np.ndarray, table: WordTable,
               mode: str, fill_value: float, column_idx: list[int]) -> np.ndarray:
    means = word_average.average(frame_features, frame_intervals, table.intervals, mode=mode, fill_value=fill_value)
    return means[:, column_idx]
