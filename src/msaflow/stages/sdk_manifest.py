"""`msaflow sdk-manifest`: utterances (label intervals) of a CMU-MultimodalSDK dataset -> manifest.tsv."""

from pathlib import Path

from msaflow.common import MsaflowError, QCTable, get_logger
from msaflow.corpus import Utterance, shard_of, write_manifest
from msaflow.folds import standard_folds
from msaflow.sdk_entry import read_segments


def configure(parser):
    parser.add_argument("--labels", required=True, help="label .csd (e.g. CMU_MOSI_Opinion_Labels.csd)")
    parser.add_argument("--words", required=True, help="TimestampedWords .csd")
    parser.add_argument("--label-column", type=int, default=0, help="column of the label features (MOSEI: 0 = sentiment)")
    parser.add_argument("--folds", required=True, help="standard folds: mosi or mosei")
    parser.add_argument("--shards", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--qc", required=True, help="utterances that could not enter the pipeline, with reasons")
    parser.add_argument("--log", default=None)


def main(args):
    log = get_logger("sdk-manifest", args.log)
    segments, problems = read_segments(Path(args.labels), Path(args.words), args.label_column)
    folds = standard_folds(args.folds)
    outside = sorted({s.video_id for s in segments if s.video_id not in folds})
    if outside:
        log.warning("%d video(s) are in no standard fold and are left out (e.g. %s)", len(outside), outside[:5])
    qc = QCTable("sdk-manifest")
    utterances = []
    for s in segments:
        if s.video_id not in folds:
            qc.add(s.utterance_id, "failed", "video in no standard fold")
            continue
        qc.add(s.utterance_id, "ok")
        utterances.append(Utterance(
            utterance_id=s.utterance_id, video_id=s.video_id, clip_id=s.clip_id, text=s.text, label=s.label,
            annotation="Positive" if s.label > 0 else "Negative" if s.label < 0 else "Neutral",
            mode=folds[s.video_id], shard=shard_of(s.video_id, args.shards), media_path="",
            start=s.start, end=s.end))
    for uid, reason in problems:
        qc.add(uid, "failed", reason)
    if not utterances:
        raise MsaflowError(f"{args.labels}: no usable utterance (see {args.qc})")
    qc.write(args.qc)
    counts = write_manifest(utterances, args.out)
    per_mode = {m: sum(u.mode == m for u in utterances) for m in ("train", "valid", "test")}
    log.info("%d utterances (%s), %d failed, shards %s", len(utterances), per_mode, len(problems) + len(outside), counts)
