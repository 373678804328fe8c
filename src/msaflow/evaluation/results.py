"""The result file `results/{model}_{ds}.json` (DESIGN §3/§4): metrics over seeds, per-seed
values, conventions, baseline comparison, provenance."""

from __future__ import annotations

import csv
import json
import platform
import re
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError, read_tsv
from msaflow.evaluation.ablation import ablation_result, format_ablation, read_ablation
from msaflow.evaluation.metrics import CONVENTIONS, LOWER_IS_BETTER, METRICS, compute_metrics
from msaflow.evaluation.statistics import paired_bootstrap, paired_t_test, summarize

RESULT_FORMAT = "msaflow-result/1"


def read_run(run_dir) -> dict:
    """A training run: seed, predictions per split (ids, labels, predictions) and history."""
    run_dir = Path(run_dir)
    pred_path, hist_path = run_dir / "predictions.tsv", run_dir / "history.json"
    for p in (pred_path, hist_path):
        if not p.exists():
            raise MsaflowError(f"{p} does not exist; the training run {run_dir} is incomplete")
    history = json.loads(hist_path.read_text())
    splits: dict[str, dict[str, list]] = defaultdict(lambda: {"ids": [], "labels": [], "predictions": []})
    for row in read_tsv(pred_path):
        s = splits[row["split"]]
        s["ids"].append(row["utterance_id"])
        s["labels"].append(float(row["label"]))
        s["predictions"].append(float(row["prediction"]))
    if "test" not in splits or "valid" not in splits:
        raise MsaflowError(f"{pred_path} lacks valid or test predictions")
    for name, s in splits.items():
        preds = np.asarray(s["predictions"])
        if not np.isfinite(preds).all():
            raise MsaflowError(f"{pred_path}: non-finite {name} predictions")
    return {"seed": int(history["seed"]), "splits": dict(splits), "history": history, "dir": str(run_dir),
            "ablation": read_ablation(run_dir)}


def metrics_over_seeds(runs: list[dict], split: str, confidence: float) -> dict:
    per_seed = {r["seed"]: compute_metrics(r["splits"][split]["labels"], r["splits"][split]["predictions"]) for r in runs}
    out = {}
    for m in METRICS:
        values = [per_seed[s][m] for s in sorted(per_seed)]
        out[m] = {**summarize(values, confidence), "per_seed": {str(s): per_seed[s][m] for s in sorted(per_seed)}}
    return out


def compare_with_baseline(runs, baseline_runs, n_resamples, confidence, seed=0) -> dict:
    by_seed = {r["seed"]: r for r in runs}
    base_by_seed = {r["seed"]: r for r in baseline_runs}
    seeds = sorted(set(by_seed) & set(base_by_seed))
    if not seeds:
        raise MsaflowError("model and baseline share no seeds; cannot pair them")
    ids = by_seed[seeds[0]]["splits"]["test"]["ids"]
    labels = np.asarray(by_seed[seeds[0]]["splits"]["test"]["labels"])

    def aligned(run):
        s = run["splits"]["test"]
        index = dict(zip(s["ids"], s["predictions"], strict=True))
        missing = [u for u in ids if u not in index]
        if missing or len(index) != len(ids):
            raise MsaflowError(f"{run['dir']}: its test utterances differ from the other runs' (e.g. {missing[:3]})")
        return np.asarray([index[u] for u in ids])

    model_preds = [aligned(by_seed[s]) for s in seeds]
    base_preds = [aligned(base_by_seed[s]) for s in seeds]
    t_tests = {}
    for m in METRICS:
        a = [compute_metrics(labels, p)[m] for p in model_preds]
        b = [compute_metrics(labels, p)[m] for p in base_preds]
        t_tests[m] = paired_t_test(a, b)
    boot = paired_bootstrap(labels, model_preds, base_preds, n_resamples=n_resamples, seed=seed, confidence=confidence)
    return {"seeds": seeds, "paired_t_test": t_tests, "paired_bootstrap": boot,
            "difference": "model - baseline (for mae, negative is better)"}


