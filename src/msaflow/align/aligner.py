"""Per-utterance alignment: checks, engine (in windows if long), retry, refinement, QC.

Every utterance that enters gets exactly one outcome (ok | fallback | failed) and, unless it
failed, one interval per transcript word. This is where "never drop an utterance silently"
is enforced; engines only raise `AlignmentFailed`.

Order of work for one utterance:
1. normalise the transcript (number tokens keep their alternative readings);
2. resample to 16 kHz if needed and add the low noise floor (`with_noise_floor`);
3. no speech at all (silence, steady noise) -> `failed`, no words are invented;
4. pocketsphinx, in windows if the audio is longer than `window_s`; a failed pass is retried
   with a wider beam, and if that fails too the words are spread over the speech (`fallback`);
5. word onsets and offsets refined on the signal (`refine.py`);
6. coverage QC: speech no word covers, or words squeezed to the decoder's minimum duration,
   turn an `ok` into `fallback` with the reason (`qc.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from msaflow.align.fallback import distribute, fallback_intervals
from msaflow.align.longform import align_long
from msaflow.align.pocketsphinx_engine import ENGINE_NAME as POCKETSPHINX
from msaflow.align.pocketsphinx_engine import (
    SAMPLE_RATE,
    AlignmentFailed,
    PocketsphinxAligner,
    Slot,
    SlotResult,
    with_noise_floor,
)
from msaflow.align.qc import coverage_problems
from msaflow.align.reconcile import reconcile, reconcile_indexed, spoken_words
from msaflow.align.refine import refine_words
from msaflow.align.types import EngineWord, WordInterval
from msaflow.align.vad import SpeechActivity, speech_activity, speech_region
from msaflow.text import WordGroup, is_nonspeech_marker, normalize_transcript, normalize_transcript_groups

ENGINES = ("pocketsphinx", "mfa")


@dataclass(frozen=True)
class AlignSettings:
    engine: str = POCKETSPHINX
    keep_markers: bool = False
    beam_log10: float = -48.0
    wbeam_log10: float = -28.0
    retry_beam_log10: float = -120.0
    retry_wbeam_log10: float = -100.0
    silence_probability: float = 0.1
    # Below this share of spoken words timed by the engine itself, the utterance counts as fallback.
    min_engine_fraction: float = 0.5
    espeak_voice: str = "en-us"
    # Audio longer than this is aligned in windows cut at pauses (msaflow.align.longform).
    window_s: float = 20.0
    # Move engine boundaries to the nearby acoustic change (msaflow.align.refine).
    refine_boundaries: bool = True
    # Coverage QC (msaflow.align.qc): untimed speech above this many seconds -> fallback.
    max_uncovered_speech_s: float = 1.0
    # Numbers may be aligned with any common reading ("2019": twenty nineteen | two thousand nineteen).
    number_readings: bool = True


@dataclass
class UtteranceAlignment:
    utterance_id: str
    words: list[str]
    intervals: list[WordInterval]
    status: str  # ok | fallback | failed
    reason: str = ""
    duration: float = 0.0


@dataclass
class PocketsphinxWorker:
    """Decoders for one process: the normal beam, and a wider one created on the first retry."""

    settings: AlignSettings
    extra_pronunciations: dict[str, list[str]] = field(default_factory=dict)
    g2p_cache: object | None = None  # PronunciationCache for words not known in advance
    _normal: PocketsphinxAligner | None = None
    _wide: PocketsphinxAligner | None = None
    retries: list[str] = field(default_factory=list)  # first-pass failures rescued by the wide beam

    def _make(self, beam: float, wbeam: float) -> PocketsphinxAligner:
        aligner = PocketsphinxAligner(beam, wbeam, g2p_cache=self.g2p_cache,
                                      silence_probability=self.settings.silence_probability)
        for word, phones in self.extra_pronunciations.items():
            if phones and aligner.decoder.lookup_word(word) is None:
                try:
                    aligner.decoder.add_word(word, " ".join(phones), False)
                except RuntimeError:
                    pass  # a phone the model lacks: the word stays unknown, its utterance falls back
        return aligner

    @property
    def normal(self) -> PocketsphinxAligner:
        if self._normal is None:
            self._normal = self._make(self.settings.beam_log10, self.settings.wbeam_log10)
        return self._normal

    @property
    def wide(self) -> PocketsphinxAligner:
        if self._wide is None:
            self._wide = self._make(self.settings.retry_beam_log10, self.settings.retry_wbeam_log10)
        return self._wide

    def decode(self, samples: np.ndarray, slots: list[Slot], prefix: bool = False) -> list[SlotResult]:
        """One pass with the normal beam, then one with the wide beam; raises AlignmentFailed if both fail.

        A prefix grammar (a window of a long utterance) goes to the wide beam at once: with the
        normal beam a pruned path does not fail there, it ends early and leaves the rest of the
        window to the silence and noise models (a hoarse voice in the MFA test corpus lost 10 of
        32 words that way); the wide beam costs about 25% more time.
        """
        if prefix:
            return self.wide.align_slots(samples, slots, prefix)
        try:
            return self.normal.align_slots(samples, slots, prefix)
        except AlignmentFailed as first:
            try:
                results = self.wide.align_slots(samples, slots, prefix)
            except AlignmentFailed as second:
                raise AlignmentFailed(f"{first}; wide-beam retry: {second}") from None
            self.retries.append(str(first))
            return results


def slots_from_groups(groups: list[WordGroup], with_alternatives: bool) -> tuple[list[Slot], list[int]]:
    """Decoder slots of the spoken groups and, for each, the index of its first spoken word."""
    slots, first_word, k = [], [], 0
    for group in groups:
        if all(is_nonspeech_marker(w) for w in group.words):
            continue
        readings = (group.words, *group.alternatives) if with_alternatives else (group.words,)
        slots.append(Slot(tuple(readings)))
        first_word.append(k)
        k += len(group.words)
    return slots, first_word


def transcript_times(slot: Slot, result: SlotResult) -> list[EngineWord]:
    """Times for the transcript's words of a slot from the reading the decoder chose.

    Words the chosen reading shares with the transcript keep their own times ("nineteen" in
    "two thousand nineteen"); the others share the span of the reading's remaining words in
    proportion to their length, so the group's first onset and last offset are the engine's.
    """
    spoken = list(result.words)
    if result.reading == 0:
        return spoken
    matched, _ = reconcile(list(slot.words), spoken, POCKETSPHINX, spoken[-1].end)
    return [EngineWord(x.word, x.start, x.end) for x in matched]


def _conditioned(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """16 kHz int16 with the noise floor (the decoder's model is 16 kHz)."""
    if sample_rate != SAMPLE_RATE:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(int(sample_rate), SAMPLE_RATE)
        resampled = resample_poly(samples.astype(np.float64), SAMPLE_RATE // g, int(sample_rate) // g)
        samples = np.clip(np.round(resampled), -32768, 32767).astype(np.int16)
    return with_noise_floor(samples)


def finish_alignment(utterance_id: str, words: list[str], samples: np.ndarray, sample_rate: int,
                     engine_name: str, engine_words: list[EngineWord] | None, failure: str,
                     settings: AlignSettings, note: str = "") -> UtteranceAlignment:
    """Turn an engine result (engine spelling, e.g. MFA's) or its failure into rows and a QC outcome."""
    duration = len(samples) / sample_rate
    spoken = spoken_words(words)
    if engine_words is None:
        intervals = fallback_intervals(words, samples, sample_rate)
        return UtteranceAlignment(utterance_id, words, intervals, "fallback",
                                  f"{engine_name} failed: {failure}; words spread over the speech region", duration)
    intervals, interpolated = reconcile(words, engine_words, engine_name, duration)
    return _judge(utterance_id, words, intervals, interpolated, len(spoken), engine_name, settings, [note] if note else [],
                  duration)


def _judge(utterance_id, words, intervals, interpolated, n_spoken, engine_name, settings, notes, duration,
           activity: SpeechActivity | None = None, phone_counts: dict[str, int] | None = None,
           engine_words: list[EngineWord | None] | None = None, untimed_events: int = 0) -> UtteranceAlignment:
    notes = [n for n in notes if n]
    if interpolated:
        notes.append(f"{interpolated} of {n_spoken} words interpolated")
    if n_spoken and (n_spoken - interpolated) / n_spoken < settings.min_engine_fraction:
        return UtteranceAlignment(utterance_id, words, intervals, "fallback",
                                  f"{engine_name} timed too few words: " + "; ".join(notes), duration)
    if activity is not None:
        problems = coverage_problems(intervals, engine_words or [], activity, phone_counts or {},
                                     settings.max_uncovered_speech_s, untimed_events)
        if problems:
            return UtteranceAlignment(utterance_id, words, intervals, "fallback",
                                      "coverage: " + "; ".join(problems + notes), duration)
    return UtteranceAlignment(utterance_id, words, intervals, "ok", "; ".join(notes), duration)


def align_utterance(utterance_id: str, text: str, samples: np.ndarray, sample_rate: int,
                    worker: PocketsphinxWorker, settings: AlignSettings) -> UtteranceAlignment:
    """Align one utterance with pocketsphinx (see the module docstring for the steps).

    `samples` are int16 at `sample_rate` (any rate; other rates than 16 kHz are resampled);
    times in the result are seconds from the start of `samples`.
    """
    groups = normalize_transcript_groups(text, keep_markers=settings.keep_markers)
    words = [w for g in groups for w in g.words]
    duration = len(samples) / sample_rate if sample_rate > 0 else 0.0
    if not words:
        return UtteranceAlignment(utterance_id, words, [], "failed", "transcript has no words after normalisation", duration)
    if len(samples) == 0:
        return UtteranceAlignment(utterance_id, words, [], "failed", "audio is empty", duration)
    if sample_rate <= 0:
        return UtteranceAlignment(utterance_id, words, [], "failed", f"invalid sample rate {sample_rate}", duration)
    audio = _conditioned(np.asarray(samples), sample_rate)
    activity = speech_activity(audio, SAMPLE_RATE)
    if not activity.has_speech:
        return UtteranceAlignment(utterance_id, words, [], "failed", activity.no_speech_reason(), duration)
    spoken = spoken_words(words)
    if not spoken:  # only markers such as <laughter>: nothing for an engine to find
        start, end = speech_region(activity)
        return UtteranceAlignment(utterance_id, words, distribute(words, start, end), "fallback",
                                  "transcript has only non-speech markers", duration)
    slots, first_word = slots_from_groups(groups, settings.number_readings)
    worker.retries = []
    notes: list[str] = []
    timed: list[EngineWord | None] = [None] * len(spoken)
    try:
        if len(audio) / SAMPLE_RATE > settings.window_s:
            long = align_long(worker.decode, audio, SAMPLE_RATE, slots, activity, settings.window_s)
            results = long.results
            notes.append(f"aligned in {long.windows} windows")
            notes.extend(f"window {a:.1f}-{b:.1f} s failed ({r})" for a, b, r in long.failed_windows)
        else:
            results = worker.decode(audio, slots)
    except AlignmentFailed as error:
        intervals = fallback_intervals(words, audio, SAMPLE_RATE)
        return UtteranceAlignment(utterance_id, words, intervals, "fallback",
                                  f"{POCKETSPHINX} failed: {error}; words spread over the speech region", duration)
    except RuntimeError as error:  # the C library's own errors (e.g. a decoder it could not set up)
        return UtteranceAlignment(utterance_id, words, [], "failed", f"pocketsphinx error: {error}", duration)
    if worker.retries:
        notes.insert(0, f"aligned on wide-beam retry ({worker.retries[0]})")
    for result in results:
        for k, word in enumerate(transcript_times(slots[result.slot], result)):
            timed[first_word[result.slot] + k] = word
    phone_counts = {w: worker.normal.phone_count(w) for w in set(spoken)}
    refined = refine_words(timed, audio, SAMPLE_RATE, activity) if settings.refine_boundaries else timed
    intervals, interpolated = reconcile_indexed(words, refined, POCKETSPHINX, duration)
    # Markers and fillers the normaliser dropped still made sound (a laugh, an "umm").
    untimed_events = 0 if settings.keep_markers else len(normalize_transcript(text, keep_markers=True)) - len(words)
    return _judge(utterance_id, words, intervals, interpolated, len(spoken), POCKETSPHINX, settings, notes, duration,
                  activity, phone_counts, timed, untimed_events)
