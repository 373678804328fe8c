"""MediaPipe face mesh over one shard's clips, inside the visual environment.

`msaflow visual` (main environment) runs this file as a script with the visual environment's
python, once per shard:

    .venv-visual/bin/python src/msaflow/visual/worker.py --jobs JOBS.json --out-npz OUT.npz --out-json OUT.json

JOBS.json: {"clips": [{"id", "path", "start", "end"}], "feature_set": "facial_like" | "landmarks",
"options": {...}}. Output: OUT.npz with, per clip index i, `c{i}_times` (T,) seconds from the clip
start, `c{i}_features` (T, D) float32 and `c{i}_faces` (T,) faces seen per frame; OUT.json with a
status per clip, the frame rate used, versions and timings. Progress lines go to stderr.

It needs numpy 1.26, opencv and mediapipe 0.10.21 only (mediapipe pins them; the main environment
has numpy 2): it imports its sibling facial_like.py, never the msaflow package.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import facial_like  # sibling module: this file runs as a script, its folder is sys.path[0]
import numpy as np

FEATURE_SETS = ("facial_like", "landmarks")
DEFAULT_OPTIONS = {"fps": None, "fps_max": 30.0, "max_faces": 2,
                   "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5}
PROGRESS_EVERY_S = 5.0


class ClipError(Exception):
    pass


class FaceMeshWithDetections:
    """MediaPipe's legacy FaceMesh graph, also observing its face detections (for the confidence)."""

    def __init__(self, max_faces: int, min_detection: float, min_tracking: float):
        from mediapipe.python.solution_base import SolutionBase
        from mediapipe.python.solutions import face_mesh

        self.graph = SolutionBase(
            binary_graph_path=face_mesh._BINARYPB_FILE_PATH,
            side_inputs={"num_faces": max_faces, "with_attention": True, "use_prev_landmarks": True},
            calculator_params={
                "facedetectionshortrangecpu__facedetectionshortrange__facedetection__TensorsToDetectionsCalculator.min_score_thresh": min_detection,
                "facelandmarkcpu__ThresholdingCalculator.threshold": min_tracking,
            },
            outputs=["multi_face_landmarks", "face_detections"])

    def reset(self) -> None:
        """Forget the previous clip's face (tracking), so a clip's result never depends on its neighbour."""
        self.graph.reset()

    def process(self, rgb: np.ndarray):
        result = self.graph.process({"image": rgb})
        return result.multi_face_landmarks or [], result.face_detections or []


_ENTRY = 17  # one serialised landmark: 0x0a, length 15, then x, y, z as (tag byte, float32)


def _landmark_array(face) -> np.ndarray:
    """(N, 3) x, y, z of a NormalizedLandmarkList. Reads the serialised message directly when every
    landmark has exactly x, y, z (what the face mesh emits): 20x faster than attribute access."""
    raw = np.frombuffer(face.SerializeToString(), dtype=np.uint8)
    n = len(face.landmark)
    if raw.size == n * _ENTRY:
        rows = raw.reshape(n, _ENTRY)
        if ((rows[:, 0] == 0x0A) & (rows[:, 1] == 15) & (rows[:, 2] == 0x0D) & (rows[:, 7] == 0x15)
                & (rows[:, 12] == 0x1D)).all():
            values = np.ascontiguousarray(rows[:, [3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 16]]).view("<f4")
            return values.astype(np.float64)
    return np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float64)


