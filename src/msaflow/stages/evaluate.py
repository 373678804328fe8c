"""Stage `evaluate`: aggregate the seeds of one model (and its baseline) into results/{model}_{ds}.json."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from msaflow.common import MsaflowError, atomic_write_text, get_logger


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--runs", nargs="+", required=True, help="runs/{model}/seed{seed} folders")
    parser.add_argument("--baseline", default=None, help="baseline model name")
    parser.add_argument("--baseline-runs", nargs="*", default=[], help="the baseline's run folders")
    parser.add_argument("--tokens", required=True, help="the tokens file the runs trained on (for data counts)")
    parser.add_argument("--config", default="{}", help="JSON: the config subset that produced the runs")
    parser.add_argument("--code", default="", help="code hash of the stages that produced the result")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--bootstrap", type=int, default=1000, help="paired bootstrap resamples")
    parser.add_argument("--dataset-summary", default=None, help="results/dataset_{ds}.json to embed")
    parser.add_argument("--benchmarks", default=None, help="Snakemake benchmark folder (wall time per stage)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--log", default=None)


def main(args) -> int:
    from msaflow.evaluation.results import build_result, format_table, read_run
    from msaflow.tokenize import load_tokens

    log = get_logger("evaluate", args.log)
    t0 = time.time()
    try:
        config = json.loads(args.config)
    except json.JSONDecodeError as error:
        raise MsaflowError(f"--config is not valid JSON: {error}") from None
    if args.baseline and not args.baseline_runs:
        raise MsaflowError(f"baseline {args.baseline} given without --baseline-runs")
    runs = [read_run(d) for d in args.runs]
    baseline_runs = [read_run(d) for d in args.baseline_runs]
    meta = load_tokens(args.tokens)["meta"]
    result = build_result(args.model, args.dataset, runs, args.baseline, baseline_runs, meta, config, args.code,
                          args.confidence, args.bootstrap, args.benchmarks)
    result["provenance"]["wall_time_s"]["evaluate"] = round(time.time() - t0, 3)
    if args.dataset_summary:
        result["dataset_summary"] = json.loads(Path(args.dataset_summary).read_text(encoding="utf-8"))
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    log.info("wrote %s\n%s", args.out, format_table(result))
    return 0
