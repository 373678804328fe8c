"""Feature set `facial_like`: face presence, head pose, gaze and action-unit-like geometry from the
478 MediaPipe face-mesh landmarks (with iris refinement), per video frame (DESIGN.md §7).

This module runs inside the visual environment (numpy 1.26 + opencv + mediapipe 0.10.21) as a
sibling of worker.py, and the main environment imports it for the column metadata only. So it
imports nothing from msaflow, and cv2 only inside the function that needs it.

Geometry, per frame with a face:
* head pose: `cv2.solvePnP` (SQPnP) of the image positions of RIGID_LANDMARKS against the same
  vertices of MediaPipe's canonical face model, pinhole camera with focal length = image width,
  principal point at the image centre; the rotation is reported as Euler angles (see COLUMNS).
* every other measure is taken after a similarity (Umeyama) alignment of the 3-D landmarks onto
  the canonical model over RIGID_LANDMARKS, i.e. in the head's own frame (x toward the image right,
  y up, z toward the camera, centimetres), so that head rotation does not read as expression.
  Lengths are divided by that frame's inter-ocular distance (outer eye corners 33-263, IOD) and
  the canonical (neutral) face's value is subtracted: 0 = the canonical face, larger = more of the
  action unit named in the column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CANONICAL_FILE = "canonical_face_model.obj"
N_LANDMARKS = 478  # 468 mesh + 2 x 5 iris (refine_landmarks=True)
RIGHT_IRIS, LEFT_IRIS = 468, 473  # the subject's right eye is on the image's left
# Points that barely move with expression (eye corners, nose bridge and tip, forehead, temples):
# MediaPipe's own Procrustes basis for its face geometry, without its cheek, jaw and nasal-wing
# points (205/425, 117/346, 147/376, 136/365, 129/358), which move with smiling, jaw and nose.
RIGID_LANDMARKS = (4, 6, 10, 33, 54, 67, 119, 121, 127, 133, 143, 198,
                   263, 284, 297, 348, 350, 356, 362, 372, 420)
FOCAL_PER_WIDTH = 1.0  # pinhole focal length in image widths (about 53 degrees horizontal view)
EYEBALL_RADIUS_CM = 1.05  # rotation centre to iris centre: gaze = asin(iris offset / this radius)


def canonical_model_path() -> Path:
    """The canonical model inside the installed mediapipe if a build ships it, else our copy."""
    try:
        import mediapipe

        found = sorted(Path(mediapipe.__file__).parent.rglob(CANONICAL_FILE))
        if found:
            return found[0]
    except ImportError:
        pass
    return Path(__file__).with_name(CANONICAL_FILE)


def load_canonical_model(path: str | Path | None = None) -> np.ndarray:
    """(468, 3) vertex positions, vertex i = landmark i (the OBJ's `v` lines in order)."""
    path = Path(path) if path else canonical_model_path()
    rows = [line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")]
    model = np.asarray(rows, dtype=np.float64)
    if model.shape != (468, 3):
        raise ValueError(f"{path}: expected 468 vertices, found {model.shape}")
    return model


# --- measures in the head frame ------------------------------------------------------------------
def _y(a: np.ndarray, *idx: int) -> np.ndarray:
    return a[:, list(idx), 1].mean(axis=1)


def _dist(a: np.ndarray, i: int, j: int) -> np.ndarray:
    return np.linalg.norm(a[:, i] - a[:, j], axis=-1)


def _both(left, right):
    return (left + right) / 2.0


def _eye_aspect_ratio(a: np.ndarray) -> np.ndarray:
    right = (_dist(a, 160, 144) + _dist(a, 158, 153)) / (2 * _dist(a, 33, 133))
    left = (_dist(a, 385, 380) + _dist(a, 387, 373)) / (2 * _dist(a, 362, 263))
    return _both(right, left)


# name, action unit, quality, landmarks, how the value is formed, formula (raw value), function.
# form "iod": value / IOD - canonical value / IOD; "closure": 1 - value / canonical value;
# "ratio": value - canonical value (the value is already scale-free).
MEASURES = (
    ("inner_brow_raise", "AU1", "approximation", (107, 55, 133, 336, 285, 362), "iod",
     "y(inner brow 107,55) - y(inner eye corner 133), mean with the mirror side (336,285 / 362)",
     lambda a: _both(_y(a, 107, 55) - _y(a, 133), _y(a, 336, 285) - _y(a, 362))),
    ("outer_brow_raise", "AU2", "approximation", (70, 46, 33, 300, 276, 263), "iod",
     "y(outer brow 70,46) - y(outer eye corner 33), mean with the mirror side (300,276 / 263)",
     lambda a: _both(_y(a, 70, 46) - _y(a, 33), _y(a, 300, 276) - _y(a, 263))),
    ("brow_lowerer", "AU4", "approximation", (55, 285), "iod",
     "-|x(55) - x(285)|: the inner brow heads drawn together (brow height is in inner_brow_raise)",
     lambda a: -np.abs(a[:, 55, 0] - a[:, 285, 0])),
    ("upper_lid_raise", "AU5", "approximation", (159, 468, 386, 473), "iod",
     "y(upper lid 159) - y(iris centre 468), mean with the mirror side (386 / 473)",
     lambda a: _both(_y(a, 159) - _y(a, RIGHT_IRIS), _y(a, 386) - _y(a, LEFT_IRIS))),
    ("eye_closure", "AU45/AU43", "approximation", (33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380), "closure",
     "1 - EAR / EAR(canonical), EAR = (|160-144| + |158-153|) / (2 |33-133|) averaged with the mirror eye; 1 = lids closed (blink)",
     _eye_aspect_ratio),
    ("cheek_raise", "AU6", "approximation", (50, 145, 280, 374), "iod",
     "y(cheek 50) - y(lower lid 145), mean with the mirror side (280 / 374): the cheek rising toward the eye",
     lambda a: _both(_y(a, 50) - _y(a, 145), _y(a, 280) - _y(a, 374))),
    ("nose_wrinkle", "AU9", "substitute", (98, 133, 327, 362), "iod",
     "y(nostril wing 98) - y(inner eye corner 133), mean with the mirror side (327 / 362): the nasal wings "
     "rising; the wrinkles themselves are texture that landmarks do not see",
     lambda a: _both(_y(a, 98) - _y(a, 133), _y(a, 327) - _y(a, 362))),
    ("lip_corner_pull", "AU12", "approximation", (61, 291, 13, 14), "iod",
     "y(mouth corners 61,291) - y(lip midline: mean of 13,14): corners above the lip centre (smile)",
     lambda a: _y(a, 61, 291) - _y(a, 13, 14)),
    ("lip_corner_depress", "AU15", "approximation", (61, 291, 2), "iod",
     "y(subnasale 2) - y(mouth corners 61,291): corners low relative to the nose base",
     lambda a: _y(a, 2) - _y(a, 61, 291)),
    ("lower_lip_depress", "AU16", "approximation", (61, 291, 14), "iod",
     "y(mouth corners 61,291) - y(lower lip inner edge 14): lower lip centre pulled below the corners",
     lambda a: _y(a, 61, 291) - _y(a, 14)),
    ("chin_raise", "AU17", "approximation", (17, 152), "iod",
     "y(chin 152) - y(lower lip bottom 17): lower lip and chin pushed together (jaw opening moves both)",
     lambda a: _y(a, 152) - _y(a, 17)),
    ("lip_stretch", "AU20", "approximation", (61, 291), "iod",
     "|61 - 291|: mouth width",
     lambda a: _dist(a, 61, 291)),
    ("lip_pucker", "AU18", "approximation", (0, 17, 61, 291), "ratio",
     "|0 - 17| / |61 - 291|: outer lip height over mouth width (rounded, narrow lips)",
     lambda a: _dist(a, 0, 17) / _dist(a, 61, 291)),
    ("lips_part", "AU25", "approximation", (13, 14), "iod",
     "|13 - 14|: gap between the inner lip edges",
     lambda a: _dist(a, 13, 14)),
    ("jaw_drop", "AU26", "approximation", (2, 152), "iod",
     "y(subnasale 2) - y(chin 152): nose base to chin",
     lambda a: _y(a, 2) - _y(a, 152)),
)

NO_FACE = "no face in the frame"
HEAD_POSE_METHOD = ("cv2.solvePnP (SQPNP) of the image positions of landmarks {idx} against MediaPipe's canonical "
                    "face model, focal length = image width; R = Rz(roll) Ry(yaw) Rx(pitch) in camera axes")
_POSE = [
    ("head_pitch_deg", "head pitch in degrees, > 0 = nose up"),
    ("head_yaw_deg", "head yaw in degrees, > 0 = face turned toward the image's right (the subject's left)"),
    ("head_roll_deg", "head roll in degrees, > 0 = face rotated counter-clockwise in the image"),
]
_GAZE = [
    ("gaze_yaw_deg", 0, "> 0 = toward the image's right"),
    ("gaze_pitch_deg", 1, "> 0 = up"),
]


def columns() -> list[dict]:
    """Per-column provenance (name, method = formula, quality, nan_when, landmarks, action_unit)."""
    cols = [
        {"name": "face_found", "method": "1 if MediaPipe face mesh (refine_landmarks=True) returned a face, else 0",
         "quality": "exact-method", "nan_when": "", "landmarks": [], "action_unit": ""},
        {"name": "face_confidence", "method": "score of MediaPipe's short-range face detector (BlazeFace) for the "
         "detection that overlaps the kept face most", "quality": "exact-method",
         "nan_when": NO_FACE + ", or the face was tracked from the previous frame without a detection",
         "landmarks": [], "action_unit": ""},
    ]
    rigid = list(RIGID_LANDMARKS)
    for name, text in _POSE:
        cols.append({"name": name, "method": f"{text}; {HEAD_POSE_METHOD.format(idx=rigid)}", "quality": "approximation",
                     "nan_when": NO_FACE, "landmarks": rigid, "action_unit": ""})
    for name, axis, text in _GAZE:
        cols.append({"name": name, "method": (
            f"eye-in-head gaze, {text}: asin(offset / {EYEBALL_RADIUS_CM} cm) of the iris centre (468 / 473) from the "
            f"eye centre (mean of corners 33,133 / 263,362) along {'xy'[axis]} in the aligned head frame, mean of both "
            "eyes; eyeball radius is a population value, not calibrated per person"),
            "quality": "approximation", "nan_when": NO_FACE, "landmarks": [33, 133, 468, 263, 362, 473], "action_unit": ""})
    for name, au, quality, idx, form, formula, _ in MEASURES:
        scale = {"iod": "divided by the inter-ocular distance |33 - 263|, minus the canonical face's value",
                 "closure": "", "ratio": "minus the canonical face's value"}[form]
        cols.append({"name": name, "method": f"{formula}; head-frame coordinates (y up); {scale}".rstrip("; "),
                     "quality": quality, "nan_when": NO_FACE, "landmarks": sorted(set(idx)), "action_unit": au})
    return cols


def column_names() -> list[str]:
    return [c["name"] for c in columns()]


def landmark_column_names() -> list[str]:
    return [f"lm{i}_{axis}" for i in range(N_LANDMARKS) for axis in "xyz"]


# --- computation ---------------------------------------------------------------------------------
def to_head_axes(landmarks_px: np.ndarray) -> np.ndarray:
    """Image axes (x right, y down, z away from the camera) -> canonical axes (y up, z toward it)."""
    return landmarks_px * np.array([1.0, -1.0, -1.0])


def align_to_canonical(points: np.ndarray, canonical: np.ndarray) -> np.ndarray:
    """Similarity (Umeyama) fit of each frame's RIGID_LANDMARKS onto the canonical model; (T, N, 3)."""
    rigid = list(RIGID_LANDMARKS)
    p = points[:, rigid]
    q = canonical[rigid]
    p_mean = p.mean(axis=1, keepdims=True)
    q_mean = q.mean(axis=0)
    pc, qc = p - p_mean, q - q_mean
    cov = np.einsum("tni,nj->tij", pc, qc)
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(np.einsum("tij,tjk->tik", vt.transpose(0, 2, 1), u.transpose(0, 2, 1))))
    signs = np.stack([np.ones_like(d), np.ones_like(d), d], axis=1)
    rotation = np.einsum("tji,tj,tkj->tik", vt, signs, u)  # V diag(signs) U^T
    scale = (s * signs).sum(axis=1) / (pc**2).sum(axis=(1, 2))
    return scale[:, None, None] * np.einsum("tij,tnj->tni", rotation, points - p_mean) + q_mean


def head_pose(landmarks_px: np.ndarray, width: int, height: int, canonical: np.ndarray) -> np.ndarray:
    """(T, 3) pitch, yaw, roll in degrees (signs in COLUMNS) from image positions via solvePnP."""
    import cv2

    rigid = list(RIGID_LANDMARKS)
    model = (canonical[rigid] * np.array([1.0, -1.0, -1.0])).astype(np.float64)  # camera axes
    focal = FOCAL_PER_WIDTH * width
    camera = np.array([[focal, 0, width / 2.0], [0, focal, height / 2.0], [0, 0, 1]], dtype=np.float64)
    out = np.full((len(landmarks_px), 3), np.nan)
    for t, frame in enumerate(landmarks_px):
        image_points = np.ascontiguousarray(frame[rigid, :2], dtype=np.float64)
        ok, rvec, _ = cv2.solvePnP(model, image_points, camera, None, flags=cv2.SOLVEPNP_SQPNP)
        if not ok:
            continue
        r, _ = cv2.Rodrigues(rvec)
        pitch = np.arctan2(r[2, 1], r[2, 2])
        yaw = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
        roll = np.arctan2(r[1, 0], r[0, 0])
        out[t] = -np.degrees([pitch, yaw, roll])  # camera-axis angles -> the signs documented above
    return out


def gaze(aligned: np.ndarray) -> np.ndarray:
    """(T, 2) eye-in-head yaw and pitch in degrees from the iris centres."""
    angles = []
    for iris, (outer, inner) in ((RIGHT_IRIS, (33, 133)), (LEFT_IRIS, (263, 362))):
        centre = (aligned[:, outer] + aligned[:, inner]) / 2.0
        offset = (aligned[:, iris] - centre)[:, :2] / EYEBALL_RADIUS_CM
        angles.append(np.degrees(np.arcsin(np.clip(offset, -1.0, 1.0))))
    return (angles[0] + angles[1]) / 2.0


def expression(aligned: np.ndarray, canonical: np.ndarray) -> np.ndarray:
    """(T, len(MEASURES)) action-unit-like measures (see MEASURES)."""
    neutral = np.zeros((1, N_LANDMARKS, 3))
    neutral[0, : len(canonical)] = canonical
    iod, iod_neutral = _dist(aligned, 33, 263), _dist(neutral, 33, 263)
    out = np.empty((len(aligned), len(MEASURES)))
    for k, (_, _, _, _, form, _, fn) in enumerate(MEASURES):
        if form == "closure":
            out[:, k] = 1.0 - fn(aligned) / fn(neutral)
        elif form == "ratio":
            out[:, k] = fn(aligned) - fn(neutral)
        else:
            out[:, k] = fn(aligned) / iod - fn(neutral) / iod_neutral
    return out


def compute(landmarks_px: np.ndarray, confidence: np.ndarray, width: int, height: int,
            canonical: np.ndarray) -> np.ndarray:
    """Frame features (T, D) in column order; landmarks_px (T, 478, 3) = (x*W, y*H, z*W), NaN rows
    for frames without a face (those rows stay NaN except face_found = 0)."""
    n = len(landmarks_px)
    found = np.isfinite(landmarks_px).all(axis=(1, 2)) if n else np.zeros(0, bool)
    out = np.full((n, len(columns())), np.nan)
    out[:, 0] = found
    if found.any():
        lm = landmarks_px[found].astype(np.float64)
        aligned = align_to_canonical(to_head_axes(lm), canonical)
        out[found, 1] = confidence[found]
        out[found, 2:5] = head_pose(lm, width, height, canonical)
        out[found, 5:7] = gaze(aligned)
        out[found, 7:] = expression(aligned, canonical)
    return out.astype(np.float32)
