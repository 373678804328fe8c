"""Exports (MMSA aligned pickle, MAG-BERT pickle): layouts, QC, and the stage on small files.

The layouts are the ones the peers' own loaders read (checked with the peers themselves in
tests/test_peer_mmsa.py and tests/test_peer_mag.py, e2e); these tests pin the structural contract
without them and stay fast.
"""

import json
import pickle
from argparse import Namespace

import numpy as np
import pytest

from msaflow.common import MsaflowError, read_qc, write_tsv
from msaflow.corpus import MANIFEST_COLUMNS
from msaflow.features import csd, exports
from msaflow.stages import exports as stage

# What MMSA's MMDataLoader reads from every split of the pickle, over all regression configs
# (text or text_bert by use_bert; the lengths when need_data_aligned is false).
MMSA_READS = {"text", "text_bert", "audio", "vision", "raw_text", "id", "regression_labels",
              "audio_lengths", "vision_lengths"}


def _item(uid, mode, n_words, dt=4, da=3, dv=2, length=6, label=0.5, sub=None):
    rng = np.random.default_rng(sum(map(ord, uid)))
    # word-pieces: [CLS], then word i as 1 piece (even i) or 2 pieces (odd i), [SEP], padding
    pieces = [p for i in range(n_words) for p in [i] * (1 + i % 2)][: length - 2]
    piece_words = np.array([-1] + pieces + [-1] * (length - 1 - len(pieces)), np.int64)
    text_bert = np.zeros((3, length), np.int64)
    text_bert[0, : len(pieces) + 2] = [101] + [2000 + p for p in pieces] + [102]
    text_bert[1, : len(pieces) + 2] = 1
    return exports.ExportItem(
        id=uid, words=[f"w{i}" for i in range(n_words)], raw_text=" ".join(f"w{i}" for i in range(n_words)),
        annotation="Positive", label=label, mode=mode, text=rng.standard_normal((n_words, dt)).astype(np.float32),
        audio=rng.standard_normal((n_words, da)).astype(np.float32),
        vision=rng.standard_normal((n_words, dv)).astype(np.float32),
        text_bert=text_bert, piece_words=piece_words, sub_labels=sub)


def test_mmsa_layout_word_aligned_with_lengths():
    items = [_item("a$_$1", "train", 3), _item("a$_$2", "train", 9, label=-1.0), _item("b$_$1", "valid", 1),
             _item("c$_$1", "test", 2)]
    data = exports.build_mmsa(items, length=6)
    assert set(data) == {"train", "valid", "test"}
    train = data["train"]
    assert MMSA_READS <= set(train) and "annotations" in train
    assert "regression_labels_T" not in train  # no unimodal labels in these items
    assert train["text"].shape == (2, 6, 4) and train["text"].dtype == np.float32
    assert train["audio"].shape == (2, 6, 3) and train["vision"].shape == (2, 6, 2)
    assert train["text_bert"].shape == (2, 3, 6) and train["text_bert"].dtype == np.int64
    assert train["audio_lengths"].tolist() == [3, 6] and train["vision_lengths"].tolist() == [3, 6]
    assert train["regression_labels"].dtype == np.float32 and train["regression_labels"].tolist() == [0.5, -1.0]
    assert train["id"].tolist() == ["a$_$1", "a$_$2"] and train["raw_text"][0] == "w0 w1 w2"
    # word i at row i, zero padding after the last word, truncation at `length` words
    np.testing.assert_array_equal(train["audio"][0, :3], items[0].audio)
    np.testing.assert_array_equal(train["text"][0, :3], items[0].text)
    np.testing.assert_array_equal(train["vision"][1], items[1].vision[:6])
    assert not train["audio"][0, 3:].any() and not train["text"][0, 3:].any()
    assert data["valid"]["audio"].shape == (1, 6, 3) and data["test"]["id"].tolist() == ["c$_$1"]


def test_mmsa_wordpiece_rows_follow_text_bert():
    items = [_item("a$_$1", "train", 3), _item("b$_$1", "valid", 9), _item("c$_$1", "test", 1)]
    data = exports.build_mmsa(items, length=6, rows_per="wordpiece")
    train, it = data["train"], items[0]
    # [CLS] w0 w1 w1 w2 [SEP]: each word's vectors on each of its pieces, zero at [CLS]/[SEP]
    for name, words in (("audio", it.audio), ("text", it.text), ("vision", it.vision)):
        np.testing.assert_array_equal(train[name][0], np.vstack([0 * words[:1], words[[0, 1, 1, 2]], 0 * words[:1]]))
    assert train["audio_lengths"].tolist() == [6] and train["vision_lengths"].tolist() == [6]
    assert data["valid"]["audio_lengths"].tolist() == [6]  # truncated to 6 positions
    np.testing.assert_array_equal(data["valid"]["audio"][0, 1:5], items[1].audio[[0, 1, 1, 2]])
    assert data["test"]["audio_lengths"].tolist() == [3] and not data["test"]["audio"][0, 2:].any()
    with pytest.raises(MsaflowError, match="rows"):
        exports.build_mmsa(items, length=6, rows_per="frames")


