"""Talking-head frames for the demo corpus, made from real face photographs.

The photographs (public-domain portraits that ship inside PyPI packages) are stored as square crops
with their 478 mediapipe face-mesh landmarks in resources/demo/faces/ (see
scripts/make_demo_faces.py and docs/demo_corpus.md). Per clip the photo is warped so that the
expression encodes `s_vision`:

- mouth: the lip corners are moved to a height of `mouth_per_unit * s_vision` inter-ocular
  distances (IOD) above the lip centre (the midpoint of the inner lips), whatever the photo's own
  expression was, and the other lip points follow a parabola (smile > 0, frown < 0); a smile also
  widens the mouth a little and lifts the cheeks;
- brows: raised for s_vision > 0, inner ends pulled down and together (a frown) for s_vision < 0,
  `brow_per_unit` IOD per unit;

then, per frame, the eyes blink now and then (the upper lid slides down) and the head moves a
little (rotation, shift, scale), all from seeded random draws, so the same plan gives the same
frames. The warps are smooth displacement fields (Gaussian-weighted control points on the
landmarks) sampled bilinearly with numpy; nothing here needs mediapipe.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError

# mediapipe face-mesh indices (subject's right eye/brow first; both sides are treated alike).
RIGHT_IRIS, LEFT_IRIS = 468, 473
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14
MOUTH_CORNERS = (61, 291)
LIPS = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146,
        78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
CHEEKS = (205, 425, 50, 280)
# Points that hold still while the mouth moves: nose, chin, jaw, lower eyelids.
MOUTH_ANCHORS = (1, 2, 98, 327, 152, 175, 172, 397, 136, 365, 58, 288, 145, 374, 234, 454)
BROWS = ((70, 63, 105, 66, 107, 46, 53, 52, 65, 55), (300, 293, 334, 296, 336, 276, 283, 282, 295, 285))
# Points that hold still while the brows move: upper eyelids, eye corners, glabella, forehead.
BROW_ANCHORS = (159, 386, 158, 385, 160, 387, 33, 133, 362, 263, 8, 151, 10)
# Eyelids from the outer to the inner corner, upper and lower, for each eye.
EYELIDS = (((33, 246, 161, 160, 159, 158, 157, 173, 133), (33, 7, 163, 144, 145, 153, 154, 155, 133)),
           ((263, 466, 388, 387, 386, 385, 384, 398, 362), (263, 249, 390, 373, 374, 380, 381, 382, 362)))
# Blink profile on consecutive frames (lid closure 0..1), and the share of the eye it closes.
BLINK_FRAMES = (0.55, 1.0, 0.45)


@dataclass(frozen=True)
class FacePhoto:
    name: str
    image: np.ndarray   # (H, W, 3) float32, 0..255
    points: np.ndarray  # (478, 2) float64, (x, y) in image pixels


@dataclass(frozen=True)
class Look:
    """How one speaker's photo is shown: the demo's speakers differ by photo and by these."""
    face: str
    mirror: bool
    zoom: float                       # > 1 shows the face larger
    offset: tuple[float, float]       # framing shift in IOD (x, y)
    gains: tuple[float, float, float]  # per-channel colour gains
    saturation: float


def load_faces(directory: str | Path) -> dict[str, FacePhoto]:
    """Read faces.json and decode each crop (PNG, lossless, decoded by ffmpeg: no imaging library)."""
    directory = Path(directory)
    try:
        index = json.loads((directory / "faces.json").read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise MsaflowError(f"{directory}/faces.json not found: the demo's face photos live in resources/demo/faces "
                           "(spec key faces.dir, relative to the spec file)") from error
    faces = {}
    for name, entry in index.items():
        path = directory / entry["file"]
        result = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "rawvideo",
                                 "-pix_fmt", "rgb24", "pipe:1"], capture_output=True)
        width, height = entry["size"]
        if result.returncode != 0 or len(result.stdout) != width * height * 3:
            raise MsaflowError(f"cannot decode demo face {path} as a {width}x{height} image: "
                               f"{result.stderr.decode(errors='replace').strip()[-300:]}")
        image = np.frombuffer(result.stdout, np.uint8).reshape(height, width, 3).astype(np.float32)
        faces[name] = FacePhoto(name, image, np.asarray(entry["points"], dtype=np.float64))
    return faces


def draw_look(rng: np.random.Generator, face: str) -> Look:
    return Look(
        face=face,
        mirror=bool(rng.random() < 0.5),
        zoom=round(float(rng.uniform(0.92, 1.08)), 3),
        offset=(round(float(rng.uniform(-0.12, 0.12)), 3), round(float(rng.uniform(-0.08, 0.08)), 3)),
        gains=tuple(round(float(g), 3) for g in rng.uniform(0.88, 1.12, 3)),
        saturation=round(float(rng.uniform(0.6, 1.15)), 3),
    )


def inter_ocular(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[RIGHT_IRIS] - points[LEFT_IRIS]))


def smile_of(points: np.ndarray) -> float:
    """Lip-corner height above the lip centre, in IOD (> 0 smile, < 0 frown); image y points down."""
    centre_y = (points[UPPER_LIP_INNER, 1] + points[LOWER_LIP_INNER, 1]) / 2
    return float(centre_y - points[list(MOUTH_CORNERS), 1].mean()) / inter_ocular(points)


def styled(photo: FacePhoto, look: Look) -> FacePhoto:
    """The photo as this speaker shows it: mirrored or not, colour-shifted."""
    image, points = photo.image, photo.points
    if look.mirror:
        image = image[:, ::-1]
        points = points.copy()
        points[:, 0] = image.shape[1] - 1 - points[:, 0]
    grey = image @ np.array([0.299, 0.587, 0.114], np.float32)
    image = grey[..., None] + look.saturation * (image - grey[..., None])
    image = np.clip(image * np.asarray(look.gains, np.float32), 0, 255).astype(np.float32)
    return FacePhoto(photo.name, image, points)


def expression_controls(points: np.ndarray, s_vision: float, spec: dict):
    """Control points (source positions, forward displacements in pixels, reach in pixels)."""
    iod = inter_ocular(points)
    mid_x = (points[RIGHT_IRIS, 0] + points[LEFT_IRIS, 0]) / 2
    sources, moves, reach = [], [], []

    def add(index, move, sigma_iod):
        sources.append(points[index])
        moves.append(move)
        reach.append(sigma_iod * iod)

    # Mouth: corners to the target height, lips along a parabola, wider and cheeks up for a smile.
    target = spec["mouth_per_unit"] * s_vision
    corner_dy = -(target - smile_of(points)) * iod
    centre_x = (points[UPPER_LIP_INNER, 0] + points[LOWER_LIP_INNER, 0]) / 2
    half_width = abs(points[MOUTH_CORNERS[1], 0] - points[MOUTH_CORNERS[0], 0]) / 2
    widen = 0.3 * max(target, 0.0) * iod
    for index in LIPS:
        u = float(np.clip((points[index, 0] - centre_x) / half_width, -1, 1))
        add(index, (widen * u, corner_dy * u * u), 0.2)
    for index in CHEEKS:
        add(index, (0.0, -0.3 * max(target, 0.0) * iod), 0.3)
    for index in MOUTH_ANCHORS:
        add(index, (0.0, 0.0), 0.25)

    # Brows: inner-ness w is 1 at the inner end, 0 at the outer end.
    brow = spec["brow_per_unit"] * s_vision
    for side in BROWS:
        distance = np.abs(points[list(side), 0] - mid_x)
        inner = 1 - (distance - distance.min()) / max(distance.max() - distance.min(), 1e-6)
        for index, w in zip(side, inner):
            if brow >= 0:
                dx, dy = 0.0, -brow * iod * (0.6 + 0.4 * w)
            else:
                # Not too far down: the upper lids hold still, and the skin between must not fold.
                dx = -np.sign(points[index, 0] - mid_x) * -brow * iod * 0.3 * w
                dy = -brow * iod * (0.1 + 0.5 * w)
            add(index, (dx, dy), 0.14)
    for index in BROW_ANCHORS:
        add(index, (0.0, 0.0), 0.12)
    return np.array(sources), np.array(moves, dtype=np.float64), np.array(reach)


def backward_field(sources: np.ndarray, moves: np.ndarray, reach: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(2, H, W) offsets (dy, dx) to add to an output pixel to find where it comes from in the photo.

    A Gaussian radial-basis interpolation of the inverse warp: at the point where each control
    point lands (source + move) the offset is exactly -move, so the photo's landmark is drawn
    there; between control points it is smooth, and far from all of them it fades to zero (it is
    only evaluated within 3 reaches of a control point).
    """
    landed = sources + moves
    sigma2 = 2 * reach**2
    distance2 = ((landed[:, None, :] - landed[None, :, :]) ** 2).sum(-1)
    kernel = np.exp(-distance2 / sigma2[None, :])
    # A little ridge keeps near-coincident control points from blowing the weights up.
    weights = np.linalg.solve(kernel + 1e-3 * np.eye(len(landed)), -moves).astype(np.float32)
    margin = 3 * reach.max()
    x0, y0 = np.maximum(np.floor(landed.min(0) - margin).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(landed.max(0) + margin).astype(int) + 1, (shape[1], shape[0]))
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    basis = np.exp(-((xx[..., None] - landed[:, 0].astype(np.float32)) ** 2
                     + (yy[..., None] - landed[:, 1].astype(np.float32)) ** 2) / sigma2.astype(np.float32))
    offset = basis @ weights
    field = np.zeros((2, *shape), np.float32)
    field[0, y0:y1, x0:x1] = offset[..., 1]
    field[1, y0:y1, x0:x1] = offset[..., 0]
    return field


