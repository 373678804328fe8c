"""acoustic + words stages end to end on synthetic wavs: QC, .csd (mmsdk round trip)."""

import json
from argparse import Namespace

import numpy as np
import pytest
from scipy.io import wavfile

from msaflow.common import read_qc, write_tsv
from msaflow.features import csd
from msaflow.features import synthetic as S

SR = 16000
MANIFEST_COLS = ["utterance_id", "video_id", "clip_id", "text", "label", "annotation", "mode", "shard", "media_path", "start", "end"]


def _corpus(tmp_path):
    audio = tmp_path / "audio" / "s000"
    audio.mkdir(parents=True)
    rng = np.random.default_rng(0)
    utts = {
        "v1$_$1": (S.utterance(SR, 1.2, seed=1), "train", "good movie overall", 1.5),
        "v1$_$2": (S.utterance(SR, 0.9, seed=2), "train", "not great", -1.0),
        "v2$_$1": (S.utterance(SR, 1.0, seed=3), "valid", "it was fine", 0.2),
        "v3$_$1": (0.01 * rng.standard_normal(SR), "test", "hmm okay", 0.0),  # no voiced frame
        "v4$_$1": (None, "test", "broken file", 0.0),  # unreadable
    }
    qc_rows, man_rows, align_rows = [], [], []
    for uid, (x, mode, text, label) in utts.items():
        if x is None:
            (audio / f"{uid}.wav").write_bytes(b"not a wav")
        else:
            wavfile.write(audio / f"{uid}.wav", SR, (x * 32767).astype(np.int16))
        qc_rows.append((uid, "ok", ""))
        vid, clip = uid.split("$_$")
        man_rows.append((uid, vid, clip, text, label, "Positive" if label > 0 else "Negative", mode, "s000", "", "", ""))
        words = text.split()
        dur = 0.9 if x is None else len(x) / SR
        edges = np.linspace(0.05, dur - 0.05, len(words) + 1)
        for i, w in enumerate(words):
            align_rows.append((uid, i, w, round(edges[i], 3), round(edges[i + 1], 3), "test"))
    write_tsv(tmp_path / "audio" / "s000.qc.tsv", ["utterance_id", "status", "reason"], qc_rows)
    write_tsv(tmp_path / "manifest.tsv", MANIFEST_COLS, man_rows)
    write_tsv(tmp_path / "align.tsv", ["utterance_id", "word_index", "word", "start", "end", "source"], align_rows)
    write_tsv(tmp_path / "align.qc.tsv", ["utterance_id", "status", "reason"], [(u, "ok", "") for u in utts])
    return utts


def _acoustic(tmp_path, fset):
    from msaflow.stages import acoustic

    args = Namespace(fset=fset, options="{}", audio_dir=str(tmp_path / "audio" / "s000"), audio_qc=str(tmp_path / "audio" / "s000.qc.tsv"),
                     out=str(tmp_path / f"{fset}.h5"), qc=str(tmp_path / f"{fset}.qc.tsv"), dataset="t", log=None)
    assert acoustic.main(args) == 0
    return read_qc(args.qc)


def _words(tmp_path, fset, columns="all", **extra):
    from msaflow.stages import words

    args = Namespace(fset=fset, dataset="t", manifest=str(tmp_path / "manifest.tsv"),
                     acoustic=[str(tmp_path / f"{fset}.h5")], acoustic_qc=[str(tmp_path / f"{fset}.qc.tsv")],
                     align=[str(tmp_path / "align.tsv")], align_qc=[str(tmp_path / "align.qc.tsv")],
                     out=str(tmp_path / f"{fset}.csd"), qc=str(tmp_path / f"{fset}.words.qc.tsv"), mode="nanmean",
                     fill_value=0.0, columns=columns, presets=json.dumps({"cmbert5": ["VUV", "QOQ", "MDQ", "MCEP_14", "HMPDM_24"]}),
                     no_znorm=False, znorm="train", speaker_min_utterances=5, log=None)
    vars(args).update(extra)
    assert words.main(args) == 0
    return args


