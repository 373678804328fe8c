"""Per-utterance alignment: engine, wider-beam retry, then proportional fallback.

Every utterance that enters gets exactly one outcome (ok | fallback | failed) and, unless it
failed, one interval per transcript word. This is where "never drop an utterance silently"
is enforced; engines only raise `AlignmentFailed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from msaflow.align.fallback import detect_speech_region, distribute, fallback_intervals
from msaflow.align.pocketsphinx_engine import ENGINE_NAME as POCKETSPHINX
from msaflow.align.pocketsphinx_engine import AlignmentFailed, PocketsphinxAligner
from msaflow.align.reconcile import reconcile, spoken_words
from msaflow.align.types import EngineWord, WordInterval
from msaflow.text import normalize_transcript

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
    sample_rate: int = 16000
    _normal: PocketsphinxAligner | None = None
    _wide: PocketsphinxAligner | None = None

    def _make(self, beam: float, wbeam: float) -> PocketsphinxAligner:
        aligner = PocketsphinxAligner(beam, wbeam, g2p_cache=self.g2p_cache, sample_rate=self.sample_rate,
                                      silence_probability=self.settings.silence_probability)
        for word, phones in self.extra_pronunciations.items():
            if phones and aligner.decoder.lookup_word(word) is None:
                aligner.decoder.add_word(word, " ".join(phones), False)
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

    def align_words(self, samples: np.ndarray, spoken: list[str]) -> tuple[list[EngineWord], str]:
        """Engine words and a note ('' or how the retry went); raises AlignmentFailed if both fail."""
        try:
            return self.normal.align(samples, spoken), ""
        except AlignmentFailed as first:
            try:
                return self.wide.align(samples, spoken), f"aligned on wide-beam retry ({first})"
            except AlignmentFailed as second:
                raise AlignmentFailed(f"{first}; wide-beam retry: {second}") from None


def finish_alignment(utterance_id: str, words: list[str], samples: np.ndarray, sample_rate: int,
                     engine_name: str, engine_words: list[EngineWord] | None, failure: str,
                     settings: AlignSettings, note: str = "") -> UtteranceAlignment:
    """Turn an engine result (or its failure) into the utterance's rows and QC outcome."""
    duration = len(samples) / sample_rate
    spoken = spoken_words(words)
    if engine_words is None:
        intervals = fallback_intervals(words, samples, sample_rate)
        return UtteranceAlignment(utterance_id, words, intervals, "fallback",
                                  f"{engine_name} failed: {failure}; words spread over the speech region", duration)
    intervals, interpolated = reconcile(words, engine_words, engine_name, duration)
    notes = [note] if note else []
    if interpolated:
        notes.append(f"{interpolated} of {len(spoken)} words interpolated")
    if spoken and (len(spoken) - interpolated) / len(spoken) < settings.min_engine_fraction:
        return UtteranceAlignment(utterance_id, words, intervals, "fallback",
                                  f"{engine_name} timed too few words: " + "; ".join(notes), duration)
    return UtteranceAlignment(utterance_id, words, intervals, "ok", "; ".join(notes), duration)


def align_utterance(utterance_id: str, text: str, samples: np.ndarray, sample_rate: int,
                    worker: PocketsphinxWorker, settings: AlignSettings) -> UtteranceAlignment:
    """Align one utterance with pocketsphinx (retry, then fallback)."""
    words = normalize_transcript(text, keep_markers=settings.keep_markers)
    duration = len(samples) / sample_rate
    if not words:
        return UtteranceAlignment(utterance_id, words, [], "failed", "transcript has no words after normalisation", duration)
    if len(samples) == 0:
        return UtteranceAlignment(utterance_id, words, [], "failed", "audio is empty", duration)
    spoken = spoken_words(words)
    if not spoken:  # only markers such as <laughter>: nothing for an engine to find
        start, end = detect_speech_region(samples, sample_rate)
        return UtteranceAlignment(utterance_id, words, distribute(words, start, end), "fallback",
                                  "transcript has only non-speech markers", duration)
    try:
        engine_words, note = worker.align_words(samples, spoken)
        failure = ""
    except AlignmentFailed as error:
        engine_words, note, failure = None, "", str(error)
    return finish_alignment(utterance_id, words, samples, sample_rate, POCKETSPHINX, engine_words, failure, settings, note)