def blink_rows(points: np.ndarray, closure: float, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) source row of each pixel when the upper lids are `closure` of the way down.

    Per column between the eye corners, the skin above the upper lid (as tall as the eye is open)
    is stretched down so that the lash line lands `closure` of the way to the lower lid; the rest of
    the image is unchanged.
    """
    rows = np.mgrid[0:shape[0], 0:shape[1]][0].astype(np.float32)
    if closure <= 0:
        return rows
    for upper, lower in EYELIDS:
        up, low = points[list(upper)], points[list(lower)]
        left, right = sorted((up[0, 0], up[-1, 0]))
        columns = np.arange(int(np.ceil(left)), int(np.floor(right)) + 1)
        columns = columns[(columns >= 0) & (columns < shape[1])]
        order_up, order_low = np.argsort(up[:, 0]), np.argsort(low[:, 0])
        lid = np.interp(columns, up[order_up, 0], up[order_up, 1])
        bottom = np.interp(columns, low[order_low, 0], low[order_low, 1])
        gap = np.maximum(bottom - lid, 0.0)
        edge = lid + 0.9 * closure * gap        # where the lash line is drawn
        top = lid - gap - 1.0                   # skin above the lid that slides down with it
        for column, t, e, lid_y in zip(columns, top, edge, lid):
            y = np.arange(max(int(np.ceil(t)), 0), min(int(np.floor(e)), shape[0] - 1) + 1)
            rows[y, column] = t + (y - t) * (lid_y - t) / max(e - t, 1e-6)
    return rows


def sample(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear lookup of an (H, W, C) image at float positions; outside, the nearest edge pixel."""
    height, width, channels = image.shape
    rows = np.clip(rows, 0, height - 1).astype(np.float32)
    cols = np.clip(cols, 0, width - 1).astype(np.float32)
    r0 = np.minimum(rows.astype(np.intp), height - 2)
    c0 = np.minimum(cols.astype(np.intp), width - 2)
    fr, fc = (rows - r0)[..., None], (cols - c0)[..., None]
    flat, first = image.reshape(-1, channels), r0 * width + c0
    top_left, top_right = np.take(flat, first, axis=0), np.take(flat, first + 1, axis=0)
    bottom_left, bottom_right = np.take(flat, first + width, axis=0), np.take(flat, first + width + 1, axis=0)
    top = top_left + (top_right - top_left) * fc
    bottom = bottom_left + (bottom_right - bottom_left) * fc
    return top + (bottom - top) * fr


