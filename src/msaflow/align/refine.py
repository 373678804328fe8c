"""Boundary refinement: move each engine word onset to the acoustic event next to it.

pocketsphinx places boundaries on a 10 ms frame grid with 25 ms analysis windows, and its
models do not know where silence ends: after a pause it tends to start a word early (the
silence before a stop burst looks like the stop's closure), and a clip that starts almost with
speech gets its first word at 0.0 s. Two signal rules, each confined to a few tens of
milliseconds around the engine's boundary:

1. Onset after silence (energy). If a stretch of at least `MIN_SILENCE_S` lies within
   `SILENCE_MARGIN_DB` of the utterance's noise floor and the energy then rises by at least
   `MIN_RISE_DB` above the floor within 30 ms, the speech starts at that rise; the onset moves
   there if the rise lies between 30 ms before and 80 ms after the engine's onset. Only in
   recordings with at least `MIN_CONTRAST_DB` between floor and peak: in noisy audio weak
   onsets (/f/, /h/) sink below the noise and the energy cannot be trusted.
2. Onset between two words that touch (spectral change). The boundary moves to the largest
   change of the log-mel spectrum (mean absolute difference 10 ms either side) within
   `FLUX_RANGE_S`, weighted by a Gaussian of width `FLUX_SIGMA_S` around the engine's
   boundary, so the engine's estimate stays the prior and the signal only sharpens it. The
   previous word's end moves with it.

Measured on the benchmark (benchmarks/bench_align.py, docs/alignment.md): the energy rule is
what brings synthetic speech below 20 ms and the praatio clips' mean from 30 to 26 ms; the
spectral rule gains 1-2 ms on connected speech. Neither changes the MFA-referenced clips.
"""

from __future__ import annotations

import numpy as np

from msaflow.align.types import EngineWord
from msaflow.align.vad import SpeechActivity, frame_power_db, runs

ENV_WINDOW_S = 0.010
ENV_HOP_S = 0.0025
MIN_CONTRAST_DB = 25.0
SILENCE_MARGIN_DB = 4.0
MIN_SILENCE_S = 0.03
MIN_RISE_DB = 25.0
RISE_WINDOW_S = 0.03
MAX_BACK_S = 0.03
MAX_FORWARD_S = 0.08
ABUTTING_GAP_S = 0.015
MIN_WORD_S = 0.01
FLUX_RANGE_S = 0.02
FLUX_SIGMA_S = 0.01
FLUX_HALF_SPAN_S = 0.01
MEL_WINDOW_S = 0.020
MEL_HOP_S = 0.005
MEL_BANDS = 24


