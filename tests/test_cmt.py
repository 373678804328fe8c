"""CMT (models/cmt.py) and its pretraining (msaflow.pretraining): masking statistics, the orthogonality
term, the layer pooler, padding invariance, determinism, codeword targets, the waveforms artifact,
the workflow helpers, and the offline failure of hub ids."""

import json
import math
import time

import numpy as np
import pytest
import torch

from msaflow.common import MsaflowError, QCTable
from msaflow.models.blocks import CrossModalTransformerBlock, cosine_orthogonality
from msaflow.models.cmt import CMT, CMTPretrainingHeads
from msaflow.pretraining.codewords import assign, deltas, fit_codebook, mfcc, mfcc_features, n_frames
from msaflow.pretraining.masking import IGNORE_INDEX, mask_tokens, span_mask

VOCAB = 120


def tiny_text_encoder(seed=0, dropout=0.1):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    return BertModel(BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=dropout,
                                attention_probs_dropout_prob=dropout))


def tiny_hubert(seed=0, norm="layer", width=32):
    """HuBERT's conv kernels/strides (400-sample frames, 320 hop) at a tiny width."""
    from transformers import HubertConfig, HubertModel

    from msaflow.encoders import SMALL_HUBERT

    torch.manual_seed(seed)
    return HubertModel(HubertConfig(**{**SMALL_HUBERT, "hidden_size": width, "num_attention_heads": 2,
                                       "intermediate_size": 64, "num_hidden_layers": 1, "conv_dim": (8,) * 6 + (16,),
                                       "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4,
                                       "feat_extract_norm": norm}))


def build(text_width=32, norm="layer", **settings):
    torch.manual_seed(0)
    encoder = tiny_text_encoder()
    if text_width != 32:
        from transformers import BertConfig, BertModel

        encoder = BertModel(BertConfig(vocab_size=VOCAB, hidden_size=text_width, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=64, max_position_embeddings=64))
    model = CMT({"arch": "cmt", "encoder": "tiny", "heads": 2, "init": "none", **settings}, {}, encoder=encoder,
                speech_encoder=tiny_hubert(norm=norm))
    return model.eval()


def make_batch(b=3, seed=0, text_len=10, samples=16000):
    g = torch.Generator().manual_seed(seed)
    lengths_text = [text_len, 7, 5][:b]
    lengths_audio = [samples, 9000, 4000][:b]
    input_ids = torch.zeros(b, text_len, dtype=torch.long)
    attention_mask = torch.zeros(b, text_len, dtype=torch.long)
    waveform = torch.zeros(b, samples)
    for i in range(b):
        n = lengths_text[i]
        input_ids[i, :n] = torch.randint(5, VOCAB, (n,), generator=g)
        attention_mask[i, :n] = 1
        waveform[i, : lengths_audio[i]] = 0.1 * torch.randn(lengths_audio[i], generator=g)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "audio_waveform": waveform,
            "audio_waveform_lengths": torch.tensor(lengths_audio), "labels": torch.tensor([1.0, -2.0, 0.5])[:b]}


# -- masking ---------------------------------------------------------------------------------------

def test_text_masking_follows_roberta_15_percent_80_10_10():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 30000, (400, 200), generator=g)
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, 0] = False  # [CLS]
    maskable[:, 150:] = False  # padding
    masked, labels = mask_tokens(ids, maskable, mask_token_id=3, vocab_size=30000, generator=g)
    selected = labels != IGNORE_INDEX
    assert not selected[~maskable].any()
    assert (labels[selected] == ids[selected]).all()
    assert (masked[~selected] == ids[~selected]).all()  # only selected tokens change
    assert selected[maskable].float().mean().item() == pytest.approx(0.15, abs=0.004)
    n = selected.sum().item()
    to_mask = (masked[selected] == 3).sum().item() / n
    unchanged = (masked[selected] == ids[selected]).sum().item() / n
    random = 1 - to_mask - unchanged
    assert to_mask == pytest.approx(0.8, abs=0.01)
    assert unchanged == pytest.approx(0.1, abs=0.01)  # (+ a random draw that hit the same id: ~1/30000)
    assert random == pytest.approx(0.1, abs=0.01)