def test_acoustic_and_words_covarep(tmp_path):
    _corpus(tmp_path)
    qc = _acoustic(tmp_path, "covarep_like")
    assert qc["v4$_$1"][0] == "failed" and "unreadable" in qc["v4$_$1"][1]
    assert qc["v3$_$1"][0] == "ok" and "no voiced frame" in qc["v3$_$1"][1]
    assert sum(s == "ok" for s, _ in qc.values()) == 4
    frames, meta = csd.read_csd(tmp_path / "covarep_like.h5")
    assert frames["v1$_$1"][0].shape == (120, 74)
    assert meta["column names"][:2] == ["F0", "VUV"] and meta["columns"][9]["quality"] == "substitute"

    _words(tmp_path, "covarep_like")
    wqc = read_qc(tmp_path / "covarep_like.words.qc.tsv")
    assert wqc["v4$_$1"][0] == "failed" and len(wqc) == 5
    feats, names, wmeta = csd.load_word_features(tmp_path / "covarep_like.csd")
    assert names[0] == "F0" and len(names) == 74
    assert set(feats) == {"v1$_$1", "v1$_$2", "v2$_$1", "v3$_$1"}
    assert feats["v1$_$1"].shape == (3, 74) and feats["v3$_$1"].shape == (2, 74)
    assert all(np.isfinite(f).all() for f in feats.values())
    z = wmeta["znorm"]
    assert z["applied"] and z["fitted_on"] == "train" and len(z["mean"]) == 74
    # train words are z-normalised: mean ~0 per column over the train words
    train = np.concatenate([feats["v1$_$1"], feats["v1$_$2"]])
    assert np.abs(train.mean(axis=0)).max() < 1e-4
    # rows are in word_index order with the align intervals
    entries, _ = csd.read_csd(tmp_path / "covarep_like.csd")
    assert np.all(np.diff(entries["v1$_$1"][1][:, 0]) > 0)

    mmsdk = pytest.importorskip("mmsdk.mmdatasdk")
    seq = mmsdk.computational_sequence(str(tmp_path / "covarep_like.csd"))
    assert set(seq.data.keys()) == set(feats)
    np.testing.assert_array_equal(seq.data["v1$_$1"]["features"][()], feats["v1$_$1"])
    root = seq.metadata["root name"]  # h5py >= 3 hands mmsdk bytes for vlen strings
    assert (root.decode() if isinstance(root, bytes) else root) == "covarep_like"


def test_words_column_preset(tmp_path):
    _corpus(tmp_path)
    _acoustic(tmp_path, "covarep_like")
    _words(tmp_path, "covarep_like", columns="cmbert5")
    feats, names, meta = csd.load_word_features(tmp_path / "covarep_like.csd")
    assert names == ["VUV", "QOQ", "MDQ", "MCEP_14", "HMPDM_24"]
    assert feats["v1$_$1"].shape == (3, 5)
    assert [c["name"] for c in meta["columns"]] == names


@pytest.mark.e2e
def test_egemaps_words(tmp_path):
    _corpus(tmp_path)
    _acoustic(tmp_path, "egemaps")
    _words(tmp_path, "egemaps")
    feats, names, _ = csd.load_word_features(tmp_path / "egemaps.csd")
    assert len(names) == 25 and feats["v2$_$1"].shape == (3, 25)


def test_words_speaker_normalisation(tmp_path):
    """words.znorm: speaker: v1 (2 utterances) on its own statistics, the lone clips on the train split's."""
    _corpus(tmp_path)
    _acoustic(tmp_path, "covarep_like")
    _words(tmp_path, "covarep_like")
    train_only, _, _ = csd.load_word_features(tmp_path / "covarep_like.csd")
    args = _words(tmp_path, "covarep_like", znorm="speaker", speaker_min_utterances=2)
    feats, names, meta = csd.load_word_features(args.out)
    z = meta["znorm"]
    assert z["scope"] == "speaker" and z["speaker"]["n_speakers"] == 1
    assert z["speaker"]["fallback_speakers"] == ["v2", "v3"] and len(z["speaker"]["fallback_mean"]) == 74
    # v1 is the whole train split: its own statistics are the train statistics, so nothing moves
    np.testing.assert_allclose(feats["v1$_$1"], train_only["v1$_$1"], atol=1e-4)
    assert all(np.isfinite(f).all() for f in feats.values())
