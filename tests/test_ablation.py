"""Modality ablation: zero / shuffle each non-text input on test, and its section in the result file."""

import json

import numpy as np
import pytest
import torch

from msaflow.models.base import MsaModel
from msaflow.training import TrainConfig, Trainer
from msaflow.training.ablation import INTACT, ablate, derangement, modality_keys, run_ablation


@pytest.fixture(scope="module")
def tokens():
    from msaflow.encoders import load_tokenizer
    from msaflow.training.synthetic import make_tokens

    return make_tokens(load_tokenizer("minilm-l6"), n=60, max_length=24, seed=4, vision_dim=3, vision_weight=1.0,
                       frames=True, frame_dtype="float16")


class TextPath(MsaModel):
    """Declares audio but its prediction reads only the text (like faithful CM-BERT)."""

    modalities = ("text", "audio")

    def __init__(self):
        super().__init__({"arch": "toy"})
        self.scale = torch.nn.Parameter(torch.tensor(0.1))

    def forward(self, batch):
        return self.scale * batch["attention_mask"].float().sum(1)


class AudioMean(MsaModel):
    """Prediction = mean of the valid audio frames' first column + mean word-piece audio: depends on audio only."""

    modalities = ("text", "audio", "vision")

    def __init__(self):
        super().__init__({"arch": "toy"})
        self.weight = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, batch):
        frames = batch["audio_frames"][..., 0]
        steps = torch.arange(frames.shape[1])[None] < batch["audio_frame_lengths"][:, None]
        frame_mean = (frames * steps).sum(1) / steps.sum(1)
        words = batch["attention_mask"].float()
        word_mean = (batch["audio"][..., 0] * words).sum(1) / words.sum(1)
        return self.weight * (frame_mean + word_mean)


def predictor(model, tmp_path):
    trainer = Trainer(model, TrainConfig(eval_batch_size=16, threads=1), 1111, tmp_path)
    return trainer.predict


def by_condition(rows):
    out = {}
    for uid, condition, pred in rows:
        out.setdefault(condition, {})[uid] = float(pred)
    return out


def test_derangement_moves_every_utterance_and_is_fixed():
    for n in (2, 3, 10, 101):
        p = derangement(n)
        assert sorted(p) == list(range(n)) and not np.any(p == np.arange(n))
        assert np.array_equal(p, derangement(n))


def test_modality_keys_and_ablated_copies(tokens):
    test = tokens["test"]
    assert modality_keys(test, "audio") == ["audio", "audio_frame_lengths", "audio_frames", "audio_frames_valid", "audio_words"]
    assert "vision_present" in modality_keys(test, "vision") and "word_lengths" not in modality_keys(test, "audio")
    zero = ablate(test, "audio", "zero")
    assert torch.all(zero["audio_frames"] == 0) and torch.all(zero["audio"] == 0) and torch.all(zero["audio_words"] == 0)
    assert torch.equal(zero["audio_frame_lengths"], test["audio_frame_lengths"]) and zero["vision"] is test["vision"]
    shuffled = ablate(test, "audio", "shuffle")
    perm = torch.as_tensor(derangement(len(test["labels"])))
    for k in ("audio", "audio_frames", "audio_frame_lengths", "audio_frames_valid"):
        assert torch.equal(shuffled[k], test[k][perm])  # features and their lengths move together
    assert torch.equal(shuffled["input_ids"], test["input_ids"]) and torch.equal(shuffled["labels"], test["labels"])
    assert torch.any(test["audio_frames"] != 0)  # the original is untouched


def test_text_only_path_shows_exactly_zero_change(tokens, tmp_path):
    model = TextPath()
    rows, summary = run_ablation(predictor(model, tmp_path), model, tokens["test"])
    preds = by_condition(rows)
    assert set(preds) == {INTACT, "audio_zero", "audio_shuffle"}  # only the declared non-text modality
    for condition in ("audio_zero", "audio_shuffle"):
        assert preds[condition] == preds[INTACT] and summary[condition] == 0.0


def test_audio_model_changes_and_text_only_model_has_nothing_to_ablate(tokens, tmp_path):
    model = AudioMean()
    rows, summary = run_ablation(predictor(model, tmp_path), model, tokens["test"])
    assert set(summary) == {"audio_zero", "audio_shuffle", "vision_zero", "vision_shuffle"}
    assert summary["audio_zero"] > 0.1 and summary["audio_shuffle"] > 0.1
    assert summary["vision_zero"] == summary["vision_shuffle"] == 0.0  # it does not read vision
    preds = by_condition(rows)
    assert all(v == 0 for v in preds["audio_zero"].values())

    class TextOnly(TextPath):
        modalities = ("text",)

    rows, summary = run_ablation(predictor(TextOnly(), tmp_path), TextOnly(), tokens["test"])
    assert summary == {} and {c for _, c, _ in rows} == {INTACT}


