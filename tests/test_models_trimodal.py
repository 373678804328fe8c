"""SenBERT, MHMF-BERT and LF-BERT: shapes, masking, auxiliary and restitution losses, determinism,
the audio-only (no vision) case, the CUDA path, and learning a label carried by one modality."""

import functools
import json
import math
from pathlib import Path

import pytest
import torch

from msaflow.models import build_model
from msaflow.models.blocks import AttentionStack, PositionalEmbedding, lengths_to_mask, masked_mean
from msaflow.models.mhmf import dual_restitution_loss, map_layers, sample_triplets
from msaflow.models.senbert import UncertaintyWeighting
from msaflow.training.synthetic import make_trimodal_batch, trimodal_meta

REPO = Path(__file__).resolve().parents[1]
ARCHS = ("senbert", "mhmf", "lfbert")
# Small widths so that the tests run in seconds; the architecture is the paper's.
SMALL = {
    "senbert": {"model_dim": 16, "heads": 2},
    "mhmf": {"heads": 2, "restitution_triplets": 4},
    "lfbert": {"hidden": 16},
    "tbert": {},
}


def tiny_encoder(seed=0, layers=2):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    return BertModel(config)


def build(arch, meta, seed=0, **settings):
    torch.manual_seed(seed)
    model = build_model({"arch": arch, **SMALL[arch], **settings}, meta, encoder=tiny_encoder(seed))
    model.eval()
    return model


def pad_batch(batch, extra_tokens=5, extra_frames=7, seed=1):
    """The same utterances with more padding after them, filled with garbage (never to be read)."""
    g = torch.Generator().manual_seed(seed)
    out = dict(batch)
    b = len(batch["labels"])
    out["input_ids"] = torch.cat([batch["input_ids"], torch.randint(5, 120, (b, extra_tokens), generator=g)], 1)
    out["attention_mask"] = torch.cat([batch["attention_mask"], torch.zeros(b, extra_tokens, dtype=torch.long)], 1)
    out["word_index"] = torch.cat([batch["word_index"], torch.full((b, extra_tokens), -1)], 1)
    for m in ("audio", "vision"):
        dim = batch[m].shape[-1]
        out[m] = torch.cat([batch[m], 50 * torch.randn(b, extra_tokens, dim, generator=g)], 1)
        frames = batch[f"{m}_frames"].clone()
        lengths = batch[f"{m}_frame_lengths"]
        beyond = ~lengths_to_mask(lengths, frames.shape[1])
        frames[beyond] = 50 * torch.randn(int(beyond.sum()), frames.shape[-1], generator=g)
        out[f"{m}_frames"] = torch.cat([frames, 50 * torch.randn(b, extra_frames, frames.shape[-1], generator=g)], 1)
    return out


def one_utterance(batch, i):
    """Utterance i alone, cut to its own lengths (no padding at all)."""
    k = int(batch["attention_mask"][i].sum())
    out = {key: value[i : i + 1] for key, value in batch.items()}
    for key in ("input_ids", "attention_mask", "word_index", "audio", "vision"):
        out[key] = out[key][:, :k]
    for m in ("audio", "vision"):
        out[f"{m}_frames"] = out[f"{m}_frames"][:, : int(batch[f"{m}_frame_lengths"][i])]
    return out


# -- shared blocks ---------------------------------------------------------------------------

def test_masked_mean_ignores_padding_even_nan():
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [float("nan"), 9.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.equal(masked_mean(x, mask), torch.tensor([[2.0, 3.0]]))
    assert torch.equal(masked_mean(x, torch.zeros(1, 3)), torch.zeros(1, 2))


def test_sinusoidal_positions_match_the_transformer_formula():
    pe = PositionalEmbedding(6).encoding(5, "cpu", torch.float32)
    pos, i = 3, 1
    assert pe[pos, 2 * i].item() == pytest.approx(math.sin(pos / 10000 ** (2 * i / 6)), abs=1e-6)
    assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(pos / 10000 ** (2 * i / 6)), abs=1e-6)


