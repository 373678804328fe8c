"""Computational sequences (CMU-MultimodalSDK layout) read and write, without importing mmsdk.

Layout (DESIGN.md §3): `/<root>/data/<utterance_id>/features` (T x D float32),
`/<root>/data/<utterance_id>/intervals` (T x 2 float64 seconds), `/<root>/metadata/<key>`: a
(1,) variable-length string dataset per key, exactly as mmsdk's writeCSD, so the files load in
`mmsdk.mmdatasdk.computational_sequence`. Structured metadata (column names, per-column methods,
z-normalisation statistics, settings) is stored as JSON strings; `read_csd` decodes it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping

import numpy as np

from msaflow.common import MsaflowError, atomic_path

# mmsdk's featuresetMetadataTemplate: all must be present or mmsdk logs a metadata error
MMSDK_METADATA_KEYS = (
    "root name", "computational sequence description", "computational sequence version",
    "alignment compatible", "dataset name", "dataset version", "creator", "contact",
    "featureset bib citation", "dataset bib citation",
)
JSON_KEYS = ("column names", "columns", "znorm", "settings", "fill", "qc notes")


def write_csd(path: str | os.PathLike, root_name: str,
              entries: Iterable[tuple[str, np.ndarray, np.ndarray]], metadata: Mapping[str, object]) -> int:
    """Write (utterance_id, features, intervals) entries atomically; returns the entry count."""
    import h5py

    meta = {key: "" for key in MMSDK_METADATA_KEYS}
    meta.update({"root name": root_name, "alignment compatible": "True"})
    for key, value in metadata.items():
        meta[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    count = 0
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as handle:
            root = handle.create_group(root_name)
            data = root.create_group("data")
            for uid, features, intervals in entries:
                features = np.asarray(features, dtype=np.float32)
                intervals = np.asarray(intervals, dtype=np.float64)
                if features.ndim != 2 or intervals.shape != (features.shape[0], 2):
                    raise MsaflowError(f"{path}: utterance {uid!r}: features {features.shape} / intervals {intervals.shape} are not T x D / T x 2")
                if "/" in uid:
                    raise MsaflowError(f"{path}: utterance id {uid!r} contains '/', which HDF5 treats as a path")
                group = data.create_group(uid)
                group.create_dataset("features", data=features)
                group.create_dataset("intervals", data=intervals)
                count += 1
            mgroup = root.create_group("metadata")
            for key, value in meta.items():
                ds = mgroup.create_dataset(key, (1,), dtype=h5py.string_dtype())
                ds[0] = str(value)
    return count


def _open(path):
    import h5py

    if not os.path.exists(path):
        raise MsaflowError(f"computational sequence {path} does not exist")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise MsaflowError(f"{path} is not a readable HDF5 computational sequence ({error})") from None


def read_metadata(path: str | os.PathLike) -> dict:
    with _open(path) as handle:
        root = handle[list(handle.keys())[0]]
        return _decode_metadata(root["metadata"])


def _decode_metadata(group) -> dict:
    meta = {}
    for key in group.keys():
        value = group[key][0]
        value = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        if key in JSON_KEYS and value:
            value = json.loads(value)
        meta[key] = value
    return meta


def read_csd(path: str | os.PathLike, ids: Iterable[str] | None = None) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """{utterance_id: (features float32, intervals)} and decoded metadata."""
    with _open(path) as handle:
        keys = list(handle.keys())
        if len(keys) != 1:
            raise MsaflowError(f"{path}: expected one root group, found {keys}")
        root = handle[keys[0]]
        if "data" not in root or "metadata" not in root:
            raise MsaflowError(f"{path}: missing 'data' or 'metadata' under /{keys[0]}")
        data = root["data"]
        wanted = list(data.keys()) if ids is None else list(ids)
        out = {}
        for uid in wanted:
            if uid not in data:
                raise MsaflowError(f"{path}: utterance {uid!r} not found")
            out[uid] = (data[uid]["features"][()].astype(np.float32, copy=False), data[uid]["intervals"][()])
        return out, _decode_metadata(root["metadata"])


def load_word_features(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], list[str], dict]:
    """Word-level features for the tokens stage: ({utterance_id: (n_words x D) float32}, column names, metadata).

    Row i of an utterance's array is word i of the align table (word_index order). Values are
    word means, z-normalised with train-split statistics, NaN filled (see metadata 'fill', 'znorm').
    """
    entries, meta = read_csd(path)
    names = meta.get("column names")
    if not isinstance(names, list):
        raise MsaflowError(f"{path}: metadata lacks 'column names'; not a msaflow word-level file")
    return {uid: feats for uid, (feats, _) in entries.items()}, names, meta
