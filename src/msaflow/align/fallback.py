"""Proportional fallback timing when no engine can align an utterance.

The words are spread over the detected speech region (energy-based) in proportion to their
length in letters, so the timings are rough but ordered, inside the speech, and complete:
downstream stages still get one interval per word, and QC says `fallback` with the reason.
"""

from __future__ import annotations

import numpy as np

from msaflow.align.types import FALLBACK_SOURCE, WordInterval
from msaflow.align.vad import speech_activity, speech_region
from msaflow.text import is_nonspeech_marker


def detect_speech_region(samples: np.ndarray, sample_rate: int, pad_s: float = 0.03) -> tuple[float, float]:
    """First to last frame whose energy rises clearly above the noise floor (see `vad.speech_region`).

    The threshold sits a quarter of the way from the floor (10th percentile) to the peak (99th
    percentile), robust to both loud noise floors and quiet speakers. Without enough contrast
    the whole file is returned.
    """
    return speech_region(speech_activity(samples, sample_rate), pad_s)


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
