"""Alignment robustness (issue 15): long utterances, coverage QC, silence, digital silence,
numbers, odd inputs through the API, and boundary refinement.

Speech comes from espeak-ng (msaflow.align.synth), so every word onset is known.
"""

import shutil

import numpy as np
import pytest

from msaflow.align.aligner import AlignSettings, PocketsphinxWorker, align_utterance
from msaflow.align.longform import align_long
from msaflow.align.pocketsphinx_engine import (
    AlignmentFailed,
    Slot,
    SlotResult,
    grammar_transitions,
    parse_slots,
    with_noise_floor,
)
from msaflow.align.qc import coverage_problems
from msaflow.align.refine import fine_energy_db, onset_after_silence
from msaflow.align.synth import SENTENCES
from msaflow.align.types import EngineWord, WordInterval
from msaflow.align.vad import frame_energies_db, pauses, speech_activity
from msaflow.text import normalize_transcript, normalize_transcript_groups

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
SR = 16000


@pytest.fixture(scope="module")
def worker():
    settings = AlignSettings()
    return PocketsphinxWorker(settings), settings


def onset_errors(result, onsets):
    """Absolute onset errors (s) of the words with a known onset (connected speech has a few without)."""
    return [abs(x.start - t) for x, t in zip(result.intervals, onsets, strict=True) if not np.isnan(t)]


def tone(seconds, freq=220.0, level=0.3):
    t = np.arange(int(seconds * SR)) / SR
    return level * 32767 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 4 * t))


# --- text: number readings -----------------------------------------------------------------------------
def test_numbers_keep_their_word_table_reading_and_offer_others():
    groups = normalize_transcript_groups("In 2019, 150 people paid $20")
    assert [w for g in groups for w in g.words] == normalize_transcript("In 2019, 150 people paid $20")
    year = groups[1]
    assert year.words == ("twenty", "nineteen")
    assert ("two", "thousand", "nineteen") in year.alternatives
    assert ("two", "thousand", "and", "nineteen") in year.alternatives
    assert ("one", "hundred", "and", "fifty") in groups[2].alternatives
    assert all(a[-1] == "dollars" for a in groups[-1].alternatives)
    assert normalize_transcript_groups("1,500")[0].alternatives == (("fifteen", "hundred"),)
    assert normalize_transcript_groups("the 3rd of 7")[1].alternatives == ()


# --- engine grammar ----------------------------------------------------------------------------------
def test_grammar_with_readings_and_prefix_parses_back():
    slots = [Slot.of("in"), Slot((("twenty", "nineteen"), ("two", "thousand", "nineteen"))), Slot.of("we")]
    final, transitions = grammar_transitions(slots, prefix=False)
    assert final == 3 and (0, 1, 1.0, "in") in transitions
    assert parse_slots(["in", "two", "thousand", "nineteen", "we"], slots, prefix=False) == [(0, 0, 1), (1, 1, 3), (2, 0, 1)]
    assert parse_slots(["in", "twenty"], slots, prefix=False) is None
    final, transitions = grammar_transitions(slots, prefix=True)
    assert sum(len(t) == 3 for t in transitions) == 3  # a way out after every slot
    assert parse_slots(["in", "twenty", "nineteen"], slots, prefix=True) == [(0, 0, 1), (1, 0, 2)]
    assert parse_slots([], slots, prefix=True) == []


def test_noise_floor_is_deterministic_and_at_minus_64_dbfs():
    silence = np.zeros(SR, dtype=np.int16)
    a, b = with_noise_floor(silence), with_noise_floor(silence)
    assert np.array_equal(a, b) and np.mean(a == 0) < 0.05
    level = 20 * np.log10(np.sqrt(np.mean(a.astype(float) ** 2)) / 32768)
    assert level == pytest.approx(-64, abs=0.5)
    loud = (np.ones(SR) * 20000).astype(np.int16)
    assert np.abs(with_noise_floor(loud).astype(int) - 20000).max() < 120  # inaudible under speech


