"""Sentiment regression metrics, each named by its convention (DESIGN §4).

* acc2_has0 / f1_has0: negative (<0) vs non-negative (>=0), all samples (MMSA).
* acc2_non0 / f1_non0: negative vs positive, zero labels excluded (MulT, MMSA).
* acc2_cmbert: >0 vs <=0, all samples (the CM-BERT code's definition).
* f1_cmbert: the CM-BERT code's F1 (run_classifier.py): the same >0 / <=0 binarisation, all
  samples, but `f1_score(y_pred, y_true, average="weighted")` with the arguments swapped, so the
  per-class F1 values are weighted by the predicted class counts instead of the true ones. Only
  for comparison with the CM-BERT paper's F1 column.
* acc5 / acc7: round(clip(x, -2, 2)) / round(clip(x, -3, 3)) equality (numpy rounding, half to even).
* mae, corr: unclipped, all samples (Pearson correlation).
F1 is weighted: sklearn f1_score(y_true, y_pred, average="weighted").

`weighted_metrics` computes the same metrics for many resamples at once (sample weights =
bootstrap counts); with all weights 1 it equals `compute_metrics` (tested).
"""

from __future__ import annotations

import numpy as np

METRICS = ("acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc2_cmbert", "f1_cmbert", "acc5", "acc7", "mae", "corr")
LOWER_IS_BETTER = {"mae"}
CONVENTIONS = {
    "acc2_has0": "binary accuracy, negative (<0) vs non-negative (>=0), all samples (MMSA has0)",
    "f1_has0": "weighted F1, negative (<0) vs non-negative (>=0), all samples (MMSA has0)",
    "acc2_non0": "binary accuracy, negative vs positive, zero labels excluded (MulT/MMSA non0)",
    "f1_non0": "weighted F1, negative vs positive, zero labels excluded (MulT/MMSA non0)",
    "acc2_cmbert": "binary accuracy, >0 vs <=0, all samples (CM-BERT code)",
    "f1_cmbert": "weighted F1, >0 vs <=0, all samples, f1_score(y_pred, y_true) with swapped arguments (CM-BERT code)",
    "acc5": "5-class accuracy, round(clip(x,-2,2)) equality",
    "acc7": "7-class accuracy, round(clip(x,-3,3)) equality",
    "mae": "mean absolute error, unclipped, all samples",
    "corr": "Pearson correlation, unclipped, all samples",
}


def _check(y_true, y_pred):
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"labels {y_true.shape} and predictions {y_pred.shape} differ in length")
    if len(y_true) == 0:
        raise ValueError("no samples to evaluate")
    return y_true, y_pred


def compute_metrics(y_true, y_pred) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    y_true, y_pred = _check(y_true, y_pred)
    out: dict[str, float] = {}
    t_has0, p_has0 = y_true >= 0, y_pred >= 0
    out["acc2_has0"] = float(accuracy_score(t_has0, p_has0))
    out["f1_has0"] = float(f1_score(t_has0, p_has0, average="weighted"))
    non0 = y_true != 0
    if non0.any():
        t_non0, p_non0 = y_true[non0] > 0, y_pred[non0] > 0
        out["acc2_non0"] = float(accuracy_score(t_non0, p_non0))
        out["f1_non0"] = float(f1_score(t_non0, p_non0, average="weighted"))
    else:
        out["acc2_non0"] = out["f1_non0"] = float("nan")
    out["acc2_cmbert"] = float(np.mean((y_true > 0) == (y_pred > 0)))
    out["f1_cmbert"] = float(f1_score(y_pred > 0, y_true > 0, average="weighted"))  # swapped, as the CM-BERT code
    out["acc5"] = float(np.mean(np.round(np.clip(y_true, -2, 2)) == np.round(np.clip(y_pred, -2, 2))))
    out["acc7"] = float(np.mean(np.round(np.clip(y_true, -3, 3)) == np.round(np.clip(y_pred, -3, 3))))
    out["mae"] = float(np.mean(np.abs(y_true - y_pred)))
    if np.std(y_true) > 0 and np.std(y_pred) > 0:
        out["corr"] = float(np.corrcoef(y_true, y_pred)[0, 1])
    else:
        out["corr"] = float("nan")
    return out


