"""Test helper that runs INSIDE the visual environment (.venv-visual): face images with known head
pose and expression, built from a real photograph, and the worker's own per-frame pipeline on them.

    .venv-visual/bin/python tests/visual_env_probe.py signals OUT.json   # pose/expression probes
    .venv-visual/bin/python tests/visual_env_probe.py media OUT_DIR      # small videos for the stage

The photograph is scikit-image's `astronaut` (Eileen Collins, NASA, public domain), shipped inside
the scikit-image wheel. Known changes are made three ways:
* roll: the photo rotated in the image plane (cv2.warpAffine) by a known angle;
* yaw and pitch: MediaPipe's canonical 3-D face model, textured with the photo (texture coordinate of
  vertex i = landmark i found on the photo), rotated by a known angle about the vertical or the
  horizontal axis and projected with a pinhole camera (painter's algorithm, piecewise-affine
  texture per triangle). The estimator fits the same canonical model, so this checks the 2-D
  landmarks -> solvePnP chain on a face whose true rotation is known exactly;
* expression: a piecewise-affine warp of the photo on the landmark triangulation that moves the
  mouth corners up (smile) or the upper eyelids down onto the lower lids (blink).
Pytest runs this from tests/test_visual_signals.py and tests/test_visual_stage.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

VISUAL_DIR = Path(__file__).resolve().parents[1] / "src" / "msaflow" / "visual"
sys.path.insert(0, str(VISUAL_DIR))

import cv2  # noqa: E402
import facial_like  # noqa: E402
import worker  # noqa: E402

SIZE = 256  # side of the face images
RIGHT_UPPER_LID = (246, 161, 160, 159, 158, 157, 173)
RIGHT_LOWER_LID = (7, 163, 144, 145, 153, 154, 155)
LEFT_UPPER_LID = (466, 388, 387, 386, 385, 384, 398)
LEFT_LOWER_LID = (249, 390, 373, 374, 380, 381, 382)
RIGHT_BROW_FOLD = (247, 30, 29, 27, 28, 56, 190)  # the ring above the upper lid: follows it halfway
LEFT_BROW_FOLD = (467, 260, 259, 257, 258, 286, 414)


class Pipeline:
    """The worker's per-frame path on single images: face mesh (reset per image), largest face,
    facial_like.compute."""

    def __init__(self):
        self.mesh = worker.FaceMeshWithDetections(2, 0.5, 0.5)
        self.canonical = facial_like.load_canonical_model()

    def landmarks(self, rgb: np.ndarray):
        self.mesh.reset()
        faces, detections = self.mesh.process(np.ascontiguousarray(rgb))
        if not faces:
            return None, np.nan, 0
        lm, score = worker.pick_face(faces, detections, rgb.shape[1], rgb.shape[0])
        return lm * np.array([rgb.shape[1], rgb.shape[0], rgb.shape[1]]), score, len(faces)

    def features(self, rgb: np.ndarray) -> dict:
        pixels, score, _ = self.landmarks(rgb)
        if pixels is None:
            return {name: None for name in facial_like.column_names()}
        row = facial_like.compute(pixels[None], np.array([score]), rgb.shape[1], rgb.shape[0], self.canonical)[0]
        return {name: float(v) for name, v in zip(facial_like.column_names(), row)}


def photo() -> np.ndarray:
    """The astronaut's face, SIZE x SIZE RGB, face centred and about half the width."""
    from skimage import data

    image = data.astronaut()
    x0, y0, side = 125, 25, 200  # the face spans about x 179-271, y 71-177 in the 512 x 512 photo
    return cv2.resize(image[y0:y0 + side, x0:x0 + side], (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def rotate_in_plane(rgb: np.ndarray, degrees: float, centre) -> np.ndarray:
    """Counter-clockwise (as displayed) by `degrees` about `centre`."""
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), degrees, 1.0)
    return cv2.warpAffine(rgb, matrix, (rgb.shape[1], rgb.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def triangles(points_2d: np.ndarray) -> np.ndarray:
    from scipy.spatial import Delaunay

    return Delaunay(points_2d).simplices


def warp_triangle(src: np.ndarray, dst: np.ndarray, tri_src: np.ndarray, tri_dst: np.ndarray) -> None:
    """Piecewise-affine step: paint src's triangle tri_src onto dst's triangle tri_dst."""
    x, y, w, h = cv2.boundingRect(np.float32(tri_dst))
    if w <= 0 or h <= 0:
        return
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, dst.shape[1]), min(y + h, dst.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    local = np.float32(tri_dst - [x0, y0])
    matrix = cv2.getAffineTransform(np.float32(tri_src), local)
    patch = cv2.warpAffine(src, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillConvexPoly(mask, np.int32(np.round(local * 16)), 255, cv2.LINE_AA, shift=4)
    region = dst[y0:y1, x0:x1]
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    region[:] = (alpha * patch + (1 - alpha) * region).astype(dst.dtype)


def warp_landmarks(rgb: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray) -> np.ndarray:
    """Piecewise-affine warp of the face mesh area moving landmarks src_pts -> dst_pts (2-D)."""
    out = rgb.copy()
    moved = np.any(np.abs(dst_pts - src_pts) > 1e-6, axis=1)
    for tri in triangles(src_pts):
        if moved[tri].any():
            warp_triangle(rgb, out, src_pts[tri], dst_pts[tri])
    return out


def smile_warp(rgb: np.ndarray, lm: np.ndarray, level: float) -> np.ndarray:
    """Mouth corners up (and a little outward) by level x 4% of the inter-ocular distance."""
    pts = lm[:468, :2].copy()
    iod = np.linalg.norm(pts[33] - pts[263])
    sigma = 0.12 * iod
    dst = pts.copy()
    for corner, outward in ((61, -1.0), (291, 1.0)):
        weight = np.exp(-np.sum((pts - pts[corner]) ** 2, axis=1) / (2 * sigma**2))
        dst += weight[:, None] * np.array([0.3 * outward, -1.0]) * (0.04 * iod * level)
    return warp_landmarks(rgb, pts, dst)


def blink_warp(rgb: np.ndarray, lm: np.ndarray, closure: float) -> np.ndarray:
    """Upper lids moved down onto the lower lids by `closure` (0 open, 1 closed)."""
    pts = lm[:468, :2].copy()
    dst = pts.copy()
    for upper, lower, fold in ((RIGHT_UPPER_LID, RIGHT_LOWER_LID, RIGHT_BROW_FOLD),
                               (LEFT_UPPER_LID, LEFT_LOWER_LID, LEFT_BROW_FOLD)):
        for u, low, f in zip(upper, lower, fold):
            step = closure * (pts[low] - pts[u]) * 0.92
            dst[u] += step
            dst[f] += 0.5 * step
    return warp_landmarks(rgb, pts, dst)


def render_rotated(rgb: np.ndarray, lm: np.ndarray, canonical: np.ndarray, yaw_deg: float = 0.0,
                   pitch_deg: float = 0.0) -> np.ndarray:
    """The canonical face, textured with the photo, turned by yaw (> 0: toward the image right) and
    pitch (> 0: nose up), seen by the estimator's pinhole camera (focal length = image width)."""
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    # canonical axes: x right, y up, z toward the camera. Yaw > 0 turns the nose (+z) toward +x.
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    # pitch > 0 turns the nose (+z) toward +y (up)
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), np.sin(pitch)], [0, -np.sin(pitch), np.cos(pitch)]])
    model = canonical - canonical[facial_like.RIGID_LANDMARKS, :].mean(axis=0)
    turned = model @ (ry @ rx).T
    focal, distance = SIZE * facial_like.FOCAL_PER_WIDTH, 35.0  # cm: the face spans about half the image
    depth = distance - turned[:, 2]
    image_pts = np.stack([SIZE / 2 + focal * turned[:, 0] / depth, SIZE / 2 - focal * turned[:, 1] / depth], axis=1)
    texture = lm[:468, :2]
    out = np.full_like(rgb, 90)
    tris = triangles(canonical[:, :2])
    frontal = _signed_areas(canonical[:, :2] * [1, -1], tris)  # the same triangles seen head-on
    order = np.argsort(-depth[tris].mean(axis=1))  # far triangles first (painter's algorithm)
    for tri, facing in zip(tris[order], (_signed_areas(image_pts, tris) * frontal > 0)[order]):
        if facing:  # a triangle whose winding flipped is turned away from the camera
            warp_triangle(rgb, out, texture[tri], image_pts[tri])
    return out


