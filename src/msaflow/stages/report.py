"""Stage `report`: results/report_{ds}.html from the result files of a dataset (msaflow.reporting).

One self-contained HTML file (figures inline as SVG, no script, nothing fetched at view time):
comparison table, modality ablation, per-model figures, the data and its QC, three test
utterances with word timings and fusion attention, provenance. Missing inputs are named in place.
"""

from __future__ import annotations

import argparse
import time

from msaflow.common import atomic_write_text, get_logger


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--results", nargs="*", default=[], help="results/{model}_{ds}.json files, in report order")
    parser.add_argument("--runs-root", default=None, help="work/{ds}/runs (for result files that do not list their runs)")
    parser.add_argument("--summary", default=None, help="results/dataset_{ds}.json")
    parser.add_argument("--manifest", default=None, help="work/{ds}/manifest.tsv (durations, transcripts)")
    parser.add_argument("--align", nargs="*", default=[], help="work/{ds}/align/{shard}.tsv tables")
    parser.add_argument("--audio-dirs", nargs="*", default=[], help="work/{ds}/audio/{shard} folders (waveforms)")
    parser.add_argument("--tokens", default=None, help="the tokens file the models trained on (attention)")
    parser.add_argument("--benchmarks", default=None, help="Snakemake benchmark folder work/benchmarks/{ds}")
    parser.add_argument("--examples", type=int, default=3, help="test utterances to show (best, median, worst)")
    parser.add_argument("--no-attention", action="store_true", help="do not load models for the attention figures")
    parser.add_argument("--out", required=True, help="results/report_{ds}.html")
    parser.add_argument("--log", default=None)


def main(args) -> int:
    from msaflow.reporting.build import ReportInputs, build_report

    log = get_logger("report", args.log)
    t0 = time.time()
    inputs = ReportInputs(dataset=args.dataset, results=list(args.results), runs_root=args.runs_root, summary=args.summary,
                          manifest=args.manifest, align=list(args.align), audio_dirs=list(args.audio_dirs),
                          tokens=args.tokens, benchmarks=args.benchmarks, examples=args.examples,
                          attention=not args.no_attention)
    page = build_report(inputs, log)
    atomic_write_text(args.out, page)
    log.info("wrote %s (%.0f kB) in %.1f s", args.out, len(page.encode()) / 1024, time.time() - t0)
    print(args.out)
    return 0
