"""Proportional fallback timing when no engine can align an utterance.

The words are spread over the detected speech region (energy-based) in proportion to their
length in letters, so the timings are rough but ordered, inside the speech, and complete:
downstream stages still get one interval per word, and QC says `fallback` with the reason.
"""

from __future__ import annotations

import numpy as np

from msaflow.align.types import FALLBACK_SOURCE, WordInterval
from msaflow.text import is_nonspeech_marker

FRAME_S = 0.025
HOP_S = 0.010
MIN_DYNAMIC_RANGE_DB = 6.0  # below this the file has no speech/silence contrast to find


def frame_energies_db(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log energy of 25 ms frames every 10 ms (dB re full scale of int16)."""
    x = samples.astype(np.float64) / 32768.0
    frame, hop = int(FRAME_S * sample_rate), int(HOP_S * sample_rate)
    if len(x) < frame:
        return np.array([10 * np.log10(np.mean(x**2) + 1e-12)]) if len(x) else np.array([])
    n = 1 + (len(x) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    return 10 * np.log10(np.mean(x[idx] ** 2, axis=1) + 1e-12)


def detect_speech_region(samples: np.ndarray, sample_rate: int, pad_s: float = 0.03) -> tuple[float, float]:
    """First to last frame whose energy rises clearly above the noise floor.

    The threshold sits a quarter of the way from the floor (10th percentile) to the peak (99th
    percentile), robust to both loud noise floors and quiet speakers. Without enough contrast
    the whole file is returned.
    """
    duration = len(samples) / sample_rate
    energies = frame_energies_db(samples, sample_rate)
    if energies.size == 0:
        return 0.0, duration
    floor, peak = np.percentile(energies, 10), np.percentile(energies, 99)
    if peak - floor < MIN_DYNAMIC_RANGE_DB:
        return 0.0, duration
    active = np.flatnonzero(energies > floor + 0.25 * (peak - floor))
    start = max(0.0, active[0] * HOP_S - pad_s)
    end = min(duration, active[-1] * HOP_S + FRAME_S + pad_s)
    return start, end


def word_weight(word: str) -> float:
    """Share of time a word gets: its letters (at least one); a pause marker gets one letter's worth."""
    if is_nonspeech_marker(word):
        return 1.0
    return float(max(1, sum(c.isalnum() for c in word)))


def distribute(words: list[str], start: float, end: float, source: str = FALLBACK_SOURCE) -> list[WordInterval]:
    """Consecutive intervals covering [start, end], lengths proportional to `word_weight`."""
    if not words:
        return []
    weights = np.array([word_weight(w) for w in words])
    edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return [WordInterval(w, float(a), float(b), source) for w, a, b in zip(words, edges[:-1], edges[1:], strict=False)]


def fallback_intervals(words: list[str], samples: np.ndarray, sample_rate: int) -> list[WordInterval]:
    start, end = detect_speech_region(samples, sample_rate)
    return distribute(words, start, end)
