"""Unaligned frame sequences in the tokens file: resampling, normalisation, lengths, vision QC, batches."""

import numpy as np
import pytest
import torch

from msaflow import frames as fr
from msaflow.common import MsaflowError, read_qc, write_tsv
from msaflow.features.csd import write_csd


@pytest.fixture(scope="module")
def tokenizer():
    from msaflow.encoders import load_tokenizer

    return load_tokenizer("minilm-l6")


def hop_intervals(n, hop=0.01, start=0.0):
    t = start + np.arange(n) * hop
    return np.stack([t, t + hop], axis=1)


def test_resample_averages_frames_per_window_nan_aware():
    # 100 Hz frames, value = frame index; column 1 undefined in frames 5..9 and column 0 in frame 2
    feats = np.stack([np.arange(23.0), np.arange(23.0) * 10], axis=1)
    feats[5:10, 1] = np.nan
    feats[2, 0] = np.nan
    seq = fr.resample(feats, hop_intervals(23), rate=20, max_frames=500)
    # midpoints 0.005 + 0.01 i -> window floor(20 * mid): frames 0-4, 5-9, 10-14, 15-19, 20-22
    assert seq.values.shape == (5, 2) and seq.n_windows == 5 and not seq.cut
    assert seq.values[0, 0] == pytest.approx(np.mean([0, 1, 3, 4]))  # NaN frame left out
    assert seq.values[0, 1] == pytest.approx(20.0)
    assert np.isnan(seq.values[1, 1]) and seq.values[1, 0] == pytest.approx(7.0)  # column undefined in the window
    assert seq.values[4, 0] == pytest.approx(21.0) and seq.valid.all()


def test_resample_marks_windows_without_any_value_and_cuts_at_max_frames():
    feats = np.ones((40, 3), np.float32)
    feats[10:20] = np.nan  # e.g. no face: a NaN row
    seq = fr.resample(feats, hop_intervals(40), rate=20, max_frames=500)
    assert list(seq.valid) == [True, True, False, False, True, True, True, True]
    cut = fr.resample(feats, hop_intervals(40), rate=20, max_frames=3)
    assert cut.cut and cut.n_windows == 8 and len(cut.values) == 3
    assert "kept 3 of 8 windows" in fr.cut_note("audio", cut, 20)
    # slower frames than windows: empty windows in between are not valid; negative times clip to 0
    slow = fr.resample(np.ones((3, 1)), np.array([[-0.02, 0.08], [0.1, 0.2], [0.2, 0.3]]), rate=20, max_frames=10)
    assert list(slow.valid) == [True, False, False, True, False, True]
    assert fr.resample(np.zeros((0, 4)), np.zeros((0, 2)), 20, 10).values.shape == (0, 4)
    with pytest.raises(MsaflowError, match="frame_rate"):
        fr.resample(feats, hop_intervals(40), rate=0, max_frames=3)


def test_znorm_uses_train_windows_and_zero_fills_after_normalisation():
    rng = np.random.default_rng(0)
    train = [fr.FrameSequence(rng.normal(3.0, 2.0, size=(n, 2)).astype(np.float32), np.ones(n, bool), n) for n in (50, 80)]
    train[0].values[:, 1] = 7.0  # constant column in one sequence ...
    train[1].values[:, 1] = 7.0  # ... and the other: std 1, not 0
    train[1].values[3, 0] = np.nan
    mean, std, windows = fr.fit_znorm(train, 2)
    all0 = np.concatenate([s.values[:, 0] for s in train])
    assert windows == 130 and mean[0] == pytest.approx(np.nanmean(all0), rel=1e-5)
    assert std[0] == pytest.approx(np.nanstd(all0, ddof=1), rel=1e-4) and std[1] == 1.0 and mean[1] == 7.0
    other = fr.FrameSequence(np.array([[mean[0] + std[0], np.nan]], np.float32), np.array([True]), 1)
    frames, lengths, valid = fr.stack([train[0], other, None], 2, mean, std, "float16")
    assert frames.dtype == torch.float16 and frames.shape == (3, 50, 2)
    assert lengths.tolist() == [50, 1, 1] and valid[1].tolist()[:2] == [True, False] and not valid[2].any()
    assert frames[1, 0, 0].item() == pytest.approx(1.0, abs=1e-3) and frames[1, 0, 1] == 0  # NaN -> 0 after z-norm
    assert torch.all(frames[1, 1:] == 0) and torch.all(frames[2] == 0)
    assert torch.isfinite(frames).all()
    huge = fr.FrameSequence(np.array([[1e12, 0.0]], np.float32), np.array([True]), 1)
    assert torch.isfinite(fr.stack([huge], 2, mean, std, "float16")[0]).all()  # no inf in float16