def test_text_masking_is_dynamic_and_seeded():
    ids = torch.randint(5, 100, (8, 30), generator=torch.Generator().manual_seed(0))
    maskable = torch.ones_like(ids, dtype=torch.bool)
    a = mask_tokens(ids, maskable, 3, 100, torch.Generator().manual_seed(7))
    b = mask_tokens(ids, maskable, 3, 100, torch.Generator().manual_seed(7))
    c = mask_tokens(ids, maskable, 3, 100, torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_span_masking_fraction_starts_and_lengths():
    p, span = 0.075, 10
    g = torch.Generator().manual_seed(3)
    lengths = torch.tensor([5000] * 40)
    mask = span_mask(lengths, 5000, g, p, span)
    # Interior frames: masked unless no span starts in the 10 frames up to them -> 1 - (1 - p)^M = 0.54
    # (p * M = 0.75 would be the fraction if spans never overlapped, as in wav2vec 2.0's ~49 % for p = 0.065).
    interior = mask[:, span : 5000 - span].float().mean().item()
    assert interior == pytest.approx(1 - (1 - p) ** span, abs=0.01)
    assert interior < p * span
    # each span is at least `span` frames long: runs of masked frames are >= 10 (except none shorter)
    row = mask[0].int()
    edges = torch.diff(torch.cat([torch.zeros(1, dtype=torch.int32), row, torch.zeros(1, dtype=torch.int32)]))
    runs = (edges == -1).nonzero().squeeze(1) - (edges == 1).nonzero().squeeze(1)
    assert runs.min().item() >= span


def test_span_masking_respects_lengths_and_minimum_starts():
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([0, 5, 12, 30, 400])
    mask = span_mask(lengths, 400, g, prob=0.0, span=10, min_starts=2)  # no random starts: only the minimum
    for i, n in enumerate(lengths.tolist()):
        assert not mask[i, n:].any()
    assert mask[1, :5].all()  # shorter than a span: the one possible start, cut at the end
    assert 10 <= mask[2].sum().item() <= 12
    assert 11 <= mask[4].sum().item() <= 20  # two starts -> one or two spans
    assert mask[0].sum().item() == 0


# -- the orthogonality term, the block, the pooler ------------------------------------------------

def test_orthogonality_term_on_hand_computed_matrices():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]])
    b = torch.tensor([[0.0, 3.0], [2.0, 0.0], [-2.0, -4.0]])
    # rows: orthogonal -> 0; 45 degrees -> 1/sqrt(2); opposite -> |-1| = 1
    expected = (0.0 + 1 / math.sqrt(2) + 1.0) / 3
    assert cosine_orthogonality(a, b).item() == pytest.approx(expected, abs=1e-6)
    assert cosine_orthogonality(a[:1], b[:1]).item() == 0.0


def test_training_loss_is_mse_plus_alpha_times_ortho():
    batch = make_batch()
    for ortho_text in ("mean", "cls"):
        model = build(ortho_alpha=10.0, ortho_text=ortho_text)
        model.eval()  # no dropout: the same representations in both computations
        reps = model.representations(batch)
        prediction = model._predict(reps)
        text = reps["text_mean"] if ortho_text == "mean" else reps["text_cls"]
        expected = torch.mean((prediction - batch["labels"]) ** 2) + 10.0 * cosine_orthogonality(reps["audio"], text)
        loss, pred = model.training_loss(batch)
        assert torch.allclose(pred, prediction) and loss.item() == pytest.approx(expected.item(), rel=1e-6)
    model = build(ortho_alpha=0.0)
    loss, pred = model.training_loss(batch)
    assert loss.item() == pytest.approx(torch.mean((pred - batch["labels"]) ** 2).item(), rel=1e-6)