def test_attention_stack_ignores_padded_keys():
    torch.manual_seed(0)
    stack = AttentionStack(8, 2, 2, dropout=0.0, cross=True).eval()
    x, source = torch.randn(1, 4, 8), torch.randn(1, 6, 8)
    padded = torch.cat([source, 1e3 * torch.randn(1, 3, 8)], 1)
    mask = torch.tensor([[1] * 6 + [0] * 3])
    assert torch.allclose(stack(x, source=source), stack(x, source=padded, source_mask=mask), atol=1e-5)


# -- shapes, masking, determinism -------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHS)
def test_shapes_and_finite_training_loss(arch):
    batch = make_trimodal_batch(5, seed=2)
    model = build(arch, trimodal_meta(batch))
    assert model(batch).shape == (5,)
    model.train()
    loss, prediction = model.training_loss(batch)
    assert loss.dim() == 0 and torch.isfinite(loss) and prediction.shape == (5,)
    loss.backward()
    assert set(model.modalities) == {"text", "audio", "vision"}
    assert model.describe()["modalities"] == list(model.modalities)


@pytest.mark.parametrize("arch", ARCHS)
def test_padding_never_changes_a_prediction(arch):
    batch = make_trimodal_batch(4, seed=3)
    model = build(arch, trimodal_meta(batch))
    with torch.no_grad():
        base = model(batch)
        assert torch.allclose(model(pad_batch(batch)), base, atol=1e-5, rtol=0)
        for i in range(4):  # alone, without any padding, as in a batch with longer utterances
            assert torch.allclose(model(one_utterance(batch, i)), base[i : i + 1], atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_same_seed_same_training_other_seed_differs(arch):
    batch = make_trimodal_batch(8, seed=4, signal="audio")

    def train(seed):
        model = build(arch, trimodal_meta(batch), seed=seed)
        model.train()
        optimizer = torch.optim.AdamW(model.param_groups())
        torch.manual_seed(seed)
        for _ in range(3):
            loss, _ = model.training_loss(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            return model(batch)

    first = train(1)
    assert torch.equal(first, train(1))
    assert not torch.equal(first, train(2))


# -- the audio-only case (no vision) ----------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHS)
def test_without_vision_the_vision_branch_does_not_exist(arch):
    batch = make_trimodal_batch(4, vision_dim=0, vision_frames_dim=0, seed=5)
    model = build(arch, trimodal_meta(batch))
    assert model.modalities == ("text", "audio")
    assert not [n for n, _ in model.named_parameters() if "vision" in n]
    assert model(batch).shape == (4,)
    without_vision_keys = {k: v for k, v in batch.items() if not k.startswith("vision")}
    assert torch.allclose(model(without_vision_keys), model(batch))


def test_a_model_without_any_non_text_input_is_refused():
    meta = {"audio_dim": 0, "vision_dim": 0, "audio_frames_dim": 0, "vision_frames_dim": 0}
    for arch in ("senbert", "mhmf"):
        with pytest.raises(Exception, match="needs"):
            build(arch, meta)
    with pytest.raises(Exception, match="sense_input: words"):
        build("senbert", {"audio_dim": 5, "vision_dim": 4})  # a tokens file without frames


def test_senbert_without_vision_has_no_low_level_cross_attention():
    batch = make_trimodal_batch(3, vision_dim=0, vision_frames_dim=0)
    model = build("senbert", trimodal_meta(batch))
    assert model.sense_modalities == ("audio",) and len(model.low_level) == 0


def test_senbert_utterance_without_frames_gives_a_finite_prediction():
    batch = make_trimodal_batch(3, seed=12)
    batch["vision_frame_lengths"][1] = 0  # e.g. no face found in any frame
    batch["vision_frames"][1] = 0.0
    model = build("senbert", trimodal_meta(batch))
    with torch.no_grad():
        assert torch.isfinite(model(batch)).all()
        alone = {k: v[1:2] for k, v in batch.items()}
        assert torch.allclose(model(alone), model(batch)[1:2], atol=1e-5)


def test_senbert_ignores_frames_marked_not_valid():
    """`{m}_frames_valid` False (e.g. no face in that window) excludes the frame like padding."""
    batch = make_trimodal_batch(3, seed=13)
    model = build("senbert", trimodal_meta(batch))
    valid = {m: lengths_to_mask(batch[f"{m}_frame_lengths"], batch[f"{m}_frames"].shape[1]) for m in ("audio", "vision")}
    with torch.no_grad():
        base = model(dict(batch, audio_frames_valid=valid["audio"], vision_frames_valid=valid["vision"]))
        assert torch.allclose(base, model(batch), atol=1e-6)
        hidden = valid["vision"].clone()
        hidden[:, 2] = False
        changed = batch["vision_frames"].clone()
        changed[:, 2] = 40.0
        masked = dict(batch, vision_frames=changed, audio_frames_valid=valid["audio"], vision_frames_valid=hidden)
        unmasked = dict(masked, vision_frames_valid=valid["vision"])
        assert torch.allclose(model(masked), model(dict(masked, vision_frames=batch["vision_frames"])), atol=1e-5)
        assert not torch.allclose(model(unmasked), model(masked), atol=1e-3)


def test_senbert_word_level_sense_input():
    batch = make_trimodal_batch(3, seed=6)
    model = build("senbert", {"audio_dim": 5, "vision_dim": 4}, sense_input="words")
    with torch.no_grad():
        assert torch.allclose(model(pad_batch(batch)), model(batch), atol=1e-5)


# -- SenBERT's auxiliary tasks and uncertainty weighting (eq. 8) --------------------------------

def test_uncertainty_weighting_by_hand():
    weighting = UncertaintyWeighting(3).requires_grad_(False)
    losses = [torch.tensor(0.8), torch.tensor(1.2), torch.tensor(2.0)]
    assert float(weighting(losses)) == pytest.approx(0.5 * (0.8 + 1.2 + 2.0) + 3 * math.log(2), abs=1e-6)
    with torch.no_grad():
        weighting.sigma.copy_(torch.tensor([1.0, 2.0, 0.5]))
    expected = 0.8 / 2 + 1.2 / 8 + 2.0 / 0.5 + math.log(2) + math.log(5) + math.log(1.25)
    assert float(weighting(losses)) == pytest.approx(expected, abs=1e-6)


def test_senbert_training_loss_is_eq8_over_l1_of_the_three_heads():
    batch = make_trimodal_batch(6, seed=7)
    model = build("senbert", trimodal_meta(batch))  # eval: no dropout, so the heads are reproducible
    with torch.no_grad():
        heads = model.heads(batch)
        y = batch["labels"]
        l1 = {k: (v - y).abs().mean().item() for k, v in heads.items()}
        loss, prediction = model.training_loss(batch)
    assert torch.equal(prediction, heads["multimodal"])
    assert float(loss) == pytest.approx(0.5 * sum(l1.values()) + 3 * math.log(2), abs=1e-5)
    assert float(model.loss(prediction, y)) == pytest.approx(l1["multimodal"], abs=1e-6)

    only_sense = build("senbert", trimodal_meta(batch), auxiliary=["sense"], loss_weighting="sum")
    with torch.no_grad():
        heads = only_sense.heads(batch)
        loss, _ = only_sense.training_loss(batch)
    expected = sum((heads[k] - y).abs().mean().item() for k in ("multimodal", "sense"))
    assert float(loss) == pytest.approx(expected, abs=1e-5)
    assert any("loss_weighting" in p for p in only_sense.frozen_patterns())


def test_senbert_unimodal_heads_read_cls_and_scls():
    batch = make_trimodal_batch(3, seed=8)
    model = build("senbert", trimodal_meta(batch))
    assert model.language_head.linear.in_features == 32  # BERT [CLS]
    assert model.sense_head.linear.in_features == 2 * 16  # [VCLS; ACLS]
    assert model.head.linear.in_features == 16 + 2 * 16 + 32 + 2 * 16  # CLS_HCA, V/ACLS_HCA, CLS, SCLS
    model.train()
    optimizer_groups = {g["name"]: g for g in model.param_groups()}
    assert optimizer_groups["encoder"]["lr"] == 5e-5 and optimizer_groups["other"]["lr"] == 1e-3
    sigma_group = next(g for g in model.param_groups() if any(p is model.loss_weighting.sigma for p in g["params"]))
    assert sigma_group["weight_decay"] == 0.0


# -- MHMF's layer lists and restitution loss --------------------------------------------------

def test_mhmf_layer_mapping_from_bert_base_to_six_layers():
    assert map_layers([7, 11], 12, 6) == [4, 6] and map_layers([6, 10], 12, 6) == [3, 5]
    assert map_layers([7, 11], 12, 12) == [7, 11] and map_layers([12], 12, 6) == [6]
    with pytest.raises(ValueError, match="outside"):
        map_layers([13], 12, 6)


def test_dual_restitution_loss_by_hand():
    """d(x, y) = 0.5 - cos / 2. Plain: d(a,p) = 0.5, d(a,n) = 0. With R+: d(a,p) = 0, d(a,n) = 0.5.
    With R-: d(a,p) = 1, d(a,n) = 0.  L+ = sp(0 - 0.5) + sp(0 - 0.5);  L- = sp(0.5 - 1) + sp(0 - 0)."""
    plain = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    plus = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    minus = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]])
    triplet = (torch.tensor([0]), torch.tensor([1]), torch.tensor([2]))
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    expected = 3 * softplus(-0.5) + math.log(2)
    assert float(dual_restitution_loss(plain, plus, minus, triplet)) == pytest.approx(expected, abs=1e-6)
    # averaged over triplets
    two = (torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([2, 2]))
    assert float(dual_restitution_loss(plain, plus, minus, two)) == pytest.approx(expected, abs=1e-6)


