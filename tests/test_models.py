"""CM-BERT and T-BERT: shapes, parameter groups, frozen embeddings, and the [CLS] audio finding."""

import pytest
import torch

from msaflow.models import build_model
from msaflow.models.blocks import Conv1DProjection, MaskedMultimodalAttention, half_mse, scale_by_sqrt_frobenius
from msaflow.training.trainer import apply_freeze


def tiny_encoder(seed=0):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    return BertModel(config)


def make_batch(b=3, length=12, audio_dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = [length, length - 3, 6][:b]
    input_ids = torch.zeros(b, length, dtype=torch.long)
    attention_mask = torch.zeros(b, length, dtype=torch.long)
    word_index = torch.full((b, length), -1, dtype=torch.long)
    audio = torch.zeros(b, length, audio_dim)
    for i, n in enumerate(lengths):
        input_ids[i, :n] = torch.randint(5, 120, (n,), generator=g)
        input_ids[i, 0], input_ids[i, n - 1] = 1, 2  # [CLS] ... [SEP]
        attention_mask[i, :n] = 1
        word_index[i, 1 : n - 1] = torch.arange(n - 2) // 2  # two pieces per word
        audio[i, 1 : n - 1] = torch.randn(n - 2, audio_dim, generator=g)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "word_index": word_index, "audio": audio,
            "vision": torch.zeros(b, length, 0), "labels": torch.tensor([1.0, -2.0, 0.5])[:b]}


def build(arch, **settings):
    model = build_model({"arch": arch, **settings}, {"audio_dim": 5}, encoder=tiny_encoder())
    model.eval()
    return model


def test_tbert_predicts_one_value_per_sample_and_uses_cls():
    model = build("tbert")
    batch = make_batch()
    out = model(batch)
    assert out.shape == (3,)
    assert torch.isfinite(out).all()


def test_cmbert_zero_cls_audio_makes_prediction_invariant_to_audio():
    """The paper's A_[CLS] = 0: no audio change can move the prediction (the finding)."""
    model = build("cmbert", cls_audio="zero")
    batch = make_batch()
    base = model(batch)
    for seed in range(3):
        other = dict(batch, audio=torch.randn(batch["audio"].shape, generator=torch.Generator().manual_seed(seed)) * 5)
        other["audio"][:, 0] = 0  # the tokens contract: zero at [CLS]
        assert torch.allclose(model(other), base, atol=1e-6, rtol=0)
    # ... although the audio does change the other rows of the fusion attention
    model(batch)
    att1 = model.fusion_attention.last_attention.clone()
    model(other)
    att2 = model.fusion_attention.last_attention
    assert not torch.allclose(att1[:, 1:], att2[:, 1:], atol=1e-4)
    assert torch.allclose(att1[:, 0], att2[:, 0], atol=1e-6)
    assert model.describe()["audio_reaches_output"] is False


def test_cmbert_mean_cls_audio_lets_audio_reach_the_output():
    model = build("cmbert", cls_audio="mean")
    with torch.no_grad():  # make the audio weight matter at initialisation
        model.fusion_attention.modality_weights.fill_(5.0)
    batch = make_batch()
    base = model(batch)
    other = dict(batch, audio=batch["audio"].clone())
    other["audio"][:, 1:5] *= 3.0
    diff = (model(other) - base).abs().max().item()
    assert diff > 1e-4, diff
    assert model.describe()["audio_reaches_output"] is True


def test_cmbert_audio_gradient_zero_vs_nonzero():
    for cls_audio, expect_zero in (("zero", True), ("mean", False)):
        model = build("cmbert", cls_audio=cls_audio)
        batch = make_batch()
        batch["audio"].requires_grad_(True)
        model(batch).sum().backward()
        grad = batch["audio"].grad.abs().max().item()
        assert (grad == 0.0) is expect_zero, (cls_audio, grad)


def test_cmbert_ignores_padding_positions():
    model = build("cmbert", cls_audio="mean")
    batch = make_batch()
    other = {k: v.clone() for k, v in batch.items()}
    other["audio"][2, 8:] = 100.0  # sample 2 has 6 tokens: positions 6.. are padding
    other["input_ids"][2, 8:] = 7
    assert torch.allclose(model(other)[2], model(batch)[2], atol=1e-5)