def test_layer_pooler_is_a_softmax_weighted_average_of_the_audio_blocks():
    model = build(layers=3, layer_pooler=True)
    layers = [torch.full((1, 2, 4), float(k)) for k in (1, 2, 3)]
    assert torch.allclose(model.pooled_audio_layers(layers), torch.full((1, 2, 4), 2.0))  # zero init: plain mean
    with torch.no_grad():
        model.layer_weights.copy_(torch.tensor([0.0, math.log(2.0), math.log(5.0)]))
    weights = torch.tensor([1.0, 2.0, 5.0]) / 8.0
    assert torch.allclose(model.pooled_audio_layers(layers), torch.full((1, 2, 4), float(weights @ torch.tensor([1.0, 2, 3]))))
    assert model.describe()["layer_pooler_weights"] == pytest.approx(weights.tolist())
    plain = build(layers=3)
    assert plain.layer_weights is None and plain.pooled_audio_layers(layers) is layers[-1]
    # the pooler's weights get gradients; the pretraining backbone leaves them out
    loss, _ = model.train().training_loss(make_batch())
    loss.backward()
    assert model.layer_weights.grad is not None and "layer_weights" not in model.backbone_state()


def test_cross_modal_block_attends_to_the_other_modality_and_ignores_its_padding():
    torch.manual_seed(0)
    block = CrossModalTransformerBlock(dim=8, other_dim=6, heads=2).eval()
    x, other = torch.randn(2, 5, 8), torch.randn(2, 7, 6)
    x_mask, other_mask = torch.ones(2, 5), torch.ones(2, 7)
    other_mask[1, 4:] = 0
    out = block(x, x_mask, other, other_mask)
    changed = other.clone()
    changed[1, 4:] = 100.0  # padding of the other modality
    assert torch.allclose(block(x, x_mask, changed, other_mask), out, atol=1e-6)
    changed[1, 0] += 1.0  # a real position of the other modality
    assert not torch.allclose(block(x, x_mask, changed, other_mask)[1], out[1], atol=1e-4)
    with pytest.raises(ValueError, match="divisible"):
        CrossModalTransformerBlock(dim=10, other_dim=6, heads=4)


# -- padding invariance, audio use, determinism -------------------------------------------------------

@pytest.mark.parametrize("norm", ["layer", "group"])
def test_padding_does_not_change_the_prediction(norm):
    model = build(norm=norm, layer_pooler=True, text_width=48)  # text width != audio width: an adapter
    batch = make_batch()
    with torch.no_grad():
        base = model(batch)
        padded = dict(batch, audio_waveform=torch.cat([batch["audio_waveform"], torch.zeros(3, 5000)], 1),
                      input_ids=torch.cat([batch["input_ids"], torch.zeros(3, 4, dtype=torch.long)], 1),
                      attention_mask=torch.cat([batch["attention_mask"], torch.zeros(3, 4, dtype=torch.long)], 1))
        assert torch.allclose(model(padded), base, atol=1e-5, rtol=0)
        # whatever lies beyond an utterance's length is padding, zero or not
        noisy = dict(batch, audio_waveform=batch["audio_waveform"].clone())
        noisy["audio_waveform"][1, 9000:] = 0.5
        assert torch.allclose(model(noisy), base, atol=1e-5, rtol=0)
        one_by_one = torch.cat([model({k: v[i : i + 1] for k, v in batch.items()}) for i in range(3)])
        assert torch.allclose(one_by_one, base, atol=1e-5, rtol=0)


def test_prediction_depends_on_the_audio_and_int16_equals_float():
    model = build()
    batch = make_batch()
    with torch.no_grad():
        base = model(batch)
        quiet = dict(batch, audio_waveform=batch["audio_waveform"] * 0.1)
        assert not torch.allclose(model(quiet), base, atol=1e-4)
        pcm = dict(batch, audio_waveform=(batch["audio_waveform"] * 32768).round().to(torch.int16))
        assert torch.allclose(model(pcm), base, atol=1e-4)


def test_training_is_deterministic_on_cpu(tmp_path):
    from msaflow.training import TrainConfig, Trainer, seed_everything

    data = {s: {**make_batch(3, seed=k), "ids": [f"{s}{i}" for i in range(3)]} for k, s in enumerate(("train", "valid"))}
    runs = []
    for name in ("a", "b"):
        seed_everything(5)
        model = build(ortho_alpha=10.0, lr=1e-3)
        trainer = Trainer(model, TrainConfig(batch_size=2, epochs=2, threads=1), 5, tmp_path / name)
        history = trainer.fit(data["train"], data["valid"])
        runs.append((trainer.predict(data["valid"])[0], [e["train_loss"] for e in history["epochs"]]))
    assert np.array_equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]