def write_frames(path, entries, columns, name="covarep_like"):
    write_csd(path, name, entries, {"column names": columns})


def test_read_frame_files_across_shards(tmp_path):
    rng = np.random.default_rng(1)
    a = [(f"v{i}$_$0", rng.normal(size=(30 + i, 2)).astype(np.float32), hop_intervals(30 + i)) for i in range(4)]
    write_frames(tmp_path / "s000.h5", a[:2], ["x", "y"])
    write_frames(tmp_path / "s001.h5", a[2:], ["x", "y"])
    got, columns, _ = fr.read_frame_files([tmp_path / "s000.h5", tmp_path / "s001.h5"], {"v0$_$0", "v3$_$0", "nope"}, 20, 500, "audio")
    assert set(got) == {"v0$_$0", "v3$_$0"} and columns == ["x", "y"]
    assert len(got["v3$_$0"].values) == 7  # 33 frames of 10 ms = 0.33 s -> 7 windows of 50 ms
    write_frames(tmp_path / "s002.h5", a[:1], ["x", "z"])
    with pytest.raises(MsaflowError, match="columns differ"):
        fr.read_frame_files([tmp_path / "s000.h5", tmp_path / "s002.h5"], {"v0$_$0"}, 20, 500, "audio")


def av_inputs(n=30, seed=0, frames=True):
    from msaflow.stages.tokens import FrameInputs
    from msaflow.training.synthetic import make_av_corpus

    c = make_av_corpus(n=n, audio_dim=5, vision_dim=3, seed=seed)
    inputs = FrameInputs(rate=20, max_frames=500, dtype="float16")
    if frames:
        inputs.audio = {u: fr.resample(f, i, 20, 500) for u, (f, i) in c["audio_frames"].items()}
        inputs.vision = {u: fr.resample(f, i, 20, 500) for u, (f, i) in c["vision_frames"].items()}
        inputs.audio_dim, inputs.vision_dim = 5, 3
    return c, inputs


@pytest.mark.parametrize("policy", ["exclude", "zero"])
def test_vision_failed_utterances_are_named_in_qc(tokenizer, policy):
    from msaflow.stages.tokens import build_tokens

    c, inputs = av_inputs()
    ids = [r["utterance_id"] for r in c["rows"]]
    lost = ids[0]  # first (train) utterance: its visual stage failed
    del c["vision"][lost]
    del inputs.vision[lost]
    no_frames = ids[1]  # word-level vision present but no visual frames
    del inputs.vision[no_frames]
    data, qc = build_tokens(c["rows"], c["words"], c["audio"], c["vision"], tokenizer, 30, frames=inputs,
                            vision_failed={lost: "acoustic: no face in any frame"}, vision_missing=policy,
                            vision_name="facial_like")
    status, reason = qc.rows[lost]
    assert "no face in any frame" in reason and "facial_like" in reason
    assert "no visual frames" in qc.rows[no_frames][1]
    c_ = data["meta"]["counts"]
    assert c_["entering"] == c_["ok"] + c_["fallback"] + c_["failed"] == len(ids)
    if policy == "exclude":
        assert status == "failed" and qc.rows[no_frames][0] == "failed" and lost not in data["train"]["ids"]
        assert c_["failed"] == 2 and data["train"]["vision_present"].all()
    else:
        assert status == "fallback" and c_["vision_zeroed"] == 2
        train = data["train"]
        i = train["ids"].index(lost)
        assert not train["vision_present"][i] and torch.all(train["vision"][i] == 0)
        assert train["vision_frame_lengths"][i] == 1 and not train["vision_frames_valid"][i].any()
        assert torch.all(train["vision_frames"][i] == 0) and train["vision_present"].sum() == len(train["ids"]) - 2


