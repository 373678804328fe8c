"""`msaflow validate-corpus PATH`: check label.csv and the media tree; print every problem."""

from pathlib import Path

from msaflow.corpus import check_splits, read_corpus


def configure(parser):
    parser.add_argument("path", help="corpus folder holding label.csv and Raw/")
    parser.add_argument("--no-media", action="store_true", help="check label.csv only, not the media files")


def main(args):
    utterances = read_corpus(args.path, n_shards=1, check_media=not args.no_media)
    check_splits(utterances, Path(args.path) / "label.csv")
    videos = {u.video_id for u in utterances}
    per_mode = {m: sum(u.mode == m for u in utterances) for m in ("train", "valid", "test")}
    print(f"{args.path}: OK, {len(utterances)} utterances in {len(videos)} videos "
          f"(train {per_mode['train']}, valid {per_mode['valid']}, test {per_mode['test']})")