def test_speaker_centring_subtracts_each_speakers_mean_of_the_pooled_audio():
    from msaflow.models.cmt import SPEAKER_INDEX_KEY

    model = build(speaker_centering=True, speaker_min_utterances=2)
    batch = make_batch()
    batch[SPEAKER_INDEX_KEY] = torch.tensor([0, 0, 1])  # speaker 1 has one utterance: below the minimum
    with torch.no_grad():
        model.prepare_split([batch], "train")
        pooled = model.representations(batch, centre=False)["audio"]
        reps = model.representations(batch)
    assert torch.allclose(model.speaker_fallback, pooled.mean(0), atol=1e-6)
    assert torch.allclose(reps["fused_audio"][:2], pooled[:2] - pooled[:2].mean(0), atol=1e-5)
    assert torch.allclose(reps["fused_audio"][2], pooled[2] - pooled.mean(0), atol=1e-5)
    assert torch.allclose(reps["audio"], pooled)  # the ortho term keeps the paper's uncentred h̄_a
    # a lone clip (no speaker index) gets the train mean; a split never prepared is an error naming the fix
    lone = {k: v[2:] for k, v in batch.items() if k != SPEAKER_INDEX_KEY}
    with torch.no_grad():
        assert torch.allclose(model.representations(lone)["fused_audio"][0], pooled[2] - pooled.mean(0), atol=1e-5)
    model._speaker_means = None
    with pytest.raises(MsaflowError, match="prepare_split"):
        model(batch)
    # the fallback travels with the weights; the backbone handed to fine-tuning does not carry it
    assert "speaker_fallback" in model.state_dict() and "speaker_fallback" not in model.backbone_state()


def test_speaker_indices_from_the_manifest_or_the_video_and_the_trainer_prepares_every_split(tmp_path):
    from msaflow.models.cmt import SPEAKER_INDEX_KEY
    from msaflow.speakers import attach_speaker_index
    from msaflow.training import TrainConfig, Trainer

    ids = {"train": ["v1$_$1", "v1$_$2", "v2$_$1"], "valid": ["v3$_$1", "v3$_$2", "v3$_$3"]}
    data = {s: {**make_batch(3, seed=k), "ids": ids[s]} for k, s in enumerate(("train", "valid"))}
    manifest = [{"utterance_id": "v2$_$1", "video_id": "v2", "speaker": "anna"}]
    names = attach_speaker_index(data, ("train", "valid"), manifest)
    assert names == ["anna", "v1", "v3"]
    assert data["train"][SPEAKER_INDEX_KEY].tolist() == [1, 1, 0] and data["valid"][SPEAKER_INDEX_KEY].tolist() == [2] * 3
    model = build(speaker_centering=True, speaker_min_utterances=2, lr=1e-3)
    seen = []
    original = model.prepare_split

    def spy(batches, role):
        batches = list(batches)
        seen.append((role, sum(len(b["labels"]) for b in batches)))
        original(batches, role)

    model.prepare_split = spy
    trainer = Trainer(model, TrainConfig(batch_size=2, epochs=2, threads=1), 5, tmp_path / "run")
    trainer.fit(data["train"], data["valid"])
    preds, _ = trainer.predict(data["valid"])
    # before each epoch on train; before each validation and the final prediction on valid
    assert seen == [("train", 3), ("predict", 3), ("train", 3), ("predict", 3), ("predict", 3)]
    # the three valid utterances are one speaker: their centred audio averages to zero
    with torch.no_grad():
        batch = {k: v for k, v in data["valid"].items() if k != "ids"}
        fused = model.representations(batch)["fused_audio"]
    assert torch.allclose(fused.mean(0), torch.zeros_like(fused[0]), atol=1e-5) and np.isfinite(preds).all()