def test_mmsa_unimodal_labels_only_when_every_utterance_has_them():
    sub = {"T": 1.0, "A": -0.5, "V": 0.25}
    items = [_item("a$_$1", "train", 2, sub=sub), _item("b$_$1", "valid", 2, sub=sub), _item("c$_$1", "test", 2, sub=sub)]
    data = exports.build_mmsa(items, length=6)
    assert data["train"]["regression_labels_A"].tolist() == [-0.5]
    assert data["test"]["regression_labels_V"].dtype == np.float32
    items[1].sub_labels = None
    assert "regression_labels_T" not in exports.build_mmsa(items, length=6)["train"]


def test_mag_layout_as_mag_bert_reads_it():
    items = [_item("a$_$1", "train", 3), _item("b$_$1", "valid", 60), _item("c$_$1", "test", 1)]
    data = exports.build_mag(items)
    assert set(data) == {"train", "dev", "test"}
    (words, visual, acoustic), label, segment = data["dev"][0]
    # MAG-BERT's convert_to_features indexes visual[i, :] / acoustic[i, :] by word index: one row per
    # word, full length (it cuts word-pieces itself), widths = VISUAL_DIM / ACOUSTIC_DIM
    assert words == [f"w{i}" for i in range(60)] and visual.shape == (60, 2) and acoustic.shape == (60, 3)
    assert visual.dtype == acoustic.dtype == np.float32
    assert label.shape == (1, 1) and label.dtype == np.float32 and segment == "b$_$1"


def test_shape_disagreement_is_an_error_naming_the_utterance():
    bad = _item("a$_$1", "train", 3)
    bad.vision = bad.vision[:2]
    with pytest.raises(MsaflowError, match="a\\$_\\$1"):
        exports.build_mmsa([_item("z$_$1", "train", 2), bad], length=6)
    with pytest.raises(MsaflowError, match="no utterance"):
        exports.build_mag([])


def test_pool_pieces_means_each_words_pieces():
    hidden = np.arange(12, dtype=np.float32).reshape(6, 2)  # [CLS] w0 w1a w1b w2? [SEP]
    word_ids = [None, 0, 1, 1, None, None]
    pooled, lost = exports.pool_pieces(hidden, word_ids, n_words=3)
    np.testing.assert_allclose(pooled, [[2, 3], [5, 6], [0, 0]])
    assert lost == 1  # word 2 has no piece (cut by the encoder's maximum length)


class _Encoding(dict):
    def __init__(self, word_ids, **fields):
        super().__init__(fields)
        self._word_ids = word_ids

    def word_ids(self):
        return self._word_ids


class _Tokenizer:
    """Just enough of a fast tokenizer for text_bert_ids: one piece per word."""

    def __call__(self, words, is_split_into_words, truncation, max_length, padding):
        kept = words[: max_length - 2]
        ids = [101] + [1000 + len(w) for w in kept] + [102]
        pad = max_length - len(ids)
        return _Encoding([None, *range(len(kept)), None] + [None] * pad, input_ids=ids + [0] * pad,
                         attention_mask=[1] * len(ids) + [0] * pad, token_type_ids=[0] * max_length)


def _manifest_rows():
    return [
        {"utterance_id": "a$_$1", "text": "good film", "label": "1.5", "annotation": "Positive", "mode": "train",
         "label_T": "1", "label_A": "0", "label_V": "2"},
        {"utterance_id": "a$_$2", "text": "bad", "label": "-1", "annotation": "Negative", "mode": "valid",
         "label_T": "", "label_A": "", "label_V": ""},
        {"utterance_id": "b$_$1", "text": "ok then", "label": "0", "annotation": "Neutral", "mode": "test",
         "label_T": "", "label_A": "", "label_V": ""},
        {"utterance_id": "c$_$1", "text": "lost", "label": "0", "annotation": "Neutral", "mode": "test",
         "label_T": "", "label_A": "", "label_V": ""},
    ]


