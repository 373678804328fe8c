"""Visual engines without MediaPipe: QC rules, OpenFace (a fake FeatureExtraction that writes
OpenFace 2.0's CSV format), and the CMU-MultimodalSDK visual entry (sdk-visual)."""

import stat
import sys

import numpy as np
import pytest
from conftest import run_exports
from scipy.io import wavfile
from sdk_fixture import pick_videos, write_sdk_dataset, write_sdk_visual

from msaflow.cli import main as cli_main
from msaflow.common import MsaflowError, read_qc, write_tsv
from msaflow.features import csd
from msaflow.visual import ClipFrames, assess, openface

MANIFEST_COLS = ["utterance_id", "video_id", "clip_id", "text", "label", "annotation", "mode", "shard",
                 "media_path", "start", "end"]


# --- QC rules --------------------------------------------------------------------------------------
@pytest.mark.parametrize("faces, status, words", [
    ([1, 1, 1, 1], "ok", []),
    ([1, 1, 1, 0], "ok", ["no face in 1 of 4 frames"]),
    ([1, 0, 0, 0], "fallback", ["face in only 1 of 4 frames", "min_face_fraction"]),
    ([0, 0, 0, 0], "failed", ["no face in any of 4 frames"]),
    ([2, 1, 1, 1], "ok", ["several faces in 1 of 4 frames: kept the largest"]),
    ([2, 0, 0, 0], "fallback", ["several faces", "face in only 1 of 4"]),
])
def test_assess(faces, status, words):
    got_status, reason = assess(ClipFrames(np.zeros((4, 2)), np.zeros((4, 2)), np.array(faces)), 0.5)
    assert got_status == status and all(w in reason for w in words), reason


def test_assess_engine_error_is_a_failure():
    assert assess(ClipFrames(error="no video stream in a.wav"), 0.5) == ("failed", "no video stream in a.wav")


# --- OpenFace --------------------------------------------------------------------------------------
FAKE_FEATURE_EXTRACTION = '''#!{python}
"""Stands in for OpenFace 2.0 FeatureExtraction: one CSV per -f, in OpenFace's format.
A media file holding `frames=N fail=i,j` gives N frames at 10 fps with success 0 at frames i, j;
any other content (e.g. a wav) is 'unreadable': no CSV, as OpenFace does."""
import pathlib, sys
args = sys.argv[1:]
files = [args[i + 1] for i, a in enumerate(args) if a == "-f"]
out = pathlib.Path(args[args.index("-out_dir") + 1])
assert {{"-pose", "-gaze", "-aus"}} <= set(args), args
out.mkdir(parents=True, exist_ok=True)
aus_r = ["01", "02", "04", "05", "06", "07", "09", "10", "12", "14", "15", "17", "20", "23", "25", "26", "45"]
aus_c = aus_r[:-1] + ["28", "45"]
header = (["frame", "face_id", "timestamp", "confidence", "success"]
          + [f"gaze_{{e}}_{{a}}" for e in (0, 1) for a in "xyz"] + ["gaze_angle_x", "gaze_angle_y"]
          + [f"eye_lmk_x_{{i}}" for i in range(3)]
          + ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
          + [f"AU{{a}}_r" for a in aus_r] + [f"AU{{a}}_c" for a in aus_c])
for f in files:
    path = pathlib.Path(f)
    text = path.read_bytes()
    if not text.startswith(b"frames="):
        print(f"Could not open {{path}}", file=sys.stderr)
        continue
    spec = dict(part.split("=") for part in text.decode().split())
    fails = {{int(i) for i in spec.get("fail", "").split(",") if i}}
    lines = [", ".join(header)]
    for k in range(int(spec["frames"])):
        ok = 0 if k in fails else 1
        values = [k + 1, 0, round(k * 0.1, 3), 0.98 if ok else 0.1, ok] + [0.1 * k] * (len(header) - 5)
        lines.append(", ".join(str(v) for v in values))
    (out / (path.stem + ".csv")).write_text("\\n".join(lines) + "\\n")
    (out / (path.stem + "_of_details.txt")).write_text("details")
print("fake OpenFace done")
'''