def test_frozen_parts_and_parameter_groups():
    from msaflow.training.trainer import apply_freeze

    model = build(lr=1e-5, lr_head=1e-3)
    apply_freeze(model, model.frozen_patterns())
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert any(n.startswith("encoder.embeddings.") for n in frozen)
    assert any(n.startswith("speech.hubert.feature_extractor.") for n in frozen)
    assert not any(n.startswith(("text_blocks.", "audio_blocks.", "head.")) for n in frozen)
    groups = {g["name"]: g for g in model.param_groups()}
    assert groups["head"]["lr"] == 1e-3 and groups["cross_modal"]["lr"] == 1e-5
    assert all(g["weight_decay"] == 0.0 for g in groups.values())  # the paper's Adam
    with pytest.raises(ValueError, match="init"):
        build(init="sometimes")


# -- pretraining ------------------------------------------------------------------------------------

def test_codeword_frames_match_the_speech_encoder_frames():
    hubert = tiny_hubert()
    lengths = torch.tensor([400, 401, 719, 720, 16000, 16399, 48000])
    expected = hubert._get_feat_extract_output_lengths(lengths).tolist()
    assert [n_frames(n) for n in lengths.tolist()] == expected
    assert [len(mfcc(np.zeros(n, dtype=np.int16))) for n in lengths.tolist()] == expected
    assert n_frames(399) == 0 and mfcc(np.zeros(100)).shape == (0, 13)


def test_mfcc_features_and_codebook():
    t = np.arange(16000) / 16000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    noise = np.random.default_rng(0).normal(scale=3000, size=16000).astype(np.int16)
    f_tone, f_noise = mfcc_features(tone), mfcc_features(noise)
    assert f_tone.shape == (n_frames(16000), 39) and np.isfinite(f_tone).all()
    assert f_tone[:, 0].mean() != pytest.approx(f_noise[:, 0].mean(), abs=1.0)
    ramp = np.arange(20, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    assert np.allclose(deltas(ramp)[2:-2], 1.0)  # slope 1 per frame away from the edges
    centroids = fit_codebook([f_tone, f_noise], clusters=4, seed=0)
    assert centroids.shape == (4, 39)
    a, b = assign(f_tone, centroids), assign(f_noise, centroids)
    assert set(a[5:-5]).isdisjoint(set(b[5:-5]))  # a tone and noise fall in different clusters
    assert np.array_equal(fit_codebook([f_tone, f_noise], 4, 0), centroids)  # deterministic
    with pytest.raises(MsaflowError, match="at least"):
        fit_codebook([f_tone[:3]], clusters=100, seed=0)


def pretraining_set(n=6, seed=0, samples=(8000, 12000)):
    from msaflow.pretraining import loop

    rng = np.random.default_rng(seed)
    waves = [(rng.normal(scale=2000, size=int(rng.integers(*samples)))).astype(np.int16) for _ in range(n)]
    ids = torch.zeros(n, 8, dtype=torch.long)
    mask = torch.zeros(n, 8, dtype=torch.long)
    maskable = torch.zeros(n, 8, dtype=torch.bool)
    for i in range(n):
        k = int(rng.integers(4, 8))
        ids[i, :k] = torch.as_tensor(rng.integers(5, VOCAB, k))
        mask[i, :k] = 1
        maskable[i, 1 : k - 1] = True
    targets = [rng.integers(0, 5, n_frames(len(w))) for w in waves]
    return loop.build_set([f"u{i}" for i in range(n)], ids, mask, maskable, waves, targets)


def test_pretraining_loop_records_both_losses_and_heldout_accuracies(tmp_path):
    import logging

    from msaflow.pretraining import loop

    model = build()
    heads = CMTPretrainingHeads(model.d_model, VOCAB, codewords=5)
    cfg = loop.PretrainConfig(epochs=2, batch_size=3, lr=1e-3, lr_scratch=1e-3, threads=1, text_mask_prob=0.3)
    history = loop.run(model, heads, pretraining_set(), pretraining_set(4, seed=1), cfg, tmp_path,
                       logging.getLogger("test"), mask_token_id=3, vocab_size=VOCAB, scratch_prefixes=("heads.",))
    assert len(history["steps"]) == 4 and [e["epoch"] for e in history["epochs"]] == [0, 1, 2]
    for step in history["steps"]:
        assert math.isfinite(step["loss_text"]) and math.isfinite(step["loss_audio"]) and step["loss_audio"] > 0
    last = history["epochs"][-1]
    assert 0 <= last["heldout_text_accuracy"] <= 1 and 0 <= last["heldout_audio_accuracy"] <= 1
    assert last["heldout_masked_frames"] > 0
    assert (tmp_path / "resume.pt").exists()
    # the same held-out masks every time: evaluation is a function of the weights only
    again = loop.evaluate(model, heads, pretraining_set(4, seed=1), cfg, 3, VOCAB, torch.device("cpu"))
    assert again["heldout_loss_audio"] == pytest.approx(last["heldout_loss_audio"], rel=1e-5)
    # a checkpoint fine-tuning can start from
    loop.save_checkpoint(tmp_path / "model.pt", model, heads, np.zeros((5, 39)), history, "pt", {})
    fresh = build()
    fresh.load_pretrained(tmp_path / "model.pt")
    assert torch.equal(fresh.audio_blocks[0].ffn[0].weight, model.audio_blocks[0].ffn[0].weight)
    assert fresh.describe()["pretraining"]["stage"] == "pt"
    other = build(layers=3)
    with pytest.raises(MsaflowError, match="another architecture"):
        other.load_pretrained(tmp_path / "model.pt")


def test_pretraining_is_deterministic_and_resumes_after_a_kill(tmp_path, monkeypatch):
    import logging

    from msaflow.pretraining import loop

    def pretrain(out, epochs=2):
        torch.manual_seed(0)
        model = build()
        heads = CMTPretrainingHeads(model.d_model, VOCAB, codewords=5)
        cfg = loop.PretrainConfig(epochs=epochs, batch_size=3, lr=1e-3, lr_scratch=1e-3, threads=1)
        history = loop.run(model, heads, pretraining_set(), pretraining_set(4, seed=1), cfg, out, logging.getLogger("t"),
                           3, VOCAB, ("heads.",))
        return history, model

    reference, model = pretrain(tmp_path / "a")
    again, _ = pretrain(tmp_path / "b")
    assert reference["steps"] == again["steps"] and reference["epochs"][-1] == again["epochs"][-1] | {
        "train_time_s": reference["epochs"][-1]["train_time_s"], "steps_per_s": reference["epochs"][-1]["steps_per_s"]}
    # killed when epoch 2 starts (after epoch 1's resume.pt): the rerun continues from resume.pt and
    # ends where the uninterrupted run did. batches(): held-out before, epoch 1, held-out, epoch 2.
    original = loop.batches
    calls = {"n": 0}

    def killing_batches(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("killed in epoch 2")
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "batches", killing_batches)
    with pytest.raises(KeyboardInterrupt):
        pretrain(tmp_path / "c")
    monkeypatch.setattr(loop, "batches", original)
    assert (tmp_path / "c" / "resume.pt").exists()
    resumed, resumed_model = pretrain(tmp_path / "c")
    assert resumed["resumed_at_epoch"] == 2 and resumed["steps"] == reference["steps"]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), resumed_model.state_dict().values()))


