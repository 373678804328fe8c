"""The shared trainer: schedule, determinism, resume after a kill, validation-only selection."""

import json

import numpy as np
import pytest

from msaflow.models import build_model
from msaflow.training import TrainConfig, Trainer, seed_everything
from msaflow.training.trainer import warmup_linear


def tiny_encoder():
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    return BertModel(config)


@pytest.fixture(scope="module")
def tokens():
    from msaflow.encoders import load_tokenizer
    from msaflow.training.synthetic import make_tokens

    return make_tokens(load_tokenizer("minilm-l6"), n=60, max_length=24, seed=3)


def run(tokens, tmp_path, seed=1111, epochs=2, arch="cmbert", **cfg):
    seed_everything(seed)
    model = build_model({"arch": arch, "cls_audio": "mean", "lr_encoder": 1e-3, "lr_head": 1e-3}, tokens["meta"],
                        encoder=tiny_encoder())
    trainer = Trainer(model, TrainConfig(batch_size=8, epochs=epochs, threads=1, **cfg), seed, tmp_path)
    history = trainer.fit(tokens["train"], tokens["valid"])
    preds, _ = trainer.predict(tokens["test"])
    return history, preds, trainer


def test_warmup_linear_schedule():
    total = 100
    lrs = [warmup_linear(s, total, 0.1) for s in range(total)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0) and lrs[55] == pytest.approx(0.5)
    assert lrs[-1] == pytest.approx(1 / 90) and all(a >= b for a, b in zip(lrs[9:-1], lrs[10:], strict=True))
    assert warmup_linear(0, 10, 0.0) == 1.0


def test_same_seed_same_metrics_other_seed_differs(tokens, tmp_path):
    h1, p1, _ = run(tokens, tmp_path / "a")
    h2, p2, _ = run(tokens, tmp_path / "b")
    h3, p3, _ = run(tokens, tmp_path / "c", seed=1112)
    assert np.array_equal(p1, p2)
    assert [e["train_loss"] for e in h1["epochs"]] == [e["train_loss"] for e in h2["epochs"]]
    assert not np.array_equal(p1, p3)


def test_best_epoch_is_chosen_on_validation_loss(tokens, tmp_path):
    history, _, _ = run(tokens, tmp_path, epochs=3)
    losses = [e["valid_loss"] for e in history["epochs"]]
    assert history["best_epoch"] == int(np.argmin(losses)) + 1
    assert set(history["epochs"][0]["valid_metrics"]) >= {"mae", "corr", "acc2_has0"}
    assert all(np.isfinite(e["train_loss"]) for e in history["epochs"])
    names = {g["name"] for g in history["optimizer_groups"]}
    assert {"encoder", "fusion", "head"} <= {n.replace("_no_decay", "") for n in names}
    assert history["frozen_parameters"] > 0  # embeddings


def test_resume_after_kill_gives_the_uninterrupted_result(tokens, tmp_path, monkeypatch):
    _, reference, _ = run(tokens, tmp_path / "ref", epochs=3, keep_checkpoint=True)

    calls = {"n": 0}
    original = Trainer._save_checkpoint

    def killing_save(self, state):
        original(self, state)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed after epoch 2")

    monkeypatch.setattr(Trainer, "_save_checkpoint", killing_save)
    with pytest.raises(KeyboardInterrupt):
        run(tokens, tmp_path / "killed", epochs=3)
    monkeypatch.setattr(Trainer, "_save_checkpoint", original)
    assert (tmp_path / "killed" / "checkpoint.pt").exists()
    history, resumed, trainer = run(tokens, tmp_path / "killed", epochs=3)
    assert history["resumed_at_epoch"] == 3 and len(history["epochs"]) == 3
    assert np.array_equal(resumed, reference)
    trainer.finish()
    assert not (tmp_path / "killed" / "checkpoint.pt").exists()


def test_checkpoint_from_other_settings_is_ignored(tokens, tmp_path):
    run(tokens, tmp_path, epochs=1, keep_checkpoint=True)
    history, _, _ = run(tokens, tmp_path, epochs=1, keep_checkpoint=True, max_grad_norm=0.5)
    assert history["resumed_at_epoch"] is None


