"""msaflow predict without a trained model: bundles, transcript tables, named clip errors, classes."""

import json
import subprocess

import pytest
from conftest import require_tools

from msaflow.bundle import BUNDLE_FILE, bundle_dirs, load_bundle, write_bundle
from msaflow.common import MsaflowError
from msaflow.evaluation.metrics import sentiment_classes
from msaflow.predict import ClipError, ClipRequest, check_clip_audio, clip_audio, folder_requests, read_transcript_file


def test_sentiment_classes_follow_the_metric_rules():
    assert sentiment_classes(-0.2) == {"class2": "negative", "class2_rule": "score < 0 negative, >= 0 positive (acc2_has0)",
                                       "class5": 0, "class5_name": "neutral", "class7": 0, "class7_name": "neutral"}
    assert sentiment_classes(0.0)["class2"] == "positive"
    c = sentiment_classes(2.7)
    assert (c["class5"], c["class7"], c["class7_name"]) == (2, 3, "highly positive")
    assert sentiment_classes(-9)["class7_name"] == "highly negative"
    assert sentiment_classes(-2.5)["class7"] == -2  # numpy rounding, half to even, as acc7


def _bundle(run_dir, seed=1, **extra):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "model.pt").write_bytes(b"x")
    record = {"format": "msaflow-run-bundle/1", "model": "cmbert", "seed": seed, "checkpoint": "model.pt",
              "model_settings": {"arch": "cmbert"}, "tokens_meta": {"max_length": 50, "audio_source": f"a{seed}"},
              "pipeline": {"audio": {"sample_rate": 16000}}, **extra}
    write_bundle(run_dir, record)
    return run_dir


def test_bundle_dirs_from_a_run_a_model_folder_or_a_result(tmp_path):
    runs = tmp_path / "work" / "toy" / "runs" / "cmbert"
    a, b = _bundle(runs / "seed1", 1), _bundle(runs / "seed2", 2)
    assert bundle_dirs(run=str(a)) == [a]
    assert bundle_dirs(run=str(runs)) == [a, b]
    result = tmp_path / "results" / "cmbert_toy.json"
    result.parent.mkdir()
    result.write_text(json.dumps({"model": "cmbert", "dataset": "toy", "seeds": [1, 2], "runs": {"1": str(a), "2": str(b)}}))
    assert bundle_dirs(result=str(result)) == [a, b]
    # an older result without "runs": the workflow layout, relative to the result's folder's parent
    result.write_text(json.dumps({"model": "cmbert", "dataset": "toy", "seeds": [2]}))
    assert [p.resolve() for p in bundle_dirs(result=str(result))] == [b.resolve()]
    with pytest.raises(MsaflowError, match="exactly one"):
        bundle_dirs()
    with pytest.raises(MsaflowError, match="neither a run folder"):
        bundle_dirs(run=str(tmp_path))


def test_a_raw_audio_model_is_refused_with_the_reason(tmp_path):
    from msaflow.predict import Predictor

    run = load_bundle(_bundle(tmp_path / "cmt", model="cmt", describe={"speech_encoder": "hubert-small"}))
    with pytest.raises(MsaflowError, match="reads the raw waveform.*cannot score new clips"):
        Predictor([run])


def test_load_bundle_names_the_fix(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "model.pt").write_bytes(b"x")
    with pytest.raises(MsaflowError, match="trained before runs recorded what inference needs; retrain"):
        load_bundle(old)
    bundle = load_bundle(_bundle(tmp_path / "new"))
    assert bundle.model == "cmbert" and bundle.seed == 1 and bundle.meta["max_length"] == 50
    # seeds differ in where their words came from, not in how they read a clip
    other = load_bundle(_bundle(tmp_path / "new2", 2))
    assert bundle.inference_key() == other.inference_key()
    (tmp_path / "new" / "model.pt").unlink()
    with pytest.raises(MsaflowError, match="model.pt is missing"):
        load_bundle(tmp_path / "new")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / BUNDLE_FILE).write_text("{")
    with pytest.raises(MsaflowError, match="not valid JSON"):
        load_bundle(tmp_path / "bad")