def test_corpus_reader_librispeech_layout_and_heldout_split(tmp_path):
    import soundfile as sf

    from msaflow.pretraining.corpus import heldout_ids, load_corpus

    folder = tmp_path / "corpus" / "19" / "198"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    (folder / "19-198.trans.txt").write_text(
        "19-198-0000 THE MOVIE WAS GOOD\n19-198-0001 I LIKED IT\n19-198-0002 NO AUDIO HERE\n19-198-0003 ...\n"
        "19-198-0004 TOO SHORT\n19-198-0005 A LONG ONE\n")
    for k, seconds in ((0, 1.0), (1, 0.5), (3, 1.0), (4, 0.01), (5, 3.0)):
        sf.write(folder / f"19-198-000{k}.flac", rng.normal(scale=1000, size=int(16000 * seconds)).astype(np.int16),
                 16000, subtype="PCM_16")
    qc = QCTable("pretrain-corpus")
    items = load_corpus([tmp_path / "corpus"], max_seconds=2.0, qc=qc)
    assert [it.id for it in items] == ["0/19-198-0000", "0/19-198-0001", "0/19-198-0005"]
    assert items[0].words == ["the", "movie", "was", "good"] and len(items[2].waveform) == 32000
    assert qc.rows["0/19-198-0002"][0] == "failed" and "no audio" in qc.rows["0/19-198-0002"][1]
    assert qc.rows["0/19-198-0003"] == ("failed", "no words in the transcript")
    assert "shorter than one audio frame" in qc.rows["0/19-198-0004"][1]
    assert qc.rows["0/19-198-0005"][1].startswith("truncated")
    ids = [f"u{i}" for i in range(100)]
    held = heldout_ids(ids, 0.05)
    assert len(held) == 8 and held == heldout_ids(list(reversed(ids)), 0.05)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MsaflowError, match="LibriSpeech layout"):
        load_corpus([tmp_path / "empty"], 2.0, QCTable("x"))


