"""Visual frame features: video -> per-frame facial features per utterance (DESIGN.md §1, §3, §7).

Engines:
* `mediapipe` (default, offline): MediaPipe 0.10.21's face mesh, run by `worker.py` inside its own
  environment (`.venv-visual`; mediapipe needs numpy 1.26 and protobuf 4.25, the main environment
  has numpy 2). Feature sets `facial_like` (facial_like.py) and `landmarks` (the raw 478 x 3).
* `openface`: OpenFace 2.0's `FeatureExtraction`, when installed (openface.py), feature set `openface`.
CMU-MultimodalSDK visual files (FACET, OpenFace 2) enter through `msaflow sdk-visual` instead.

Modules here that the worker imports (facial_like.py) import nothing from msaflow; the rest is main
environment code and never runs in the visual environment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ENGINE_SETS = {"mediapipe": ("facial_like", "landmarks"), "openface": ("openface",)}
VISUAL_SETS = tuple(s for sets in ENGINE_SETS.values() for s in sets)


@dataclass
class ClipFrames:
    """One clip's frames from an engine, or why there are none (`error`)."""

    features: np.ndarray | None = None  # (T, D) float32; rows without a face NaN except face_found
    intervals: np.ndarray | None = None  # (T, 2) seconds from the utterance start
    faces: np.ndarray | None = None  # (T,) faces the engine saw in each frame
    error: str = ""


def engine_of(vset: str) -> str:
    for engine, sets in ENGINE_SETS.items():
        if vset in sets:
            return engine
    from msaflow.common import MsaflowError

    raise MsaflowError(f"unknown visual feature set {vset!r} (known: {', '.join(VISUAL_SETS)})")


def assess(clip: ClipFrames, min_face_fraction: float) -> tuple[str, str]:
    """QC status and reason: no frames or no face -> failed; too few face frames -> fallback;
    frames without a face and frames with several faces (the largest was kept) are noted."""
    if clip.error:
        return "failed", clip.error
    faces = np.asarray(clip.faces)
    n = len(faces)
    with_face = int((faces > 0).sum())
    several = int((faces > 1).sum())
    if n == 0:
        return "failed", "no video frame in the clip"
    if with_face == 0:
        return "failed", f"no face in any of {n} frames"
    status, notes = "ok", []
    fraction = with_face / n
    if fraction < min_face_fraction:
        status = "fallback"
        notes.append(f"face in only {with_face} of {n} frames ({fraction:.0%} < visual.min_face_fraction "
                     f"{min_face_fraction:g}); the other frames are NaN")
    elif with_face < n:
        notes.append(f"no face in {n - with_face} of {n} frames (NaN rows)")
    if several:
        notes.append(f"several faces in {several} of {n} frames: kept the largest")
    return status, "; ".join(notes)