def test_freeze_patterns_and_tbert(tokens, tmp_path):
    history, preds, trainer = run(tokens, tmp_path, epochs=1, arch="tbert", freeze=[r"^encoder\.encoder\.layer\.0\."])
    frozen = [n for n, p in trainer.model.named_parameters() if not p.requires_grad]
    assert any(n.startswith("encoder.encoder.layer.0.") for n in frozen)
    assert any(n.startswith("encoder.embeddings.") for n in frozen)
    assert preds.shape == (len(tokens["test"]["labels"]),)


def test_workflow_config_helpers():
    from msaflow.training import workflow_config as wfc

    config = {
        "work_dir": "work", "datasets": {"demo": {"root": "x", "shards": 1}},
        "tokens": {"encoder": "minilm-l6", "dataset_encoders": {"mosi": "bert-base-uncased"}, "audio_fset": "covarep_like"},
        "train": {"seeds": [1, 2], "epochs": 3, "threads": 1, "dataset_overrides": {"demo": {"epochs": 10}}},
        "models": {"tbert": {"arch": "tbert"}, "cmbert": {"arch": "cmbert", "baseline": "tbert"}},
        "evaluate": {"bootstrap": 100},
    }
    assert wfc.tokens_path(config, "mosi") == "work/mosi/tokens/bert-base-uncased/covarep_like.pt"
    assert wfc.tokens_path(config, "mosi", "sdk") == "work/mosi/tokens/bert-base-uncased/covarep.pt"
    assert wfc.train_settings(config, "demo")["epochs"] == 10 and wfc.train_settings(config, "mosi")["epochs"] == 3
    assert "seeds" not in wfc.train_settings_json(config, "demo") and "threads" not in wfc.train_settings_json(config, "demo")
    assert "baseline" not in wfc.model_settings_json(config, "cmbert")
    inputs = wfc.evaluate_inputs(config, "demo", "cmbert")
    assert len(inputs["runs"]) == 4 and inputs["baseline_runs"][0] == "work/demo/runs/tbert/seed1/predictions.tsv"
    assert wfc.evaluate_baseline_args(config, "demo", "tbert") == ""
    assert json.loads(wfc.evaluate_config_json(config, "demo", "cmbert"))["train"]["epochs"] == 10
    with pytest.raises(ValueError, match="not in config"):
        wfc.model_entry(config, "nope")


def test_gradient_accumulation_equals_the_larger_batch(tokens, tmp_path):
    """batch 4 x accumulate 4 takes the same optimizer steps as batch 16 (no dropout; the last,
    smaller group of an epoch is weighted by its own size)."""
    import torch
    from transformers import BertConfig, BertModel

    def params_after(batch_size, accumulate, name):
        seed_everything(3)
        encoder = BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                                       attention_probs_dropout_prob=0.0))
        model = build_model({"arch": "tbert", "dropout": 0.0, "lr_encoder": 1e-3, "lr_head": 1e-3}, tokens["meta"],
                            encoder=encoder)
        trainer = Trainer(model, TrainConfig(batch_size=batch_size, accumulate=accumulate, epochs=2, threads=1,
                                             max_grad_norm=None), 3, tmp_path / name)
        history = trainer.fit(tokens["train"], tokens["valid"])
        return {k: v.detach().clone() for k, v in model.state_dict().items()}, history

    big, h_big = params_after(16, 1, "big")
    small, h_small = params_after(4, 4, "small")
    assert len(tokens["train"]["labels"]) % 16  # a partial last group is exercised
    assert all(torch.allclose(big[k], small[k], atol=1e-5) for k in big)
    assert h_big["epochs"][-1]["train_loss"] == pytest.approx(h_small["epochs"][-1]["train_loss"], rel=1e-4)