@pytest.fixture
def fake_openface(tmp_path):
    fake = tmp_path / "bin" / "FeatureExtraction"
    fake.parent.mkdir()
    fake.write_text(FAKE_FEATURE_EXTRACTION.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake


def test_openface_engine_parses_csv_cuts_clips_and_accounts(tmp_path, fake_openface):
    media = tmp_path / "Raw"
    (media / "v1").mkdir(parents=True)
    (media / "v2").mkdir(parents=True)
    (media / "v1" / "1.mp4").write_text("frames=10 fail=8,9")
    (media / "v2" / "1.mp4").write_text("frames=6 fail=0,1,2,3,4,5")  # same file name, other video
    (media / "v2" / "long.mp4").write_text("frames=20 fail=")
    wavfile.write(media / "v2" / "2.wav", 16000, np.zeros(1600, np.int16))
    clips = {"v1$_$1": ("v1/1.mp4", "", ""), "v2$_$1": ("v2/1.mp4", "", ""), "v2$_$2": ("v2/2.wav", "", ""),
             "v2$_$3": ("v2/long.mp4", "0.5", "1.0"), "v2$_$4": ("v2/long.mp4", "1.0", "1.5")}
    rows = [(u, *u.split("$_$"), "hi", 0.0, "Neutral", "train", "s000", str(media / p), s, e) for u, (p, s, e) in clips.items()]
    write_tsv(tmp_path / "shard.tsv", MANIFEST_COLS, rows)
    out, qc_path = tmp_path / "openface.h5", tmp_path / "openface.qc.tsv"
    assert cli_main(["visual", "--vset", "openface", "--engine", "openface", "--shard-manifest", str(tmp_path / "shard.tsv"),
                     "--openface-executable", str(fake_openface), "--out", str(out), "--qc", str(qc_path)]) == 0
    qc = read_qc(qc_path)
    assert set(qc) == set(clips)
    assert qc["v1$_$1"] == ("ok", "no face in 2 of 10 frames (NaN rows)")
    assert qc["v2$_$1"] == ("failed", "no face in any of 6 frames")
    assert qc["v2$_$2"] == ("failed", "no video stream in 2.wav (audio-only input)")
    assert qc["v2$_$3"][0] == qc["v2$_$4"][0] == "ok"
    frames, meta = csd.read_csd(out)
    names = meta["column names"]
    assert names[:2] == ["face_found", "face_confidence"] and "AU12_r" in names and "AU28_c" in names
    assert "pose_Rx" in names and "gaze_angle_y" in names and len(names) == 51
    assert meta["columns"][names.index("AU12_r")]["action_unit"] == "AU12"
    features, intervals = frames["v1$_$1"]
    assert features.shape == (10, 51)
    assert features[:8, 0].tolist() == [1] * 8 and features[8:, 0].tolist() == [0, 0]
    assert np.isnan(features[8:, 2:]).all() and np.isfinite(features[:8]).all()
    np.testing.assert_allclose(intervals[:, 0], np.arange(10) / 10, atol=1e-6)
    cut, cut_intervals = frames["v2$_$3"]
    assert len(cut) == 5 and cut_intervals[0, 0] == pytest.approx(0.0, abs=1e-6)
    assert cut[0, names.index("AU01_r")] == pytest.approx(0.5)  # frame 5 of the long video (t = 0.5 s)


def test_openface_missing_says_how_to_install_and_switch(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MsaflowError) as error:
        openface.find_executable("FeatureExtraction")
    assert "OpenFace" in str(error.value) and "visual.engine: mediapipe" in str(error.value)


def test_openface_csv_without_aus_is_explained(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("frame, face_id, timestamp, confidence, success\n1, 0, 0.0, 0.9, 1\n")
    with pytest.raises(MsaflowError, match="-pose -gaze -aus"):
        openface.parse_csv(path)


def test_engine_must_match_the_feature_set(tmp_path):
    write_tsv(tmp_path / "shard.tsv", MANIFEST_COLS, [("v$_$1", "v", "1", "hi", 0, "Neutral", "train", "s000", "x.mp4", "", "")])
    assert cli_main(["visual", "--vset", "facial_like", "--engine", "openface", "--shard-manifest", str(tmp_path / "shard.tsv"),
                     "--out", str(tmp_path / "o.h5"), "--qc", str(tmp_path / "o.qc.tsv")]) == 2


def test_missing_visual_environment_is_explained(tmp_path, capsys):
    write_tsv(tmp_path / "shard.tsv", MANIFEST_COLS, [("v$_$1", "v", "1", "hi", 0, "Neutral", "train", "s000", "x.mp4", "", "")])
    assert cli_main(["visual", "--vset", "facial_like", "--shard-manifest", str(tmp_path / "shard.tsv"),
                     "--python", str(tmp_path / "nope" / "python"), "--out", str(tmp_path / "o.h5"),
                     "--qc", str(tmp_path / "o.qc.tsv")]) == 2
    assert "make setup" in capsys.readouterr().err


# --- CMU-MultimodalSDK visual files ----------------------------------------------------------------
def test_sdk_visual_cuts_facet_per_utterance(tmp_path):
    sdk = tmp_path / "sdk"
    write_sdk_dataset(sdk)
    missing_video = pick_videos()[-1]
    names = write_sdk_visual(sdk, skip_videos=(missing_video,))
    manifest, shard = tmp_path / "manifest.tsv", tmp_path / "s000.tsv"
    assert cli_main(["sdk-manifest", "--labels", str(sdk / "CMU_MOSI_Opinion_Labels.csd"), "--words",
                     str(sdk / "CMU_MOSI_TimestampedWords.csd"), "--folds", "mosi", "--shards", "1",
                     "--out", str(manifest), "--qc", str(tmp_path / "manifest.qc.tsv")]) == 0
    assert cli_main(["shard", "--manifest", str(manifest), "--shard", "s000", "--out", str(shard)]) == 0
    assert cli_main(["sdk-align", "--shard-manifest", str(shard), "--labels", str(sdk / "CMU_MOSI_Opinion_Labels.csd"),
                     "--words", str(sdk / "CMU_MOSI_TimestampedWords.csd"), "--out", str(tmp_path / "align.tsv"),
                     "--qc", str(tmp_path / "align.qc.tsv")]) == 0
    assert cli_main(["sdk-visual", "--vset", "facet42", "--shard-manifest", str(shard), "--align-qc",
                     str(tmp_path / "align.qc.tsv"), "--visual", str(sdk / "CMU_MOSI_Visual_Facet_42.csd"),
                     "--out", str(tmp_path / "facet42.h5"), "--qc", str(tmp_path / "facet42.qc.tsv")]) == 0
    qc = read_qc(tmp_path / "facet42.qc.tsv")
    assert len(qc) == 20  # in = ok + fallback + failed
    failed = {u for u, (s, _) in qc.items() if s == "failed"}
    assert failed == {u for u in qc if u.startswith(missing_video + "$_$")} and len(failed) == 4
    assert all("not in CMU_MOSI_Visual_Facet_42.csd" in qc[u][1] for u in failed)
    frames, meta = csd.read_csd(tmp_path / "facet42.h5")
    assert meta["column names"] == names and "FACET 4.2" in meta["columns"][0]["method"]
    features, intervals = frames[f"{pick_videos()[0]}$_$1"]
    assert features.shape[1] == 35 and np.isnan(features[:, 3]).any() and not np.isinf(features).any()
    assert -1 / 30 <= intervals[0, 0] <= 1 / 30  # relative to the segment start


def test_sdk_visual_files_found_by_folds(tmp_path):
    from msaflow.sdk_entry import sdk_visual_files

    (tmp_path / "CMU_MOSI_Visual_OpenFace_2.csd").write_bytes(b"")
    (tmp_path / "mine.csd").write_bytes(b"")
    assert sdk_visual_files(tmp_path, "mosi") == {"openface2": "CMU_MOSI_Visual_OpenFace_2.csd"}
    assert sdk_visual_files(tmp_path, "mosi", {"facet42": "mine.csd"}) == {
        "facet42": "mine.csd", "openface2": "CMU_MOSI_Visual_OpenFace_2.csd"}


# --- an audio-only corpus --------------------------------------------------------------------------
def test_audio_only_dataset_flows_through_words_and_exports(tmp_path):
    """Every clip failed by the visual stage (no video stream): the visual words are empty, every
    utterance is failed there, and the acoustic words' exports still come out, with zero vision."""
    from argparse import Namespace

    from msaflow.common import QC_COLUMNS
    from msaflow.stages import words
    from msaflow.visual import facial_like

    ids = ["v1$_$1", "v1$_$2", "v2$_$1"]
    modes = {"v1$_$1": "train", "v1$_$2": "train", "v2$_$1": "test"}
    write_tsv(tmp_path / "manifest.tsv", MANIFEST_COLS,
              [(u, *u.split("$_$"), "good film", 1.0, "Positive", modes[u], "s000", "", "", "") for u in ids])
    write_tsv(tmp_path / "align.tsv", ["utterance_id", "word_index", "word", "start", "end", "source"],
              [(u, i, w, 0.2 * i, 0.2 * i + 0.2, "test") for u in ids for i, w in enumerate(["good", "film"])])
    write_tsv(tmp_path / "align.qc.tsv", QC_COLUMNS, [(u, "ok", "") for u in ids])
    names = facial_like.column_names()
    csd.write_csd(tmp_path / "visual.h5", "facial_like", [], {"column names": names, "columns": facial_like.columns()})
    write_tsv(tmp_path / "visual.qc.tsv", QC_COLUMNS, [(u, "failed", "no video stream in x.wav (audio-only input)") for u in ids])
    grid = np.stack([np.arange(50) / 100, np.arange(1, 51) / 100], axis=1)
    csd.write_csd(tmp_path / "audio.h5", "audio", [(u, np.ones((50, 3), np.float32), grid) for u in ids],
                  {"column names": ["a", "b", "c"], "columns": [{"name": n} for n in "abc"]})
    write_tsv(tmp_path / "audio.qc.tsv", QC_COLUMNS, [(u, "ok", "") for u in ids])

    def run(fset, frames, **extra):
        args = Namespace(fset=fset, dataset="t", manifest=str(tmp_path / "manifest.tsv"), acoustic=[str(tmp_path / f"{frames}.h5")],
                         acoustic_qc=[str(tmp_path / f"{frames}.qc.tsv")], align=[str(tmp_path / "align.tsv")],
                         align_qc=[str(tmp_path / "align.qc.tsv")], out=str(tmp_path / f"{fset}.csd"),
                         qc=str(tmp_path / f"{fset}.words.qc.tsv"), mode="nanmean", fill_value=0.0, columns="all",
                         presets="{}", no_znorm=False, znorm="train", speaker_min_utterances=5, mmsa_out=None, mag_out=None, export_length=50, vision_dim=1,
                         tokenizer="minilm-l6", log=None)
        vars(args).update(extra)
        assert words.main(args) == 0

    run("facial_like", "visual")
    assert {s for s, _ in read_qc(tmp_path / "facial_like.words.qc.tsv").values()} == {"failed"}
    assert csd.read_csd(tmp_path / "facial_like.csd")[0] == {}
    run("audio", "audio")
    mag = run_exports(tmp_path, tmp_path / "manifest.tsv", tmp_path / "align.tsv", tmp_path / "audio.csd",
                      tmp_path / "audio.words.qc.tsv", vision_words=tmp_path / "facial_like.csd")
    assert len(mag["train"]) == 2 and len(mag["test"]) == 1
    (_, visual, acoustic), _, _ = mag["train"][0]
    assert visual.shape == (2, len(names)) and not visual.any() and acoustic.shape == (2, 3)