# --- speech activity ---------------------------------------------------------------------------------
def test_no_speech_in_silence_or_steady_noise_but_in_bursts():
    rng = np.random.default_rng(0)
    silence = with_noise_floor(np.zeros(2 * SR, dtype=np.int16))
    hiss = with_noise_floor(rng.normal(0, 2000, 2 * SR).astype(np.int16))
    bursts = with_noise_floor(np.concatenate([np.zeros(SR // 2), tone(0.5), np.zeros(SR // 2), tone(0.4)]).astype(np.int16))
    assert "silence" in speech_activity(silence, SR).no_speech_reason()
    assert "steady" in speech_activity(hiss, SR).no_speech_reason()
    activity = speech_activity(bursts, SR)
    assert activity.has_speech
    found = pauses(activity)
    assert len(found) == 2 and found[1][0] == pytest.approx(1.0, abs=0.05) and found[1][1] == pytest.approx(1.5, abs=0.05)


def test_frame_energies_are_chunk_independent():
    x = with_noise_floor((np.sin(np.arange(3 * SR) / 7.0) * 8000).astype(np.int16))
    import msaflow.align.vad as vad

    whole = frame_energies_db(x, SR)
    old, vad._CHUNK_FRAMES = vad._CHUNK_FRAMES, 37
    try:
        assert np.allclose(frame_energies_db(x, SR), whole)
    finally:
        vad._CHUNK_FRAMES = old


# --- refinement and QC on constructed signals ---------------------------------------------------------
def test_onset_moves_from_silence_to_the_rise():
    x = with_noise_floor(np.concatenate([np.zeros(int(0.5 * SR)), tone(0.3, level=0.5)]).astype(np.int16))
    energy = fine_energy_db(x, SR)
    floor = speech_activity(x, SR).floor_db
    assert onset_after_silence(0.45, energy, floor) == pytest.approx(0.5, abs=0.006)  # engine early
    assert onset_after_silence(0.52, energy, floor) == pytest.approx(0.5, abs=0.006)  # engine late
    assert onset_after_silence(0.30, energy, floor) is None  # too far: the engine stays


def test_coverage_flags_untimed_speech_and_squeezed_words():
    x = with_noise_floor(np.concatenate([np.zeros(SR // 4), tone(1.0), np.zeros(SR // 4), tone(1.8),
                                         np.zeros(SR // 4)]).astype(np.int16))
    activity = speech_activity(x, SR)
    half = [WordInterval("good", 0.25, 0.7, "pocketsphinx"), WordInterval("movie", 0.7, 1.25, "pocketsphinx")]
    engine = [EngineWord(w.word, w.start, w.end) for w in half]
    problems = coverage_problems(half, engine, activity, {"good": 3, "movie": 4}, 1.0)
    assert len(problems) == 1 and "1.8 s of speech outside any word" in problems[0]
    assert coverage_problems(half, engine, activity, {}, 1.0, untimed_events=1) == []  # a marked <laughter>
    full = half + [WordInterval("yes", 1.5, 3.3, "pocketsphinx")]
    assert coverage_problems(full, engine, activity, {}, 1.0) == []
    squeezed = [EngineWord(w, 0.1 * i, 0.1 * i + 0.09) for i, w in enumerate("abc")]
    problems = coverage_problems(full, squeezed, activity, {"a": 3, "b": 3, "c": 3}, 1.0)
    assert len(problems) == 1 and "3 of 3 words squeezed" in problems[0]


def test_long_audio_is_cut_at_pauses_and_every_word_kept_once():
    """align_long with a stand-in decoder that knows the truth: words every 0.5 s, a pause after every 8th."""
    slots, onsets, t = [], [], 0.3
    for i in range(120):
        slots.append(Slot.of(f"w{i}"))
        onsets.append(t)
        t += 0.5 + (0.4 if i % 8 == 7 else 0.0)
    x = np.zeros(int((t + 0.3) * SR))
    for onset in onsets:
        x[int(onset * SR):int(onset * SR) + int(0.4 * SR)] = tone(0.4)
    x = with_noise_floor(x.astype(np.int16))
    calls = []

    def decode(samples, piece_slots, prefix):
        begin = (samples.ctypes.data - x.ctypes.data) / x.itemsize / SR  # the piece is a view of x
        end = begin + len(samples) / SR
        first = int(piece_slots[0].words[0][1:])
        out = []
        for k, slot in enumerate(piece_slots):
            i = first + k
            if onsets[i] + 0.4 > end:
                break
            out.append(SlotResult(k, 0, (EngineWord(slot.words[0], onsets[i] - begin, onsets[i] + 0.4 - begin),)))
        if not prefix and len(out) != len(piece_slots):
            raise AlignmentFailed("not all words fit")
        calls.append((begin, end, prefix))
        return out

    result = align_long(decode, x, SR, slots, speech_activity(x, SR), window_s=10.0)
    assert [r.slot for r in result.results] == list(range(120))
    assert result.windows == len(calls) >= 6 and not result.failed_windows
    assert all(prefix for *_, prefix in calls[:-1]) and not calls[-1][2]
    assert all(end - begin <= 10.0 + 1e-6 for begin, end, _ in calls)
    assert max(abs(r.words[0].start - onsets[r.slot]) for r in result.results) < 1e-6


# --- the aligner on synthetic speech ---------------------------------------------------------------------
@needs_espeak
def test_long_utterance_aligns_piecewise_as_well_as_its_parts(worker):
    """68 s from six 'recordings' (voices, rates); one decoder pass fell back whole (mean error 0.44 s)."""
    from msaflow.align.synth import synth_connected

    w, settings = worker
    voices = [("en-us", 175), ("en-us+f3", 160), ("en-gb", 190), ("en-us+klatt", 150), ("en-us+m3", 200),
              ("en-us+f2", 170)]
    pieces, texts, truth, short_errors, offset = [], [], [], [], 0.0
    for j, (voice, rate) in enumerate(voices):
        text = ". ".join(SENTENCES[(5 + 4 * j + k) % len(SENTENCES)].lower() for k in range(4)) + "."
        utt = synth_connected(text, voice, rate, lead_s=0.2, tail_s=0.2)
        words = normalize_transcript(text)
        short = align_utterance(f"s{j}", text, utt.samples, SR, w, settings)
        short_errors.extend(onset_errors(short, utt.onsets))
        pieces.append(utt.samples)
        texts.append(text)
        truth.extend(np.asarray(utt.onsets) + offset)
        offset += utt.duration
        assert len(words) == len(utt.onsets)
    assert offset >= 60
    result = align_utterance("long", " ".join(texts), np.concatenate(pieces), SR, w, settings)
    assert result.status == "ok", result.reason
    assert "windows" in result.reason
    assert {x.source for x in result.intervals} == {"pocketsphinx"}
    long_error, short_error = np.mean(onset_errors(result, truth)), np.mean(short_errors)
    assert long_error <= 2 * short_error, (long_error, short_error)


@needs_espeak
def test_half_transcript_is_not_ok(worker):
    from msaflow.align.synth import synth_connected

    w, settings = worker
    first, second = SENTENCES[0], SENTENCES[6]
    utt = synth_connected(f"{first}. {second}.")
    complete = align_utterance("full", f"{first}. {second}.", utt.samples, SR, w, settings)
    assert complete.status == "ok", complete.reason
    for text in (first, second):
        half = align_utterance("half", text, utt.samples, SR, w, settings)
        assert half.status == "fallback" and "speech outside any word" in half.reason, half.reason


@needs_espeak
def test_silence_with_a_transcript_fails_with_no_speech(worker):
    w, settings = worker
    for samples in (np.zeros(2 * SR, dtype=np.int16), np.random.default_rng(1).integers(-3, 4, 2 * SR).astype(np.int16)):
        result = align_utterance("quiet", "this is not here", samples, SR, w, settings)
        assert result.status == "failed" and result.reason.startswith("no speech"), result.reason
        assert result.intervals == []


@needs_espeak
def test_gated_speech_with_digital_silence_aligns(worker):
    """Noise-gated speech (10 ms frames below -30 dBFS set to exact zero, as in the benchmark): with the
    +-1 LSB dither all five of these fell back; the -64 dBFS noise floor aligns them."""
    from msaflow.align.synth import add_white_noise, noise_gate, synth_connected

    w, settings = worker
    voices, rates = ["en-us", "en-us+f3", "en-us+m3", "en-gb", "en-us+f2", "en-us+klatt"], [130, 160, 190, 220]
    outcomes = []
    for i in (13, 14, 18, 20, 21):
        text = SENTENCES[i].lower()
        utt = synth_connected(text, voices[i % 6], rates[(i // 6) % 4])
        x = noise_gate(add_white_noise(utt.samples, 30.0, seed=i), -30.0)
        result = align_utterance(f"g{i}", text, x, SR, w, settings)
        outcomes.append((result.status, round(float(np.mean(onset_errors(result, utt.onsets))), 3)))
    assert [s for s, _ in outcomes] == ["ok"] * 5, outcomes
    assert max(e for _, e in outcomes) < 0.08, outcomes


@needs_espeak
def test_other_sample_rates_are_resampled_through_the_api(worker):
    from scipy.signal import resample_poly

    from msaflow.align.synth import synth_utterance

    w, settings = worker
    utt = synth_utterance(["good", "movie"], seed=0)
    for rate in (8000, 44100):
        x = np.round(resample_poly(utt.samples.astype(float), rate // 100, 160)).astype(np.int16)
        result = align_utterance("sr", "good movie", x, rate, w, settings)
        assert result.status == "ok" and result.duration == pytest.approx(utt.duration, abs=0.01)
        assert np.mean(onset_errors(result, utt.onsets)) < 0.05


@needs_espeak
def test_decoder_runtime_error_is_a_failed_outcome(worker, monkeypatch):
    from msaflow.align import pocketsphinx_engine
    from msaflow.align.synth import synth_utterance

    w, settings = worker

    def broken(self, words):
        raise RuntimeError("Failed to initialize PocketSphinx")

    monkeypatch.setattr(pocketsphinx_engine.PocketsphinxAligner, "ensure_pronunciations", broken)
    utt = synth_utterance(["good", "movie"], seed=0)
    result = align_utterance("rt", "good movie", utt.samples, SR, w, settings)
    assert result.status == "failed" and "pocketsphinx error: Failed to initialize" in result.reason


@needs_espeak
def test_numbers_follow_the_reading_the_speaker_used(worker):
    """espeak-ng says 'two thousand (and) nineteen'; the transcript's normalisation is 'twenty nineteen'."""
    from msaflow.align.synth import synth_connected

    w, settings = worker
    text = "In 2019 I watched it twice"
    for voice in ("en-us", "en-gb"):
        utt = synth_connected(text, voice)
        result = align_utterance("n", text, utt.samples, SR, w, settings)
        assert result.status == "ok", result.reason
        assert [x.word for x in result.intervals] == normalize_transcript(text)  # the table keeps the transcript
        number, after = result.intervals[1], result.intervals[3]  # "twenty" (of 2019) and "i"
        assert abs(number.start - utt.onsets[1]) < 0.06 and abs(after.start - utt.onsets[2]) < 0.06, (voice, result)


@needs_espeak
def test_refinement_brings_clean_synthetic_speech_under_20_ms():
    from msaflow.align.synth import synth_utterance

    errors = {}
    for refine in (False, True):
        settings = AlignSettings(refine_boundaries=refine)
        w = PocketsphinxWorker(settings)
        e = []
        for i, sentence in enumerate(SENTENCES[:6]):
            words = sentence.lower().split()
            utt = synth_utterance(words, ["en-us", "en-us+f3", "en-us+m3"][i % 3], 160 + 20 * (i % 3), seed=i)
            e.extend(onset_errors(align_utterance(f"r{i}", sentence, utt.samples, SR, w, settings), utt.onsets))
        errors[refine] = np.mean(e)
    assert errors[True] <= 0.020 and errors[True] < errors[False] - 0.005, errors