def test_faithful_cmbert_is_exactly_invariant_and_the_variant_is_not(tokens, tmp_path):
    from transformers import BertConfig, BertModel

    from msaflow.models import build_model

    def cmbert(cls_audio):
        torch.manual_seed(0)
        encoder = BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=64, max_position_embeddings=64))
        model = build_model({"arch": "cmbert", "cls_audio": cls_audio}, tokens["meta"], encoder=encoder)
        with torch.no_grad():
            model.fusion_attention.modality_weights.fill_(5.0)  # make audio matter where it can
        return model

    faithful = cmbert("zero")
    rows, summary = run_ablation(predictor(faithful, tmp_path), faithful, tokens["test"])
    preds = by_condition(rows)
    assert preds["audio_zero"] == preds[INTACT] and preds["audio_shuffle"] == preds[INTACT]
    variant = cmbert("mean")
    _, summary = run_ablation(predictor(variant, tmp_path), variant, tokens["test"])
    assert summary["audio_zero"] > 1e-4 and summary["audio_shuffle"] > 1e-4


# --- the result file ----------------------------------------------------------------------------

def write_run(root, model, seed, ids, labels, test_preds, ablated: dict):
    d = root / model / f"seed{seed}"
    d.mkdir(parents=True)
    lines = ["utterance_id\tsplit\tlabel\tprediction"]
    for split in ("valid", "test"):
        lines += [f"{u}\t{split}\t{y}\t{p}" for u, y, p in zip(ids, labels, test_preds, strict=True)]
    (d / "predictions.tsv").write_text("\n".join(lines) + "\n")
    rows = ["utterance_id\tcondition\tprediction"]
    for condition, preds in {INTACT: test_preds, **ablated}.items():
        rows += [f"{u}\t{condition}\t{p:.8g}" for u, p in zip(ids, preds, strict=True)]
    (d / "ablation.tsv").write_text("\n".join(rows) + "\n")
    (d / "history.json").write_text(json.dumps({"seed": seed, "epochs": [], "describe": {"arch": model}}))
    return d


def test_result_ablation_section_and_show(tmp_path, capsys):
    from msaflow.cli import main
    from msaflow.evaluation.metrics import METRICS

    rng = np.random.default_rng(0)
    n = 80
    ids = [f"v{i}$_$0" for i in range(n)]
    y = rng.normal(size=n)
    runs = []
    for seed in (1, 2, 3):
        pred = np.round(y + rng.normal(scale=0.3, size=n), 6)
        ablated = {"audio_zero": np.round(pred + rng.normal(scale=1.0, size=n), 6), "audio_shuffle": pred,
                   "vision_zero": pred, "vision_shuffle": np.round(pred + rng.normal(scale=1.0, size=n), 6)}
        runs.append(write_run(tmp_path / "runs", "toy", seed, ids, y, pred, ablated))
    tokens = tmp_path / "tokens.pt"
    torch.save({"meta": {"counts": {"test": n}}, "train": {}, "valid": {}, "test": {}}, tokens)
    out = tmp_path / "results" / "toy_demo.json"
    assert main(["evaluate", "--model", "toy", "--dataset", "demo", "--runs", *map(str, runs), "--tokens", str(tokens),
                 "--bootstrap", "200", "--out", str(out)]) == 0
    ablation = json.loads(out.read_text())["ablation"]
    assert ablation["seeds"] == [1, 2, 3] and ablation["n_utterances"] == n and ablation["n_resamples"] == 200
    assert set(ablation["conditions"]) == {"audio_zero", "audio_shuffle", "vision_zero", "vision_shuffle"}
    zero = ablation["conditions"]["audio_zero"]
    assert zero["modality"] == "audio" and zero["kind"] == "zero" and set(zero["metrics"]) == set(METRICS)
    mae = zero["metrics"]["mae"]
    assert set(mae) >= {"intact", "ablated", "diff", "ci_low", "ci_high", "p", "per_seed"}
    assert mae["diff"] == pytest.approx(mae["ablated"] - mae["intact"]) and mae["diff"] > 0.3
    assert 0 < mae["ci_low"] <= mae["diff"] <= mae["ci_high"] and mae["p"] < 0.01 and set(mae["per_seed"]) == {"1", "2", "3"}
    unchanged = ablation["conditions"]["audio_shuffle"]
    assert unchanged["max_abs_prediction_change"] == 0.0
    for m in METRICS:  # no dependence: exactly zero, CI [0, 0], p = 1
        s = unchanged["metrics"][m]
        if s["diff"] is not None and np.isfinite(s["diff"]):
            assert s["diff"] == 0.0 and s["ci_low"] == 0.0 and s["ci_high"] == 0.0 and s["p"] == 1.0
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "modality ablation" in text and "audio_zero" in text and "vision_shuffle" in text and "Δmae" in text


def test_result_ablation_for_text_only_and_old_runs(tmp_path):
    from msaflow.evaluation.results import build_result, read_run

    ids = [f"v{i}$_$0" for i in range(20)]
    y = np.linspace(-2, 2, 20)
    d = write_run(tmp_path, "tbert", 1, ids, y, y + 0.1, {})
    r = build_result("tbert", "demo", [read_run(d)], None, [], {"counts": {}}, {}, "h", n_resamples=100)
    assert r["ablation"]["conditions"] == {} and "no non-text input" in r["ablation"]["note"]
    (d / "ablation.tsv").unlink()
    r = build_result("tbert", "demo", [read_run(d)], None, [], {"counts": {}}, {}, "h", n_resamples=100)
    assert r["ablation"]["conditions"] == {} and "no ablation.tsv" in r["ablation"]["note"]
