"""`msaflow sdk-acoustic`: one shard's COVAREP frames from the SDK file, cut per utterance."""

from pathlib import Path

from msaflow.common import QCTable, get_logger, usable_ids
from msaflow.corpus import read_manifest
from msaflow.features import csd
from msaflow.sdk_entry import COVAREP_COLUMNS, SDK_ACOUSTIC_FSET, Segment

METHOD = "COVAREP (MATLAB), as published in the CMU-MultimodalSDK file"


def configure(parser):
    parser.add_argument("--shard-manifest", required=True)
    parser.add_argument("--align-qc", required=True, help="only utterances the word table did not fail")
    parser.add_argument("--acoustic", required=True, help="COVAREP .csd")
    parser.add_argument("--dataset", default="")
    parser.add_argument("--out", required=True)
    parser.add_argument("--qc", required=True)
    parser.add_argument("--log", default=None)


def main(args):
    from msaflow.sdk_entry import frame_entries

    log = get_logger("sdk-acoustic", args.log)
    rows = {r["utterance_id"]: r for r in read_manifest(args.shard_manifest)}
    wanted = usable_ids(args.align_qc)
    segments = [Segment(rows[u]["video_id"], rows[u]["clip_id"], float(rows[u]["start"]), float(rows[u]["end"]),
                        float(rows[u]["label"]), ()) for u in wanted]
    qc = QCTable("acoustic")
    entries, _ = frame_entries(Path(args.acoustic), segments, qc, len(COVAREP_COLUMNS), "COVAREP")
    qc.check_accounts_for(wanted)
    columns = [{"name": name, "method": METHOD, "quality": "exact-method", "nan_when": "non-finite in the SDK file"}
               for name in COVAREP_COLUMNS]
    metadata = {"computational sequence description": "COVAREP frames per utterance, from the CMU-MultimodalSDK",
                "dataset name": args.dataset, "column names": list(COVAREP_COLUMNS), "columns": columns,
                "settings": {"source": str(args.acoustic)}}
    csd.write_csd(args.out, SDK_ACOUSTIC_FSET, entries, metadata)
    qc.write(args.qc)
    log.info("%d utterances: %s", len(wanted), qc.counts())
