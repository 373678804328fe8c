"""The align stage on espeak-ng speech: rows per word, QC accounting, fallback, errors."""

import shutil

import numpy as np
import pytest

from msaflow.cli import build_parser
from msaflow.cli import main as cli_main
from msaflow.common import MsaflowError, read_qc, read_tsv, write_tsv
from msaflow.text import normalize_transcript

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")

SHARD_COLUMNS = ["utterance_id", "video_id", "clip_id", "text", "label", "annotation", "mode", "shard",
                 "media_path", "start", "end"]


def make_shard(tmp_path, utterances, audio_status=None):
    """utterances: {uid: (transcript, words to synthesise or None for no wav)}."""
    from msaflow.align.synth import synth_utterance, write_wav

    audio_dir = tmp_path / "audio" / "s000"
    audio_dir.mkdir(parents=True)
    truth = {}
    for i, (uid, (_text, spoken)) in enumerate(utterances.items()):
        if spoken is not None:
            utt = synth_utterance(spoken, seed=i)
            write_wav(audio_dir / f"{uid}.wav", utt.samples)
            truth[uid] = utt
    rows = [(uid, uid.split("$_$")[0], uid.split("$_$")[1], text, "0.0", "Neutral", "train", "s000", "", "", "")
            for uid, (text, _) in utterances.items()]
    write_tsv(tmp_path / "s000.tsv", SHARD_COLUMNS, rows)
    status = audio_status or {}
    write_tsv(tmp_path / "audio.qc.tsv", ["utterance_id", "status", "reason"],
              [(uid, status.get(uid, "ok"), "") for uid in utterances])
    return truth


def stage_args(tmp_path, *extra):
    argv = ["align", "--shard-manifest", str(tmp_path / "s000.tsv"), "--audio-dir", str(tmp_path / "audio" / "s000"),
            "--audio-qc", str(tmp_path / "audio.qc.tsv"), "--out", str(tmp_path / "align.tsv"),
            "--qc", str(tmp_path / "align.qc.tsv"), "--g2p-cache", str(tmp_path / "g2p.tsv"), "--threads", "1", *extra]
    parser, module = build_parser(argv)
    return module, parser.parse_args(argv)


def run_stage(tmp_path, *extra):
    module, args = stage_args(tmp_path, *extra)
    assert module.main(args) == 0
    rows = read_tsv(tmp_path / "align.tsv")
    return rows, read_qc(tmp_path / "align.qc.tsv")


def words_of(rows, uid):
    return [r for r in rows if r["utterance_id"] == uid]


def test_stage_aligns_every_word_with_oov_and_markers(tmp_path):
    spoken = ["honestly", "the", "zorblax", "was", "great"]
    truth = make_shard(tmp_path, {
        "vid$_$1": ("Honestly, the ZORBLAX was (umm) great! <laughter>", spoken),
        "vid$_$2": ("It was bad", ["it", "was", "bad"]),
    })
    rows, qc = run_stage(tmp_path, "--textgrid-dir", str(tmp_path / "tg"))
    assert qc == {"vid$_$1": ("ok", ""), "vid$_$2": ("ok", "")}
    first = words_of(rows, "vid$_$1")
    assert [r["word"] for r in first] == normalize_transcript("Honestly, the ZORBLAX was (umm) great! <laughter>")
    assert [int(r["word_index"]) for r in first] == list(range(len(spoken)))
    assert {r["source"] for r in first} == {"pocketsphinx"}
    errors = [abs(float(r["start"]) - t) for r, t in zip(first, truth["vid$_$1"].onsets, strict=False)]
    assert np.mean(errors) < 0.06, errors  # the out-of-vocabulary word got a usable pronunciation
    assert "zorblax\t" in (tmp_path / "g2p.tsv").read_text()
    assert sorted(p.name for p in (tmp_path / "tg").iterdir()) == ["vid$_$1.TextGrid", "vid$_$2.TextGrid"]


def test_forced_engine_failure_falls_back_and_is_recorded(tmp_path, monkeypatch):
    from msaflow.align import pocketsphinx_engine

    calls = []

    def always_fail(self, samples, slots, prefix=False):
        calls.append(slots)
        raise pocketsphinx_engine.AlignmentFailed("forced failure for the test")

    monkeypatch.setattr(pocketsphinx_engine.PocketsphinxAligner, "align_slots", always_fail)
    make_shard(tmp_path, {"vid$_$1": ("this will fail", ["this", "will", "fail"])})
    rows, qc = run_stage(tmp_path)
    assert len(calls) == 2  # first try and the wide-beam retry
    status, reason = qc["vid$_$1"]
    assert status == "fallback" and "forced failure for the test" in reason and "wide-beam retry" in reason
    assert [r["word"] for r in rows] == ["this", "will", "fail"]
    assert {r["source"] for r in rows} == {"fallback"}
    starts = [float(r["start"]) for r in rows]
    ends = [float(r["end"]) for r in rows]
    assert starts == sorted(starts) and all(a <= b for a, b in zip(starts, ends, strict=False))
    assert starts[0] >= 0.25  # inside the speech region (0.3 s of leading silence), not from 0