def test_triplets_follow_the_labels():
    labels = torch.tensor([1.0, 2.0, -1.0, -3.0, 0.0, 0.4])
    torch.manual_seed(0)
    a, p, n = sample_triplets(labels, 50)
    polarity = labels >= 0
    assert (polarity[a] == polarity[p]).all() and (polarity[a] != polarity[n]).all() and (a != p).all()
    torch.manual_seed(0)
    assert all(torch.equal(x, y) for x, y in zip((a, p, n), sample_triplets(labels, 50), strict=True))
    assert sample_triplets(torch.tensor([1.0, 2.0, 0.5]), 1) is None  # one class only
    assert sample_triplets(torch.tensor([1.0, -2.0]), 1) is None  # no positive partner
    a, p, n = sample_triplets(torch.tensor([1.4, 0.6, -1.0, 3.0]), 20, "acc7")
    assert set(a.tolist()) <= {0, 1} and set(n.tolist()) <= {0, 1, 2, 3}


def test_mhmf_training_loss_is_mse_plus_weighted_restitution():
    batch = make_trimodal_batch(8, seed=9)
    model = build("mhmf", trimodal_meta(batch), restitution_weight=0.5)
    with torch.no_grad():
        torch.manual_seed(11)
        loss, prediction = model.training_loss(batch)
        torch.manual_seed(11)
        prediction2, pooled = model.fuse(batch)
        triplets = sample_triplets(batch["labels"], 4)
        restitution = sum(dual_restitution_loss(*stage, triplets) for stages in pooled.values() for stage in stages)
    assert len(pooled["audio"]) == 2 and len(pooled["vision"]) == 2  # D = 2 stages per path
    mse = ((prediction2 - batch["labels"]) ** 2).mean()
    assert float(loss) == pytest.approx(float(mse + 0.5 * restitution), abs=1e-5)
    assert float(restitution) > 0
    no_restitution = build("mhmf", trimodal_meta(batch), restitution_weight=0.0)
    with torch.no_grad():
        loss, prediction = no_restitution.training_loss(batch)
    assert float(loss) == pytest.approx(float(((prediction - batch["labels"]) ** 2).mean()), abs=1e-6)


