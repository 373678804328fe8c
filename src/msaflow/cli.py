"""The `msaflow` command: one subcommand per pipeline stage.

Stage modules are imported lazily so that `msaflow manifest` does not pay for importing torch.
Each stage module in `msaflow.stages` defines `configure(parser)` and `main(args) -> int | None`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import sys
import time

from msaflow.common import MsaflowError, remove_stale_temps

_STARTED = time.perf_counter()  # wall time is counted from here (imports of the stage included)

STAGES: dict[str, tuple[str, str]] = {
    "validate-corpus": ("msaflow.stages.validate_corpus", "check a corpus (label.csv + media tree) and report every problem"),
    "make-demo": ("msaflow.stages.make_demo", "synthesise the embedded demo corpus"),
    "manifest": ("msaflow.stages.manifest", "validate a corpus and write its manifest with shard assignment"),
    "sdk-manifest": ("msaflow.stages.sdk_manifest", "manifest from CMU-MultimodalSDK label and word files"),
    "sdk-align": ("msaflow.stages.sdk_align", "word table for one shard from a CMU-MultimodalSDK words file"),
    "sdk-acoustic": ("msaflow.stages.sdk_acoustic", "frame features for one shard from a CMU-MultimodalSDK COVAREP file"),
    "sdk-visual": ("msaflow.stages.sdk_visual", "visual frame features for one shard from a CMU-MultimodalSDK FACET/OpenFace file"),
    "shard": ("msaflow.stages.shard", "write one shard's rows of a manifest"),
    "audio": ("msaflow.stages.audio", "extract 16 kHz mono wav per utterance for one shard"),
    "align": ("msaflow.stages.align", "word-level forced alignment for one shard"),
    "acoustic": ("msaflow.stages.acoustic", "frame-level acoustic features for one shard"),
    "visual": ("msaflow.stages.visual", "frame-level facial features for one shard (mediapipe | openface)"),
    "words": ("msaflow.stages.words", "word-level averaging of frame features"),
    "exports": ("msaflow.stages.exports", "word-level features in MMSA's and MAG-BERT's own pickle layouts"),
    "tokens": ("msaflow.stages.tokens", "tokenise and align word features to word-pieces"),
    "waveforms": ("msaflow.stages.waveforms", "raw 16 kHz waveforms of a tokens file's utterances (CMT)"),
    "make-pretrain-corpus": ("msaflow.stages.make_pretrain_corpus", "synthesise the offline pretraining corpus (CMT)"),
    "pretrain": ("msaflow.stages.pretrain", "cross-modal pretraining of a CMT architecture"),
    "tapt": ("msaflow.stages.tapt", "task-adaptive pretraining of a CMT checkpoint on a task's train split"),
    "train": ("msaflow.stages.train", "train one model with one seed"),
    "evaluate": ("msaflow.stages.evaluate", "aggregate seeds into a result file"),
    "summarize": ("msaflow.stages.summarize", "write results/dataset_{ds}.json: splits, labels, durations, QC"),
    "show": ("msaflow.stages.show", "print a result file as a table"),
    "report": ("msaflow.stages.report", "write results/report_{ds}.html: tables and figures of a dataset's results"),
    "progress": ("msaflow.stages.progress", "show the last progress line of every running stage job (from work/logs)"),
    "predict": ("msaflow.stages.predict", "score a new clip with a trained run (a transcript is required: no ASR)"),
}


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, object | None]:
    parser = argparse.ArgumentParser(prog="msaflow", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", metavar="STAGE")
    module = None
    for name, (module_name, help_text) in STAGES.items():
        stage_parser = sub.add_parser(name, help=help_text, description=help_text)
        if argv and argv[0] == name:
            module = importlib.import_module(module_name)
            module.configure(stage_parser)
    return parser, module


# Arguments naming a stage's outputs (a stage module may list its own in OUTPUT_ARGS): what a
# killed run left of them is removed when the stage starts.
OUTPUT_ARGS = ("out", "out_dir", "qc", "textgrid_dir", "mmsa_out", "mag_out")


def remove_stale_outputs(module, args) -> None:
    for name in getattr(module, "OUTPUT_ARGS", OUTPUT_ARGS):
        value = getattr(args, name, None)
        if isinstance(value, str) and value:
            for item in remove_stale_temps(value):
                print(f"msaflow {args.stage}: removed {item}, left by an interrupted run", file=sys.stderr)


# Commands a user runs by hand: no cost line after them.
INTERACTIVE = ("show", "validate-corpus")


def cost_line(stage: str, wall_s: float) -> str:
    """What the stage cost, child processes (ffmpeg, espeak-ng, worker pools) included, and the
    machine's load while it ran: Snakemake's benchmark files miss short-lived children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_own, cpu_children = own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"msaflow {stage}: {wall_s:.2f} s wall, {cpu_own + cpu_children:.2f} CPU s "
            f"({cpu_children:.2f} in child processes); load average {load} on {os.cpu_count()} CPUs")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, module = build_parser(argv)
    args = parser.parse_args(argv)
    if module is None:
        parser.print_help()
        return 2
    try:
        remove_stale_outputs(module, args)
        return int(module.main(args) or 0)
    except MsaflowError as error:
        print(f"msaflow {args.stage}: error: {error}", file=sys.stderr)
        return 2
    finally:
        if args.stage not in INTERACTIVE:
            print(cost_line(args.stage, time.perf_counter() - _STARTED), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
