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


def check_options(fset: str, options: dict | None) -> dict:
    """Extractor options from config (acoustic.options.<fset>); only covarep_like has any."""
    options = dict(options or {})
    allowed = {"covarep_like": {"f0_min", "f0_max"}}.get(fset, set())
    unknown = set(options) - allowed
    if unknown:
        raise MsaflowError(f"acoustic.options.{fset}: unknown option(s) {sorted(unknown)} (allowed: {sorted(allowed) or 'none'})")
    return options


def settings(fset: str, options: dict | None = None) -> dict:
    if fset == "covarep_like":
        from msaflow.features import covarep_like

        return covarep_like.settings(**check_options(fset, options))
    from msaflow.features import opensmile_sets

    columns(fset)
    check_options(fset, options)
    return opensmile_sets.settings(fset)


def extract(fset: str, x: np.ndarray, sr: int, options: dict | None = None) -> FrameFeatures:
    if fset == "covarep_like":
        from msaflow.features import covarep_like

        return covarep_like.extract(x, sr, **check_options(fset, options))
    from msaflow.features import opensmile_sets

    columns(fset)
    check_options(fset, options)
    return opensmile_sets.extract(x, sr, fset)
