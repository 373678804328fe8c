"""`msaflow summarize`: results/dataset_{ds}.json (splits, labels, durations, words, QC per stage)."""

import json

from msaflow.common import atomic_write_text
from msaflow.dataset_summary import summarize

OUTPUT_ARGS = ("out",)  # --qc lists input tables here (see msaflow.cli)


def configure(parser):
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--align", nargs="*", default=[], help="align/{shard}.tsv tables")
    parser.add_argument("--audio-dirs", nargs="*", default=[], help="audio/{shard} folders (for durations)")
    parser.add_argument("--qc", nargs="*", default=[], metavar="STAGE=PATH", help="QC tables, e.g. align=work/x/align/s000.qc.tsv")
    parser.add_argument("--out", required=True)


def main(args):
    qc_by_stage: dict[str, list[str]] = {}
    for item in args.qc:
        stage, _, path = item.partition("=")
        qc_by_stage.setdefault(stage, []).append(path)
    summary = summarize(args.dataset, args.manifest, qc_by_stage, args.align, args.audio_dirs)
    atomic_write_text(args.out, json.dumps(summary, indent=1) + "\n")
