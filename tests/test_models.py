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


def group_of(model):
    """parameter name -> (group name, lr, weight decay) for the trainable parameters."""
    apply_freeze(model, model.frozen_patterns())
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g["name"], g["lr"], g["weight_decay"]) for g in model.param_groups() for p in g["params"]}


def test_cmbert_paper_preset_parameter_groups():
    """Default (paper) preset: every fusion parameter (projections, modality weights, the fusion's
    scalar bias, dense, its LayerNorm) at lr_fusion; biases and LayerNorm parameters without decay;
    the head trainable at lr_head; embeddings frozen. The published code differs (next test)."""
    model = build("cmbert", lr_encoder=2e-5, lr_fusion=0.01, lr_head=3e-5)
    groups = group_of(model)
    for name in ("proj_text.conv.weight", "proj_audio.conv.weight", "fusion_attention.modality_weights",
                 "fusion_attention.bias", "dense.weight", "dense.bias", "layer_norm.weight", "layer_norm.bias"):
        assert groups[name][1] == 0.01, name
    assert groups["dense.weight"][2] == 0.01
    assert groups["fusion_attention.bias"][2] == groups["dense.bias"][2] == groups["layer_norm.weight"][2] == 0.0
    assert groups["head.linear.weight"][1:] == (3e-5, 0.01) and groups["head.linear.bias"][1:] == (3e-5, 0.0)
    encoder = {n: g for n, g in groups.items() if n.startswith("encoder.")}
    assert encoder and {g[1] for g in encoder.values()} == {2e-5}
    assert not any(n.startswith("encoder.embeddings.") for n in groups)
    assert any(n.startswith("encoder.encoder.layer.") for n in groups)
    assert model.proj_audio.conv.bias is None  # the published code's audio projection has no bias
    assert model.fusion_dropout.p == 0.0 and model.padding_invariant


def test_cmbert_code_preset_parameter_groups_are_the_published_codes():
    """run_classifier.py: names containing `bias` go to the no-decay group at the base lr 2e-5 first
    (so the fusion's scalar bias, dense.bias and the LayerNorm bias train at 2e-5); the fusion
    LayerNorm weight (named LayerNorm1 there) is decayed at lr 0.01; the final classifier is never
    unfrozen. Checked numerically against the code in test_cmbert_code_fidelity.py."""
    model = build("cmbert", fidelity="code")
    groups = group_of(model)
    for name in ("fusion_attention.bias", "dense.bias", "layer_norm.bias"):
        assert groups[name][1:] == (2e-5, 0.0), name
    for name in ("proj_text.conv.weight", "proj_audio.conv.weight", "fusion_attention.modality_weights.0",
                 "fusion_attention.modality_weights.1", "dense.weight", "layer_norm.weight"):
        assert groups[name][1:] == (0.01, 0.01), name
    assert not any(n.startswith("head.") for n in groups)
    assert groups["encoder.encoder.layer.0.attention.output.LayerNorm.weight"][2] == 0.0
    assert model.fusion_dropout.p == 0.1 and not model.padding_invariant
    assert model.describe()["fidelity"] == "code" and model.describe()["norm"] == "code"
    # each preset key can still be set on its own
    assert build("cmbert", fidelity="code", norm="paper").padding_invariant


def test_cmbert_code_norm_depends_on_the_batch_and_padding_paper_norm_does_not():
    batch = make_batch()
    for fidelity, invariant in (("paper", True), ("code", False)):
        model = build("cmbert", fidelity=fidelity)
        with torch.no_grad():
            full = model(batch)
            alone = model({k: v[2:3, :8] if v.dim() > 1 else v[2:3] for k, v in batch.items()})[0]  # alone, less padding
        assert torch.allclose(alone, full[2], atol=1e-6) is invariant, fidelity


def test_cmbert_code_norm_passes_no_gradient_through_the_norm():
    """The published code computes the norm in numpy: d(x / c) / dx = 1 / c with c a constant."""
    from msaflow.models.blocks import scale_by_sqrt_frobenius_of_batch

    x = torch.randn(2, 3, 4, requires_grad=True)
    scale_by_sqrt_frobenius_of_batch(x).sum().backward()
    c = x.detach().pow(2).sum().sqrt().sqrt()
    assert torch.allclose(x.grad, torch.full_like(x, 1.0) / c)


def test_tbert_heads():
    batch = make_batch()
    cls, pooler = build("tbert"), build("tbert", head="pooler")
    pooler.load_state_dict(cls.state_dict())
    assert cls.describe()["head"] == "cls"
    hidden = cls.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    with torch.no_grad():
        assert torch.allclose(cls(batch), cls.head(hidden.last_hidden_state[:, 0]), atol=1e-6)
        assert torch.allclose(pooler(batch), cls.head(hidden.pooler_output), atol=1e-6)
    with pytest.raises(Exception, match="head"):
        build("tbert", head="mean")


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