def test_collect_items_qc_vision_fallback_and_placeholder():
    rows = _manifest_rows()
    words = {"a$_$1": ["good", "film"], "a$_$2": ["bad"], "b$_$1": ["ok", "then"], "c$_$1": ["lost"]}
    audio = {u: np.ones((len(w), 3), np.float32) for u, w in words.items() if u != "c$_$1"}
    audio_qc = {"a$_$1": ("ok", ""), "a$_$2": ("ok", ""), "b$_$1": ("ok", ""), "c$_$1": ("failed", "acoustic: unreadable")}

    def text_features(utterances):
        return [np.full((len(w), 4), 0.5, np.float32) for w in utterances]

    vision = {"a$_$1": np.ones((2, 5), np.float32), "a$_$2": np.ones((1, 5), np.float32)}
    items, qc = stage.collect_items(rows, words, audio, audio_qc, vision, 5, text_features, _Tokenizer(), 6)
    assert [it.id for it in items] == ["a$_$1", "a$_$2", "b$_$1"]
    assert qc.rows["c$_$1"][0] == "failed" and "unreadable" in qc.rows["c$_$1"][1]
    assert qc.rows["b$_$1"] == ("fallback", "no visual words: zero vision")
    assert qc.rows["a$_$1"] == ("ok", "")
    assert items[2].vision.shape == (2, 5) and not items[2].vision.any()
    assert items[0].sub_labels == {"T": 1.0, "A": 0.0, "V": 2.0} and items[1].sub_labels is None
    assert items[0].text_bert[0, :4].tolist() == [101, 1004, 1004, 102]
    assert items[0].piece_words[:4].tolist() == [-1, 0, 1, -1]
    # no visual set at all: zero placeholder of the given width, status ok
    items, qc = stage.collect_items(rows, words, audio, audio_qc, None, 1, text_features, _Tokenizer(), 6)
    assert items[2].vision.shape == (2, 1) and qc.rows["b$_$1"] == ("ok", "")


def _write_words(path, name, feats):
    entries = [(u, f, np.stack([np.arange(len(f)), np.arange(len(f)) + 0.5], axis=1)) for u, f in sorted(feats.items())]
    csd.write_csd(path, name, entries, {"column names": [f"{name}_{i}" for i in range(next(iter(feats.values())).shape[1])]})


def test_stage_writes_both_exports_with_real_vision_and_info(tmp_path):
    rows = _manifest_rows()
    write_tsv(tmp_path / "manifest.tsv", MANIFEST_COLUMNS, [[r.get(c, "") for c in MANIFEST_COLUMNS] for r in rows])
    words = {"a$_$1": ["good", "film"], "a$_$2": ["bad"], "b$_$1": ["ok", "then"], "c$_$1": ["lost"]}
    write_tsv(tmp_path / "align.tsv", ["utterance_id", "word_index", "word", "start", "end", "source"],
              [(u, i, w, i * 0.3, i * 0.3 + 0.25, "test") for u, ws in words.items() for i, w in enumerate(ws)])
    rng = np.random.default_rng(0)
    _write_words(tmp_path / "audio.csd", "covarep_like",
                 {u: rng.standard_normal((len(w), 7)).astype(np.float32) for u, w in words.items() if u != "c$_$1"})
    _write_words(tmp_path / "vision.csd", "facial_like",
                 {u: rng.standard_normal((len(w), 5)).astype(np.float32) for u, w in words.items()})
    write_tsv(tmp_path / "audio.qc.tsv", ["utterance_id", "status", "reason"],
              [("a$_$1", "ok", ""), ("a$_$2", "ok", ""), ("b$_$1", "ok", ""), ("c$_$1", "failed", "no audio")])
    out = {k: str(tmp_path / f"out.{k}") for k in ("mmsa", "mag", "info", "qc")}
    args = Namespace(manifest=str(tmp_path / "manifest.tsv"), align=[str(tmp_path / "align.tsv")],
                     audio_words=str(tmp_path / "audio.csd"), audio_qc=str(tmp_path / "audio.qc.tsv"),
                     vision_words=str(tmp_path / "vision.csd"), placeholder_vision_dim=1, encoder="minilm-l6",
                     length=50, rows="word", batch_size=2, threads=1, mmsa_out=out["mmsa"], mag_out=out["mag"],
                     info_out=out["info"], qc=out["qc"], log=None)
    assert stage.main(args) == 0
    mmsa = pickle.load(open(out["mmsa"], "rb"))
    train = mmsa["train"]
    assert MMSA_READS <= set(train)
    assert train["text"].shape == (1, 50, 384) and train["audio"].shape == (1, 50, 7) and train["vision"].shape == (1, 50, 5)
    assert train["text_bert"][0, 1].sum() == 4  # [CLS] good film [SEP]
    assert "regression_labels_T" not in train  # only one utterance has label_T/A/V
    assert np.abs(train["text"][0, :2]).sum() > 0 and not train["text"][0, 2:].any()
    mag = pickle.load(open(out["mag"], "rb"))
    assert [len(mag[s]) for s in ("train", "dev", "test")] == [1, 1, 1]
    assert mag["test"][0][0][1].shape == (2, 5)
    info = json.loads(open(out["info"]).read())
    assert info["mag"]["global_configs"] == {"ACOUSTIC_DIM": 7, "VISUAL_DIM": 5}
    assert info["mmsa"]["feature_dims"] == [384, 7, 5] and info["vision"]["placeholder"] is False
    assert read_qc(out["qc"])["c$_$1"][0] == "failed"

    # the same words encoded alone give the same word rows (batching does not leak across utterances)
    from msaflow.encoders import load_text_encoder, load_tokenizer

    single, _ = exports.encode_words(load_text_encoder("minilm-l6"), load_tokenizer("minilm-l6"), [["good", "film"]])
    np.testing.assert_allclose(single[0], train["text"][0, :2], atol=1e-4)
