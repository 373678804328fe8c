"""Metrics (DESIGN §4), seed statistics, paired tests, result file and `msaflow show`."""

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from msaflow.evaluation.metrics import METRICS, compute_metrics, weighted_metrics
from msaflow.evaluation.statistics import paired_bootstrap, paired_t_test, summarize

Y = np.array([-2.6, -1.0, 0.0, 0.0, 0.4, 1.2, 2.8, -0.2])
P = np.array([-2.0, 0.3, -0.1, 0.2, 0.6, 1.6, 1.4, -0.6])


def test_binary_conventions_differ_on_zero_labels():
    m = compute_metrics(Y, P)
    # has0: label>=0 vs pred>=0 -> wrong at idx 1 (-1.0 vs 0.3) and idx 2 (0.0 vs -0.1)
    assert m["acc2_has0"] == pytest.approx(6 / 8)
    # non0: drop zero labels (6 left) -> wrong at idx 1 only
    assert m["acc2_non0"] == pytest.approx(5 / 6)
    # cmbert: >0 vs <=0 -> wrong at idx 1 and idx 3 (0.0 vs 0.2)
    assert m["acc2_cmbert"] == pytest.approx(6 / 8)
    assert m["f1_has0"] == pytest.approx(f1_score(Y >= 0, P >= 0, average="weighted"))
    keep = Y != 0
    assert m["f1_non0"] == pytest.approx(f1_score(Y[keep] > 0, P[keep] > 0, average="weighted"))


def test_f1_cmbert_is_the_cmbert_codes_swapped_f1():
    """run_classifier.py: f1_score(predict > 0, truth > 0, average='weighted'): the per-class F1 values
    are the same either way round, but they are weighted by the predicted class counts."""
    y, p = np.array([1.0, 1.0, 1.0, -1.0]), np.array([1.0, 1.0, -1.0, -1.0])
    m = compute_metrics(y, p)
    f1_pos, f1_neg = 4 / 5, 2 / 3
    assert m["f1_cmbert"] == pytest.approx((f1_pos * 2 + f1_neg * 2) / 4)  # predicted: 2 positive, 2 not
    assert m["f1_cmbert"] == pytest.approx(f1_score(p > 0, y > 0, average="weighted"))
    assert f1_score(y > 0, p > 0, average="weighted") == pytest.approx((f1_pos * 3 + f1_neg * 1) / 4)
    assert m["acc2_cmbert"] == pytest.approx(3 / 4)
    assert compute_metrics(Y, P)["f1_cmbert"] == pytest.approx(f1_score(P > 0, Y > 0, average="weighted"))


def test_multiclass_and_regression_metrics():
    m = compute_metrics(Y, P)
    # acc7: round(clip(.,-3,3)): Y -> [-3,-1,0,0,0,1,3,-0], P -> [-2,0,-0,0,1,2,1,-1]
    assert m["acc7"] == pytest.approx(2 / 8)
    # acc5: clip(.,-2,2) then round: Y -> [-2,-1,0,0,0,1,2,0], P -> [-2,0,0,0,1,2,1,-1]
    assert m["acc5"] == pytest.approx(3 / 8)
    assert m["mae"] == pytest.approx(np.mean(np.abs(Y - P)))
    assert m["corr"] == pytest.approx(np.corrcoef(Y, P)[0, 1])


def test_weighted_metrics_equal_plain_metrics_with_unit_weights_and_duplicates():
    plain = compute_metrics(Y, P)
    w = weighted_metrics(Y, P, np.ones((1, len(Y))))
    for k in METRICS:
        assert w[k][0] == pytest.approx(plain[k], abs=1e-12), k
    counts = np.array([2, 0, 1, 3, 1, 0, 1, 2])
    dup = compute_metrics(np.repeat(Y, counts), np.repeat(P, counts))
    wd = weighted_metrics(Y, P, counts[None, :])
    for k in METRICS:
        assert wd[k][0] == pytest.approx(dup[k], abs=1e-12), k


def test_summary_over_seeds_has_t_confidence_interval():
    s = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s["mean"] == 3.0 and s["std"] == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1))
    half = 2.7764451051977987 * s["std"] / np.sqrt(5)  # t(0.975, 4)
    assert s["ci_low"] == pytest.approx(3 - half) and s["ci_high"] == pytest.approx(3 + half)
    assert summarize([])["n"] == 0


