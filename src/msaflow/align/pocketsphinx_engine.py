"""Forced alignment with pocketsphinx (the default engine).

The PyPI wheel ships the US-English acoustic model and the CMU dictionary, so this works
offline. Alignment is pocketsphinx's own word-level alignment mode (`set_align_text`): a
finite-state grammar of exactly the transcript's words with optional silence between them,
searched with the Viterbi beam; the word segmentation comes from the best path.
"""

from __future__ import annotations

import re

import numpy as np

from msaflow.align.g2p import PronunciationCache
from msaflow.align.types import EngineWord
from msaflow.common import MsaflowError

ENGINE_NAME = "pocketsphinx"
FRAME_RATE = 100  # frames per second (pocketsphinx default -frate)
# Segments that are not transcript words: silence, noise and sentence markers.
_NON_WORDS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]"}
_ALT_PRON = re.compile(r"\(\d+\)$")
_DICT_WORD = re.compile(r"^[a-z0-9'._-]+$")


def dithered(samples: np.ndarray) -> np.ndarray:
    """Add +-1 LSB noise, seeded the same for every utterance.

    Digital silence (exact zeros, as in synthetic or gated audio) gives log(0) frame energies
    that derail the features and make alignment fail. pocketsphinx's own dither draws from one
    generator per decoder, so an utterance's result would depend on which utterances the same
    worker decoded before it; a per-utterance seed keeps results identical for any thread count.
    """
    noise = np.random.default_rng(20261121).integers(-1, 2, size=len(samples))
    return np.clip(samples.astype(np.int32) + noise, -32768, 32767).astype("<i2")


class AlignmentFailed(Exception):
    """The engine could not align this utterance (the caller retries or falls back)."""


def _import_pocketsphinx():
    try:
        import pocketsphinx
    except ImportError:  # pragma: no cover - pocketsphinx is a hard dependency of the align env
        raise MsaflowError(
            "the pocketsphinx engine needs the PyPI package 'pocketsphinx' (pip install pocketsphinx==5.1.1)"
        ) from None
    return pocketsphinx


class PocketsphinxAligner:
    """One decoder per (process, beam setting); reuse it across the utterances of a shard."""

    name = ENGINE_NAME

    def __init__(self, beam_log10: float = -48, wbeam_log10: float = -28,
                 g2p_cache: PronunciationCache | None = None, sample_rate: int = 16000,
                 silence_probability: float = 0.1):
        ps = _import_pocketsphinx()
        self.sample_rate = sample_rate
        self.g2p = g2p_cache if g2p_cache is not None else PronunciationCache(None)
        self.decoder = ps.Decoder(
            samprate=sample_rate,
            beam=10.0 ** beam_log10,
            wbeam=10.0 ** wbeam_log10,
            pbeam=10.0 ** beam_log10,
            bestpath=False,
            # Pauses between words are common in monologue video and the synthetic benchmark
            # shows fewer gross boundary errors when silence is cheaper than the 0.005 default.
            silprob=silence_probability,
            dither=False,  # we dither per utterance (see `dithered`), so results do not depend on order
            loglevel="FATAL",  # failures are reported per utterance in QC, not as C-library noise
        )
        self._known: set[str] = set()

    def missing_words(self, words: list[str]) -> list[str]:
        """Words the decoder's dictionary (plus words added so far) does not know."""
        return sorted({w for w in words if w not in self._known and self.decoder.lookup_word(w) is None})

    def ensure_pronunciations(self, words: list[str]) -> dict[str, list[str]]:
        """Add espeak-ng pronunciations for out-of-vocabulary words; returns what was added."""
        missing = self.missing_words(words)
        added = {}
        for word, phones in self.g2p.lookup(missing).items():
            if not phones:
                continue  # left missing: alignment of its utterance fails and falls back
            self.decoder.add_word(word, " ".join(phones), True)
            added[word] = phones
        self._known.update(w for w in words if self.decoder.lookup_word(w) is not None)
        return added

    def align(self, samples: np.ndarray, words: list[str]) -> list[EngineWord]:
        """Word segments for `words` (all spoken words, no markers) in `samples` (int16)."""
        if not words:
            raise AlignmentFailed("no words to align")
        bad = [w for w in words if not _DICT_WORD.match(w)]
        if bad:
            raise AlignmentFailed(f"words the dictionary cannot hold: {bad[:3]}")
        self.ensure_pronunciations(words)
        unknown = self.missing_words(words)
        if unknown:
            raise AlignmentFailed(f"no pronunciation for {unknown[:3]}")
        duration = len(samples) / self.sample_rate
        if duration < 0.03 * len(words):  # every phone needs >= 3 frames; hopeless before trying
            raise AlignmentFailed(f"{duration:.2f} s of audio is too short for {len(words)} words")
        try:
            self.decoder.set_align_text(" ".join(words))
            # Feature state (cepstral mean, noise tracking) carries over between utterances;
            # resetting it makes each result independent of what this decoder aligned before.
            self.decoder.reinit_feat()
            self.decoder.start_utt()
            self.decoder.process_raw(dithered(samples).tobytes(), full_utt=True)
            self.decoder.end_utt()
        except RuntimeError as error:
            raise AlignmentFailed(f"pocketsphinx: {error}") from None
        segments = self.decoder.seg()
        if self.decoder.hyp() is None or segments is None:
            raise AlignmentFailed("search did not reach the end of the transcript")
        result = []
        for seg in segments:
            if seg.word in _NON_WORDS:
                continue
            result.append(EngineWord(_ALT_PRON.sub("", seg.word), seg.start_frame / FRAME_RATE,
                                     (seg.end_frame + 1) / FRAME_RATE))
        if [w.word for w in result] != list(words):
            raise AlignmentFailed(f"aligned {len(result)} of {len(words)} words")
        return result