def head_motion(rng: np.random.Generator, n_frames: int, fps: float, spec: dict):
    """Per-frame (rotation in radians, shift (x, y) in IOD, scale): smooth sums of two sinusoids."""
    t = np.arange(n_frames) / fps

    def wobble(amplitude):
        f = rng.uniform(0.15, 0.6, 2)
        phase = rng.uniform(0, 2 * np.pi, 2)
        return amplitude * (0.7 * np.sin(2 * np.pi * f[0] * t + phase[0])
                            + 0.3 * np.sin(2 * np.pi * f[1] * t + phase[1]))

    rotation = np.deg2rad(wobble(spec["head_rotation_deg"]))
    shift = np.stack([wobble(spec["head_shift_iod"]), wobble(spec["head_shift_iod"])], axis=1)
    scale = 1 + wobble(0.02)
    return rotation, shift, scale


def blink_schedule(rng: np.random.Generator, n_frames: int, fps: float, interval_s: float) -> np.ndarray:
    """Lid closure per frame: blinks at exponentially distributed intervals (mean `interval_s`)."""
    closure = np.zeros(n_frames)
    frame = rng.exponential(interval_s) * fps * rng.random()
    while frame < n_frames:
        start = int(frame)
        for k, c in enumerate(BLINK_FRAMES):
            if start + k < n_frames:
                closure[start + k] = c
        frame += len(BLINK_FRAMES) + rng.exponential(interval_s) * fps
    return closure


