"""Synthetic voiced speech with known answers, for tests and benchmarks.

Rosenberg glottal pulses (known F0, open quotient, speed quotient) -> derivative (lip radiation)
-> fixed all-pole formant filter. Analytic values of the pulse:
  opening phase Tp, closing phase Tn (open quotient OQ = (Tp+Tn)/T0), peak flow 1,
  NAQ = f_ac / (d_peak T0) = 2 Tn / (pi T0)      (d_peak = pi / (2 Tn) at closure)
  QOQ = (Tp/2 + 2 Tn/3) / T0                      (time above half the peak flow)
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

DEFAULT_FORMANTS = ((700.0, 80.0), (1220.0, 90.0), (2600.0, 120.0), (3300.0, 150.0))


def rosenberg_flow(f0: float, sr: int, duration: float, open_quotient: float = 0.6,
                   speed_quotient: float = 2.0) -> np.ndarray:
    """Glottal flow: opening 0.5(1-cos(pi t/Tp)), closing cos(pi (t-Tp)/(2 Tn)), closed after."""
    t0 = 1.0 / f0
    tn = open_quotient * t0 / (1.0 + speed_quotient)
    tp = speed_quotient * tn
    t = np.arange(int(round(duration * sr))) / sr
    phase = np.mod(t, t0)
    flow = np.where(phase < tp, 0.5 * (1 - np.cos(np.pi * phase / tp)), 0.0)
    closing = (phase >= tp) & (phase < tp + tn)
    flow = np.where(closing, np.cos(np.pi * (phase - tp) / (2 * tn)), flow)
    return flow


def rosenberg_answers(f0: float, open_quotient: float = 0.6, speed_quotient: float = 2.0) -> dict[str, float]:
    t0 = 1.0 / f0
    tn = open_quotient * t0 / (1.0 + speed_quotient)
    tp = speed_quotient * tn
    return {"F0": f0, "NAQ": 2 * tn / (np.pi * t0), "QOQ": (tp / 2 + 2 * tn / 3) / t0, "OQ": open_quotient}


def formant_filter(sr: int, formants=DEFAULT_FORMANTS) -> np.ndarray:
    """All-pole denominator with one resonance pair per (frequency, bandwidth)."""
    a = np.array([1.0])
    for freq, bw in formants:
        r = np.exp(-np.pi * bw / sr)
        a = np.convolve(a, [1.0, -2 * r * np.cos(2 * np.pi * freq / sr), r * r])
    return a


def vowel(f0: float, sr: int = 16000, duration: float = 1.0, open_quotient: float = 0.6,
          speed_quotient: float = 2.0, formants=DEFAULT_FORMANTS, amplitude: float = 0.3) -> np.ndarray:
    """Synthetic sustained vowel: Rosenberg flow -> derivative (lip radiation) -> formants."""
    flow = rosenberg_flow(f0, sr, duration, open_quotient, speed_quotient)
    dflow = np.diff(flow, prepend=0.0)
    speech = sps.lfilter([1.0], formant_filter(sr, formants), dflow)
    return amplitude * speech / np.max(np.abs(speech))


def utterance(sr: int = 16000, seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """A speech-like test signal: voiced segments with gliding F0 separated by noise and pauses."""
    rng = np.random.default_rng(seed)
    parts = []
    total = 0.0
    while total < seconds:
        dur = float(rng.uniform(0.15, 0.4))
        f0 = float(rng.uniform(90, 220))
        parts.append(vowel(f0, sr, dur, open_quotient=float(rng.uniform(0.45, 0.8))))
        gap = float(rng.uniform(0.03, 0.12))
        parts.append(0.02 * rng.standard_normal(int(gap * sr)))
        total += dur + gap
    return np.concatenate(parts)[: int(seconds * sr)]