def library_versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("msaflow", "torch", "transformers", "tokenizers", "numpy", "scipy", "scikit-learn", "h5py", "snakemake"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def stage_benchmarks(benchmark_dir, dataset: str) -> dict:
    """Per stage from Snakemake benchmark files in `benchmark_dir` (= benchmarks/{ds}): jobs, wall and
    CPU seconds (summed over jobs) and the largest peak memory (MB).

    A file <stage>_<shard|seed...>.tsv counts for <stage> (e.g. audio_s003 -> audio,
    train-cmbert_seed1111 -> train-cmbert); benchmarks/make_<ds>.tsv counts as make_<ds>.
    """
    totals: dict[str, dict] = {}
    root = Path(benchmark_dir) if benchmark_dir else None
    if not root or not root.exists():
        return {}
    paths = sorted(root.rglob("*.tsv")) + sorted(root.parent.glob(f"make_{dataset}.tsv"))
    for path in paths:
        stage = re.split(r"_(?:s\d{3}|seed\d+)$", path.stem)[0]
        try:
            with open(path, newline="") as handle:
                row = next(csv.DictReader(handle, delimiter="\t"))
            wall = float(row["s"])
        except (StopIteration, KeyError, ValueError):
            continue
        entry = totals.setdefault(stage, {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0, "max_rss_mb": 0.0})
        entry["jobs"] += 1
        entry["wall_s"] += wall
        for key, column in (("cpu_s", "cpu_time"), ("max_rss_mb", "max_rss")):
            try:
                value = float(row[column])
            except (KeyError, TypeError, ValueError):
                continue
            entry[key] = max(entry[key], value) if key == "max_rss_mb" else entry[key] + value
    return {k: {**v, "wall_s": round(v["wall_s"], 3), "cpu_s": round(v["cpu_s"], 3)} for k, v in sorted(totals.items())}


def stage_wall_times(benchmark_dir, dataset: str) -> dict:
    """Wall seconds per stage from Snakemake benchmark files (see stage_benchmarks)."""
    return {k: v["wall_s"] for k, v in stage_benchmarks(benchmark_dir, dataset).items()}


def build_result(model: str, dataset: str, runs: list[dict], baseline: str | None, baseline_runs: list[dict],
                 tokens_meta: dict, config_subset: dict, code_hash: str, confidence: float = 0.95,
                 n_resamples: int = 1000, benchmark_dir=None) -> dict:
    if not runs:
        raise MsaflowError(f"no training runs for {model} on {dataset}")
    runs = sorted(runs, key=lambda r: r["seed"])
    first = runs[0]["history"]
    result = {
        "format": RESULT_FORMAT,
        "model": model,
        "dataset": dataset,
        "describe": first.get("describe", {}),
        "seeds": [r["seed"] for r in runs],
        # the run bundles (msaflow predict --result uses them as an ensemble)
        "runs": {str(r["seed"]): r["dir"] for r in runs},
        "confidence": confidence,
        "ci_method": "t-distribution over seeds (ddof=1)",
        "selection": f"epoch with the best {first.get('select_by', 'valid_loss')} (validation only; test never used)",
        "metrics": {
            "test": metrics_over_seeds(runs, "test", confidence),
            "valid": metrics_over_seeds(runs, "valid", confidence),
        },
        "conventions": CONVENTIONS,
        "lower_is_better": sorted(LOWER_IS_BETTER),
        "best_epochs": {str(r["seed"]): r["history"].get("best_epoch") for r in runs},
        "train_samples_per_s": {str(r["seed"]): np.mean([e["train_samples_per_s"] for e in r["history"]["epochs"]]).item()
                                if r["history"]["epochs"] else None for r in runs},
    }
    if baseline:
        result["baseline"] = {
            "model": baseline,
            "describe": baseline_runs[0]["history"].get("describe", {}) if baseline_runs else {},
            "metrics": {"test": metrics_over_seeds(sorted(baseline_runs, key=lambda r: r["seed"]), "test", confidence)},
            **compare_with_baseline(runs, baseline_runs, n_resamples, confidence),
        }
    result["ablation"] = ablation_result(runs, n_resamples, confidence)
    counts = dict(tokens_meta.get("counts", {}))
    wall = stage_wall_times(benchmark_dir, dataset)
    mine = {f"train-{model}", f"train-{baseline}", f"evaluate-{model}"}
    wall = {k: v for k, v in wall.items() if not k.startswith(("train-", "evaluate-")) or k in mine}
    # without Snakemake benchmark files, fall back to the times the stages recorded themselves
    if not any(k.startswith("tokens") for k in wall) and tokens_meta.get("wall_time_s") is not None:
        wall["tokens"] = tokens_meta["wall_time_s"]
    for name, group in ((model, runs), (baseline, baseline_runs)):
        if name and f"train-{name}" not in wall:
            wall[f"train-{name}"] = round(sum(r["history"].get("wall_time_s", 0.0) for r in group), 3)
    result["data"] = {
        "train": counts.get("train"), "valid": counts.get("valid"), "test": counts.get("test"),
        "failed_utterances": (counts.get("failed_upstream") or 0) + (counts.get("failed") or 0),
        "failed_upstream": counts.get("failed_upstream"), "failed_tokens": counts.get("failed"),
        "truncated": counts.get("truncated"), "max_length": tokens_meta.get("max_length"),
        "manifest": counts.get("manifest"),
        "vision_set": tokens_meta.get("vision_set"), "vision_zeroed": counts.get("vision_zeroed"),
        "frame_rate": tokens_meta.get("frame_rate"),
        "frames_cut": {"audio": counts.get("frames_cut_audio"), "vision": counts.get("frames_cut_vision")},
    }
    result["provenance"] = {
        "config": config_subset,
        "code_hash": code_hash,
        "encoder": tokens_meta.get("encoder"),
        "audio_columns": tokens_meta.get("audio_columns"),
        "versions": library_versions(),
        "wall_time_s": wall,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return result


def format_table(result: dict) -> str:
    """A plain-text summary table of a result file."""
    def fmt(x, digits=4):
        return "   -  " if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{digits}f}"

    test = result["metrics"]["test"]
    base = result.get("baseline")
    describe = result.get("describe", {})
    lines = [f"{result['model']} on {result['dataset']}: {len(result['seeds'])} seeds {result['seeds']}, "
             f"encoder {result['provenance'].get('encoder')}"]
    if describe.get("note"):
        lines.append(f"  {describe['note']}")
    d = result.get("data", {})
    lines.append(f"  data: train {d.get('train')}, valid {d.get('valid')}, test {d.get('test')}, "
                 f"failed {d.get('failed_utterances')}, truncated {d.get('truncated')}")
    header = f"{'metric (test)':<13} {'mean':>8} {'std':>8} {'95% CI':>19}"
    if base:
        header += f" | {base['model'] + ' mean':>12} {'diff':>8} {'t-test p':>9} {'boot p':>7}"
    lines += [header, "-" * len(header)]
    for m in METRICS:
        s = test[m]
        ci = f"[{fmt(s['ci_low'])}, {fmt(s['ci_high'])}]"
        line = f"{m:<13} {fmt(s['mean']):>8} {fmt(s['std']):>8} {ci:>19}"
        if base:
            b = base["metrics"]["test"][m]
            t = base["paired_t_test"][m]
            bt = base["paired_bootstrap"]["metrics"][m]
            line += f" | {fmt(b['mean']):>12} {fmt(t['mean_diff']):>8} {fmt(t['p'], 3):>9} {fmt(bt['p'], 3):>7}"
        lines.append(line)
    lines += format_ablation(result.get("ablation"))
    return "\n".join(lines)