def test_mhmf_restituted_features_follow_eq_10():
    """G = G~ + aR: the pooled F+ equals the pooled restituted state that goes on."""
    from msaflow.models.mhmf import Restitution

    torch.manual_seed(0)
    module = Restitution(8, 4)
    fused, text = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    out, (plain, plus, minus) = module(fused, text, mask)
    assert torch.allclose(masked_mean(out, mask), plus, atol=1e-6)
    assert torch.allclose(plus + minus - plain, masked_mean(text, mask), atol=1e-5)  # R+ + R- = R


def test_mhmf_crossed_restitution_layers_and_projection():
    batch = make_trimodal_batch(4, seed=10)
    model = build("mhmf", trimodal_meta(batch), restitution_layers="crossed", fusion_dim=16)
    assert model.restitution_layers("audio") == model.layers["vision"]
    assert model(batch).shape == (4,) and model.fusion_dim == 16


# -- CUDA -------------------------------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("arch", ARCHS)
def test_cuda_autocast_training_step(arch):
    batch = make_trimodal_batch(4, seed=11)
    model = build(arch, trimodal_meta(batch)).cuda()
    model.train()
    device = torch.device("cuda")
    batch = {k: v.to(device) for k, v in batch.items()}
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    with torch.autocast(device_type="cuda", dtype=dtype):
        loss, prediction = model.training_loss(batch)
    assert prediction.device.type == "cuda" and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


