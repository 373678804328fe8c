"""`msaflow manifest`: validate a corpus and write work/{ds}/manifest.tsv with a shard per video."""

from dataclasses import replace

from msaflow.common import get_logger
from msaflow.corpus import check_splits, read_corpus, write_manifest
from msaflow.folds import apply_standard_folds, standard_folds


def configure(parser):
    parser.add_argument("--root", required=True, help="corpus folder (label.csv + Raw/)")
    parser.add_argument("--shards", type=int, required=True)
    parser.add_argument("--out", required=True, help="manifest.tsv to write")
    parser.add_argument("--folds", default="none", help="standard folds to enforce: mosi, mosei or none")
    parser.add_argument("--log", default=None)


def main(args):
    log = get_logger("manifest", args.log)
    utterances = read_corpus(args.root, args.shards)
    if args.folds != "none":
        modes, warnings = apply_standard_folds({u.video_id: u.mode for u in utterances}, standard_folds(args.folds))
        for warning in warnings:
            log.warning("%s: %s", args.root, warning)
        utterances = [replace(u, mode=modes[u.video_id]) for u in utterances]
    check_splits(utterances, f"{args.root}/label.csv")
    counts = write_manifest(utterances, args.out)
    log.info("%d utterances from %d videos -> shards %s", len(utterances), len({u.video_id for u in utterances}), counts)
