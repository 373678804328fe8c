"""Speech with known word onsets, synthesised by espeak-ng, for tests and benchmarks.

Each word is synthesised on its own, trimmed to its first and last non-silent sample, resampled
to 16 kHz and concatenated with known gaps, so the ground-truth onset of every word is exact
(espeak-ng writes digital silence around a word). Coarticulation across words is lost, which
makes boundaries slightly easier than in connected speech; the gaps include zero so that some
words abut.
"""

from __future__ import annotations

import subprocess
import tempfile
import wave
from dataclasses import dataclass
from functools import lru_cache
from math import gcd
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError

SAMPLE_RATE = 16000


@dataclass
class SynthUtterance:
    words: list[str]
    samples: np.ndarray  # int16, 16 kHz
    onsets: list[float]  # seconds
    offsets: list[float]

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = gcd(src, dst)
    return resample_poly(x.astype(np.float64), dst // g, src // g)


@lru_cache(maxsize=4096)
def synth_word(word: str, voice: str = "en-us", rate_wpm: int = 175) -> np.ndarray:
    """One word as float samples at 16 kHz, silence trimmed (cached: benchmarks reuse words)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.wav"
        proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate_wpm), "-w", str(path), word],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not path.exists():
            raise MsaflowError(f"espeak-ng could not synthesise {word!r} with voice {voice!r}: {proc.stderr.strip()}")
        with wave.open(str(path), "rb") as handle:
            rate = handle.getframerate()
            x = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").astype(np.float64)
    voiced = np.flatnonzero(np.abs(x) > 0)
    if voiced.size == 0:
        raise MsaflowError(f"espeak-ng produced silence for {word!r}")
    x = x[voiced[0]:voiced[-1] + 1]
    return _resample(x, rate, SAMPLE_RATE)


def synth_utterance(words: list[str], voice: str = "en-us", rate_wpm: int = 175, seed: int = 0,
                    max_gap_s: float = 0.15, lead_s: float = 0.3, tail_s: float = 0.3) -> SynthUtterance:
    """Concatenate words with random gaps in [0, max_gap_s]; onsets are exact by construction."""
    rng = np.random.default_rng(seed)
    pieces = [np.zeros(int(lead_s * SAMPLE_RATE))]
    onsets, offsets, cursor = [], [], len(pieces[0])
    for i, word in enumerate(words):
        if i:
            gap = np.zeros(int(rng.uniform(0.0, max_gap_s) * SAMPLE_RATE))
            pieces.append(gap)
            cursor += len(gap)
        audio = synth_word(word, voice, rate_wpm)
        onsets.append(cursor / SAMPLE_RATE)
        pieces.append(audio)
        cursor += len(audio)
        offsets.append(cursor / SAMPLE_RATE)
    pieces.append(np.zeros(int(tail_s * SAMPLE_RATE)))
    x = np.concatenate(pieces)
    peak = np.max(np.abs(x)) or 1.0
    samples = np.round(x / peak * 0.8 * 32767).astype(np.int16)
    return SynthUtterance(list(words), samples, onsets, offsets)


def add_white_noise(samples: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White noise at `snr_db` relative to the power of the non-silent part of the signal."""
    x = samples.astype(np.float64)
    active = x[np.abs(x) > 0]
    signal_power = np.mean(active**2) if active.size else np.mean(x**2)
    noise = np.random.default_rng(seed).normal(0.0, np.sqrt(signal_power / 10 ** (snr_db / 10)), size=x.shape)
    return np.clip(np.round(x + noise), -32768, 32767).astype(np.int16)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(np.asarray(samples, dtype="<i2").tobytes())