def test_build_tokens_frames_contract(tokenizer):
    from msaflow.stages.tokens import build_tokens

    c, inputs = av_inputs(n=40)
    inputs.max_frames = 6
    inputs.audio = {u: fr.resample(f, i, 20, 6) for u, (f, i) in c["audio_frames"].items()}
    data, qc = build_tokens(c["rows"], c["words"], c["audio"], c["vision"], tokenizer, 30, frames=inputs)
    meta = data["meta"]
    assert meta["audio_frames_dim"] == 5 and meta["vision_frames_dim"] == 3 and meta["frame_rate"] == 20
    assert meta["audio_dim"] == 5 and meta["vision_dim"] == 3
    assert meta["counts"]["frames_cut_audio"] > 0
    assert sum("audio frames cut" in r for _, r in qc.rows.values()) == meta["counts"]["frames_cut_audio"]
    for split in ("train", "valid", "test"):
        s = data[split]
        n = len(s["ids"])
        assert s["audio_frames"].shape[:1] == (n,) and s["audio_frames"].dtype == torch.float16
        assert s["audio_frame_lengths"].max() <= 6 and s["audio_frames"].shape[1] == s["audio_frame_lengths"].max()
        for i in range(n):  # padding is zero and not valid
            length = s["vision_frame_lengths"][i]
            assert torch.all(s["vision_frames"][i, length:] == 0) and not s["vision_frames_valid"][i, length:].any()
    # train statistics: the normalised train frames have mean ~0 and std ~1 per column
    train = data["train"]
    valid = torch.arange(train["vision_frames"].shape[1])[None] < train["vision_frame_lengths"][:, None]
    values = train["vision_frames"].float()[valid]
    assert values.mean(0).abs().max() < 0.05 and (values.std(0) - 1).abs().max() < 0.05
    assert len(meta["frame_znorm"]["vision"]["mean"]) == 3


