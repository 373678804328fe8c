"""`msaflow sdk-visual`: one shard's visual frames (FACET / OpenFace 2) from a CMU-MultimodalSDK file,
cut per utterance like the COVAREP file (`sdk-acoustic`), into `visual/{vset}/{shard}.h5`."""

from pathlib import Path

from msaflow.common import MsaflowError, QCTable, get_logger, usable_ids
from msaflow.corpus import read_manifest
from msaflow.features import csd
from msaflow.sdk_entry import SDK_VISUAL_METHODS, Segment, dimension_names, frame_entries


def configure(parser):
    parser.add_argument("--vset", required=True, choices=sorted(SDK_VISUAL_METHODS), help="SDK visual feature set")
    parser.add_argument("--shard-manifest", required=True)
    parser.add_argument("--align-qc", required=True, help="only utterances the word table did not fail")
    parser.add_argument("--visual", required=True, help="the SDK's visual .csd (FACET 4.1/4.2, OpenFace 2)")
    parser.add_argument("--dataset", default="")
    parser.add_argument("--out", required=True)
    parser.add_argument("--qc", required=True)
    parser.add_argument("--log", default=None)


def main(args):
    log = get_logger("sdk-visual", args.log)
    rows = {r["utterance_id"]: r for r in read_manifest(args.shard_manifest)}
    wanted = usable_ids(args.align_qc)
    missing = [u for u in wanted if u not in rows]
    if missing:
        raise MsaflowError(f"{args.align_qc} lists utterances that are not in {args.shard_manifest}: {missing[:3]}")
    segments = [Segment(rows[u]["video_id"], rows[u]["clip_id"], float(rows[u]["start"]), float(rows[u]["end"]),
                        float(rows[u]["label"]), ()) for u in wanted]
    qc = QCTable("visual")
    path = Path(args.visual)
    entries, width = frame_entries(path, segments, qc, None, args.vset)
    qc.check_accounts_for(wanted)
    names = dimension_names(path, width, args.vset) if width else []
    method = f"{SDK_VISUAL_METHODS[args.vset]}, as published in the CMU-MultimodalSDK file {path.name}"
    columns = [{"name": name, "method": method, "quality": "exact-method", "nan_when": "non-finite in the SDK file"}
               for name in names]
    metadata = {"computational sequence description": f"{SDK_VISUAL_METHODS[args.vset]} frames per utterance, "
                "from the CMU-MultimodalSDK", "dataset name": args.dataset, "column names": names, "columns": columns,
                "settings": {"source": str(path)}}
    csd.write_csd(args.out, args.vset, entries, metadata)
    qc.write(args.qc)
    log.info("%d utterances: %s", len(wanted), qc.counts())
