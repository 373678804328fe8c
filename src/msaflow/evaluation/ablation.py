"""The modality ablation of a result (`ablation` in results/{model}_{ds}.json).

Each run's `ablation.tsv` (msaflow.training.ablation) holds test predictions intact and with each
non-text modality zeroed or shuffled. For every condition and metric: the change ablated - intact
of the metric averaged over seeds, a paired bootstrap CI over test utterances (the same resampled
utterances for both, metrics averaged over seeds on each resample) and its two-sided p-value.
For `mae` a positive change means the model got worse without the modality; for the others a
negative one. A model whose prediction cannot depend on a modality shows exactly 0 (CI [0, 0]).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError, read_tsv
from msaflow.evaluation.metrics import METRICS, compute_metrics
from msaflow.evaluation.statistics import paired_bootstrap

INTACT = "intact"  # = msaflow.training.ablation.INTACT (not imported: evaluation must not need torch)
ABLATION_FILE = "ablation.tsv"


def read_ablation(run_dir) -> dict[str, dict[str, float]] | None:
    """{condition: {utterance_id: prediction}} of a run, or None when the run has no ablation.tsv."""
    path = Path(run_dir) / ABLATION_FILE
    if not path.exists():
        return None
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for row in read_tsv(path):
        try:
            value = float(row["prediction"])
        except (KeyError, ValueError):
            raise MsaflowError(f"{path}: bad row {row}; expected columns utterance_id, condition, prediction") from None
        if not np.isfinite(value):
            raise MsaflowError(f"{path}: non-finite prediction for {row['utterance_id']} ({row['condition']})")
        out[row["condition"]][row["utterance_id"]] = value
    if out and INTACT not in out:
        raise MsaflowError(f"{path} has no '{INTACT}' rows; rerun the training job")
    return dict(out)


def condition_parts(condition: str) -> tuple[str, str]:
    modality, _, kind = condition.rpartition("_")
    return modality, kind


def ablation_result(runs: list[dict], n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict:
    """The `ablation` section from runs that carry `ablation` (read_ablation) and test splits."""
    runs = sorted(runs, key=lambda r: r["seed"])
    missing = [r["dir"] for r in runs if r.get("ablation") is None]
    base = {"difference": "ablated - intact (mae: positive = worse without the modality; other metrics: negative = worse)",
            "shuffle": "fixed derangement of test utterances (same for every seed and model)",
            "zero": "all feature tensors of the modality set to 0; lengths and text unchanged",
            "n_resamples": n_resamples, "confidence": confidence, "conditions": {}}
    if missing:
        return {**base, "note": f"no ablation.tsv in {len(missing)} run(s) (e.g. {missing[0]}); retrain to get the ablation"}
    test = runs[0]["splits"]["test"]
    ids, labels = test["ids"], np.asarray(test["labels"], dtype=np.float64)
    conditions = [c for c in runs[0]["ablation"] if c != INTACT]
    for r in runs:
        got = sorted(c for c in r["ablation"] if c != INTACT)
        if got != sorted(conditions):
            raise MsaflowError(f"{r['dir']}: ablation conditions {got} differ from seed {runs[0]['seed']}'s {sorted(conditions)}")
    if not conditions:
        return {**base, "note": "the model has no non-text input: nothing to ablate"}

    def aligned(run, condition):
        preds = run["ablation"][condition]
        lost = [u for u in ids if u not in preds]
        if lost or len(preds) != len(ids):
            raise MsaflowError(f"{run['dir']}/{ABLATION_FILE}: condition {condition} does not cover the test "
                               f"utterances of predictions.tsv (e.g. {lost[:3]})")
        return np.asarray([preds[u] for u in ids])

    intact = [aligned(r, INTACT) for r in runs]
    out = {}
    for condition in conditions:
        ablated = [aligned(r, condition) for r in runs]
        boot = paired_bootstrap(labels, ablated, intact, n_resamples=n_resamples, seed=seed, confidence=confidence)
        per_seed_intact = [compute_metrics(labels, p) for p in intact]
        per_seed_ablated = [compute_metrics(labels, p) for p in ablated]
        metrics = {}
        for m in METRICS:
            a = [s[m] for s in per_seed_ablated]
            i = [s[m] for s in per_seed_intact]
            metrics[m] = {
                "intact": _mean(i), "ablated": _mean(a), **boot["metrics"][m],
                "per_seed": {str(r["seed"]): _finite(x - y) for r, x, y in zip(runs, a, i, strict=True)},
            }
        modality, kind = condition_parts(condition)
        out[condition] = {
            "modality": modality, "kind": kind,
            "max_abs_prediction_change": float(max(np.max(np.abs(a - i)) for a, i in zip(ablated, intact, strict=True))),
            "metrics": metrics,
        }
    return {**base, "seeds": [r["seed"] for r in runs], "n_utterances": len(ids), "conditions": out}


def _finite(x):
    return float(x) if x is not None and np.isfinite(x) else None


def _mean(values):
    v = [x for x in values if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else None


SHOWN = (("mae", "Δmae"), ("corr", "Δcorr"), ("acc2_non0", "Δacc2_non0"))


def format_ablation(ablation: dict | None) -> list[str]:
    """Compact lines for `msaflow show`: one per condition, change [CI] p of a few metrics."""
    if not ablation:
        return []
    conditions = ablation.get("conditions") or {}
    if not conditions:
        return [f"  ablation: {ablation.get('note', 'none')}"] if ablation.get("note") else []

    def fmt(x, digits=3):
        return "-" if x is None or not np.isfinite(x) else f"{x:+.{digits}f}"

    lines = [f"  modality ablation on test: ablated - intact, mean over seeds "
             f"[{int(round(100 * ablation.get('confidence', 0.95)))}% paired bootstrap CI] p "
             "(mae up or corr/acc down = the model uses that modality)"]
    header = f"  {'condition':<15}" + "".join(f" {label:>30}" for _, label in SHOWN) + f" {'max|Δpred|':>11}"
    lines += [header, "  " + "-" * (len(header) - 2)]
    for condition, c in conditions.items():
        line = f"  {condition:<15}"
        for metric, _ in SHOWN:
            m = c["metrics"][metric]
            p = "-" if m["p"] is None else f"{m['p']:.3f}"
            cell = f"{fmt(m['diff'])} [{fmt(m['ci_low'])}, {fmt(m['ci_high'])}] p={p}"
            line += f" {cell:>30}"
        line += f" {c['max_abs_prediction_change']:>11.3g}"
        lines.append(line)
    return lines