def test_qc_accounts_for_every_usable_utterance(tmp_path):
    make_shard(tmp_path, {
        "v$_$ok": ("good movie", ["good", "movie"]),
        "v$_$long": ("this transcript is far too long for the tiny clip it belongs to " * 4, ["no"]),
        "v$_$empty": ("(umm) ... <laughter>", ["um"]),
        "v$_$audiofail": ("never seen", None),
    }, audio_status={"v$_$audiofail": "failed"})
    rows, qc = run_stage(tmp_path)
    assert set(qc) == {"v$_$ok", "v$_$long", "v$_$empty"}  # the audio stage's failure is not ours to count
    assert qc["v$_$ok"][0] == "ok"
    assert qc["v$_$long"][0] == "fallback"
    assert qc["v$_$empty"] == ("failed", "transcript has no words after normalisation")
    long_words = normalize_transcript("this transcript is far too long for the tiny clip it belongs to " * 4)
    assert [r["word"] for r in words_of(rows, "v$_$long")] == long_words
    assert words_of(rows, "v$_$empty") == []


def test_missing_wav_names_the_utterance(tmp_path):
    make_shard(tmp_path, {"v$_$gone": ("hello", None)})
    module, args = stage_args(tmp_path)
    with pytest.raises(MsaflowError, match=r"v\$_\$gone"):
        module.main(args)


def test_one_odd_file_is_one_failed_row_and_the_shard_goes_on(tmp_path, monkeypatch):
    """A wav at 8 kHz, a file that is not a wav, and a decoder error: three QC rows, the rest aligned."""
    from msaflow.align import pocketsphinx_engine
    from msaflow.align.synth import write_wav

    make_shard(tmp_path, {
        "v$_$good": ("good movie", ["good", "movie"]),
        "v$_$sr": ("hello", None),
        "v$_$junk": ("hello", None),
        "v$_$crash": ("explode here", ["explode", "here"]),
        "v$_$fine": ("bad acting", ["bad", "acting"]),
    })
    audio = tmp_path / "audio" / "s000"
    write_wav(audio / "v$_$sr.wav", np.zeros(8000, dtype=np.int16), sample_rate=8000)
    (audio / "v$_$junk.wav").write_bytes(b"RIFF....not a wave file at all")
    original = pocketsphinx_engine.PocketsphinxAligner.ensure_pronunciations

    def crash_on_explode(self, words):
        if "explode" in words:
            raise RuntimeError("Failed to initialize PocketSphinx")
        return original(self, words)

    monkeypatch.setattr(pocketsphinx_engine.PocketsphinxAligner, "ensure_pronunciations", crash_on_explode)
    rows, qc = run_stage(tmp_path)
    assert qc["v$_$good"] == ("ok", "") and qc["v$_$fine"] == ("ok", "")
    assert qc["v$_$sr"][0] == "failed" and "16000 Hz" in qc["v$_$sr"][1] and "8000 Hz" in qc["v$_$sr"][1]
    assert qc["v$_$junk"][0] == "failed" and "not a readable PCM wav" in qc["v$_$junk"][1]
    assert qc["v$_$crash"] == ("failed", "pocketsphinx error: Failed to initialize PocketSphinx")
    assert {r["utterance_id"] for r in rows} == {"v$_$good", "v$_$fine"}


def test_mfa_engine_without_mfa_stops_with_install_message(tmp_path, capsys, monkeypatch):
    make_shard(tmp_path, {"v$_$1": ("hello", ["hello"])})
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # espeak-ng stays reachable, mfa does not
    _, args = stage_args(tmp_path)
    argv = ["align", "--shard-manifest", args.shard_manifest, "--audio-dir", args.audio_dir, "--audio-qc", args.audio_qc,
            "--out", args.out, "--qc", args.qc, "--engine", "mfa", "--mfa-executable", "mfa-not-installed-here"]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert "conda" in err and "--engine pocketsphinx" in err
    assert not (tmp_path / "align.tsv").exists()


@pytest.mark.e2e
def test_parallel_run_matches_serial_run(tmp_path):
    make_shard(tmp_path, {f"v$_${i}": (" ".join(w), w) for i, w in enumerate(
        [["good", "movie"], ["bad", "acting", "overall"], ["i", "liked", "the", "music"], ["not", "for", "me"]])})
    serial, qc1 = run_stage(tmp_path)
    (tmp_path / "align.tsv").unlink()
    parallel, qc2 = run_stage(tmp_path, "--threads", "2")
    assert serial == parallel and qc1 == qc2