def test_paired_tests():
    t = paired_t_test([0.70, 0.72, 0.71, 0.73, 0.69], [0.60, 0.63, 0.60, 0.64, 0.61])
    assert t["mean_diff"] == pytest.approx(0.094) and t["p"] < 0.001
    same = paired_t_test([0.5, 0.6], [0.5, 0.6])
    assert same["p"] == 1.0
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    good = [y + rng.normal(scale=0.3, size=200) for _ in range(3)]
    bad = [y + rng.normal(scale=1.0, size=200) for _ in range(3)]
    boot = paired_bootstrap(y, good, bad, n_resamples=300, seed=1)
    assert boot["metrics"]["mae"]["diff"] < 0 and boot["metrics"]["mae"]["ci_high"] < 0
    assert boot["metrics"]["mae"]["p"] < 0.01
    null = paired_bootstrap(y, good, good, n_resamples=100)
    assert null["metrics"]["corr"]["diff"] == 0 and null["metrics"]["corr"]["p"] == 1.0


def write_run(root, model, seed, ids, labels, preds_valid, preds_test):
    d = root / model / f"seed{seed}"
    d.mkdir(parents=True)
    lines = ["utterance_id\tsplit\tlabel\tprediction"]
    for split, preds in (("valid", preds_valid), ("test", preds_test)):
        lines += [f"{u}\t{split}\t{y}\t{p}" for u, y, p in zip(ids, labels, preds, strict=True)]
    (d / "predictions.tsv").write_text("\n".join(lines) + "\n")
    hist = {"seed": seed, "select_by": "valid_loss", "best_epoch": 2, "wall_time_s": 1.5,
            "epochs": [{"train_samples_per_s": 10.0}], "describe": {"arch": model, "note": f"{model} note"}}
    (d / "history.json").write_text(json.dumps(hist))
    return d


def test_result_file_and_show(tmp_path, capsys):
    import torch

    from msaflow.cli import main

    rng = np.random.default_rng(0)
    ids = [f"v{i}$_$c" for i in range(40)]
    y = rng.normal(size=40)
    runs, base = [], []
    for seed in (1111, 1112, 1113):
        runs.append(write_run(tmp_path, "cmbert", seed, ids, y, y + rng.normal(scale=0.3, size=40), y + rng.normal(scale=0.3, size=40)))
        base.append(write_run(tmp_path, "tbert", seed, ids, y, y + rng.normal(scale=0.9, size=40), y + rng.normal(scale=0.9, size=40)))
    tokens = tmp_path / "tokens.pt"
    torch.save({"meta": {"counts": {"train": 100, "valid": 40, "test": 40, "failed": 2, "failed_upstream": 3, "truncated": 1},
                         "encoder": "minilm-l6", "max_length": 50},
                "train": {}, "valid": {}, "test": {}}, tokens)
    out = tmp_path / "results" / "cmbert_demo.json"
    rc = main(["evaluate", "--model", "cmbert", "--dataset", "demo", "--runs", *map(str, runs), "--baseline", "tbert",
               "--baseline-runs", *map(str, base), "--tokens", str(tokens), "--config", '{"a": 1}', "--code", "abc",
               "--bootstrap", "200", "--out", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    assert r["seeds"] == [1111, 1112, 1113]
    assert set(r["metrics"]["test"]) == set(METRICS)
    mae = r["metrics"]["test"]["mae"]
    assert mae["mean"] == pytest.approx(np.mean(list(mae["per_seed"].values())))
    assert mae["ci_low"] < mae["mean"] < mae["ci_high"]
    assert r["baseline"]["paired_t_test"]["mae"]["mean_diff"] < 0
    assert r["baseline"]["paired_bootstrap"]["metrics"]["mae"]["ci_high"] < 0
    assert r["data"]["failed_utterances"] == 5 and r["data"]["test"] == 40
    assert r["provenance"]["code_hash"] == "abc" and r["provenance"]["versions"]["torch"]
    assert r["conventions"]["acc2_has0"].startswith("binary accuracy")
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "acc2_non0" in text and "tbert mean" in text and "cmbert note" in text
    assert main(["show", str(tmp_path / "missing.json")]) == 2


def test_result_without_baseline(tmp_path):
    from msaflow.evaluation.results import build_result, format_table, read_run

    rng = np.random.default_rng(1)
    ids = [f"v{i}$_$c" for i in range(20)]
    y = rng.normal(size=20)
    runs = [read_run(write_run(tmp_path, "tbert", s, ids, y, y + 0.1, y + rng.normal(scale=0.5, size=20))) for s in (1, 2)]
    r = build_result("tbert", "demo", runs, None, [], {"counts": {"test": 20}}, {}, "h")
    assert "baseline" not in r and r["metrics"]["test"]["mae"]["n"] == 2
    assert r["provenance"]["wall_time_s"]["train-tbert"] == 3.0
    table = format_table(r)
    assert "t-test" not in table and "corr" in table