def _weighted_acc(weights, correct):
    total = weights.sum(1)
    return (weights * correct).sum(1) / np.where(total > 0, total, np.nan)


def _weighted_f1_binary(weights, t, p):
    """Weighted-average F1 (sklearn 'weighted', labels present in t or p) for each row of weights."""
    total = weights.sum(1)
    f1 = np.zeros(len(weights))
    for cls in (False, True):
        tp = (weights * ((t == cls) & (p == cls))).sum(1)
        fp = (weights * ((t != cls) & (p == cls))).sum(1)
        fn = (weights * ((t == cls) & (p != cls))).sum(1)
        denom = 2 * tp + fp + fn
        f1_c = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
        support = tp + fn
        f1 += f1_c * support
    return f1 / np.where(total > 0, total, np.nan)


def weighted_metrics(y_true, y_pred, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics under sample weights; `weights` (R x N) gives R resamples. Returns name -> (R,)."""
    y_true, y_pred = _check(y_true, y_pred)
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    out = {}
    t, p = y_true >= 0, y_pred >= 0
    out["acc2_has0"] = _weighted_acc(w, t == p)
    out["f1_has0"] = _weighted_f1_binary(w, t, p)
    non0 = y_true != 0
    wn = w * non0
    tn, pn = y_true > 0, y_pred > 0
    out["acc2_non0"] = _weighted_acc(wn, tn == pn)
    out["f1_non0"] = _weighted_f1_binary(wn, tn, pn)
    out["acc2_cmbert"] = _weighted_acc(w, (y_true > 0) == (y_pred > 0))
    out["f1_cmbert"] = _weighted_f1_binary(w, y_pred > 0, y_true > 0)  # swapped, as the CM-BERT code
    out["acc5"] = _weighted_acc(w, np.round(np.clip(y_true, -2, 2)) == np.round(np.clip(y_pred, -2, 2)))
    out["acc7"] = _weighted_acc(w, np.round(np.clip(y_true, -3, 3)) == np.round(np.clip(y_pred, -3, 3)))
    out["mae"] = _weighted_acc(w, np.abs(y_true - y_pred))
    total = w.sum(1, keepdims=True)
    mt = (w * y_true).sum(1, keepdims=True) / total
    mp = (w * y_pred).sum(1, keepdims=True) / total
    cov = (w * (y_true - mt) * (y_pred - mp)).sum(1)
    vt = (w * (y_true - mt) ** 2).sum(1)
    vp = (w * (y_pred - mp) ** 2).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["corr"] = cov / np.sqrt(vt * vp)
    return out


CLASS_NAMES_5 = {-2: "strongly negative", -1: "negative", 0: "neutral", 1: "positive", 2: "strongly positive"}
CLASS_NAMES_7 = {-3: "highly negative", -2: "negative", -1: "weakly negative", 0: "neutral",
                 1: "weakly positive", 2: "positive", 3: "highly positive"}  # the CMU-MOSI annotation scale


def sentiment_classes(score: float) -> dict:
    """The 2-, 5- and 7-class labels of a score, by the same rules as acc2_has0, acc5 and acc7."""
    c5 = int(np.round(np.clip(score, -2, 2)))
    c7 = int(np.round(np.clip(score, -3, 3)))
    return {
        "class2": "negative" if score < 0 else "positive",
        "class2_rule": "score < 0 negative, >= 0 positive (acc2_has0)",
        "class5": c5, "class5_name": CLASS_NAMES_5[c5],
        "class7": c7, "class7_name": CLASS_NAMES_7[c7],
    }