def test_bertadam_semantics():
    """pytorch-pretrained-bert 0.6.1's BertAdam: clipping per parameter tensor, no bias correction,
    decoupled decay inside the update, warmup_linear = x/w then 1 - x (negative past t_total),
    step counted per parameter from 0 (so the first update has lr 0)."""
    import torch

    from msaflow.training.bertadam import BertAdam, bert_warmup_linear

    assert bert_warmup_linear(0.0, 0.1) == 0.0 and bert_warmup_linear(0.05, 0.1) == pytest.approx(0.5)
    assert bert_warmup_linear(0.1, 0.1) == pytest.approx(0.9) and bert_warmup_linear(1.2, 0.1) == pytest.approx(-0.2)
    big, small = torch.nn.Parameter(torch.tensor([1.0, -2.0])), torch.nn.Parameter(torch.tensor([0.5]))
    opt = BertAdam([{"params": [big, small], "weight_decay": 0.01}], lr=0.1, max_grad_norm=1.0)
    big.grad, small.grad = torch.tensor([3.0, 4.0]), torch.tensor([0.5])
    opt.step()
    for p, g, p0 in ((big, torch.tensor([0.6, 0.8]), torch.tensor([1.0, -2.0])),  # norm 5 clipped to 1 alone
                     (small, torch.tensor([0.5]), torch.tensor([0.5]))):  # not clipped by the other tensor
        update = (0.1 * g) / ((0.001 * g * g).sqrt() + 1e-6) + 0.01 * p0
        assert torch.allclose(p.detach(), p0 - 0.1 * update, atol=1e-6)
    scheduled = torch.nn.Parameter(torch.ones(2))
    opt = BertAdam([scheduled], lr=0.1, warmup=0.1, t_total=10)
    scheduled.grad = torch.ones(2)
    opt.step()
    assert torch.equal(scheduled.detach(), torch.ones(2))  # step 0: lr 0
    assert opt.current_lrs() == [pytest.approx(0.1 * 0.9)]  # step 1: x = 0.1, past the warmup


def test_bertadam_training_with_the_code_preset_resumes_and_keeps_padding(tokens, tmp_path, monkeypatch):
    def run_code(path, **cfg):
        seed_everything(1111)
        model = build_model({"arch": "cmbert", "fidelity": "code"}, tokens["meta"], encoder=tiny_encoder())
        trainer = Trainer(model, TrainConfig(batch_size=8, epochs=2, threads=1, optimizer="bertadam", **cfg), 1111, path)
        history = trainer.fit(tokens["train"], tokens["valid"])
        return history, trainer.predict(tokens["test"])[0]

    history, reference = run_code(tmp_path / "ref")
    assert history["optimizer"] == "bertadam" and history["trim_padding"] is False
    assert {g["name"] for g in history["optimizer_groups"]} == {"encoder", "encoder_no_decay", "fusion"}
    calls = {"n": 0}
    original = Trainer._save_checkpoint

    def killing_save(self, state):
        original(self, state)
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt("killed after epoch 1")

    monkeypatch.setattr(Trainer, "_save_checkpoint", killing_save)
    with pytest.raises(KeyboardInterrupt):
        run_code(tmp_path / "killed")
    monkeypatch.setattr(Trainer, "_save_checkpoint", original)
    history, resumed = run_code(tmp_path / "killed")
    assert history["resumed_at_epoch"] == 2 and np.array_equal(resumed, reference)


def test_model_train_settings_apply_last():
    from msaflow.training import workflow_config as wfc

    config = {"train": {"seeds": [1], "epochs": 3, "batch_size": 24, "dataset_overrides": {"demo": {"epochs": 10}}},
              "models": {"tbert": {"arch": "tbert"},
                         "cmbertcode": {"arch": "cmbert", "fidelity": "code",
                                        "train": {"optimizer": "bertadam", "trim_padding": False}}}}
    code = json.loads(wfc.train_settings_json(config, "demo", "cmbertcode"))
    assert code["optimizer"] == "bertadam" and code["trim_padding"] is False and code["epochs"] == 10
    assert "optimizer" not in wfc.train_settings(config, "demo", "tbert")
    assert "train" not in json.loads(wfc.model_settings_json(config, "cmbertcode"))
