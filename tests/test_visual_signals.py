"""facial_like on a real face photo with known changes (tests/visual_env_probe.py, visual env):
in-plane roll, rendered yaw and pitch of the canonical face textured with the photo, a mouth-corner
warp (smile) and an eyelid-closing warp (blink)."""

import json

import pytest
from conftest import run_visual_probe

POSE_TOLERANCE_DEG = 5.0


@pytest.fixture(scope="module")
def probe(visual_python, tmp_path_factory):
    out = tmp_path_factory.mktemp("visual") / "signals.json"
    run_visual_probe(visual_python, "signals", out)
    return json.loads(out.read_text())


def _series(probe, kind, column):
    rows = probe[kind]
    assert all(rows[k]["face_found"] == 1.0 for k in rows), f"{kind}: face lost in some images"
    return {float(k): rows[k][column] for k in rows}


def test_in_plane_rotation_gives_roll(probe):
    roll = _series(probe, "roll", "head_roll_deg")
    for angle, value in roll.items():
        # the photo's own roll is not known: compare with the unrotated photo
        assert abs((value - roll[0.0]) - angle) <= POSE_TOLERANCE_DEG, (angle, value, roll[0.0])


@pytest.mark.parametrize("kind, column, others", [("yaw", "head_yaw_deg", ("head_pitch_deg", "head_roll_deg")),
                                                  ("pitch", "head_pitch_deg", ("head_yaw_deg", "head_roll_deg"))])
def test_rendered_rotation_gives_yaw_and_pitch(probe, kind, column, others):
    values = _series(probe, kind, column)
    for angle, value in values.items():
        assert abs(value - angle) <= POSE_TOLERANCE_DEG, (kind, angle, value)
        for other in others:  # a pure yaw must not read as pitch or roll, and vice versa
            assert abs(probe[kind][str(int(angle))][other]) <= POSE_TOLERANCE_DEG, (kind, angle, other)


def test_mouth_corner_warp_raises_smile_monotonically(probe):
    smile = [v for _, v in sorted(_series(probe, "smile", "lip_corner_pull").items())]
    assert all(b > a for a, b in zip(smile, smile[1:])), smile


def test_closing_eyelids_raises_eye_closure(probe):
    closure = [v for _, v in sorted(_series(probe, "blink", "eye_closure").items())]
    assert all(b > a for a, b in zip(closure, closure[1:])), closure
    assert closure[-1] - closure[0] > 0.5, closure
