"""Tokenisation: word -> word-piece mapping, features copied to pieces, QC accounting, encoders."""


import numpy as np
import pytest

from msaflow.common import MsaflowError, read_qc, write_tsv
from msaflow.tokenize import align_words, spread_to_pieces


@pytest.fixture(scope="module")
def tokenizer():
    from msaflow.encoders import load_tokenizer

    return load_tokenizer("minilm-l6")


def test_word_pieces_map_back_to_their_words(tokenizer):
    words = ["the", "unbelievably", "good", "movie"]
    al = align_words(tokenizer, words, max_length=12)
    assert al.input_ids[0] == tokenizer.cls_token_id
    pieces = tokenizer.convert_ids_to_tokens(al.input_ids[al.word_index == 1].tolist())
    assert len(pieces) > 1 and "".join(p.replace("##", "") for p in pieces) == "unbelievably"
    assert list(al.word_index[al.word_index >= 0]) == sorted(al.word_index[al.word_index >= 0])
    sep = int(al.attention_mask.sum()) - 1
    assert al.input_ids[sep] == tokenizer.sep_token_id and al.word_index[sep] == -1
    assert al.attention_mask[sep + 1 :].sum() == 0 and not al.truncated


def test_features_copied_to_each_piece_and_zero_elsewhere(tokenizer):
    words = ["the", "unbelievably", "good", "movie"]
    feats = np.arange(8, dtype=np.float32).reshape(4, 2) + 1
    al = align_words(tokenizer, words, max_length=12)
    audio = spread_to_pieces(feats, al.word_index)
    for p, w in enumerate(al.word_index):
        expected = feats[w] if w >= 0 else np.zeros(2)
        assert np.array_equal(audio[p], expected)
    assert np.all(audio[0] == 0)  # [CLS]


def test_truncation_is_counted(tokenizer):
    words = ["word"] * 30
    al = align_words(tokenizer, words, max_length=10)
    assert al.truncated and al.n_pieces == 30 and al.n_pieces_kept == 8 and al.n_words_kept == 8
    assert al.input_ids[-1] == tokenizer.sep_token_id


def test_build_tokens_qc_adds_up(tokenizer):
    from msaflow.stages.tokens import build_tokens
    from msaflow.training.synthetic import make_corpus

    rows, words, audio = make_corpus(n=40, seed=0)
    ids = [r["utterance_id"] for r in rows]
    del audio[ids[0]]  # missing features
    audio[ids[1]] = audio[ids[1]][:-1]  # one row short
    words.pop(ids[2])  # no words
    audio[ids[3]][0, 0] = np.nan
    words[ids[4]] = ["long"] * 60  # truncated
    audio[ids[4]] = np.zeros((60, 5), np.float32)
    data, qc = build_tokens(rows, words, audio, {}, tokenizer, max_length=20, upstream_failed={ids[5]})
    c = data["meta"]["counts"]
    assert c["failed_upstream"] == 1 and c["failed"] == 4 and c["truncated"] == 1
    assert c["entering"] == c["ok"] + c["fallback"] + c["failed"] == 39
    assert c["train"] + c["valid"] + c["test"] == c["ok"] + c["fallback"]
    assert "one row" not in qc.rows[ids[1]][1] and "does not match" in qc.rows[ids[1]][1]
    split = data["train"]
    assert split["input_ids"].shape == (c["train"], 20) and split["audio"].shape == (c["train"], 20, 5)
    assert (split["audio"][:, 0] == 0).all()
    assert (split["audio"][split["attention_mask"] == 0] == 0).all()


def write_inputs(tmp_path, n=24):
    from msaflow.features.csd import write_csd
    from msaflow.training.synthetic import make_corpus

    rows, words, audio = make_corpus(n=n, seed=1)
    manifest = tmp_path / "manifest.tsv"
    cols = ["utterance_id", "video_id", "clip_id", "text", "label", "annotation", "mode", "shard", "media_path", "start", "end"]
    write_tsv(manifest, cols, [[r.get(c, "s000" if c == "shard" else "") for c in cols] for r in rows])
    align = tmp_path / "s000.tsv"
    write_tsv(align, ["utterance_id", "word_index", "word", "start", "end", "source"],
              [[u, i, w, i * 0.3, i * 0.3 + 0.3, "pocketsphinx"] for u, ws in words.items() for i, w in enumerate(ws)])
    qc = tmp_path / "s000.qc.tsv"
    first = rows[0]["utterance_id"]
    write_tsv(qc, ["utterance_id", "status", "reason"], [[r["utterance_id"], "failed" if r["utterance_id"] == first else "ok", ""] for r in rows])
    csd = tmp_path / "covarep_like.csd"
    write_csd(csd, "covarep_like", [(u, a, np.stack([np.arange(len(a)), np.arange(len(a)) + 1], 1) * 0.3) for u, a in audio.items()],
              {"column names": [f"c{i}" for i in range(5)]})
    return rows, manifest, align, qc, csd


def test_tokens_stage_from_files(tmp_path):
    import torch

    from msaflow.cli import main

    rows, manifest, align, qc, csd = write_inputs(tmp_path)
    out, out_qc = tmp_path / "tokens" / "minilm-l6" / "covarep_like.pt", tmp_path / "tokens.qc.tsv"
    rc = main(["tokens", "--manifest", str(manifest), "--align", str(align), "--upstream-qc", str(qc), "--audio-words", str(csd),
               "--encoder", "minilm-l6", "--max-length", "30", "--out", str(out), "--qc", str(out_qc)])
    assert rc == 0
    data = torch.load(out, weights_only=False)
    assert data["meta"]["audio_columns"] == [f"c{i}" for i in range(5)]
    assert data["meta"]["counts"]["failed_upstream"] == 1
    assert len(read_qc(out_qc)) == len(rows) - 1
    assert sum(len(data[s]["ids"]) for s in ("train", "valid", "test")) == len(rows) - 1


def test_bad_alignment_table_is_a_clear_error(tmp_path):
    from msaflow.cli import main

    rows, manifest, align, qc, csd = write_inputs(tmp_path)
    align.write_text("utterance_id\tword\nx\ty\n")
    rc = main(["tokens", "--manifest", str(manifest), "--align", str(align), "--audio-words", str(csd),
               "--out", str(tmp_path / "t.pt"), "--qc", str(tmp_path / "q.tsv")])
    assert rc == 2 and not (tmp_path / "t.pt").exists()


def test_uncached_hub_encoder_offline_fails_at_once_naming_the_offline_choice(tmp_path, monkeypatch):
    import time

    from msaflow.encoders import resolve_encoder

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t = time.time()
    with pytest.raises(MsaflowError, match="minilm-l6"):
        resolve_encoder("bert-base-uncased")
    assert time.time() - t < 5
    with pytest.raises(MsaflowError, match="unknown encoder"):
        resolve_encoder("no-such-encoder")
    assert resolve_encoder("minilm-l6").endswith("model")
