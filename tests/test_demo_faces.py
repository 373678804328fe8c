"""The demo's face photographs and the warp that makes their expression carry s_vision."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from msaflow.demo import load_spec
from msaflow.demo_faces import (
    LEFT_IRIS,
    LOWER_LIP_INNER,
    MOUTH_CORNERS,
    RIGHT_IRIS,
    UPPER_LIP_INNER,
    FacePhoto,
    Look,
    backward_field,
    blink_rows,
    blink_schedule,
    expression_controls,
    load_faces,
    render_frames,
    sample,
    smile_of,
)

SPEC = load_spec(REPO / "resources" / "demo" / "spec.yaml")
FACES_DIR = SPEC["faces"]["dir"]
STILL = SPEC["faces"] | {"blink_interval_s": 1e9, "head_rotation_deg": 0.0, "head_shift_iod": 0.0}
VIDEO = SPEC["video"]
PLAIN = Look("hopper", mirror=False, zoom=1.0, offset=(0.0, 0.0), gains=(1.0, 1.0, 1.0), saturation=1.0)


@pytest.fixture(scope="module")
def faces():
    return load_faces(FACES_DIR)


def test_every_photo_has_landmarks_and_a_licence(faces):
    index = json.loads((Path(FACES_DIR) / "faces.json").read_text())
    assert set(faces) == set(index) and len(faces) >= 2
    for name, face in faces.items():
        height, width, _ = face.image.shape
        assert face.points.shape == (478, 2)
        assert (face.points >= 0).all() and (face.points[:, 0] < width).all() and (face.points[:, 1] < height).all()
        assert 0.15 * width < np.linalg.norm(face.points[RIGHT_IRIS] - face.points[LEFT_IRIS]) < 0.4 * width
        assert "public domain" in index[name]["licence"] and index[name]["source"]["sha256"]


def marker_face(face: FacePhoto) -> FacePhoto:
    """The photo's geometry with a blank image: red dots on the mouth corners, green on the lip centre,
    blue on the irises, so the warp's effect can be measured without a face tracker."""
    image = np.zeros_like(face.image)
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    for indices, channel in ((MOUTH_CORNERS, 0), ((UPPER_LIP_INNER, LOWER_LIP_INNER), 1), ((RIGHT_IRIS, LEFT_IRIS), 2)):
        for index in indices:
            x, y = face.points[index]
            image[(xx - x) ** 2 + (yy - y) ** 2 <= 2.0**2, channel] = 255
    return FacePhoto(face.name, image, face.points)


