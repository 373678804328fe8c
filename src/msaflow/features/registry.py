"""Feature-set registry: one name -> (columns, extractor, settings). Used by the acoustic stage."""

from __future__ import annotations

import numpy as np

from msaflow.common import MsaflowError
from msaflow.features import Column, FrameFeatures

FEATURE_SETS = ("covarep_like", "egemaps", "compare")


def columns(fset: str) -> list[Column]:
    if fset == "covarep_like":
        from msaflow.features import covarep_like

        return list(covarep_like.COLUMNS)
    if fset in ("egemaps", "compare"):
        from msaflow.features import opensmile_sets

        return opensmile_sets.columns(fset)
    raise MsaflowError(f"unknown acoustic feature set {fset!r} (known: {', '.join(FEATURE_SETS)})")


def settings(fset: str) -> dict:
    if fset == "covarep_like":
        from msaflow.features import covarep_like

        return covarep_like.settings()
    from msaflow.features import opensmile_sets

    columns(fset)
    return opensmile_sets.settings(fset)


def extract(fset: str, x: np.ndarray, sr: int) -> FrameFeatures:
    if fset == "covarep_like":
        from msaflow.features import covarep_like

        return covarep_like.extract(x, sr)
    from msaflow.features import opensmile_sets

    columns(fset)
    return opensmile_sets.extract(x, sr, fset)
