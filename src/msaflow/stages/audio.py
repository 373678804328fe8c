"""`msaflow audio`: one shard's clips -> <out-dir>/<utterance_id>.wav + QC table."""

import shutil
import tempfile
from pathlib import Path

from msaflow.audio import extract_many, require_ffmpeg
from msaflow.common import QCTable, get_logger, progress
from msaflow.corpus import read_manifest


def configure(parser):
    parser.add_argument("--shard-manifest", required=True, help="work/{ds}/shards/{shard}.tsv")
    parser.add_argument("--out-dir", required=True, help="folder for the shard's wav files")
    parser.add_argument("--qc", required=True, help="QC table to write")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--timeout", type=float, default=300, help="seconds ffmpeg may take per clip")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log", default=None)


def main(args):
    log = get_logger("audio", args.log)
    require_ffmpeg()
    rows = read_manifest(args.shard_manifest)
    out_dir = Path(args.out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # The whole folder appears at once: a killed job leaves no half-filled output folder.
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    qc = QCTable("audio")
    total_seconds = 0.0
    try:
        results = extract_many(rows, staging, args.sample_rate, args.timeout, args.threads,
                               lambda it, total: progress(it, desc=f"audio {Path(args.shard_manifest).stem}", total=total))
        for result in results:
            if result.ok:
                qc.add(result.utterance_id, "ok")
                total_seconds += result.seconds
            else:
                qc.add(result.utterance_id, "failed", result.reason)
                log.warning("%s failed: %s", result.utterance_id, result.reason)
        qc.check_accounts_for(row["utterance_id"] for row in rows)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    qc.write(args.qc)
    counts = qc.counts()
    log.info("%d clips: %d ok (%.1f s of audio), %d failed", len(rows), counts["ok"], total_seconds, counts["failed"])