def test_tokens_stage_from_files_with_frames_and_vision(tmp_path):
    from msaflow.cli import main
    from msaflow.training.synthetic import make_av_corpus

    c = make_av_corpus(n=24, audio_dim=5, vision_dim=3, seed=2)
    ids = [r["utterance_id"] for r in c["rows"]]
    cols = ["utterance_id", "video_id", "clip_id", "text", "label", "annotation", "mode"]
    write_tsv(tmp_path / "manifest.tsv", cols, [[r[k] for k in cols] for r in c["rows"]])
    write_tsv(tmp_path / "s000.tsv", ["utterance_id", "word_index", "word", "start", "end", "source"],
              [[u, i, w, i * 0.3, i * 0.3 + 0.3, "x"] for u, ws in c["words"].items() for i, w in enumerate(ws)])

    def word_csd(path, feats, keep):
        write_csd(path, path.stem, [(u, feats[u], hop_intervals(len(feats[u]), 0.3)) for u in keep],
                  {"column names": [f"{path.stem}{i}" for i in range(feats[ids[0]].shape[1])]})

    no_face = ids[-1]
    word_csd(tmp_path / "covarep_like.csd", c["audio"], ids)
    word_csd(tmp_path / "facial_like.csd", c["vision"], ids[:-1])
    write_tsv(tmp_path / "words_audio.qc.tsv", ["utterance_id", "status", "reason"], [[u, "ok", ""] for u in ids])
    write_tsv(tmp_path / "words_vision.qc.tsv", ["utterance_id", "status", "reason"],
              [[u, "failed" if u == no_face else "ok", "visual: no face found" if u == no_face else ""] for u in ids])
    for shard, part in (("s000", ids[:12]), ("s001", ids[12:])):
        write_frames(tmp_path / f"a_{shard}.h5", [(u, *c["audio_frames"][u]) for u in part], [f"a{i}" for i in range(5)])
        write_frames(tmp_path / f"v_{shard}.h5", [(u, *c["vision_frames"][u]) for u in part if u != no_face],
                     [f"v{i}" for i in range(3)], "facial_like")
    out, qc = tmp_path / "tokens.pt", tmp_path / "tokens.qc.tsv"
    rc = main(["tokens", "--manifest", str(tmp_path / "manifest.tsv"), "--align", str(tmp_path / "s000.tsv"),
               "--usable-qc", str(tmp_path / "words_audio.qc.tsv"), "--audio-words", str(tmp_path / "covarep_like.csd"),
               "--vision-words", str(tmp_path / "facial_like.csd"), "--vision-qc", str(tmp_path / "words_vision.qc.tsv"),
               "--vision-set", "facial_like", "--audio-frames", str(tmp_path / "a_s000.h5"), str(tmp_path / "a_s001.h5"),
               "--vision-frames", str(tmp_path / "v_s000.h5"), str(tmp_path / "v_s001.h5"), "--frame-rate", "20",
               "--max-frames", "500", "--frame-dtype", "float16", "--max-length", "30", "--out", str(out), "--qc", str(qc)])
    assert rc == 0
    data = torch.load(out, weights_only=False)
    meta = data["meta"]
    assert meta["audio_frame_columns"] == [f"a{i}" for i in range(5)] and meta["vision_frame_columns"] == ["v0", "v1", "v2"]
    assert meta["vision_set"] == "facial_like" and meta["vision_columns"] == ["facial_like0", "facial_like1", "facial_like2"]
    rows = read_qc(qc)
    assert len(rows) == len(ids) and rows[no_face][0] == "failed" and "no face found" in rows[no_face][1]
    assert sum(len(data[s]["ids"]) for s in ("train", "valid", "test")) == len(ids) - 1
    # a missing frame file is a clear error before any work
    rc = main(["tokens", "--manifest", str(tmp_path / "manifest.tsv"), "--align", str(tmp_path / "s000.tsv"),
               "--audio-words", str(tmp_path / "covarep_like.csd"), "--audio-frames", str(tmp_path / "nope.h5"),
               "--out", str(tmp_path / "t2.pt"), "--qc", str(tmp_path / "q2.tsv")])
    assert rc == 2 and not (tmp_path / "t2.pt").exists()


def test_make_batches_carries_and_trims_frame_keys(tokenizer):
    from msaflow.training.synthetic import make_tokens
    from msaflow.training.trainer import make_batches

    data = make_tokens(tokenizer, n=40, max_length=30, vision_dim=3, frames=True, frame_dtype="float16")
    split = data["train"]
    order = np.array([5, 0, 3])
    batch = next(make_batches(split, order, 3, trim=True))
    for key in ("audio_frames", "audio_frame_lengths", "audio_frames_valid", "vision_frames", "vision_frame_lengths",
                "vision_frames_valid", "vision_present", "audio_words", "word_lengths", "labels"):
        assert key in batch, key
    assert batch["audio_frames"].dtype == torch.float32  # float16 storage -> float32 batches
    assert batch["audio_frames"].shape[1] == int(split["audio_frame_lengths"][order].max())
    assert batch["vision_frames_valid"].shape[1] == int(split["vision_frame_lengths"][order].max())
    assert torch.equal(batch["audio_frames"], split["audio_frames"][order][:, : batch["audio_frames"].shape[1]].float())
    assert torch.equal(batch["labels"], split["labels"][order])
    full = next(make_batches(split, order, 3, trim=False))
    assert full["audio_frames"].shape[1] == split["audio_frames"].shape[1]
    assert "ids" not in full  # lists stay out of batches


