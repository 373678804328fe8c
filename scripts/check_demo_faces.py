"""Development-time check: can a real face tracker see the demo's faces, and does their geometry carry s_vision?

Runs mediapipe 0.10.21's face mesh (video mode: static_image_mode=False, refine_landmarks=True,
max_num_faces=2, a fresh tracker per clip) over every frame of every clip of a demo corpus and prints
the share of frames with a face, the correlation of the utterance-mean smile measure (lip-corner
height above the lip centre, over the inter-ocular distance) with s_vision (label_V), and a ridge
regression from a few utterance-mean landmark measures to label_V (train -> test videos).
It needs mediapipe, so it runs in the scratch environment of scripts/make_demo_faces.py:

    /tmp/mp/bin/python scripts/check_demo_faces.py work/demo/corpus
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import mediapipe as mp
import numpy as np

RIGHT_IRIS, LEFT_IRIS = 468, 473


def frames_of(path: Path) -> np.ndarray:
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                            "-of", "json", str(path)], capture_output=True, text=True, check=True)
    stream = json.loads(probe.stdout)["streams"][0]
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24",
                          "pipe:1"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, stream["height"], stream["width"], 3)


def measures(p: np.ndarray) -> list[float]:
    """Geometric measures over the inter-ocular distance (image y points down)."""
    iod = np.linalg.norm(p[RIGHT_IRIS] - p[LEFT_IRIS])
    lip_centre_y = (p[13, 1] + p[14, 1]) / 2
    return [
        (lip_centre_y - (p[61, 1] + p[291, 1]) / 2) / iod,              # smile: lip corners above the lip centre
        (p[291, 0] - p[61, 0]) / iod,                                   # mouth width
        (p[14, 1] - p[13, 1]) / iod,                                    # lips part
        ((p[159, 1] + p[386, 1]) - (p[105, 1] + p[334, 1])) / 2 / iod,  # brow height above the upper lids
        ((p[107, 1] + p[336, 1]) - (p[70, 1] + p[300, 1])) / 2 / iod,   # brow slant: inner end lower than outer
        ((p[145, 1] - p[159, 1]) + (p[374, 1] - p[386, 1])) / 2 / iod,  # eye opening
    ]


def ridge(train_x, train_y, test_x, alpha=1.0):
    mean, sd = train_x.mean(0), train_x.std(0) + 1e-9
    a, b = (train_x - mean) / sd, (test_x - mean) / sd
    weights = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ (train_y - train_y.mean()))
    return b @ weights + train_y.mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    args = parser.parse_args()
    rows = list(csv.DictReader((args.corpus / "label.csv").open()))
    total = found = several = 0
    means, s_vision, modes = [], [], []
    for i, row in enumerate(rows):
        frames = frames_of(args.corpus / "Raw" / row["video_id"] / f"{row['clip_id']}.mp4")
        height, width = frames.shape[1:3]
        per_frame = []
        with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, refine_landmarks=True, max_num_faces=2) as mesh:
            for frame in frames:
                result = mesh.process(frame)
                total += 1
                if result.multi_face_landmarks:
                    found += 1
                    several += len(result.multi_face_landmarks) > 1
                    points = np.array([[q.x * width, q.y * height] for q in result.multi_face_landmarks[0].landmark])
                    per_frame.append(measures(points))
        means.append(np.mean(per_frame, axis=0) if per_frame else np.full(6, np.nan))
        s_vision.append(float(row["label_V"]))
        modes.append(row["mode"])
        if (i + 1) % 50 == 0:
            print(f"{i + 1}/{len(rows)} clips, face in {found}/{total} frames", file=sys.stderr, flush=True)
    means, s_vision, modes = np.array(means), np.array(s_vision), np.array(modes)
    ok = ~np.isnan(means).any(1)
    print(f"frames: {total}, face found: {found} ({100 * found / total:.2f}%), several faces: {several}, "
          f"clips without any face: {(~ok).sum()}, frame size {width}x{height}")
    smile_corr = np.corrcoef(means[ok, 0], s_vision[ok])[0, 1]
    print(f"corr(utterance-mean smile, s_vision) = {smile_corr:.4f} over {ok.sum()} clips")
    for column, name in enumerate(["smile", "mouth width", "lips part", "brow height", "brow slant", "eye opening"]):
        print(f"  {name:12s} corr with s_vision {np.corrcoef(means[ok, column], s_vision[ok])[0, 1]:+.3f}")
    train, test = ok & (modes == "train"), ok & (modes == "test")
    prediction = ridge(means[train], s_vision[train], means[test])
    print(f"ridge (these 6 measures, train -> test, {train.sum()} -> {test.sum()} clips): "
          f"corr {np.corrcoef(prediction, s_vision[test])[0, 1]:.4f}, "
          f"MAE {np.abs(prediction - s_vision[test]).mean():.4f}")
    smile_only = ridge(means[train][:, :1], s_vision[train], means[test][:, :1])
    print(f"ridge (smile only): corr {np.corrcoef(smile_only, s_vision[test])[0, 1]:.4f}")


if __name__ == "__main__":
    main()
