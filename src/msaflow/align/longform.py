"""Utterances longer than one decoder window: align piece by piece, cut at pauses.

One decoder pass over a long recording fails more and more often as it grows (the beam loses
the path; in our measurements joins of 38-60 s of speech that align fine piece by piece fall
back whole), and its cost in memory grows with it. So audio longer than `window_s` is aligned
in windows:

1. The window runs from the current position to a pause (energy detector, `vad.pauses`) near
   `window_s` later.
2. The decoder gets a *prefix* grammar of the remaining transcript: it may stop after any word,
   so it decides itself how many words the window holds (the window ends in a pause, where a
   word boundary is natural).
3. Only the words up to the longest pause in the first part of the window are kept; the next
   window starts in the middle of that pause, so the uncertain end of a window is aligned again
   with more context.
4. The last window (shorter than `window_s`) must hold all remaining words.

A window that cannot be aligned leaves its words untimed (they are interpolated between their
neighbours and marked `fallback`), and the next window starts where this one ended; the other
windows keep their engine times. Memory and time grow linearly with the length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from msaflow.align.pocketsphinx_engine import AlignmentFailed, Slot, SlotResult
from msaflow.align.types import EngineWord
from msaflow.align.vad import FRAME_S, HOP_S, SpeechActivity, pauses

# decode(samples, slots, prefix) -> slot results with times relative to `samples`
Decoder = Callable[[np.ndarray, list[Slot], bool], list[SlotResult]]

MIN_PAUSE_S = 0.15
GUARD_S = 2.0  # words ending this close to a window's end are aligned again in the next window


@dataclass
class LongformResult:
    results: list[SlotResult]  # slot indices and times relative to the whole utterance
    windows: int
    failed_windows: list[tuple[float, float, str]]  # (start, end, reason) of windows left untimed


def _shift(results: list[SlotResult], dt: float, di: int) -> list[SlotResult]:
    return [SlotResult(r.slot + di, r.reading,
                       tuple(EngineWord(w.word, w.start + dt, w.end + dt) for w in r.words)) for r in results]


def _window_end(activity: SpeechActivity, pause_list: list[tuple[float, float]], start: float, window_s: float) -> float:
    """A cut inside the longest pause whose middle lies 60-100% of a window after `start`.

    Without such a pause (a long stretch of continuous speech) the quietest frame there.
    """
    lo, hi = start + 0.6 * window_s, start + window_s
    inside = [(b - a, (a + b) / 2) for a, b in pause_list if lo <= (a + b) / 2 <= hi]
    if inside:
        return max(inside)[1]
    first, last = int(np.ceil(lo / HOP_S)), int(hi / HOP_S)
    energies = activity.energies_db[first:last + 1]
    if energies.size == 0:
        return hi
    return (first + int(np.argmin(energies))) * HOP_S + FRAME_S / 2


def _expected_words(speech: np.ndarray, start: float, end: float, duration: float, remaining: int) -> int:
    """Words expected in [start, end]: the remaining words in proportion to the speech time there."""
    a, b, c = int(start / HOP_S), int(end / HOP_S), int(duration / HOP_S) + 1
    total = speech[a:c].sum()
    if total == 0:
        return remaining
    return int(np.ceil(remaining * speech[a:b].sum() / total))


def _keep_until(results: list[SlotResult], piece_end: float) -> tuple[int, float]:
    """How many leading slot results to keep and where the next window starts (piece-relative).

    The cut goes into the longest gap between consecutive words that ends at least GUARD_S
    before the window's end and lies after its first 30%; without one, everything is kept and
    the next window starts at the window's end.
    """
    best = None
    for k in range(len(results) - 1):
        left_end = results[k].words[-1].end
        right_start = results[k + 1].words[0].start
        if left_end < 0.3 * piece_end or right_start > piece_end - GUARD_S:
            continue
        gap = right_start - left_end
        if best is None or gap >= best[0]:
            best = (gap, k + 1, (left_end + right_start) / 2)
    if best is None:
        return len(results), piece_end
    return best[1], best[2]


def align_long(decode: Decoder, samples: np.ndarray, sample_rate: int, slots: list[Slot],
               activity: SpeechActivity, window_s: float) -> LongformResult:
    """Align `slots` to `samples` window by window (see the module docstring).

    Raises AlignmentFailed only if no window could be aligned at all.
    """
    duration = len(samples) / sample_rate
    pause_list = pauses(activity, MIN_PAUSE_S)
    speech = activity.mask(0.25)
    kept: list[SlotResult] = []
    failed: list[tuple[float, float, str]] = []
    start, first_slot, windows = 0.0, 0, 0
    while first_slot < len(slots) and start < duration:
        windows += 1
        remaining = len(slots) - first_slot
        last = duration - start <= window_s
        end = duration if last else _window_end(activity, pause_list, start, window_s)
        a, b = int(round(start * sample_rate)), int(round(end * sample_rate))
        if last:
            piece_slots = slots[first_slot:]
        else:
            expected = _expected_words(speech, start, end, duration, remaining)
            piece_slots = slots[first_slot:first_slot + int(1.5 * expected) + 10]
        try:
            piece = decode(samples[a:b], piece_slots, not last)
        except AlignmentFailed as error:
            failed.append((start, end, str(error)))
            if last:
                break
            # Skip the words this window probably held; their neighbours' times bound them.
            first_slot += min(remaining - 1, _expected_words(speech, start, end, duration, remaining))
            start = end
            continue
        if last:
            kept.extend(_shift(piece, start, first_slot))
            break
        count, cut = _keep_until(piece, end - start)
        kept.extend(_shift(piece[:count], start, first_slot))
        first_slot += count
        start += cut
    if not kept:
        reasons = "; ".join(f"{a:.1f}-{b:.1f} s: {r}" for a, b, r in failed[:3])
        raise AlignmentFailed(f"no window of the {duration:.0f} s utterance aligned ({reasons})")
    return LongformResult(kept, windows, failed)