def _signed_areas(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    a, b, c = points[tris[:, 0]], points[tris[:, 1]], points[tris[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def signals(out_path: str) -> None:
    pipe = Pipeline()
    face = photo()
    lm, _, _ = pipe.landmarks(face)
    if lm is None:
        raise SystemExit("no face found on the reference photo")
    centre = lm[:468, :2].mean(axis=0)
    result = {"roll": {}, "yaw": {}, "pitch": {}, "smile": {}, "blink": {}}
    for angle in (-30, -15, 0, 15, 30):
        result["roll"][angle] = pipe.features(rotate_in_plane(face, angle, centre))
    for angle in (-30, -15, 0, 15, 30):
        result["yaw"][angle] = pipe.features(render_rotated(face, lm, pipe.canonical, yaw_deg=angle))
        result["pitch"][angle] = pipe.features(render_rotated(face, lm, pipe.canonical, pitch_deg=angle))
    for level in (0, 1, 2, 3, 4):
        result["smile"][level] = pipe.features(smile_warp(face, lm, level))
    for closure in (0.0, 0.25, 0.5, 0.75, 1.0):
        result["blink"][closure] = pipe.features(blink_warp(face, lm, closure))
    Path(out_path).write_text(json.dumps(result))


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> None:
    """Lossless enough for the tests: MJPEG at top quality in an AVI container."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 100)
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def media(out_dir: str) -> None:
    """Small clips for the stage's QC test (10 fps): face throughout, no face, face in 3 of 10
    frames, two faces (a large and a small one), and a blink sequence."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    face = cv2.resize(photo(), (128, 128), interpolation=cv2.INTER_AREA)
    grey = np.full_like(face, 128)
    write_video(out / "face.avi", [face] * 10)
    write_video(out / "noface.avi", [grey] * 8)
    write_video(out / "sometimes.avi", [face] * 3 + [grey] * 7)
    two = np.full((128, 256, 3), 128, np.uint8)
    two[:, :128] = face
    two[32:96, 160:224] = cv2.resize(face, (64, 64), interpolation=cv2.INTER_AREA)
    write_video(out / "two.avi", [two] * 6)
    pipe = Pipeline()
    big = photo()
    lm, _, _ = pipe.landmarks(big)
    closures = [0.0, 0.0, 0.5, 1.0, 1.0, 0.5, 0.0, 0.0]
    write_video(out / "blink.avi", [blink_warp(big, lm, c) for c in closures])
    (out / "blink.json").write_text(json.dumps(closures))


if __name__ == "__main__":
    {"signals": signals, "media": media}[sys.argv[1]](sys.argv[2])
