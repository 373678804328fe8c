"""Standard train/valid/test folds of CMU-MOSI and CMU-MOSEI, from the CMU-MultimodalSDK (mmsdk)."""

from __future__ import annotations

from msaflow.common import MsaflowError

STANDARD_FOLDS = ("mosi", "mosei")


def standard_folds(name: str) -> dict[str, str]:
    """{video_id: mode} from mmsdk's standard fold lists (MOSI: 52/10/31 videos)."""
    try:
        if name == "mosi":
            from mmsdk.mmdatasdk.dataset.standard_datasets.CMU_MOSI import cmu_mosi_std_folds as folds
        elif name == "mosei":
            from mmsdk.mmdatasdk.dataset.standard_datasets.CMU_MOSEI import cmu_mosei_std_folds as folds
        else:
            raise MsaflowError(f"unknown standard folds {name!r}; use one of {', '.join(STANDARD_FOLDS)} or none")
    except ImportError as error:
        raise MsaflowError(f"standard folds need mmsdk (pip install cmu-multimodal-sdk): {error}") from error
    modes = {}
    for mode, videos in (("train", folds.standard_train_fold), ("valid", folds.standard_valid_fold),
                         ("test", folds.standard_test_fold)):
        for video in videos:
            modes[video] = mode
    return modes


def apply_standard_folds(rows_modes: dict[str, str], folds: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Standard fold per video where known, the corpus' own mode otherwise; warnings for disagreements."""
    resolved, warnings = {}, []
    disagree = sorted(v for v, m in rows_modes.items() if v in folds and folds[v] != m)
    unknown = sorted(v for v in rows_modes if v not in folds)
    for video, mode in rows_modes.items():
        resolved[video] = folds.get(video, mode)
    if disagree:
        warnings.append(f"{len(disagree)} video(s) have a mode that disagrees with the standard folds; using the "
                        f"standard fold (e.g. {', '.join(f'{v}: {rows_modes[v]} -> {folds[v]}' for v in disagree[:5])})")
    if unknown:
        warnings.append(f"{len(unknown)} video(s) are in no standard fold; keeping their own mode "
                        f"(e.g. {', '.join(unknown[:5])})")
    return resolved, warnings
