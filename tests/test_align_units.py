"""Unit tests of the alignment building blocks: g2p, reconciliation, fallback, TextGrids, MFA runner."""

import os
import shutil
import stat
import sys
import textwrap

import numpy as np
import pytest

from msaflow.align.fallback import detect_speech_region, distribute, fallback_intervals
from msaflow.align.g2p import PronunciationCache, ipa_to_arpabet
from msaflow.align.mfa import MfaItem, align_shard_with_mfa, find_mfa
from msaflow.align.reconcile import reconcile, spoken_words
from msaflow.align.textgrid import (
    TextGrid,
    Tier,
    engine_words_from_textgrid,
    format_textgrid,
    parse_textgrid,
    read_textgrid,
    words_textgrid,
    write_textgrid,
)
from msaflow.align.types import EngineWord, WordInterval
from msaflow.common import MsaflowError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


# --- g2p ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ipa, arpabet",
    [
        ("z_ˈoːɹ_b_l_æ_k_s", "Z AO R B L AE K S"),
        ("tʃ_ˈiː_z_b_ɚ_ɡ_ɚ", "CH IY Z B ER G ER"),
        ("dʒ_ˌæ_l_ɐ_p_ˈiː_n_j_oʊ", "JH AE L AH P IY N Y OW"),
        ("b_ˈʌ_ɾ_ɚ", "B AH T ER"),
        ("θ_ˈɪ_ŋ_k", "TH IH NG K"),
        ("ð_ˈaɪ_n", "DH AY N"),
        ("b_ˈʌ_ʔ_n̩", "B AH T N"),
        ("h_ˈaʊ_s", "HH AW S"),
    ],
)
def test_ipa_to_arpabet(ipa, arpabet):
    assert " ".join(ipa_to_arpabet(ipa)) == arpabet


@needs_espeak
def test_oov_pronunciation_from_espeak_is_cached(tmp_path, monkeypatch):
    cache_path = tmp_path / "g2p.tsv"
    cache = PronunciationCache(cache_path)
    prons = cache.lookup(["zorblax", "kubernetes"])
    assert prons["zorblax"] == ["Z", "AO", "R", "B", "L", "AE", "K", "S"]
    assert prons["kubernetes"][:3] == ["K", "Y", "UW"]
    cache.save()
    assert "zorblax\tZ AO R B L AE K S" in cache_path.read_text().splitlines()

    # A second cache object must answer from disk without running espeak-ng at all.
    import msaflow.align.g2p as g2p

    monkeypatch.setattr(g2p, "espeak_ipa", lambda words, voice="en-us": pytest.fail(f"espeak-ng called for {words}"))
    again = PronunciationCache(cache_path)
    assert again.lookup(["zorblax"])["zorblax"] == prons["zorblax"]


def test_cache_save_merges_concurrent_writers(tmp_path):
    path = tmp_path / "g2p.tsv"
    a, b = PronunciationCache(path), PronunciationCache(path)
    a.entries["aaa"] = a._new["aaa"] = "AA"
    b.entries["bbb"] = b._new["bbb"] = "B IY"
    a.save()
    b.save()  # b never saw "aaa" but must not erase it
    assert PronunciationCache(path).entries == {"aaa": "AA", "bbb": "B IY"}


# --- reconciliation: one row per transcript word, always ------------------------------------------
def test_reconcile_exact_match_keeps_engine_times():
    words = ["i", "liked", "it"]
    engine = [EngineWord("i", 0.1, 0.2), EngineWord("liked", 0.2, 0.6), EngineWord("it", 0.65, 0.8)]
    intervals, interpolated = reconcile(words, engine, "pocketsphinx", 1.0)
    assert interpolated == 0
    assert [(x.word, x.start, x.end, x.source) for x in intervals] == [
        ("i", 0.1, 0.2, "pocketsphinx"), ("liked", 0.2, 0.6, "pocketsphinx"), ("it", 0.65, 0.8, "pocketsphinx")]


def test_reconcile_preserves_word_count_when_engine_merges_splits_and_skips():
    words = ["the", "well", "known", "actor", "was", "great"]
    # merged "well known" into one token, renamed "actor" to <unk>, skipped "was"
    engine = [EngineWord("the", 0.0, 0.1), EngineWord("well-known", 0.1, 0.7), EngineWord("<unk>", 0.7, 1.0),
              EngineWord("great", 1.3, 1.6)]
    intervals, interpolated = reconcile(words, engine, "mfa", 2.0)
    assert [x.word for x in intervals] == words
    assert interpolated == 4
    assert [x.source for x in intervals] == ["mfa", "fallback", "fallback", "fallback", "fallback", "mfa"]
    starts = [x.start for x in intervals]
    assert starts == sorted(starts)
    assert intervals[1].start == pytest.approx(0.0 + 0.1)  # the merged span is split between the words
    assert intervals[4].start == pytest.approx(1.0 / 1.0 * 1.0, abs=0.35)  # "was" sits in the 1.0-1.3 s gap
    assert all(x.end <= 2.0 for x in intervals)