# -- the waveforms artifact ---------------------------------------------------------------------------

def test_waveforms_follow_the_tokens_file_and_attach_in_order(tmp_path):
    import soundfile as sf

    from msaflow.waveforms import attach_waveforms, build_waveforms

    audio = tmp_path / "audio" / "s000"
    audio.mkdir(parents=True)
    rng = np.random.default_rng(0)
    seconds = {"a$_$1": 1.0, "a$_$2": 3.0, "b$_$1": 0.5, "c$_$1": 0.75}
    samples = {}
    for uid, s in seconds.items():
        samples[uid] = rng.normal(scale=3000, size=int(16000 * s)).astype(np.int16)
        sf.write(audio / f"{uid}.wav", samples[uid], 16000, subtype="PCM_16")
    sf.write(tmp_path / "audio" / "s000" / "c$_$1.wav", np.repeat(samples["c$_$1"], 2)[: 2 * len(samples["c$_$1"])],
             32000, subtype="PCM_16")  # another rate: resampled
    tokens = {"train": {"ids": ["a$_$2", "a$_$1"], "labels": torch.zeros(2)},
              "valid": {"ids": ["b$_$1"], "labels": torch.zeros(1)}, "test": {"ids": ["c$_$1"], "labels": torch.zeros(1)}}
    data, qc = build_waveforms(tokens, [audio], max_seconds=2.0)
    train = data["train"]
    assert train["ids"] == ["a$_$2", "a$_$1"] and train["audio_waveform"].dtype == torch.float16
    assert train["audio_waveform_lengths"].tolist() == [32000, 16000] and train["audio_waveform"].shape == (2, 32000)
    assert np.allclose(train["audio_waveform"][1, :16000].float().numpy() * 32768, samples["a$_$1"], atol=20)
    assert train["audio_waveform"][1, 16000:].abs().sum() == 0
    assert qc.rows["a$_$2"][1] == "truncated: kept 2.00 of 3.00 s" and data["meta"]["truncated"] == 1
    assert data["meta"]["resampled_from_hz"] == [32000] and data["test"]["audio_waveform_lengths"].tolist() == [12000]
    attach_waveforms(tokens, data)
    assert torch.equal(tokens["train"]["audio_waveform"], train["audio_waveform"])
    tokens["valid"]["ids"] = ["other"]
    with pytest.raises(MsaflowError, match="differ"):
        attach_waveforms(tokens, data)
    with pytest.raises(MsaflowError, match="no wav"):
        build_waveforms({"train": {"ids": ["zzz"]}, "valid": {"ids": []}, "test": {"ids": []}}, [audio], 2.0)


def test_the_modality_ablation_zeroes_and_shuffles_the_waveform():
    from msaflow.training.ablation import ablate, ablated_modalities, modality_keys

    model = build()
    split = {**make_batch(), "ids": ["a", "b", "c"], "audio": torch.ones(3, 10, 5)}
    assert {"audio_waveform", "audio_waveform_lengths"} <= set(modality_keys(split, "audio"))
    assert ablated_modalities(model, split) == ["audio"]
    zeroed = ablate(split, "audio", "zero")
    assert zeroed["audio_waveform"].abs().sum() == 0
    assert torch.equal(zeroed["audio_waveform_lengths"], split["audio_waveform_lengths"])
    shuffled = ablate(split, "audio", "shuffle")
    perm = [split["audio_waveform_lengths"].tolist().index(n) for n in shuffled["audio_waveform_lengths"].tolist()]
    assert torch.equal(shuffled["audio_waveform"], split["audio_waveform"][perm])  # waveform and length move together
    with torch.no_grad():
        assert not torch.allclose(model(zeroed), model(split), atol=1e-4)