def fine_energy_db(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Energy of 10 ms windows every 2.5 ms (dBFS); window i starts at i * 2.5 ms."""
    return frame_power_db(samples, sample_rate, ENV_WINDOW_S, ENV_HOP_S)


def _mel_filterbank(sample_rate: int, n_fft: int) -> np.ndarray:
    def mel(hz):
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = hz(np.linspace(mel(100.0), mel(min(7000.0, sample_rate / 2 - 100)), MEL_BANDS + 2))
    bank = np.zeros((MEL_BANDS, len(freqs)))
    for i in range(MEL_BANDS):
        lo, mid, hi = edges[i:i + 3]
        bank[i] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0.0, None)
    return bank


def _log_mel(segment: np.ndarray, sample_rate: int, bank: np.ndarray) -> np.ndarray:
    """Log-mel frames (frames x bands) of 20 ms Hann windows every 5 ms; frame j starts at j * 5 ms."""
    window, hop = int(MEL_WINDOW_S * sample_rate), int(MEL_HOP_S * sample_rate)
    if len(segment) < window:
        return np.zeros((0, MEL_BANDS))
    n = 1 + (len(segment) - window) // hop
    frames = segment[hop * np.arange(n)[:, None] + np.arange(window)[None, :]].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(window), axis=1)) ** 2
    return 10.0 * np.log10(spectrum @ bank.T + 1e-10)


def onset_after_silence(onset: float, energy_db: np.ndarray, floor_db: float) -> float | None:
    """The rise out of a silence near `onset` (rule 1), or None."""
    first = max(0, int((onset - MAX_BACK_S - MIN_SILENCE_S - 0.05) / ENV_HOP_S))
    last = min(len(energy_db), int((onset + MAX_FORWARD_S) / ENV_HOP_S) + 2)
    local = energy_db[first:last]
    best = None
    rise_frames = int(RISE_WINDOW_S / ENV_HOP_S)
    for a, b in runs(local < floor_db + SILENCE_MARGIN_DB):
        if (b - a) * ENV_HOP_S < MIN_SILENCE_S:
            continue
        after = energy_db[first + b:first + b + rise_frames]
        if after.size == 0 or after.max() < floor_db + MIN_RISE_DB:
            continue
        rise = (first + b) * ENV_HOP_S + ENV_WINDOW_S / 2
        if -MAX_BACK_S <= rise - onset <= MAX_FORWARD_S and (best is None or abs(rise - onset) < abs(best - onset)):
            best = rise
    return best


def spectral_change_point(boundary: float, samples: np.ndarray, sample_rate: int, bank: np.ndarray) -> float:
    """The boundary moved to the strongest nearby spectral change (rule 2)."""
    half = FLUX_HALF_SPAN_S
    start = boundary - FLUX_RANGE_S - half - MEL_WINDOW_S / 2
    a = int(round(start * sample_rate))
    b = int(round((boundary + FLUX_RANGE_S + half + MEL_WINDOW_S / 2) * sample_rate)) + 1
    if a < 0 or b > len(samples):
        return boundary
    mel = _log_mel(samples[a:b], sample_rate, bank)
    d = int(round(half / MEL_HOP_S))
    if len(mel) <= 2 * d:
        return boundary
    flux = np.mean(np.abs(mel[2 * d:] - mel[:-2 * d]), axis=1)  # change centred on frame j + d
    times = start + (np.arange(len(flux)) + d) * MEL_HOP_S + MEL_WINDOW_S / 2
    inside = np.abs(times - boundary) <= FLUX_RANGE_S + 1e-9
    if not inside.any():
        return boundary
    score = np.where(inside, flux * np.exp(-0.5 * ((times - boundary) / FLUX_SIGMA_S) ** 2), -np.inf)
    return float(times[int(np.argmax(score))])


def refine_words(timed: list[EngineWord | None], samples: np.ndarray, sample_rate: int,
                 activity: SpeechActivity) -> list[EngineWord | None]:
    """Refined onsets for the engine's words (None entries, untimed words, stay None).

    Words stay in order and never overlap: an onset never moves before the previous word's end
    unless the two words touched, in which case the previous word's end moves with it.
    """
    out = list(timed)
    energy = None
    if activity.peak_db - activity.floor_db >= MIN_CONTRAST_DB:
        energy = fine_energy_db(samples, sample_rate)
    bank = _mel_filterbank(sample_rate, int(MEL_WINDOW_S * sample_rate))
    previous: int | None = None
    for k, word in enumerate(timed):
        if word is None:
            continue
        prev = out[previous] if previous is not None else None
        onset, lower = word.start, 0.0
        if prev is not None and word.start - prev.end <= ABUTTING_GAP_S:
            onset = max(spectral_change_point(onset, samples, sample_rate, bank), prev.start + MIN_WORD_S)
            out[previous] = prev = EngineWord(prev.word, prev.start, onset)
        if prev is not None:
            lower = prev.end
        if energy is not None:
            rise = onset_after_silence(onset, energy, activity.floor_db)
            if rise is not None:
                onset = rise
        onset = min(max(onset, lower), max(word.start, word.end - MIN_WORD_S))
        out[k] = EngineWord(word.word, onset, word.end)
        previous = k
    return out