def test_reconcile_places_nonspeech_markers_in_the_pause():
    words = ["so", "<laughter>", "sp", "good"]
    engine = [EngineWord("so", 0.0, 0.3), EngineWord("good", 0.9, 1.2)]
    intervals, interpolated = reconcile(words, engine, "pocketsphinx", 1.5)
    assert interpolated == 0
    assert spoken_words(words) == ["so", "good"]
    assert intervals[1].start == pytest.approx(0.3) and intervals[2].end == pytest.approx(0.9)
    assert intervals[1].end == pytest.approx(intervals[2].start)
    assert {x.source for x in intervals} == {"pocketsphinx"}


# --- fallback -----------------------------------------------------------------------------------------
def _tone_with_silence(lead=0.5, speech=1.0, tail=0.7, sr=16000):
    rng = np.random.default_rng(0)
    silence = lambda s: rng.normal(0, 30, int(s * sr))  # noqa: E731 - quiet room noise
    t = np.arange(int(speech * sr)) / sr
    tone = 8000 * np.sin(2 * np.pi * 220 * t) + rng.normal(0, 30, t.size)
    return np.concatenate([silence(lead), tone, silence(tail)]).astype(np.int16)


def test_speech_region_is_found_by_energy():
    start, end = detect_speech_region(_tone_with_silence(), 16000)
    assert start == pytest.approx(0.5, abs=0.06)
    assert end == pytest.approx(1.5, abs=0.06)


def test_fallback_distributes_by_length_over_the_speech_region():
    intervals = fallback_intervals(["a", "bbb", "cccc"], _tone_with_silence(), 16000)
    assert [x.source for x in intervals] == ["fallback"] * 3
    lengths = np.array([x.end - x.start for x in intervals])
    assert lengths / lengths.sum() == pytest.approx([1 / 8, 3 / 8, 4 / 8])
    assert intervals[0].start == pytest.approx(0.5, abs=0.06) and intervals[-1].end == pytest.approx(1.5, abs=0.06)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(intervals, intervals[1:], strict=False))


def test_distribute_covers_span_exactly():
    intervals = distribute(["x", "yy"], 1.0, 4.0)
    assert [(x.start, x.end) for x in intervals] == [pytest.approx((1.0, 2.0)), pytest.approx((2.0, 4.0))]


# --- TextGrid ---------------------------------------------------------------------------------------
MFA_LONG_TEXTGRID = textwrap.dedent('''\
    File type = "ooTextFile"
    Object class = "TextGrid"

    xmin = 0
    xmax = 2.5
    tiers? <exists>
    size = 2
    item []:
        item [1]:
            class = "IntervalTier"
            name = "words"
            xmin = 0
            xmax = 2.5
            intervals: size = 5
            intervals [1]:
                xmin = 0
                xmax = 0.31
                text = ""
            intervals [2]:
                xmin = 0.31
                xmax = 0.72
                text = "really"
            intervals [3]:
                xmin = 0.72
                xmax = 1.2
                text = "liked"
            intervals [4]:
                xmin = 1.2
                xmax = 1.9
                text = "it"
            intervals [5]:
                xmin = 1.9
                xmax = 2.5
                text = ""
        item [2]:
            class = "IntervalTier"
            name = "phones"
            xmin = 0
            xmax = 2.5
            intervals: size = 2
            intervals [1]:
                xmin = 0
                xmax = 0.31
                text = ""
            intervals [2]:
                xmin = 0.31
                xmax = 2.5
                text = "R"
    ''')

MFA_SHORT_MULTISPEAKER = textwrap.dedent('''\
    File type = "ooTextFile"
    Object class = "TextGrid"

    0
    1.5
    <exists>
    1
    "IntervalTier"
    "spk00001 - words"
    0
    1.5
    3
    0
    0.4
    "hello"
    0.4
    0.6
    ""
    0.6
    1.5
    "there"
    ''')


def test_parse_mfa_long_format(tmp_path):
    path = tmp_path / "utt.TextGrid"
    path.write_text(MFA_LONG_TEXTGRID)
    grid = read_textgrid(path)
    assert [t.name for t in grid.tiers] == ["words", "phones"]
    words = engine_words_from_textgrid(grid)
    assert words == [EngineWord("really", 0.31, 0.72), EngineWord("liked", 0.72, 1.2), EngineWord("it", 1.2, 1.9)]


def test_parse_mfa_short_format_speaker_tier():
    words = engine_words_from_textgrid(parse_textgrid(MFA_SHORT_MULTISPEAKER))
    assert words == [EngineWord("hello", 0.0, 0.4), EngineWord("there", 0.6, 1.5)]


