"""`msaflow visual` on small real videos (a face photo, grey frames, two faces, a blink, an audio-only
file, a missing file, a start/end cut): QC accounting, the SDK layout, then `msaflow words` on the
visual frames and the exports' vision."""

import json
from argparse import Namespace

import numpy as np
import pytest
from conftest import run_exports, run_visual_probe
from scipy.io import wavfile

from msaflow.cli import main as cli_main
from msaflow.common import QC_COLUMNS, read_qc, write_tsv
from msaflow.features import csd
from msaflow.visual import facial_like

MANIFEST_COLS = ["utterance_id", "video_id", "clip_id", "text", "label", "annotation", "mode", "shard",
                 "media_path", "start", "end"]
CLIPS = {  # utterance id: (media file, start, end, mode)
    "v1$_$face": ("face.avi", "", "", "train"),
    "v1$_$noface": ("noface.avi", "", "", "train"),
    "v1$_$sometimes": ("sometimes.avi", "", "", "train"),
    "v2$_$two": ("two.avi", "", "", "train"),
    "v2$_$audio": ("audio.wav", "", "", "valid"),
    "v3$_$missing": ("missing.avi", "", "", "valid"),
    "v3$_$cut": ("face.avi", "0.3", "0.7", "test"),
    "v4$_$blink": ("blink.avi", "", "", "test"),
}


@pytest.fixture(scope="module")
def stage(visual_python, tmp_path_factory):
    root = tmp_path_factory.mktemp("visual_stage")
    media = root / "media"
    run_visual_probe(visual_python, "media", media)
    wavfile.write(media / "audio.wav", 16000, (3000 * np.sin(np.arange(16000) / 5.0)).astype(np.int16))
    rows = [(uid, *uid.split("$_$"), "hello there", 0.5, "Positive", mode, "s000", str(media / path), start, end)
            for uid, (path, start, end, mode) in CLIPS.items()]
    write_tsv(root / "shard.tsv", MANIFEST_COLS, rows)
    args = ["visual", "--vset", "facial_like", "--engine", "mediapipe", "--shard-manifest", str(root / "shard.tsv"),
            "--out", str(root / "s000.h5"), "--qc", str(root / "s000.qc.tsv"), "--python", visual_python,
            "--min-face-fraction", "0.5", "--options", json.dumps({"fps_max": 30}), "--dataset", "t"]
    assert cli_main(args) == 0
    return root


def test_qc_accounts_for_every_clip(stage):
    qc = read_qc(stage / "s000.qc.tsv")
    assert set(qc) == set(CLIPS)  # in = ok + fallback + failed
    assert qc["v1$_$face"] == ("ok", "")
    assert qc["v1$_$noface"] == ("failed", "no face in any of 8 frames")
    assert qc["v1$_$sometimes"][0] == "fallback" and "face in only 3 of 10 frames" in qc["v1$_$sometimes"][1]
    assert qc["v2$_$two"][0] == "ok" and "several faces" in qc["v2$_$two"][1] and "kept the largest" in qc["v2$_$two"][1]
    assert qc["v2$_$audio"] == ("failed", "no video stream in audio.wav (audio-only input)")
    assert qc["v3$_$missing"][0] == "failed" and "media file missing" in qc["v3$_$missing"][1]
    assert qc["v3$_$cut"][0] == "ok"


def test_frames_layout_and_provenance(stage):
    frames, meta = csd.read_csd(stage / "s000.h5")
    qc = read_qc(stage / "s000.qc.tsv")
    assert set(frames) == {u for u, (s, _) in qc.items() if s != "failed"}
    names = meta["column names"]
    assert names == facial_like.column_names() and len(names) == 22
    for column in meta["columns"]:
        assert column["method"] and column["quality"] in ("exact-method", "approximation", "substitute")
        assert "landmarks" in column and "action_unit" in column
    assert {c["action_unit"] for c in meta["columns"]} >= {"AU1", "AU2", "AU4", "AU5", "AU6", "AU9", "AU12", "AU15",
                                                          "AU16", "AU17", "AU18", "AU20", "AU25", "AU26"}
    assert meta["settings"]["versions"]["mediapipe"] == "0.10.21"
    features, intervals = frames["v1$_$face"]
    assert features.shape == (10, 22) and features.dtype == np.float32
    np.testing.assert_allclose(intervals[:, 0], np.arange(10) / 10, atol=1e-6)
    np.testing.assert_allclose(intervals[:, 1] - intervals[:, 0], 0.1, atol=1e-6)
    assert np.isfinite(features).all()
    # frames without a face: NaN rows except face_found = 0
    sometimes, _ = frames["v1$_$sometimes"]
    assert sometimes[:3, 0].tolist() == [1, 1, 1] and sometimes[3:, 0].tolist() == [0] * 7
    assert np.isnan(sometimes[3:, 1:]).all() and np.isfinite(sometimes[:3, 2:]).all()
    # a clip cut at 0.3-0.7 s: its own frames, times from the cut's start
    cut, cut_intervals = frames["v3$_$cut"]
    assert len(cut) == 4 and cut_intervals[0, 0] == pytest.approx(0.0, abs=1e-6)
    assert cut[:, 0].tolist() == [1, 1, 1, 1]


