"""`msaflow visual`: per-frame facial features for one shard's clips (DESIGN.md §1, §3, §7).

Reads the shard table (media path, optional start/end), runs the engine of the feature set once
over the whole shard (mediapipe: a worker process in the visual environment; openface: OpenFace's
FeatureExtraction), and writes `visual/{vset}/{shard}.h5` (computational-sequence layout, frame
intervals in seconds from the utterance start, frames without a face NaN) and its QC table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import time
from pathlib import Path

from msaflow.common import MsaflowError, QCTable, get_logger
from msaflow.corpus import read_manifest
from msaflow.visual import VISUAL_SETS, ClipFrames, assess, engine_of

STAGE = "visual"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vset", required=True, choices=VISUAL_SETS, help="visual feature set")
    parser.add_argument("--engine", default=None, help="mediapipe | openface; must match the feature set (checked)")
    parser.add_argument("--shard-manifest", required=True, help="work/{ds}/shards/{shard}.tsv")
    parser.add_argument("--out", required=True, help="output .h5 (computational sequence)")
    parser.add_argument("--qc", required=True, help="output QC table")
    parser.add_argument("--dataset", default="")
    parser.add_argument("--options", default="{}", help="engine options as JSON, e.g. '{\"fps_max\": 30}'")
    parser.add_argument("--min-face-fraction", type=float, default=0.5,
                        help="a clip with a face in fewer of its frames is QC 'fallback'")
    parser.add_argument("--python", default=os.environ.get("MSAFLOW_VISUAL_PYTHON", ".venv-visual/bin/python"),
                        help="the visual environment's python (mediapipe); default $MSAFLOW_VISUAL_PYTHON, which the "
                        "workflow sets from config visual.python")
    parser.add_argument("--openface-executable", default="FeatureExtraction")
    parser.add_argument("--openface-arg", action="append", default=[], help="extra FeatureExtraction argument (repeatable)")
    parser.add_argument("--log", default=None)


def explain_unusable(path: str, reason: str) -> str:
    """Name the real problem of a clip an engine could not read: missing file, or no video stream."""
    if not Path(path).is_file():
        return f"media file missing: {path}"
    if shutil.which("ffprobe") is None:
        return reason
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", path],
                           capture_output=True, text=True)
    if probe.returncode == 0 and "video" not in probe.stdout.split():
        return f"no video stream in {Path(path).name} (audio-only input)"
    return f"{reason} ({Path(path).name})"


def columns(vset: str) -> list[dict]:
    if vset == "facial_like":
        from msaflow.visual import facial_like

        return facial_like.columns()
    if vset == "landmarks":
        from msaflow.visual import facial_like

        return [{"name": name, "method": f"MediaPipe face mesh landmark {name[2:].split('_')[0]}, {name[-1]}: "
                 + ("x / image width" if name.endswith("x") else "y / image height" if name.endswith("y")
                    else "relative depth in the x scale"),
                 "quality": "exact-method", "nan_when": "no face in the frame"}
                for name in facial_like.landmark_column_names()]
    from msaflow.visual import openface

    return openface.columns()


def extract(vset: str, clips: list[dict], args, options: dict, logger) -> tuple[dict[str, ClipFrames], dict]:
    engine = engine_of(vset)
    if args.engine and args.engine != engine:
        raise MsaflowError(f"visual feature set {vset!r} comes from engine {engine!r}, but visual.engine is "
                           f"{args.engine!r}: set visual.feature_sets to sets of that engine")
    if engine == "mediapipe":
        from msaflow.visual import mediapipe_engine

        return mediapipe_engine.run(clips, vset, options, args.python, logger)
    from msaflow.visual import openface

    if options:
        raise MsaflowError(f"visual.options.openface: unknown option(s) {sorted(options)}; OpenFace arguments go in visual.openface.extra_args")
    return openface.run(clips, args.openface_executable, args.openface_arg, logger)


def run(args: argparse.Namespace, logger) -> QCTable:
    from msaflow.features import csd

    rows = read_manifest(args.shard_manifest)
    try:
        options = json.loads(args.options)
    except json.JSONDecodeError as error:
        raise MsaflowError(f"--options is not JSON ({error}): {args.options!r}") from None
    clips = [{"id": r["utterance_id"], "path": r["media_path"],
              "start": float(r["start"]) if r.get("start") else None,
              "end": float(r["end"]) if r.get("end") else None} for r in rows]
    logger.info("%s: %d clips from %s", args.vset, len(clips), args.shard_manifest)
    wall0, cpu0 = time.time(), time.process_time()
    frames, summary = extract(args.vset, clips, args, options, logger) if clips else ({}, {})
    qc = QCTable(STAGE)
    entries = []
    n_frames = 0
    for clip in clips:
        uid = clip["id"]
        result = frames.get(uid, ClipFrames(error="the engine returned nothing for it"))
        if result.error:
            result = ClipFrames(error=explain_unusable(clip["path"], result.error))
        status, reason = assess(result, args.min_face_fraction)
        qc.add(uid, status, reason)
        if status != "failed":
            entries.append((uid, result.features, result.intervals))
            n_frames += len(result.features)
    qc.check_accounts_for(c["id"] for c in clips)
    metadata = {
        "computational sequence description": f"msaflow {args.vset} frame-level visual features",
        "computational sequence version": "1",
        "dataset name": args.dataset,
        "creator": "msaflow",
        "column names": [c["name"] for c in columns(args.vset)],
        "columns": columns(args.vset),
        "settings": {"engine": engine_of(args.vset), "options": summary.get("options", options),
                     "min_face_fraction": args.min_face_fraction,
                     **{k: summary[k] for k in ("versions", "canonical_model", "executable", "flags") if k in summary}},
        "fill": {"frame_level": "NaN in frames without a face (face_found = 0); filled at the words stage"},
    }
    csd.write_csd(args.out, args.vset, sorted(entries, key=lambda entry: entry[0]), metadata)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - cpu0 + children.ru_utime + children.ru_stime
    logger.info("%s: %d utterances written (%s), %d frames, %.1f frames per CPU s (this process + engine), "
                "%.1f s wall", args.vset, len(entries), qc.counts(), n_frames, n_frames / cpu if cpu > 0 else float("nan"),
                time.time() - wall0)
    return qc


def main(args: argparse.Namespace) -> int:
    logger = get_logger(STAGE, args.log)
    qc = run(args, logger)
    qc.write(args.qc)
    return 0
