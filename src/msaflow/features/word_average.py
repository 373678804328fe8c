"""Word-level averaging of frame features with CMU-MultimodalSDK alignment semantics, vectorised.

mmsdk's `mmdataset.align` (collapse function = mean) takes, for each word interval [ws, we], every
frame [fs, fe] whose overlap with the word, min(fe, we) - max(fs, ws), is larger than `epsilon`
(`__intersect_and_copy`), and averages them. Its module constant differs between releases: the
PyPI release cmu-multimodal-sdk 0.0.6 has `epsilon=10e-4` (1 ms), GitHub master `epsilon=10e-6`
(10 us); both also skip every word shorter than `epsilon`. We follow master: EPSILON = 1e-5 s.
With 10 ms frames the two select the same frames except a frame that overlaps the word by 10 us
to 1 ms (0.0.6 leaves it out), and 0.0.6 loses every word shorter than 1 ms.

Where we differ from mmsdk (both releases), so that every word of the align table keeps its row:
  * mmsdk skips a word shorter than `epsilon` (no aligned entry in any modality, so the word
    disappears from the aligned data). Here a word of length <= 2 * epsilon takes the frame that
    contains its start.
  * a word that overlaps no frame (beyond the end of the features, or in a gap) has no entry in
    mmsdk (dropped by `unify`, or zeros after `impute`); here it gets `fill_value`.
  * non-finite frame values (NaN, +-inf) are undefined values here (mmsdk's mean would propagate
    them into the word; a prefix sum would let one inf poison every later word of the column).
Modes:
  * "mean"    : mmsdk's plain mean over the selected frames, with undefined (non-finite) frame
                values first replaced by `fill_value` (COVAREP wrote 0 for undefined values, so
                fill_value=0 reproduces the released data).
  * "nanmean" : mean over the frames where the column is defined (our default); a word whose
                frames are all undefined in a column stays NaN and is filled at the end of the
                words stage (after z-normalisation), the documented fill step.
Implementation: frames are sorted, so for each word the overlapping frames are a contiguous
range [lo, hi) found with searchsorted; sums come from prefix sums (cumsum) -> no Python loop
over words.
"""

from __future__ import annotations

import warnings

import numpy as np

EPSILON = 1e-5
MODES = ("mean", "nanmean")


def frame_ranges(frame_intervals: np.ndarray, word_intervals: np.ndarray, epsilon: float = EPSILON) -> tuple[np.ndarray, np.ndarray]:
    """For each word, the [lo, hi) range of frames with overlap > epsilon (frames sorted, non-overlapping ends)."""
    f_start = frame_intervals[:, 0]
    f_end = frame_intervals[:, 1]
    w_start = word_intervals[:, 0]
    w_end = word_intervals[:, 1]
    # overlap = min(fe, we) - max(fs, ws) > eps  <=>  fe > ws + eps and fs < we - eps (for fe-fs > eps)
    lo = np.searchsorted(f_end, w_start + epsilon, side="right")
    hi = np.searchsorted(f_start, w_end - epsilon, side="left")
    # a word shorter than 2*eps: the frame containing its start
    short = (w_end - w_start) <= 2 * epsilon
    if short.any():
        idx = np.clip(np.searchsorted(f_start, w_start[short], side="right") - 1, 0, max(len(f_start) - 1, 0))
        inside = (len(f_start) > 0) & (f_start[idx] <= w_start[short]) & (w_start[short] <= f_end[idx])
        lo[short] = np.where(inside, idx, 0)
        hi[short] = np.where(inside, idx + 1, 0)
    hi = np.maximum(hi, lo)
    return lo, hi


def undefined_as_nan(features) -> np.ndarray:
    """float64 copy of the frame features with every non-finite value (NaN, +-inf) as NaN."""
    features = np.asarray(features, dtype=np.float64)
    return np.where(np.isfinite(features), features, np.nan)


def average(features: np.ndarray, frame_intervals: np.ndarray, word_intervals: np.ndarray,
            mode: str = "nanmean", fill_value: float = 0.0, epsilon: float = EPSILON) -> np.ndarray:
    """(n_words x D) word means of (T x D) frame features. See the module docstring for semantics."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    features = undefined_as_nan(features)
    word_intervals = np.asarray(word_intervals, dtype=np.float64).reshape(-1, 2)
    n_words, dim = len(word_intervals), features.shape[1]
    if n_words == 0:
        return np.zeros((0, dim), np.float32)
    if len(features) == 0:
        return np.full((n_words, dim), fill_value, np.float32)
    order = np.argsort(frame_intervals[:, 0], kind="stable")
    if not np.all(order == np.arange(len(order))):
        features, frame_intervals = features[order], frame_intervals[order]
    lo, hi = frame_ranges(frame_intervals, word_intervals, epsilon)
    count_frames = (hi - lo).astype(np.float64)[:, None]
    if mode == "mean":
        values = np.where(np.isnan(features), fill_value, features)
        csum = np.vstack([np.zeros((1, dim)), np.cumsum(values, axis=0)])
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (csum[hi] - csum[lo]) / count_frames
        out[count_frames[:, 0] == 0] = fill_value
    else:
        defined = ~np.isnan(features)
        csum = np.vstack([np.zeros((1, dim)), np.cumsum(np.where(defined, features, 0.0), axis=0)])
        ccount = np.vstack([np.zeros((1, dim)), np.cumsum(defined, axis=0)])
        n = ccount[hi] - ccount[lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (csum[hi] - csum[lo]) / n
        out[n == 0] = np.nan  # no defined frame: left for the documented fill step
        out[count_frames[:, 0] == 0] = fill_value  # no frame at all: CMU semantics, fill value
    return out.astype(np.float32)


def average_reference(features, frame_intervals, word_intervals, mode="nanmean", fill_value=0.0, epsilon=EPSILON):
    """Loop implementation of the same semantics, for tests only (slow, obviously correct)."""
    features = undefined_as_nan(features)
    out = np.empty((len(word_intervals), features.shape[1]))
    for i, (ws, we) in enumerate(word_intervals):
        if we - ws <= 2 * epsilon:
            sel = [j for j, (fs, fe) in enumerate(frame_intervals) if fs <= ws <= fe][:1]
        else:
            sel = [j for j, (fs, fe) in enumerate(frame_intervals) if min(fe, we) - max(fs, ws) > epsilon]
        if not sel:
            out[i] = fill_value
            continue
        block = features[sel]
        if mode == "mean":
            out[i] = np.where(np.isnan(block), fill_value, block).mean(axis=0)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column -> NaN, as intended
                out[i] = np.nanmean(block, axis=0)
    return out.astype(np.float32)
