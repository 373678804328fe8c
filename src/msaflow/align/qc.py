"""Coverage QC: an alignment that reached the end of the transcript can still be wrong.

Forced alignment always places every word it is given, so a transcript that lacks words (half
a transcript, a missing sentence) or has words the audio lacks (text from another clip) can
"succeed". Two symptoms reveal it:

- speech no word covers: clear speech (energy halfway from the utterance's floor to its peak)
  farther than `TOLERANCE_S` from every aligned word, in stretches long enough not to be a
  breath or a click; the decoder absorbs untranscribed speech as silence or noise. Each
  non-speech event or filler the transcript names but the word table drops (``<laughter>``,
  ``(umm)`` without --keep-markers) allows as much again: a laugh or a cough is loud too. On
  the benchmark, half transcripts leave 1.0-3.0 s of speech uncovered; complete ones 0-0.6 s
  (1.1 s in a clip with a cough its transcript marks);
- words squeezed to the decoder's minimum duration (3 frames per phone): words the speaker did
  not say are pushed into whatever audio is left.

Either turns an `ok` into `fallback` with the reason (the times are kept: they are the best we
have, but downstream users should not trust them as aligned).
"""

from __future__ import annotations

import numpy as np

from msaflow.align.types import EngineWord, WordInterval
from msaflow.align.vad import FRAME_S, HOP_S, SpeechActivity, runs

TOLERANCE_S = 0.1  # boundary imprecision and word-final releases are not "uncovered speech"
MIN_UNCOVERED_RUN_S = 0.2  # shorter stretches are breaths, clicks, lip smacks
MIN_SECONDS_PER_PHONE = 0.03  # the decoder's floor: 3 frames of 10 ms per phone
SQUEEZE_MARGIN_S = 0.005
MIN_SQUEEZED_WORDS = 3
MAX_SQUEEZED_FRACTION = 0.25


def uncovered_speech_seconds(intervals: list[WordInterval], activity: SpeechActivity) -> float:
    """Seconds of clear speech farther than TOLERANCE_S from every spoken word."""
    clear = activity.mask(0.5)
    if not clear.any():
        return 0.0
    centres = np.arange(len(clear)) * HOP_S + FRAME_S / 2
    covered = np.zeros(len(clear), dtype=bool)
    for x in intervals:  # kept markers (<laughter>) cover the pause they were placed in
        covered |= (centres >= x.start - TOLERANCE_S) & (centres <= x.end + TOLERANCE_S)
    total = 0.0
    for a, b in runs(clear & ~covered):
        if (b - a) * HOP_S >= MIN_UNCOVERED_RUN_S:
            total += (b - a) * HOP_S
    return total


def squeezed_words(engine_words: list[EngineWord | None], phone_counts: dict[str, int]) -> int:
    """Engine-timed words no longer than the decoder's minimum for their phones (+5 ms)."""
    count = 0
    for w in engine_words:
        phones = phone_counts.get(w.word, 0) if w is not None else 0
        if phones and w.end - w.start <= MIN_SECONDS_PER_PHONE * phones + SQUEEZE_MARGIN_S:
            count += 1
    return count


def coverage_problems(intervals: list[WordInterval], engine_words: list[EngineWord | None], activity: SpeechActivity,
                      phone_counts: dict[str, int], max_uncovered_speech_s: float, untimed_events: int = 0) -> list[str]:
    """Reasons (empty if none) why an aligned utterance should not count as `ok`.

    `untimed_events`: non-speech events and fillers the transcript names that have no row.
    """
    problems = []
    uncovered = uncovered_speech_seconds(intervals, activity)
    allowed = max_uncovered_speech_s * (1 + untimed_events)
    if uncovered > allowed:
        problems.append(f"{uncovered:.1f} s of speech outside any word (words missing from the transcript?)")
    timed = [w for w in engine_words if w is not None]
    squeezed = squeezed_words(timed, phone_counts)
    if timed and squeezed >= MIN_SQUEEZED_WORDS and squeezed / len(timed) >= MAX_SQUEEZED_FRACTION:
        problems.append(f"{squeezed} of {len(timed)} words squeezed to the decoder's minimum duration "
                        "(words the audio does not hold?)")
    return problems
