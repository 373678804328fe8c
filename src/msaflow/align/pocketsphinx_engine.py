"""Forced alignment with pocketsphinx (the default engine).

The PyPI wheel ships the US-English acoustic model and the CMU dictionary, so this works
offline. We build the decoder's finite-state grammar ourselves instead of calling
`set_align_text`: for a plain transcript it is the same grammar (one transition per word;
pocketsphinx adds optional silences and alternative dictionary pronunciations at every state),
but ours can also hold

- alternative readings of one transcript token ("2019": "twenty nineteen" | "two thousand
  nineteen" | ...), see `Slot`, and
- a *prefix* grammar that may stop after any token, which lets a long utterance be aligned
  window by window (`msaflow.align.longform`): the decoder itself decides how many words fit
  into a window that ends in a pause.

The word segmentation comes from the best path of the Viterbi beam search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from msaflow.align.g2p import PronunciationCache
from msaflow.align.types import EngineWord
from msaflow.common import MsaflowError

ENGINE_NAME = "pocketsphinx"
SAMPLE_RATE = 16000  # the acoustic model's rate; callers resample (msaflow.align.aligner)
FRAME_RATE = 100  # frames per second (pocketsphinx default -frate)
MIN_SECONDS_PER_WORD = 0.03  # every phone needs >= 3 frames, every word >= 1 phone
NOISE_FLOOR_DBFS = -64.0
_NOISE_SEED = 20261121
_NOISE_CHUNK = 1 << 20
# Segments that are not transcript words: silence, noise and sentence markers.
_NON_WORDS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "(NULL)"}
_ALT_PRON = re.compile(r"\(\d+\)$")
_DICT_WORD = re.compile(r"^[a-z0-9'._-]+$")
_SEARCH_NAME = "msaflow_align"


def with_noise_floor(samples: np.ndarray, level_dbfs: float = NOISE_FLOOR_DBFS) -> np.ndarray:
    """Add white noise at `level_dbfs` (RMS re int16 full scale), seeded the same for every utterance.

    Digital silence (exact zeros, as in synthetic, gated or heavily denoised audio) gives log(0)
    frame energies that derail the features and make alignment fail; a +-1 LSB dither (about
    -96 dBFS) is too weak to fix it, a floor at -64 dBFS (inaudible under speech at any usual
    level) does. pocketsphinx's own dither draws from one generator per decoder, so a result
    would depend on which utterances the same worker decoded before; a per-utterance seed keeps
    results identical for any thread count and order.
    """
    rms = 32768.0 * 10.0 ** (level_dbfs / 20.0)
    rng = np.random.default_rng(_NOISE_SEED)
    out = np.empty(len(samples), dtype="<i2")
    for start in range(0, len(samples), _NOISE_CHUNK):  # chunks: an hour of audio stays small in memory
        piece = samples[start:start + _NOISE_CHUNK].astype(np.float64) + rng.normal(0.0, rms, size=min(_NOISE_CHUNK, len(samples) - start))
        out[start:start + len(piece)] = np.clip(np.round(piece), -32768, 32767)
    return out


class AlignmentFailed(Exception):
    """The engine could not align this utterance (the caller retries or falls back)."""


@dataclass(frozen=True)
class Slot:
    """One transcript token (or a number's group of tokens) and the readings a speaker may use.

    `readings[0]` is the transcript's own spelling (the words the word table lists); further
    readings are alternatives the decoder may pick, e.g. ("two", "thousand", "nineteen") for
    the transcript's ("twenty", "nineteen").
    """

    readings: tuple[tuple[str, ...], ...]

    @property
    def words(self) -> tuple[str, ...]:
        return self.readings[0]

    @staticmethod
    def of(word: str) -> Slot:
        return Slot(((word,),))


@dataclass(frozen=True)
class SlotResult:
    """The reading the decoder chose for slot `slot`, with the times of its spoken words."""

    slot: int
    reading: int
    words: tuple[EngineWord, ...]


def _import_pocketsphinx():
    try:
        import pocketsphinx
    except ImportError:  # pragma: no cover - pocketsphinx is a hard dependency of the align env
        raise MsaflowError(
            "the pocketsphinx engine needs the PyPI package 'pocketsphinx' (pip install pocketsphinx==5.1.1)"
        ) from None
    return pocketsphinx


def grammar_transitions(slots: list[Slot], prefix: bool) -> tuple[int, list[tuple]]:
    """FSG transitions (from, to, probability[, word]) and the final state.

    State i is "the first i slots are spoken". A reading of several words runs through states of
    its own. Every reading has probability 1: the grammar does not prefer one over another, the
    acoustics decide. With `prefix`, null transitions from every state after the first slot lead
    to the final state, so the decoder may stop after any slot.
    """
    n = len(slots)
    next_state = n + 1
    transitions: list[tuple] = []
    for i, slot in enumerate(slots):
        for reading in slot.readings:
            state = i
            for k, word in enumerate(reading):
                target = i + 1 if k == len(reading) - 1 else next_state
                if target == next_state:
                    next_state += 1
                transitions.append((state, target, 1.0, word))
                state = target
    if not prefix:
        return n, transitions
    final = next_state
    transitions.extend((i, final, 1.0) for i in range(1, n + 1))
    return final, transitions


def parse_slots(spoken: list[str], slots: list[Slot], prefix: bool) -> list[tuple[int, int, int]] | None:
    """Split the decoder's word sequence into slots: (slot, reading, number of words) per slot.

    None if the sequence does not follow the slots (or, without `prefix`, does not use all of them).
    """
    m = len(spoken)
    back: dict[tuple[int, int], tuple[int, int, int]] = {}  # (slots done, words used) -> previous state, reading
    frontier = {0}
    for i, slot in enumerate(slots):
        reached = set()
        for p in sorted(frontier):
            for r, reading in enumerate(slot.readings):
                q = p + len(reading)
                if q <= m and tuple(spoken[p:q]) == reading and (i + 1, q) not in back:
                    back[(i + 1, q)] = (p, r, len(reading))
                    reached.add(q)
        if not reached:
            break
        frontier = reached
    if prefix:
        done = max((i for (i, q) in back if q == m), default=None)
        if done is None:
            return None if m else []
    else:
        done = len(slots) if (len(slots), m) in back else None
        if done is None:
            return None
    path, i, q = [], done, m
    while i > 0:
        p, r, length = back[(i, q)]
        path.append((i - 1, r, length))
        i, q = i - 1, p
    return path[::-1]


class PocketsphinxAligner:
    """One decoder per (process, beam setting); reuse it across the utterances of a shard."""

    name = ENGINE_NAME

    def __init__(self, beam_log10: float = -48, wbeam_log10: float = -28,
                 g2p_cache: PronunciationCache | None = None, silence_probability: float = 0.1):
        ps = _import_pocketsphinx()
        self.sample_rate = SAMPLE_RATE
        self.g2p = g2p_cache if g2p_cache is not None else PronunciationCache(None)
        try:
            self.decoder = ps.Decoder(
                samprate=SAMPLE_RATE,
                beam=10.0 ** beam_log10,
                wbeam=10.0 ** wbeam_log10,
                pbeam=10.0 ** beam_log10,
                bestpath=False,
                # Pauses between words are common in monologue video and the synthetic benchmark
                # shows fewer gross boundary errors when silence is cheaper than the 0.005 default.
                silprob=silence_probability,
                dither=False,  # we add a seeded noise floor per utterance (see `with_noise_floor`)
                loglevel="FATAL",  # failures are reported per utterance in QC, not as C-library noise
            )
        except (RuntimeError, ValueError) as error:
            raise MsaflowError(f"pocketsphinx could not start (beam 1e{beam_log10}, wbeam 1e{wbeam_log10}, "
                               f"silence probability {silence_probability}): {error}") from None
        self._known: set[str] = set()

    def missing_words(self, words) -> list[str]:
        """Words the decoder's dictionary (plus words added so far) does not know."""
        return sorted({w for w in words if w not in self._known and self.decoder.lookup_word(w) is None})

    def ensure_pronunciations(self, words) -> dict[str, list[str]]:
        """Add espeak-ng pronunciations for out-of-vocabulary words; returns what was added."""
        words = list(words)
        missing = self.missing_words(words)
        added = {}
        for word, phones in self.g2p.lookup(missing).items():
            if not phones:
                continue  # left missing: alignment of its utterance fails and falls back
            try:
                self.decoder.add_word(word, " ".join(phones), True)
            except RuntimeError:
                continue  # a phone the acoustic model lacks: same as no pronunciation
            added[word] = phones
        self._known.update(w for w in words if self.decoder.lookup_word(w) is not None)
        return added

    def phone_count(self, word: str) -> int:
        """Phones of the word's shortest pronunciation (0 if unknown)."""
        counts, variant = [], 1
        while True:
            pron = self.decoder.lookup_word(word if variant == 1 else f"{word}({variant})")
            if not pron:
                return min(counts, default=0)
            counts.append(len(pron.split()))
            variant += 1

    def align(self, samples: np.ndarray, words: list[str]) -> list[EngineWord]:
        """Word segments for `words` (all spoken words, no markers) in `samples` (int16, 16 kHz)."""
        results = self.align_slots(samples, [Slot.of(w) for w in words])
        return [w for r in results for w in r.words]

    def align_slots(self, samples: np.ndarray, slots: list[Slot], prefix: bool = False) -> list[SlotResult]:
        """Decode `samples` (int16, 16 kHz, with the noise floor) against the slots' grammar.

        Without `prefix` every slot must be spoken; with it, the result covers the first k slots
        (k >= 0) that best explain the audio. Raises AlignmentFailed.
        """
        if not slots:
            raise AlignmentFailed("no words to align")
        vocabulary = sorted({w for s in slots for r in s.readings for w in r})
        bad = [w for w in vocabulary if not _DICT_WORD.match(w)]
        if bad:
            raise AlignmentFailed(f"words the dictionary cannot hold: {bad[:3]}")
        self.ensure_pronunciations(vocabulary)
        unknown = set(self.missing_words(vocabulary))
        if unknown:
            # An alternative reading with an unknown word is dropped; the transcript's own must be known.
            slots = [Slot(tuple(r for k, r in enumerate(s.readings) if k == 0 or not unknown & set(r))) for s in slots]
            missing = sorted({w for s in slots for w in s.words if w in unknown})
            if missing:
                raise AlignmentFailed(f"no pronunciation for {missing[:3]}")
        duration = len(samples) / SAMPLE_RATE
        shortest = sum(min(len(r) for r in s.readings) for s in slots)
        if not prefix and duration < MIN_SECONDS_PER_WORD * shortest:  # hopeless before trying
            raise AlignmentFailed(f"{duration:.2f} s of audio is too short for {shortest} words")
        final, transitions = grammar_transitions(slots, prefix)
        try:
            fsg = self.decoder.create_fsg(_SEARCH_NAME, 0, final, transitions)
            self.decoder.add_fsg(_SEARCH_NAME, fsg)
            self.decoder.activate_search(_SEARCH_NAME)
            # Feature state (cepstral mean, noise tracking) carries over between utterances;
            # resetting it makes each result independent of what this decoder aligned before.
            self.decoder.reinit_feat()
            self.decoder.start_utt()
            self.decoder.process_raw(np.ascontiguousarray(samples, dtype="<i2").tobytes(), full_utt=True)
            self.decoder.end_utt()
        except (RuntimeError, ValueError) as error:
            raise AlignmentFailed(f"pocketsphinx: {error}") from None
        segments = self.decoder.seg()
        if self.decoder.hyp() is None or segments is None:
            raise AlignmentFailed("search did not reach the end of the transcript")
        timed = [EngineWord(_ALT_PRON.sub("", s.word), s.start_frame / FRAME_RATE, (s.end_frame + 1) / FRAME_RATE)
                 for s in segments if s.word not in _NON_WORDS]
        path = parse_slots([w.word for w in timed], slots, prefix)
        if path is None:
            raise AlignmentFailed(f"aligned words do not follow the transcript ({len(timed)} words)")
        results, p = [], 0
        for slot, reading, length in path:
            results.append(SlotResult(slot, reading, tuple(timed[p:p + length])))
            p += length
        return results
