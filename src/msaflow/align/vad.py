"""Where the speech is: frame energies, a speech mask, pauses, and "no speech at all".

An energy detector, deliberately simple and deterministic: the alignment stage needs it to
(a) refuse to place words in audio that holds no speech, (b) find pauses at which a long
utterance can be cut, and (c) find speech that no aligned word covers (QC of incomplete
transcripts). Levels are relative to the utterance itself (its noise floor and its loudest
frames), so they work for quiet and loud recordings alike; the audio is expected to carry the
aligner's low noise floor already (`pocketsphinx_engine.with_noise_floor`), so digital silence
does not drag the floor estimate to -120 dB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_S = 0.025
HOP_S = 0.010
# Below this loudness (99th percentile of 25 ms frame energies, dBFS) a file holds no speech a
# listener could follow; the aligner's noise floor alone measures about -64 dBFS.
MIN_SPEECH_LEVEL_DBFS = -50.0
# Below this spread between the floor and the loudest frames there is no speech/pause contrast:
# stationary noise or a constant tone (speech varies by 20-40 dB between vowels and pauses).
MIN_DYNAMIC_RANGE_DB = 6.0


_CHUNK_FRAMES = 200_000


def frame_power_db(samples: np.ndarray, sample_rate: int, window_s: float, hop_s: float) -> np.ndarray:
    """Mean power (dB re int16 full scale) of windows of `window_s` every `hop_s`; window i starts at i * hop_s.

    Computed in chunks, so an hour of audio needs tens of MB, not GB.
    """
    window, hop = int(round(window_s * sample_rate)), int(round(hop_s * sample_rate))
    if len(samples) < window:
        return np.array([10 * np.log10(np.mean((samples / 32768.0) ** 2) + 1e-12)]) if len(samples) else np.array([])
    n = 1 + (len(samples) - window) // hop
    out = np.empty(n)
    for first in range(0, n, _CHUNK_FRAMES):
        last = min(n, first + _CHUNK_FRAMES)
        x = samples[first * hop:(last - 1) * hop + window].astype(np.float64) / 32768.0
        power = np.concatenate([[0.0], np.cumsum(x * x)])
        starts = hop * np.arange(last - first)
        out[first:last] = 10 * np.log10((power[starts + window] - power[starts]) / window + 1e-12)
    return out


def frame_energies_db(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log energy of 25 ms frames every 10 ms (dB re full scale of int16); frame i starts at i * 10 ms."""
    return frame_power_db(samples, sample_rate, FRAME_S, HOP_S)


@dataclass(frozen=True)
class SpeechActivity:
    """Per-frame speech decisions of one utterance (frame i covers [i*HOP_S, i*HOP_S + FRAME_S])."""

    energies_db: np.ndarray
    floor_db: float
    peak_db: float
    duration: float

    @property
    def has_speech(self) -> bool:
        return self.peak_db >= MIN_SPEECH_LEVEL_DBFS and self.peak_db - self.floor_db >= MIN_DYNAMIC_RANGE_DB

    def no_speech_reason(self) -> str:
        """Why `has_speech` is False, in words for a QC row ('' if there is speech)."""
        if self.peak_db < MIN_SPEECH_LEVEL_DBFS:
            return f"no speech: the loudest frames reach {self.peak_db:.0f} dBFS (silence)"
        if self.peak_db - self.floor_db < MIN_DYNAMIC_RANGE_DB:
            return (f"no speech: the level varies by only {self.peak_db - self.floor_db:.1f} dB "
                    "(steady noise or tone, no speech/pause contrast)")
        return ""

    def threshold(self, share: float) -> float:
        """A level `share` of the way from the floor to the peak."""
        return self.floor_db + share * (self.peak_db - self.floor_db)

    def mask(self, share: float = 0.25) -> np.ndarray:
        """Frames above `threshold(share)`; all False when there is no speech."""
        if not self.has_speech:
            return np.zeros(len(self.energies_db), dtype=bool)
        return self.energies_db > self.threshold(share)

    def frame_time(self, index: int | np.ndarray) -> float | np.ndarray:
        """Centre of frame `index` in seconds."""
        return index * HOP_S + FRAME_S / 2


def speech_activity(samples: np.ndarray, sample_rate: int) -> SpeechActivity:
    energies = frame_energies_db(samples, sample_rate)
    duration = len(samples) / sample_rate
    if energies.size == 0:
        return SpeechActivity(energies, -120.0, -120.0, duration)
    return SpeechActivity(energies, float(np.percentile(energies, 10)), float(np.percentile(energies, 99)), duration)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs of a boolean array."""
    if mask.size == 0:
        return []
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def speech_region(activity: SpeechActivity, pad_s: float = 0.03) -> tuple[float, float]:
    """First to last active frame (the whole file if there is no contrast to find)."""
    active = np.flatnonzero(activity.mask())
    if active.size == 0:
        return 0.0, activity.duration
    start = max(0.0, active[0] * HOP_S - pad_s)
    end = min(activity.duration, active[-1] * HOP_S + FRAME_S + pad_s)
    return start, end


def pauses(activity: SpeechActivity, min_pause_s: float = 0.15) -> list[tuple[float, float]]:
    """Stretches of at least `min_pause_s` without speech, as (start, end) seconds, in order.

    Uses a low threshold (a tenth of the way from floor to peak), so weak consonants count as
    speech and a cut inside a pause does not clip a word.
    """
    quiet = ~activity.mask(0.1)
    found = []
    for a, b in runs(quiet):
        start, end = a * HOP_S + FRAME_S / 2, (b - 1) * HOP_S + FRAME_S / 2
        if end - start >= min_pause_s:
            found.append((start, end))
    return found