def test_folder_table_finds_media_in_every_layout(tmp_path):
    (tmp_path / "Raw" / "v1").mkdir(parents=True)
    (tmp_path / "Raw" / "v1" / "1.mp4").write_bytes(b"x")
    (tmp_path / "solo.wav").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "any.mkv").write_bytes(b"x")
    (tmp_path / "label.csv").write_text("video_id,clip_id,text,label,path\nv1,1,i liked it,1.5,\n,solo,so so,,\n"
                                        ",x,by path,,sub/any.mkv\n")
    reqs = folder_requests(tmp_path)
    assert [r.media.name for r in reqs] == ["1.mp4", "solo.wav", "any.mkv"]
    assert reqs[0].utterance_id == "v1$_$1" and reqs[0].label == 1.5 and reqs[1].label is None
    assert reqs[2].transcript == "by path"
    (tmp_path / "t.tsv").write_text("clip_id\ttext\nnothere\thello\n")
    missing = folder_requests(tmp_path, tmp_path / "t.tsv")[0]
    assert "t.tsv line 2: no media file for clip 'nothere'" in missing.problem
    with pytest.raises(MsaflowError, match="needs columns"):
        (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
        folder_requests(tmp_path, tmp_path / "bad.csv")


def test_transcript_files(tmp_path):
    (tmp_path / "t.txt").write_text("  i loved it \n")
    assert read_transcript_file(tmp_path / "t.txt") == ("i loved it", None)
    (tmp_path / "t.TextGrid").write_text("x")
    assert read_transcript_file(tmp_path / "t.TextGrid") == (None, tmp_path / "t.TextGrid")
    (tmp_path / "e.txt").write_text("\n")
    with pytest.raises(MsaflowError, match="a transcript is required"):
        read_transcript_file(tmp_path / "e.txt")


def test_clip_without_audio_track_is_the_audio_stage_named_error(tmp_path):
    require_tools("ffmpeg")
    clip = tmp_path / "silent_film.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=1",
                    "-pix_fmt", "yuv420p", str(clip)], check=True)
    qc = {}
    with pytest.raises(ClipError, match="audio stage failed: .*no audio track in silent_film.mp4") as caught:
        clip_audio(ClipRequest(media=clip, transcript="hello"), tmp_path, qc)
    assert caught.value.stage == "audio" and qc["audio"]["status"] == "failed"
    with pytest.raises(ClipError, match="media file missing"):
        check_clip_audio(ClipRequest(media=tmp_path / "nothing.mp4", transcript="hello"))


def test_predict_help_says_a_transcript_is_required():
    from msaflow.cli import build_parser

    parser, module = build_parser(["predict"])
    sub = next(a for a in parser._actions if a.dest == "stage").choices["predict"]
    assert "A TRANSCRIPT IS REQUIRED" in sub.format_help()


def test_frame_sequences_only_for_the_modalities_extracted():
    """A model that does not read vision (CM-BERT) gets no vision frames even when its tokens had them."""
    from types import SimpleNamespace

    import numpy as np

    from msaflow.predict import Predictor, _Features

    meta = {"audio_frames_dim": 2, "vision_frames_dim": 3, "frame_rate": 20.0, "max_frames": 100, "frame_dtype": "float32",
            "frame_znorm": {"audio": {"mean": [1.0, 0.0], "std": [2.0, 1.0]}, "vision": {"mean": [0] * 3, "std": [1] * 3}}}
    frames = np.array([[3.0, 1.0], [5.0, np.nan]], dtype=np.float32)
    intervals = np.array([[0.0, 0.01], [0.05, 0.06]])
    f = _Features(words=["hi"], intervals=[], audio_words=np.zeros((1, 2), np.float32), frames={"audio": (frames, intervals)})
    split = {}
    Predictor._add_frame_sequences(SimpleNamespace(meta=meta), split, f)
    assert set(split) == {"audio_frames", "audio_frame_lengths", "audio_frames_valid"}
    assert split["audio_frames"].shape == (1, 2, 2) and split["audio_frame_lengths"].tolist() == [2]
    assert split["audio_frames"][0, 0].tolist() == [1.0, 1.0] and split["audio_frames"][0, 1].tolist() == [2.0, 0.0]


def test_a_lone_clip_under_speaker_normalisation_gets_the_train_fallback_then_the_train_step():
    """words.znorm: speaker: predict has no speaker statistics for one clip; it applies the stored
    fallback (train statistics of the raw values) and then the train step, for words and frames."""
    from types import SimpleNamespace

    import numpy as np

    from msaflow.predict import Predictor, _Features

    speaker = {"fallback_mean": [10.0, 0.0], "fallback_std": [5.0, 1.0], "min_utterances": 5}
    words_meta = {"columns": ["a", "b"], "fill": {"mode": "nanmean", "fill_value": 0.0},
                  "znorm": {"applied": True, "scope": "speaker", "mean": [1.0, 0.0], "std": [2.0, 1.0], "speaker": speaker}}
    frames = np.array([[20.0, 3.0], [30.0, 3.0]], dtype=np.float32)
    intervals = np.array([[0.0, 0.01], [0.02, 0.03]])
    word = SimpleNamespace(word="hi", start=0.0, end=0.05)
    got = Predictor._word_features(frames, intervals, ["a", "b"], words_meta, [word])
    # word mean (25, 3) -> fallback ((25-10)/5, 3) = (3, 3) -> train step ((3-1)/2, 3) = (1, 3)
    np.testing.assert_allclose(got, [[1.0, 3.0]])
    meta = {"audio_frames_dim": 2, "vision_frames_dim": 0, "frame_rate": 20.0, "max_frames": 100, "frame_dtype": "float32",
            "frame_znorm": {"audio": {"mean": [1.0, 0.0], "std": [2.0, 1.0], "scope": "speaker", "speaker": speaker}}}
    f = _Features(words=["hi"], intervals=[], audio_words=got, frames={"audio": (frames[:1], intervals[:1])})
    split = {}
    Predictor._add_frame_sequences(SimpleNamespace(meta=meta), split, f)
    assert split["audio_frames"][0, 0].tolist() == [0.5, 3.0]  # (20-10)/5 = 2 -> (2-1)/2 = 0.5