def render_frames(photo: FacePhoto, look: Look, s_vision: float, n_frames: int, video: dict, spec: dict,
                  motion_seed: int) -> np.ndarray:
    """(n_frames, height, width, 3) uint8 frames of the speaker saying one utterance."""
    face = styled(photo, look)
    shape = face.image.shape[:2]
    field = backward_field(*expression_controls(face.points, s_vision, spec), shape)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    expressive = np.stack([yy + field[0], xx + field[1]], axis=-1)   # photo (row, col) of each pixel

    rng = np.random.default_rng(motion_seed)
    rotation, shift, scale = head_motion(rng, n_frames, video["fps"], spec)
    closure = blink_schedule(rng, n_frames, video["fps"], spec["blink_interval_s"])
    posed = {}
    for level in sorted(set(closure.tolist())):
        # The lids are not moved by the expression field (anchored), so the blink can be applied on
        # top of it with the photo's own lid landmarks.
        rows = blink_rows(face.points, level, shape)
        where = sample(expressive, rows, xx)
        posed[level] = sample(face.image, where[..., 0], where[..., 1])

    width, height = video["width"], video["height"]
    iod = inter_ocular(face.points)
    eyes = (face.points[RIGHT_IRIS] + face.points[LEFT_IRIS]) / 2
    lips = (face.points[UPPER_LIP_INNER] + face.points[LOWER_LIP_INNER]) / 2
    centre = (eyes + lips) / 2 + np.asarray(look.offset) * iod
    pixel = spec["view_iod"] * iod / (width * look.zoom)   # photo pixels per output pixel
    out_y, out_x = np.mgrid[0:height, 0:width].astype(np.float64)
    out_x, out_y = (out_x - (width - 1) / 2) * pixel, (out_y - (height - 1) / 2) * pixel
    frames = np.empty((n_frames, height, width, 3), np.uint8)
    for k in range(n_frames):
        cos, sin = np.cos(rotation[k]), np.sin(rotation[k])
        src_x = centre[0] + shift[k, 0] * iod + (cos * out_x - sin * out_y) / scale[k]
        src_y = centre[1] + shift[k, 1] * iod + (sin * out_x + cos * out_y) / scale[k]
        frames[k] = np.clip(np.rint(sample(posed[closure[k]], src_y, src_x)), 0, 255).astype(np.uint8)
    return frames
