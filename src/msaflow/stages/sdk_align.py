"""`msaflow sdk-align`: one shard's word table from the SDK words file (no forced alignment needed)."""

from pathlib import Path

from msaflow.align.types import ALIGN_COLUMNS
from msaflow.common import QCTable, get_logger, progress, write_tsv
from msaflow.corpus import read_manifest
from msaflow.sdk_entry import read_segments


def configure(parser):
    parser.add_argument("--shard-manifest", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--words", required=True)
    parser.add_argument("--label-column", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--qc", required=True)
    parser.add_argument("--log", default=None)


def main(args):
    log = get_logger("sdk-align", args.log)
    rows = read_manifest(args.shard_manifest)
    wanted = {r["utterance_id"] for r in rows}
    videos = sorted({r["video_id"] for r in rows})
    segments, _ = read_segments(Path(args.labels), Path(args.words), args.label_column, videos=videos)
    by_id = {s.utterance_id: s for s in segments}
    qc = QCTable("align")
    table = []
    for uid in progress(sorted(wanted), desc=f"sdk words {Path(args.out).stem}"):
        segment = by_id.get(uid)
        if segment is None:
            qc.add(uid, "failed", "segment not found in the SDK files")
            continue
        table += [(uid, i, w, f"{s:.6f}", f"{e:.6f}", "sdk") for i, (w, s, e) in enumerate(segment.words)]
        qc.add(uid, "ok")
    qc.check_accounts_for(wanted)
    write_tsv(args.out, ALIGN_COLUMNS, table)
    qc.write(args.qc)
    log.info("%d utterances, %d words", len(wanted), len(table))