def test_blink_sequence_shows_in_eye_closure(stage):
    frames, meta = csd.read_csd(stage / "s000.h5")
    closure = frames["v4$_$blink"][0][:, meta["column names"].index("eye_closure")]
    planned = np.array(json.loads((stage / "media" / "blink.json").read_text()))
    assert np.corrcoef(planned, closure)[0, 1] > 0.9
    assert closure[planned == 1.0].min() > closure[planned == 0.0].max() + 0.3


def test_words_average_visual_frames_and_feed_the_exports(stage, tmp_path):
    """The visual set goes through `msaflow words` like an acoustic set; its word file is the
    exports' vision."""
    from msaflow.stages import words

    qc = read_qc(stage / "s000.qc.tsv")
    manifest = [(uid, *uid.split("$_$"), "hello there", 0.5, "Positive", mode, "s000", "", "", "")
                for uid, (_, _, _, mode) in CLIPS.items()]
    write_tsv(tmp_path / "manifest.tsv", MANIFEST_COLS, manifest)
    align = [(uid, i, w, 0.1 + 0.3 * i, 0.35 + 0.3 * i, "test") for uid in CLIPS for i, w in enumerate(["hello", "there"])]
    write_tsv(tmp_path / "align.tsv", ["utterance_id", "word_index", "word", "start", "end", "source"], align)
    write_tsv(tmp_path / "align.qc.tsv", QC_COLUMNS, [(u, "ok", "") for u in CLIPS])

    def run(fset, frames, frames_qc, **extra):
        args = Namespace(fset=fset, dataset="t", manifest=str(tmp_path / "manifest.tsv"), acoustic=[str(frames)],
                         acoustic_qc=[str(frames_qc)], align=[str(tmp_path / "align.tsv")],
                         align_qc=[str(tmp_path / "align.qc.tsv")], out=str(tmp_path / f"{fset}.csd"),
                         qc=str(tmp_path / f"{fset}.qc.tsv"), mode="nanmean", fill_value=0.0, columns="all",
                         presets="{}", no_znorm=False, znorm="train", speaker_min_utterances=5, mmsa_out=None, mag_out=None, export_length=50, vision_dim=1,
                         tokenizer="minilm-l6", log=None)
        vars(args).update(extra)
        assert words.main(args) == 0

    run("facial_like", stage / "s000.h5", stage / "s000.qc.tsv")
    word_qc = read_qc(tmp_path / "facial_like.qc.tsv")
    assert set(word_qc) == set(CLIPS)
    assert {u for u, (s, _) in word_qc.items() if s == "failed"} == {u for u, (s, _) in qc.items() if s == "failed"}
    vision, names, meta = csd.load_word_features(tmp_path / "facial_like.csd")
    assert names == facial_like.column_names() and meta["znorm"]["applied"]
    assert vision["v1$_$face"].shape == (2, 22) and all(np.isfinite(v).all() for v in vision.values())

    # a stand-in acoustic set: one column, per-frame values, to export with the visual words
    entries = [(u, np.ones((10, 1), np.float32), np.stack([np.arange(10) / 10, np.arange(1, 11) / 10], axis=1))
               for u in CLIPS]
    csd.write_csd(tmp_path / "audio.h5", "audio", entries, {"column names": ["a"], "columns": [{"name": "a"}]})
    write_tsv(tmp_path / "audio.qc.tsv", QC_COLUMNS, [(u, "ok", "") for u in CLIPS])
    run("audio", tmp_path / "audio.h5", tmp_path / "audio.qc.tsv")
    mag = run_exports(tmp_path, tmp_path / "manifest.tsv", tmp_path / "align.tsv", tmp_path / "audio.csd",
                      tmp_path / "audio.qc.tsv", vision_words=tmp_path / "facial_like.csd")
    by_id = {seg: visual for split in mag.values() for (_, visual, _), _, seg in split}
    np.testing.assert_array_equal(by_id["v1$_$face"], vision["v1$_$face"])
    assert by_id["v1$_$noface"].shape == (2, 22) and not by_id["v1$_$noface"].any()  # no visual words: zeros


def test_landmarks_set_holds_the_raw_mesh(stage, visual_python, tmp_path):
    rows = [(uid, *uid.split("$_$"), "hi", 0.5, "Positive", "train", "s000", str(stage / "media" / path), "", "")
            for uid, (path, _, _, _) in CLIPS.items() if uid in ("v1$_$face", "v1$_$sometimes")]
    write_tsv(tmp_path / "shard.tsv", MANIFEST_COLS, rows)
    assert cli_main(["visual", "--vset", "landmarks", "--shard-manifest", str(tmp_path / "shard.tsv"), "--python",
                     visual_python, "--out", str(tmp_path / "lm.h5"), "--qc", str(tmp_path / "lm.qc.tsv")]) == 0
    frames, meta = csd.read_csd(tmp_path / "lm.h5")
    assert meta["column names"][:4] == ["lm0_x", "lm0_y", "lm0_z", "lm1_x"] and len(meta["column names"]) == 478 * 3
    face = frames["v1$_$face"][0].reshape(10, 478, 3)
    assert ((face[..., :2] > 0) & (face[..., :2] < 1)).all()  # MediaPipe's normalised image coordinates
    assert np.isnan(frames["v1$_$sometimes"][0][3:]).all()
    assert read_qc(tmp_path / "lm.qc.tsv")["v1$_$sometimes"][0] == "fallback"