def test_textgrid_round_trip(tmp_path):
    intervals = [WordInterval("quote\"d", 0.1, 0.5, "pocketsphinx"), WordInterval("word", 0.5, 0.93, "pocketsphinx"),
                 WordInterval("<laughter>", 1.2, 1.4, "pocketsphinx")]
    path = tmp_path / "rt.TextGrid"
    write_textgrid(path, words_textgrid(intervals, 2.0))
    grid = read_textgrid(path)
    assert grid.xmax == 2.0
    assert engine_words_from_textgrid(grid) == [EngineWord(x.word.lower(), x.start, x.end) for x in intervals]
    tier = grid.tier("words")  # Praat needs contiguous intervals: gaps are filled with ""
    assert all(a[1] == pytest.approx(b[0]) for a, b in zip(tier.intervals, tier.intervals[1:], strict=False))
    assert tier.intervals[0][0] == 0.0 and tier.intervals[-1][1] == 2.0


def test_unparseable_textgrid_names_the_file():
    with pytest.raises(MsaflowError, match="bad.TextGrid"):
        parse_textgrid('File type = "ooTextFile"\nObject class = "TextGrid"\n0\n', "bad.TextGrid")


def test_formatting_is_praat_long_format():
    text = format_textgrid(TextGrid(0.0, 1.0, [Tier("words", [(0.2, 0.4, "hi")])]))
    assert 'class = "IntervalTier"' in text and "intervals: size = 3" in text


# --- MFA runner -------------------------------------------------------------------------------------
def test_missing_mfa_says_how_to_install_and_how_to_switch(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MsaflowError) as error:
        find_mfa("mfa")
    message = str(error.value)
    assert "conda" in message and "envs/mfa.yaml" in message
    assert "pocketsphinx" in message and "--engine pocketsphinx" in message


FAKE_MFA = '''#!{python}
"""Stands in for `mfa align`: checks the call, writes one MFA-style TextGrid per .lab file."""
import os, sys, pathlib
args = sys.argv[1:]
assert args[0] == "align", args
corpus, dictionary, model, out = map(pathlib.Path, args[1:5])
root = os.environ["MFA_ROOT_DIR"]
assert "--temporary_directory" in args and args[args.index("--temporary_directory") + 1] == root
pathlib.Path({log!r}).open("a").write(root + "\\n")
for lab in corpus.rglob("*.lab"):
    words = lab.read_text().split()
    if "unalignable" in words:
        continue  # MFA skips utterances it cannot align: no TextGrid
    target = out / lab.parent.name / (lab.stem + ".TextGrid")
    target.parent.mkdir(parents=True, exist_ok=True)
    n = len(words)
    rows = [(0.0, 0.2, "")] + [(0.2 + 0.3 * i, 0.5 + 0.3 * i, w) for i, w in enumerate(words)]
    body = "\\n".join(f"            intervals [{{k}}]:\\n                xmin = {{a}}\\n                xmax = {{b}}\\n                text = \\"{{t}}\\""
                     for k, (a, b, t) in enumerate(rows, 1))
    end = 0.5 + 0.3 * (n - 1)
    target.write_text(f"""File type = "ooTextFile"\\nObject class = "TextGrid"\\n\\nxmin = 0\\nxmax = {{end}}\\ntiers? <exists>\\nsize = 1\\nitem []:\\n    item [1]:\\n        class = "IntervalTier"\\n        name = "words"\\n        xmin = 0\\n        xmax = {{end}}\\n        intervals: size = {{len(rows)}}\\n{{body}}\\n""")
'''


def test_mfa_runner_uses_a_private_root_and_parses_textgrids(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    roots_log = tmp_path / "roots.txt"
    fake = bin_dir / "mfa"
    fake.write_text(FAKE_MFA.format(python=sys.executable, log=str(roots_log)))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"")
    items = [MfaItem("v1$_$1", "v1", ["hello", "there"], wav), MfaItem("v1$_$2", "v1", ["unalignable"], wav),
             MfaItem("v 2$_$x", "v 2", ["good"], wav)]
    first = align_shard_with_mfa(items, "english_us_arpa", "english_us_arpa", threads=2)
    second = align_shard_with_mfa(items[:1], "english_us_arpa", "english_us_arpa")
    assert first["v1$_$1"] == [EngineWord("hello", 0.2, 0.5), EngineWord("there", 0.5, 0.8)]
    assert first["v 2$_$x"] == [EngineWord("good", 0.2, 0.5)]
    assert "no TextGrid" in first["v1$_$2"]
    assert second["v1$_$1"] == first["v1$_$1"]
    roots = roots_log.read_text().split()
    assert len(roots) == 2 and roots[0] != roots[1]  # a fresh MFA root per job
    assert not any(os.path.exists(r) for r in roots)  # and cleaned up afterwards


def test_mfa_failure_is_reported(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "mfa"
    fake.write_text(f"#!{sys.executable}\nimport sys\nprint('Kaldi exploded', file=sys.stderr)\nsys.exit(3)\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(MsaflowError, match="Kaldi exploded"):
        align_shard_with_mfa([MfaItem("v$_$1", "v", ["hi"], tmp_path / "a.wav")], "d", "m")