# -- learning a label that only one non-text modality carries -----------------------------------

# Fewer blocks than the paper's (the mechanism, not the depth, is under test; keeps each model < 20 s).
SHALLOW = {
    "senbert": {"low_level_layers": 1, "self_attention_layers": 1, "high_level_layers": 1},
    "mhmf": {"adapter_layers": 1, "cross_layers": 1},
    "lfbert": {"hidden": 128},  # the default width
    "tbert": {},
}


@functools.cache
def held_out_mse(arch, signal, steps=60):
    train = make_trimodal_batch(64, signal=signal, seed=20)
    test = make_trimodal_batch(64, signal=signal, seed=21)
    model = build(arch, trimodal_meta(train), seed=3, **SHALLOW[arch])
    optimizer = torch.optim.AdamW(model.param_groups())
    torch.manual_seed(3)
    model.train()
    for _ in range(steps):
        idx = torch.randperm(64)[:16]
        batch = {k: v[idx] for k, v in train.items()}
        loss, _ = model.training_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        return float(((model(test) - test["labels"]) ** 2).mean())


@pytest.mark.parametrize("signal", ["audio", "vision"])
@pytest.mark.parametrize("arch", ARCHS)
def test_learns_a_label_carried_by_one_non_text_modality(arch, signal):
    text_only = held_out_mse("tbert", signal)
    model = held_out_mse(arch, signal)
    assert model < 0.5 * text_only, (model, text_only)


# -- configuration ----------------------------------------------------------------------------

def test_shipped_config_entries_build_and_a_model_may_set_its_batch_size():
    import yaml

    from msaflow.training import workflow_config as wfc

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    batch = make_trimodal_batch(2)
    for name in ARCHS:
        settings = json.loads(wfc.model_settings_json(config, name))  # what the train rule passes
        model = build_model(settings, trimodal_meta(batch), encoder=tiny_encoder())
        assert model.settings["arch"] == name and "train" not in model.settings and "baseline" not in model.settings
        assert wfc.model_baseline(config, name) == "tbert"
    assert wfc.train_settings(config, "mosi", "senbert")["batch_size"] == 32  # the paper's
    assert wfc.train_settings(config, "mosi", "mhmf")["batch_size"] == config["train"]["batch_size"]
    config["train"]["dataset_overrides"] = {"demo": {"epochs": 10, "batch_size": 8}}
    assert wfc.train_settings(config, "demo", "senbert")["batch_size"] == 8  # the dataset's override wins
    assert '"batch_size": 32' in wfc.train_settings_json(config, "mosi", "senbert")