def _box_overlap(a, b) -> float:
    """Intersection over union of two (xmin, ymin, xmax, ymax) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def pick_face(faces, detections, width: int, height: int):
    """The largest face (landmark bounding-box area) and the score of its best-overlapping detection."""
    best, best_area, best_box = None, -1.0, None
    for face in faces:
        lm = _landmark_array(face)
        low, high = lm[:, :2].min(axis=0), lm[:, :2].max(axis=0)
        area = float((high[0] - low[0]) * width * (high[1] - low[1]) * height)
        if area > best_area:
            best, best_area, best_box = lm, area, (low[0], low[1], high[0], high[1])
    score, overlap = np.nan, 0.0
    for det in detections:
        rel = det.location_data.relative_bounding_box
        iou = _box_overlap(best_box, (rel.xmin, rel.ymin, rel.xmin + rel.width, rel.ymin + rel.height))
        if iou > overlap and det.score:
            score, overlap = float(det.score[0]), iou
    return best, score


def native_rate(cap) -> float | None:
    import cv2

    native = cap.get(cv2.CAP_PROP_FPS)
    return native if 0 < native < 1000 else None


def sampling_rate(native: float | None, fps: float | None, fps_max: float) -> float:
    """The configured rate, else the video's own; never above fps_max nor the video's own rate."""
    rates = [r for r in (fps, fps_max, native) if r]
    return min(rates) if rates else 30.0


def sampled_frames(cap, start: float | None, end: float | None, rate: float, native: float | None):
    """Yield (seconds from the clip start, BGR frame) at `rate` inside [start, end)."""
    import cv2

    origin = start or 0.0
    if start:
        cap.set(cv2.CAP_PROP_POS_MSEC, start * 1000.0)
    period = 1.0 / rate
    tolerance = 0.25 / (native or rate)  # container timestamps are rounded
    next_t = origin
    while cap.grab():
        t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if end is not None and t >= end - 1e-6:
            break
        if t < next_t - tolerance:
            continue
        while next_t <= t + tolerance:
            next_t += period
        ok, frame = cap.retrieve()
        if ok:
            yield round(t - origin, 6), frame  # container times are in ms or finer


def run_clip(mesh: FaceMeshWithDetections, clip: dict, options: dict, feature_set: str, canonical: np.ndarray):
    import cv2

    cap = cv2.VideoCapture(clip["path"])
    if not cap.isOpened():
        raise ClipError("opencv cannot open it as a video")
    mesh.reset()
    times, faces_seen, confidence, landmarks = [], [], [], []
    width = height = 0
    native = native_rate(cap)
    rate = sampling_rate(native, options["fps"], options["fps_max"])
    try:
        for t, bgr in sampled_frames(cap, clip.get("start"), clip.get("end"), rate, native):
            height, width = bgr.shape[:2]
            faces, detections = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            times.append(t)
            faces_seen.append(len(faces))
            if faces:
                lm, score = pick_face(faces, detections, width, height)
                landmarks.append(lm)
                confidence.append(score)
            else:
                landmarks.append(np.full((facial_like.N_LANDMARKS, 3), np.nan))
                confidence.append(np.nan)
    finally:
        cap.release()
    if not times:
        raise ClipError("no video frame could be decoded" + (" in the clip's time span" if clip.get("start") or clip.get("end") else ""))
    landmarks = np.asarray(landmarks)
    if feature_set == "landmarks":
        features = landmarks.reshape(len(times), -1).astype(np.float32)  # MediaPipe's normalised values
    else:
        pixels = landmarks * np.array([width, height, width])
        features = facial_like.compute(pixels, np.asarray(confidence), width, height, canonical)
    info = {"frames": len(times), "fps": rate, "width": width, "height": height}
    return np.asarray(times), features, np.asarray(faces_seen, dtype=np.int16), info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", required=True)
    parser.add_argument("--out-npz", required=True)
    parser.add_argument("--out-json", required=True)
    args = parser.parse_args(argv)
    jobs = json.loads(Path(args.jobs).read_text())
    feature_set = jobs["feature_set"]
    if feature_set not in FEATURE_SETS:
        raise SystemExit(f"worker: unknown feature set {feature_set!r}")
    options = {**DEFAULT_OPTIONS, **jobs.get("options", {})}

    import cv2
    import mediapipe

    cpu0, wall0 = time.process_time(), time.time()
    canonical_path = facial_like.canonical_model_path()
    canonical = facial_like.load_canonical_model(canonical_path)
    mesh = FaceMeshWithDetections(int(options["max_faces"]), float(options["min_detection_confidence"]),
                                  float(options["min_tracking_confidence"]))
    arrays, results = {}, []
    clips = jobs["clips"]
    total_frames, last_report = 0, time.time()
    for i, clip in enumerate(clips):
        try:
            times, features, faces, info = run_clip(mesh, clip, options, feature_set, canonical)
        except ClipError as error:
            results.append({"id": clip["id"], "status": "error", "reason": str(error)})
        except Exception as error:  # one broken clip must not lose the shard
            results.append({"id": clip["id"], "status": "error", "reason": f"{type(error).__name__}: {error}"})
        else:
            arrays[f"c{i}_times"] = times
            arrays[f"c{i}_features"] = features
            arrays[f"c{i}_faces"] = faces
            results.append({"id": clip["id"], "status": "ok", "index": i, **info})
            total_frames += info["frames"]
        if time.time() - last_report >= PROGRESS_EVERY_S or i + 1 == len(clips):
            cpu = time.process_time() - cpu0
            print(f"visual-worker: {i + 1}/{len(clips)} clips, {total_frames} frames, "
                  f"{total_frames / cpu if cpu > 0 else float('nan'):.0f} frames per CPU s", file=sys.stderr, flush=True)
            last_report = time.time()
    np.savez(args.out_npz, **arrays)
    summary = {
        "clips": results,
        "feature_set": feature_set,
        "options": options,
        "canonical_model": str(canonical_path),
        "versions": {"mediapipe": mediapipe.__version__, "opencv": cv2.__version__, "numpy": np.__version__,
                     "python": sys.version.split()[0]},
        "frames": total_frames,
        "cpu_s": time.process_time() - cpu0,
        "wall_s": time.time() - wall0,
    }
    Path(args.out_json).write_text(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
