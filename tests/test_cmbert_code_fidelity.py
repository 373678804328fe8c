"""`cmbert` with `fidelity: code` equals the published CM-BERT code (forward pass and BertAdam steps).

The reference numbers in `fixtures/cmbert_code_reference.pt` were produced by running the original
code itself (github thuiar/Cross-Modal-BERT, commit recorded in the fixture's `meta`): its
`model.py` with pytorch-pretrained-bert 0.6.1's BertAdam, and the freezing and optimiser-group block
of its `run_classifier.py` executed as written, in a throw-away environment, by
`scripts/make_cmbert_code_fixture.py <checkout>` (that script holds the details: a tiny BERT
config, hidden 32 with the fusion block's hard-coded 768-wide layers rebuilt at 32, 2 layers,
two padded batches of 4 x 12). The fixture holds the original's initial weights, the batches, its
eval-mode predictions, and, for three optimiser steps on batches A, B, A (eval mode: the two
implementations draw dropout masks in different orders), the loss, every parameter and the
predictions after each step. Here the same weights are loaded into our model (name mapping below)
and our `build_optimizer(..., optimizer="bertadam")` takes the same steps.
"""

from pathlib import Path

import pytest
import torch

from msaflow.models import build_model
from msaflow.training.trainer import TrainConfig, apply_freeze, build_optimizer

FIXTURE = Path(__file__).parent / "fixtures" / "cmbert_code_reference.pt"
TOLERANCE = 1e-5

# the original's parameter names -> ours
RENAMES = (
    ("bert.", "encoder."),
    ("BertFinetun.proj_t.", "proj_text.conv."),
    ("BertFinetun.proj_a.", "proj_audio.conv."),
    ("BertFinetun.text_weight_1", "fusion_attention.modality_weights.0"),
    ("BertFinetun.audio_weight_1", "fusion_attention.modality_weights.1"),
    ("BertFinetun.bias", "fusion_attention.bias"),
    ("BertFinetun.dense.", "dense."),
    ("BertFinetun.LayerNorm1.", "layer_norm."),
    ("classifier.", "head.linear."),
)


def ours(name: str) -> str:
    for prefix, replacement in RENAMES:
        if name.startswith(prefix):
            return replacement + name[len(prefix):]
    raise KeyError(name)


@pytest.fixture(scope="module")
def reference():
    return torch.load(FIXTURE, map_location="cpu", weights_only=True)


def our_model(reference):
    from transformers import BertConfig, BertModel

    cfg = reference["meta"]["config"]
    encoder = BertModel(BertConfig(**cfg, hidden_act="gelu", layer_norm_eps=1e-12))
    model = build_model({"arch": "cmbert", "fidelity": "code"}, {"audio_dim": reference["meta"]["audio_dim"]},
                        encoder=encoder)
    missing, unexpected = model.load_state_dict({ours(k): v for k, v in reference["state_dict"].items()}, strict=False)
    assert not unexpected
    assert all(k.endswith(("position_ids", "token_type_ids")) for k in missing), missing
    model.eval()
    return model


def our_batch(batch):
    mask = batch["attention_mask"]
    return {"input_ids": batch["input_ids"], "attention_mask": mask, "audio": batch["audio"],
            "word_index": torch.where(mask.bool(), torch.arange(mask.shape[1]), -1),
            "vision": torch.zeros(mask.shape + (0,)), "labels": batch["labels"]}


def max_diff(a, b) -> float:
    return float((a.detach() - b.detach()).abs().max())


def test_forward_equals_the_published_code_on_padded_batches(reference):
    model = our_model(reference)
    with torch.no_grad():
        for name, batch in reference["batches"].items():
            assert max_diff(model(our_batch(batch)), reference["forward"][name]) <= TOLERANCE, name
    # the code's normalisation includes the padding: the same utterances padded longer predict otherwise
    assert max_diff(reference["forward"]["a"], reference["forward"]["a_padded16"]) > 1e-4
    assert not model.padding_invariant


def test_trainable_parameters_are_the_published_codes(reference):
    model = our_model(reference)
    apply_freeze(model, model.frozen_patterns())
    in_groups = {id(p) for g in model.param_groups() for p in g["params"]}
    trainable = {n for n, p in model.named_parameters() if id(p) in in_groups}
    assert trainable == {ours(n) for n, flag in reference["requires_grad"].items() if flag}
    assert "head.linear.weight" not in trainable  # the code never unfreezes its classifier


def test_bertadam_steps_equal_the_published_code(reference):
    meta = reference["meta"]
    model = our_model(reference)
    apply_freeze(model, model.frozen_patterns())
    config = TrainConfig(batch_size=meta["batch_size"], epochs=meta["epochs"],
                         warmup_proportion=meta["warmup_proportion"], optimizer="bertadam", max_grad_norm=1.0)
    optimizer, scheduler = build_optimizer(model.param_groups(), config, meta["n_train"])
    assert scheduler is None and optimizer.param_groups[0]["t_total"] == meta["t_total"]
    params = dict(model.named_parameters())
    moved = 0.0
    for step in reference["steps"]:
        batch = our_batch(reference["batches"][step["batch"]])
        model.eval()  # as the fixture: dropout off
        loss = model.loss(model(batch), batch["labels"])
        assert abs(loss.item() - step["loss"]) <= TOLERANCE * max(1.0, abs(step["loss"]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        for name, value in step["params"].items():
            assert max_diff(params[ours(name)], value) <= TOLERANCE, (step["batch"], name)
        with torch.no_grad():
            assert max_diff(model(our_batch(reference["batches"]["a"])), step["forward_a"]) <= TOLERANCE
        moved = max(moved, max_diff(params["layer_norm.weight"], reference["state_dict"]["BertFinetun.LayerNorm1.weight"]))
    assert moved > 1e-3  # the steps did change the fusion parameters (the test is not vacuous)
