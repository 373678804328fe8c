"""Aggregation over seeds and paired comparisons with a baseline."""

from __future__ import annotations

import math

import numpy as np

from msaflow.evaluation.metrics import METRICS, weighted_metrics


def summarize(values, confidence: float = 0.95) -> dict:
    """mean, sample std (ddof=1), and the t-distribution confidence interval of the mean."""
    from scipy import stats

    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    n = len(v)
    if n == 0:
        return {"mean": None, "std": None, "ci_low": None, "ci_high": None, "n": 0}
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if n > 1 else 0.0
    if n > 1:
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))
    else:
        half = float("nan")
    return {"mean": mean, "std": std, "ci_low": mean - half if n > 1 else None, "ci_high": mean + half if n > 1 else None, "n": n}


def paired_t_test(model_values, baseline_values) -> dict:
    """Paired t-test over seeds (scipy.stats.ttest_rel), difference = model - baseline."""
    from scipy import stats

    a = np.asarray(model_values, dtype=np.float64)
    b = np.asarray(baseline_values, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("paired t-test needs the same seeds for model and baseline")
    diff = a - b
    out = {"n": int(len(a)), "mean_diff": float(diff.mean()) if len(a) else None}
    if len(a) < 2 or not np.isfinite(diff).all() or np.all(diff == diff[0]):
        out.update(t=None, p=None)
        if len(a) >= 2 and np.isfinite(diff).all() and np.all(diff == 0):
            out.update(p=1.0)
        return out
    res = stats.ttest_rel(a, b)
    out.update(t=float(res.statistic), p=float(res.pvalue))
    return out


def paired_bootstrap(y_true, model_preds: list, baseline_preds: list, n_resamples: int = 1000, seed: int = 0,
                     confidence: float = 0.95, metrics=METRICS) -> dict:
    """Paired bootstrap over test utterances.

    Each resample draws utterances with replacement; on it, every metric is computed for each seed
    of the model and of the baseline and averaged over seeds; the statistic is the difference
    (model - baseline). Reports the observed difference, a percentile CI and a two-sided p-value
    (twice the smaller tail of resampled differences on either side of zero).
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    n = len(y_true)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(np.float64)
    ones = np.ones((1, n))

    def seed_mean(preds, weights):
        per_seed = [weighted_metrics(y_true, p, weights) for p in preds]
        return {m: np.mean([s[m] for s in per_seed], axis=0) for m in metrics}

    observed_m, observed_b = seed_mean(model_preds, ones), seed_mean(baseline_preds, ones)
    boot_m, boot_b = seed_mean(model_preds, counts), seed_mean(baseline_preds, counts)
    out = {}
    alpha = 1 - confidence
    for m in metrics:
        diff = boot_m[m] - boot_b[m]
        diff = diff[np.isfinite(diff)]
        observed = float(observed_m[m][0] - observed_b[m][0])
        if len(diff) == 0:
            out[m] = {"diff": observed, "ci_low": None, "ci_high": None, "p": None}
            continue
        p = 2 * min(np.mean(diff <= 0), np.mean(diff >= 0))
        out[m] = {
            "diff": observed,
            "ci_low": float(np.quantile(diff, alpha / 2)),
            "ci_high": float(np.quantile(diff, 1 - alpha / 2)),
            "p": float(min(1.0, p)),
        }
    return {"n_resamples": n_resamples, "n_utterances": n, "seed": seed, "metrics": out}