# -- workflow helpers ---------------------------------------------------------------------------------

def config_with_cmt():
    from pathlib import Path

    import yaml

    return yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())


def test_workflow_helpers_for_cmt():
    from msaflow.training import workflow_config as wfc

    config = config_with_cmt()
    settings = wfc.train_settings(config, "demo", "cmt")  # the paper's schedule, shortened by train.dataset_overrides.demo
    assert settings["batch_size"] == 16 and settings["epochs"] == config["train"]["dataset_overrides"]["demo"]["epochs"]
    assert settings["warmup_proportion"] == 0.0 and wfc.train_settings(config, "mosi", "cmt")["epochs"] == 25
    assert json.loads(wfc.model_settings_json(config, "cmt", "demo"))["lr"] == 5.0e-5  # models.cmt.dataset_overrides.demo
    assert json.loads(wfc.model_settings_json(config, "cmt", "mosi"))["lr"] == 1.0e-5  # the paper's
    config["models"]["cmt"]["train"] = {**config["models"]["cmt"]["train"], "dataset_overrides": {"demo": {"epochs": 3}}}
    assert wfc.train_settings(config, "demo", "cmt")["epochs"] == 3 and wfc.train_settings(config, "mosi", "cmt")["epochs"] == 25
    assert wfc.train_settings(config, "demo", "tbert")["batch_size"] == config["train"]["batch_size"]
    assert "train" not in wfc.model_settings_json(config, "cmt")
    name = "minilm-l6_hubert-small_2x4"
    assert wfc.model_init_checkpoint(config, "demo", "cmt") == f"work/demo/tapt/{name}/model.pt"
    assert wfc.model_init_checkpoint(config, "demo", "cmtpt") == f"work/pretrain/{name}/model.pt"
    assert wfc.model_init_checkpoint(config, "demo", "cmtnopt") is None
    assert wfc.model_init_checkpoint(config, "demo", "cmtlarge").endswith("minilm-l6_hubert-small_4x8/model.pt")
    assert wfc.pretrain_architecture(config, name) == {"encoder": "minilm-l6", "speech_encoder": "hubert-small",
                                                       "layers": 2, "heads": 4}
    inputs = wfc.train_inputs(config, "demo", "cmt", "raw")
    assert inputs["waveforms"].endswith("covarep_like.waveforms.pt") and inputs["init"].endswith("model.pt")
    assert inputs["manifest"] == "work/demo/manifest.tsv"  # the speakers of speaker_centering
    assert wfc.train_extra_args(inputs).endswith("--manifest work/demo/manifest.tsv")
    assert set(wfc.train_inputs(config, "demo", "tbert", "raw")) == {"tokens"}
    with pytest.raises(ValueError, match="CMU-MultimodalSDK files, which hold features but no media"):
        wfc.train_inputs(config, "mosi", "cmt", "sdk")
    assert wfc.pretrain_corpora(config) == ["work/pretrain/synth_corpus"]
    assert wfc.tapt_settings(config)["max_length"] == config["tokens"]["max_length"]
    assert "corpus" not in wfc.pretrain_settings(config) and "threads" not in wfc.pretrain_settings(config)


# -- encoders offline -----------------------------------------------------------------------------------

def test_hub_speech_and_text_ids_fail_fast_offline_naming_the_embedded_default(tmp_path, monkeypatch):
    from msaflow.encoders import load_speech_encoder, load_tokenizer, resolve_speech_encoder

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("facebook/hubert-large-ll60k", "hubert-base-ls960"):
        t = time.time()
        with pytest.raises(MsaflowError, match="speech_encoder: hubert-small"):
            load_speech_encoder(name)
        assert time.time() - t < 20
    t = time.time()
    with pytest.raises(MsaflowError, match="tokens.encoder: minilm-l6"):
        load_tokenizer("roberta-large")
    assert time.time() - t < 20
    with pytest.raises(MsaflowError, match="unknown speech encoder"):
        resolve_speech_encoder("no-such-encoder")
    assert resolve_speech_encoder("hubert-small")["hidden_size"] == 256