def test_cmbert_parameter_groups_follow_the_published_code():
    model = build("cmbert", lr_encoder=2e-5, lr_fusion=0.01, lr_head=3e-5)
    apply_freeze(model, model.frozen_patterns())
    groups = {g["name"]: g for g in model.param_groups()}
    names = {id(p): n for n, p in model.named_parameters()}
    fusion = {names[id(p)] for k in ("fusion", "fusion_no_decay") for p in groups.get(k, {"params": []})["params"]}
    assert {g["lr"] for k, g in groups.items() if k.startswith("fusion")} == {0.01}
    assert {g["lr"] for k, g in groups.items() if k.startswith("encoder")} == {2e-5}
    assert {g["lr"] for k, g in groups.items() if k.startswith("head")} == {3e-5}
    assert "fusion_attention.modality_weights" in fusion and "proj_audio.conv.weight" in fusion
    assert "dense.weight" in fusion and "layer_norm.weight" in fusion
    assert all("encoder.embeddings" not in n for n in names.values() if n in fusion)
    # frozen embeddings are in no group
    in_groups = {names[id(p)] for g in groups.values() for p in g["params"]}
    assert not any(n.startswith("encoder.embeddings.") for n in in_groups)
    assert any(n.startswith("encoder.encoder.layer.") for n in in_groups)
    assert groups["encoder_no_decay"]["weight_decay"] == 0.0
    # audio projection has no bias (published code)
    assert model.proj_audio.conv.bias is None


def test_masked_attention_gives_zero_weight_to_padding():
    att = MaskedMultimodalAttention(2, dropout=0.0)
    q = torch.randn(2, 6, 4)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    value = torch.randn(2, 6, 3)
    att([q, q], value, mask)
    assert att.last_attention[0, :, 4:].abs().max() == 0
    assert torch.allclose(att.last_attention.sum(-1), torch.ones(2, 6))


def test_blocks_values():
    proj = Conv1DProjection(4, 3, kernel_size=3)
    assert proj(torch.randn(2, 7, 4)).shape == (2, 7, 3)
    with pytest.raises(ValueError):
        Conv1DProjection(4, 3, kernel_size=2)
    x = torch.full((1, 2, 2), 2.0)  # ||x||_F = 4 -> divide by 2
    assert torch.allclose(scale_by_sqrt_frobenius(x), torch.ones(1, 2, 2))
    assert half_mse(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0])).item() == pytest.approx(2.5)


def test_unknown_settings_are_clear_errors():
    from msaflow.common import MsaflowError

    with pytest.raises(MsaflowError, match="cls_audio"):
        build_model({"arch": "cmbert", "cls_audio": "first"}, {"audio_dim": 5}, encoder=tiny_encoder())
    with pytest.raises(MsaflowError, match="unknown model architecture"):
        build_model({"arch": "nope"}, {"audio_dim": 5})


def test_cmbert_cannot_see_the_sign_of_the_audio():
    """Second finding: the audio only enters through ReLU(A A^T) of a bias-free projection, so
    negating every audio vector of an utterance changes nothing, even in the `mean` variant."""
    model = build("cmbert", cls_audio="mean")
    with torch.no_grad():
        model.fusion_attention.modality_weights.fill_(5.0)
    batch = make_batch()
    flipped = dict(batch, audio=-batch["audio"])
    assert torch.allclose(model(flipped), model(batch), atol=1e-6)


def test_cmbert_audio_bias_lets_audio_and_its_sign_through_even_with_zero_cls():
    model = build("cmbert", cls_audio="zero", audio_bias=True)
    with torch.no_grad():
        model.fusion_attention.modality_weights.fill_(5.0)
        model.proj_audio.conv.bias.normal_(0, 1.0)
    batch = make_batch()
    flipped = dict(batch, audio=-batch["audio"])
    assert (model(flipped) - model(batch)).abs().max().item() > 1e-4
    assert model.describe()["audio_reaches_output"] is True
