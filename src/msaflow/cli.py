"""The `msaflow` command: one subcommand per pipeline stage.

Stage modules are imported lazily so that `msaflow manifest` does not pay for importing torch.
Each stage module in `msaflow.stages` defines `configure(parser)` and `main(args) -> int | None`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from msaflow.common import MsaflowError

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
    "words": ("msaflow.stages.words", "word-level averaging of frame features and exports"),
    "tokens": ("msaflow.stages.tokens", "tokenise and align word features to word-pieces"),
    "train": ("msaflow.stages.train", "train one model with one seed"),
    "evaluate": ("msaflow.stages.evaluate", "aggregate seeds into a result file"),
    "summarize": ("msaflow.stages.summarize", "write results/dataset_{ds}.json: splits, labels, durations, QC"),
    "show": ("msaflow.stages.show", "print a result file as a table"),
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, module = build_parser(argv)
    args = parser.parse_args(argv)
    if module is None:
        parser.print_help()
        return 2
    try:
        return int(module.main(args) or 0)
    except MsaflowError as error:
        print(f"msaflow {args.stage}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
