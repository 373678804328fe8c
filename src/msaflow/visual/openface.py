"""Engine `openface`: OpenFace 2.0's `FeatureExtraction` (what MMSA-FET and the CMU-MOSEI release
use), one call per shard, its per-video CSV parsed into feature set `openface`.

OpenFace is not on any package registry this project installs from; users who built it put
`FeatureExtraction` on PATH (or set visual.openface.executable). Each distinct media file is
processed once, under a numbered link name (clip files of different videos share names such as
`1.mp4`); clips cut from a longer video (start/end) take the rows whose timestamp falls inside.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import tempfile
from collections import deque
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError
from msaflow.visual import ClipFrames

AUS_R = ["01", "02", "04", "05", "06", "07", "09", "10", "12", "14", "15", "17", "20", "23", "25", "26", "45"]
AUS_C = AUS_R[:-1] + ["28", "45"]
GAZE = [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"] + ["gaze_angle_x", "gaze_angle_y"]
POSE = ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
# CSV columns kept, in this order; face_found / face_confidence come from `success` / `confidence`.
CSV_COLUMNS = ["success", "confidence"] + GAZE + POSE + [f"AU{a}_r" for a in AUS_R] + [f"AU{a}_c" for a in AUS_C]
COLUMN_NAMES = ["face_found", "face_confidence"] + CSV_COLUMNS[2:]
FLAGS = ["-pose", "-gaze", "-aus", "-q"]
NO_FACE = "OpenFace success = 0 (no face tracked in the frame)"


def columns() -> list[dict]:
    def method(csv_name: str) -> str:
        return f"OpenFace 2.0 FeatureExtraction CSV column `{csv_name}`"

    cols = [{"name": "face_found", "method": method("success"), "quality": "exact-method", "nan_when": ""},
            {"name": "face_confidence", "method": method("confidence"), "quality": "exact-method", "nan_when": ""}]
    for name in CSV_COLUMNS[2:]:
        au = f"AU{name[2:4]}" if name.startswith("AU") else ""
        cols.append({"name": name, "method": method(name), "quality": "exact-method", "nan_when": NO_FACE,
                     "action_unit": au})
    return cols


def find_executable(executable: str) -> str:
    path = shutil.which(executable)
    if path is None:
        raise MsaflowError(
            f"OpenFace's {executable!r} is not on PATH. Build OpenFace 2.0 (github.com/TadasBaltrusaitis/OpenFace, "
            "its wiki has the build steps), then put FeatureExtraction on PATH or set visual.openface.executable "
            "to its full path; or use the built-in engine: visual.engine: mediapipe")
    return path


def parse_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenFace CSV -> (timestamps, features in COLUMN_NAMES order, face found 0/1)."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise MsaflowError(f"{path}: empty OpenFace CSV") from None
        index = {name: i for i, name in enumerate(header)}
        missing = [c for c in ["timestamp"] + CSV_COLUMNS if c not in index]
        if missing:
            raise MsaflowError(f"{path}: OpenFace CSV lacks columns {missing[:5]} (run FeatureExtraction with {' '.join(FLAGS[:3])})")
        rows = [row for row in reader if row]
    take = [index[c] for c in CSV_COLUMNS]
    try:
        values = np.array([[float(row[i]) for i in take] for row in rows], dtype=np.float64).reshape(len(rows), len(take))
        times = np.array([float(row[index["timestamp"]]) for row in rows], dtype=np.float64)
    except (ValueError, IndexError) as error:
        raise MsaflowError(f"{path}: unreadable OpenFace row ({error})") from None
    found = values[:, 0] > 0.5
    values[~found, 2:] = np.nan
    return times, values.astype(np.float32), found.astype(np.int64)


def cut(times: np.ndarray, values: np.ndarray, found: np.ndarray, start: float | None, end: float | None) -> ClipFrames:
    """The rows of one clip, times from its start; each frame lasts until the next one."""
    keep = np.ones(len(times), bool)
    if start is not None:
        keep &= times >= start - 1e-6
    if end is not None:
        keep &= times < end - 1e-6
    if not keep.any():
        return ClipFrames(error="no OpenFace frame inside the clip's time span")
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / 30
    t = times[keep] - (start or 0.0)
    return ClipFrames(values[keep], np.stack([t, t + step], axis=1), found[keep])


def run(clips: list[dict], executable: str = "FeatureExtraction", extra_args: list[str] | None = None, logger=None) -> tuple[dict[str, ClipFrames], dict]:
    exe = find_executable(executable)
    media = sorted({str(Path(c["path"]).resolve()) for c in clips})
    out: dict[str, ClipFrames] = {}
    with tempfile.TemporaryDirectory(prefix="msaflow-openface-") as tmp:
        links, out_dir = Path(tmp) / "in", Path(tmp) / "out"
        links.mkdir()
        names = {}
        cmd = [exe]
        for k, path in enumerate(media):
            if not Path(path).is_file():
                continue
            link = links / f"{k:05d}{Path(path).suffix}"
            link.symlink_to(path)
            names[path] = link.stem
            cmd += ["-f", str(link)]
        cmd += ["-out_dir", str(out_dir)] + FLAGS + list(extra_args or [])
        if names:
            tail: deque[str] = deque(maxlen=15)
            with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
                for line in proc.stdout:
                    if line.strip():
                        tail.append(line.rstrip())
                        if logger:
                            logger.info("openface: %s", line.rstrip())
            if proc.returncode != 0:
                raise MsaflowError(f"OpenFace ({exe}) failed with exit code {proc.returncode}: " + " | ".join(tail))
        parsed: dict[str, tuple | str] = {}
        for path in media:
            if path not in names:
                parsed[path] = f"media file missing: {path}"
                continue
            csv_path = out_dir / f"{names[path]}.csv"
            if not csv_path.exists():
                parsed[path] = "OpenFace wrote no CSV for it (not a readable video?)"
                continue
            try:
                parsed[path] = parse_csv(csv_path)
            except MsaflowError as error:
                parsed[path] = str(error)
        for clip in clips:
            result = parsed[str(Path(clip["path"]).resolve())]
            if isinstance(result, str):
                out[clip["id"]] = ClipFrames(error=result)
            elif len(result[0]) == 0:
                out[clip["id"]] = ClipFrames(error="OpenFace CSV has no frame")
            else:
                out[clip["id"]] = cut(*result, clip.get("start"), clip.get("end"))
    return out, {"executable": exe, "flags": FLAGS + list(extra_args or [])}