def centroids(frame: np.ndarray, channel: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted centroids (x, y) of the channel's left and right half of the markers."""
    weight = frame[..., channel].astype(float)
    yy, xx = np.mgrid[0:frame.shape[0], 0:frame.shape[1]]
    middle = (weight * xx).sum() / weight.sum()
    halves = []
    for mask in (xx < middle, xx >= middle):
        w = weight * mask
        halves.append(np.array([(w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()]))
    return halves[0], halves[1]


def measured_smile(frame: np.ndarray) -> float:
    corners = centroids(frame, 0)
    lips = frame[..., 1].astype(float)
    yy = np.mgrid[0:frame.shape[0], 0:frame.shape[1]][0]
    centre_y = (lips * yy).sum() / lips.sum()
    eyes = centroids(frame, 2)
    return float(centre_y - (corners[0][1] + corners[1][1]) / 2) / float(np.linalg.norm(eyes[0] - eyes[1]))


def drawn_at(face: FacePhoto, s_vision: float, index: int) -> np.ndarray:
    """Where the expression warp draws the photo's landmark `index` (the pixel whose source it is)."""
    field = backward_field(*expression_controls(face.points, s_vision, STILL), face.image.shape[:2])
    yy, xx = np.mgrid[0:field.shape[1], 0:field.shape[2]]
    miss = (yy + field[0] - face.points[index, 1]) ** 2 + (xx + field[1] - face.points[index, 0]) ** 2
    row, col = np.unravel_index(miss.argmin(), miss.shape)
    assert miss.min() < 1.0
    return np.array([col, row], float)


@pytest.mark.parametrize("name", ["astronaut", "hopper"])  # a smiling and a straight-faced photo
def test_lip_corners_land_where_s_vision_says(faces, name):
    face = faces[name]
    for s_vision in (-1.5, 0.0, 1.5):
        drawn = face.points.copy()
        for index in (*MOUTH_CORNERS, UPPER_LIP_INNER, LOWER_LIP_INNER):
            drawn[index] = drawn_at(face, s_vision, index)
        # Corner height above the lip centre = mouth_per_unit * s_vision IOD, whatever the photo's own smile.
        assert smile_of(drawn) == pytest.approx(STILL["mouth_per_unit"] * s_vision, abs=0.025)


def test_rendered_smile_follows_s_vision(faces):
    face = marker_face(faces["hopper"])
    smiles = [measured_smile(render_frames(face, PLAIN, s, 1, VIDEO, STILL, motion_seed=0)[0])
              for s in (-1.5, -0.5, 0.0, 0.5, 1.5)]
    assert np.all(np.diff(smiles) > 0) and smiles[-1] - smiles[0] > 0.2


def test_the_warp_does_not_fold(faces):
    for face in faces.values():
        for s_vision in (-1.5, 1.5):
            dy, dx = backward_field(*expression_controls(face.points, s_vision, STILL), face.image.shape[:2])
            jacobian = ((1 + np.gradient(dx, axis=1)) * (1 + np.gradient(dy, axis=0))
                        - np.gradient(dx, axis=0) * np.gradient(dy, axis=1))
            assert jacobian.min() > 0.05, (face.name, s_vision)


def test_blink_covers_the_eye(faces):
    face = faces["hopper"]
    shape = face.image.shape[:2]
    # Paint the eye openings blue: after a full blink, little blue is left.
    image = np.zeros((*shape, 3), np.float32)
    closed = {}
    for closure in (0.0, 0.55, 1.0):
        rows = blink_rows(face.points, closure, shape)
        yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
        open_eyes = blink_rows(face.points, 0.0, shape)
        assert np.array_equal(open_eyes, yy)
        for upper, lower in ((159, 145), (386, 374)):
            x = face.points[[upper, lower], 0].mean()
            y0, y1 = face.points[upper, 1], face.points[lower, 1]
            image[int(np.ceil(y0)):int(y1), int(x) - 3:int(x) + 4, 2] = 255
        closed[closure] = sample(image, rows, xx)[..., 2].sum()
    assert closed[1.0] < 0.25 * closed[0.0] and closed[1.0] < closed[0.55] < closed[0.0]


def test_frames_are_deterministic_and_move(faces):
    spec = STILL | {"blink_interval_s": 2.0, "head_rotation_deg": 2.5, "head_shift_iod": 0.05}
    look = Look("hopper", mirror=True, zoom=1.05, offset=(0.05, -0.02), gains=(1.1, 0.9, 1.0), saturation=0.8)
    first = render_frames(faces["hopper"], look, 0.7, 12, VIDEO, spec, motion_seed=5)
    assert first.shape == (12, VIDEO["height"], VIDEO["width"], 3) and first.dtype == np.uint8
    assert np.array_equal(first, render_frames(faces["hopper"], look, 0.7, 12, VIDEO, spec, motion_seed=5))
    assert not np.array_equal(first, render_frames(faces["hopper"], look, 0.7, 12, VIDEO, spec, motion_seed=6))
    assert np.abs(first[0].astype(int) - first[6].astype(int)).mean() > 1  # the head moves


def test_blinks_come_now_and_then():
    rng = np.random.default_rng(0)
    closure = np.concatenate([blink_schedule(rng, 30, 10, 2.8) for _ in range(200)])
    blinks_per_second = (np.diff((closure == 1.0).astype(int)) == 1).sum() / (len(closure) / 10)
    assert 0.2 < blinks_per_second < 0.5
    assert set(np.unique(closure)) <= {0.0, 0.45, 0.55, 1.0}