def test_workflow_config_vision_set_and_inputs():
    from types import SimpleNamespace

    from msaflow.training import workflow_config as wfc

    config = {"work_dir": "work", "datasets": {"mosi": {"root": "/nonexistent", "folds": "mosi"}}, "tokens": {"encoder": "minilm-l6", "audio_fset": "covarep_like", "vision_fset": "facial_like",
                                              "dataset_vision_fsets": {"speech": None}, "vision_missing": "zero"},
              "train": {"seeds": [1]}, "models": {"cmbert": {"baseline": "tbert"}, "tbert": {}}}
    assert wfc.tokens_vset(config, "demo") == "facial_like"
    assert wfc.tokens_vset(config, "speech") is None and wfc.tokens_vset(config, "mosi", "sdk") is None
    inputs = wfc.tokens_inputs(config, "demo", "covarep_like", ["s000", "s001"])
    assert inputs["audio_frames"] == ["work/demo/acoustic/covarep_like/s000.h5", "work/demo/acoustic/covarep_like/s001.h5"]
    assert inputs["vision_words"] == "work/demo/words/facial_like.csd" and len(inputs["vision_frames"]) == 2
    assert "vision_words" not in wfc.tokens_inputs(config, "speech", "covarep_like", ["s000"])
    args = wfc.tokens_vision_args(config, "demo", SimpleNamespace(**inputs))
    assert "--vision-set facial_like" in args and "--vision-missing zero" in args and "visual/facial_like/s001.h5" in args
    assert wfc.tokens_vision_args(config, "speech", SimpleNamespace()) == ""
    assert wfc.evaluate_inputs(config, "demo", "cmbert")["ablation"] == ["work/demo/runs/cmbert/seed1/ablation.tsv"]


def test_speaker_scope_removes_each_speakers_level_from_the_frames(tokenizer):
    """tokens with frame z-normalisation 'speaker': a speaker shifted by +50 on every audio column
    gets the same frames as without the shift; with 'train' the shift survives."""
    from msaflow.normalization import speaker_of
    from msaflow.stages.tokens import build_tokens

    def frames_of(scope, shift):
        c, inputs = av_inputs(n=40)
        speakers = {r["utterance_id"]: speaker_of(r) for r in c["rows"]}
        shifted = sorted(set(speakers.values()))[0]
        for u, seq in inputs.audio.items():
            if speakers[u] == shifted:
                inputs.audio[u] = fr.FrameSequence(seq.values + shift, seq.valid, seq.n_windows)
        inputs.znorm, inputs.speakers, inputs.speaker_min_utterances = scope, speakers, 2
        data, _ = build_tokens(c["rows"], c["words"], c["audio"], c["vision"], tokenizer, 30, frames=inputs)
        return data

    plain, moved = frames_of("speaker", 0.0), frames_of("speaker", 50.0)
    meta = moved["meta"]["frame_znorm"]["audio"]
    assert meta["scope"] == "speaker" and meta["speaker"]["n_speakers"] >= 2
    for split in ("train", "valid", "test"):
        torch.testing.assert_close(plain[split]["audio_frames"].float(), moved[split]["audio_frames"].float(),
                                   atol=2e-2, rtol=0)
    train_plain, train_moved = frames_of("train", 0.0), frames_of("train", 50.0)
    differs = [not torch.allclose(train_plain[s]["audio_frames"].float(), train_moved[s]["audio_frames"].float(), atol=0.1)
               for s in ("train", "valid", "test")]
    assert any(differs)
