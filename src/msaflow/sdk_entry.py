"""Entry from precomputed CMU-MultimodalSDK files (the inputs the seed papers used).

A dataset folder holding `<PREFIX>_TimestampedWords.csd`, `<PREFIX>_COVAREP.csd` and a label file
(`CMU_MOSI_Opinion_Labels.csd` / `CMU_MOSEI_Labels.csd`) skips media, alignment and feature
extraction. The label file's intervals define the utterances (segments) of each video; the words
and COVAREP frames inside a segment, with times made relative to its start, become this
pipeline's own word table (`align/{shard}.tsv`) and frame features (`acoustic/covarep/{shard}.h5`),
so the usual word averaging, tokenisation, training and evaluation follow unchanged.

SDK files are large (MOSEI's COVAREP is several GB): every reader opens one video at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError, make_utterance_id
from msaflow.text import SHORT_PAUSE_TOKEN, normalize_transcript

SDK_FILES = {
    "mosi": {"words": "CMU_MOSI_TimestampedWords.csd", "acoustic": "CMU_MOSI_COVAREP.csd",
             "labels": "CMU_MOSI_Opinion_Labels.csd"},
    "mosei": {"words": "CMU_MOSEI_TimestampedWords.csd", "acoustic": "CMU_MOSEI_COVAREP.csd",
              "labels": "CMU_MOSEI_Labels.csd"},
}
SDK_ACOUSTIC_FSET = "covarep"  # the real COVAREP columns, as distinct from our covarep_like
# Optional visual files of the SDK releases, by our feature-set name (work/{ds}/visual/{vset}/).
# FACET (iMotions Emotient FACET, commercial) and OpenFace 2 frames as the SDK published them.
SDK_VISUAL_FILES = {
    "mosi": {"facet41": "CMU_MOSI_Visual_Facet_41.csd", "facet42": "CMU_MOSI_Visual_Facet_42.csd",
             "openface2": "CMU_MOSI_Visual_OpenFace_2.csd"},
    "mosei": {"facet42": "CMU_MOSEI_VisualFacet42.csd", "openface2": "CMU_MOSEI_VisualOpenFace2.csd"},
}
SDK_VISUAL_METHODS = {"facet41": "FACET 4.1 (iMotions/Emotient)", "facet42": "FACET 4.2 (iMotions/Emotient)",
                      "openface2": "OpenFace 2"}
COVAREP_COLUMNS = (["F0", "VUV", "NAQ", "QOQ", "H1H2", "PSP", "MDQ", "peakSlope", "Rd", "Rd_conf", "creak"]
                   + [f"MCEP_{i}" for i in range(25)] + [f"HMPDM_{i}" for i in range(25)]
                   + [f"HMPDD_{i}" for i in range(13)])
SEGMENT_EDGE_TOLERANCE_S = 0.005  # a word that overlaps a segment edge by less than this is outside


@dataclass(frozen=True)
class Segment:
    video_id: str
    clip_id: str
    start: float
    end: float
    label: float
    words: tuple[tuple[str, float, float], ...]  # (word, start, end) relative to segment start

    @property
    def utterance_id(self) -> str:
        return make_utterance_id(self.video_id, self.clip_id)

    @property
    def text(self) -> str:
        return " ".join(word for word, _, _ in self.words)


def sdk_visual_files(root: str | Path, folds: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """{visual set: file name} of the SDK visual files present in `root` (defaults by folds + overrides)."""
    names = {**SDK_VISUAL_FILES.get(folds, {}), **(overrides or {})}
    return {vset: name for vset, name in sorted(names.items()) if (Path(root) / name).is_file()}


def sdk_file_paths(root: str | Path, files: dict[str, str]) -> dict[str, Path]:
    return {kind: Path(root) / name for kind, name in files.items()}


def missing_sdk_message(root: str | Path, files: dict[str, str]) -> str | None:
    missing = [name for name in files.values() if not (Path(root) / name).is_file()]
    if not missing:
        return None
    return (f"CMU-MultimodalSDK files missing in {root}: {', '.join(missing)}. Download them with "
            f"mmsdk (mmdatasdk.mmdataset(cmu_mosi.highlevel / .labels, '{root}')) or from the SDK's "
            f"server and put them in that folder, or point datasets.<name>.root at the folder holding them")


def _open(path: Path):
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise MsaflowError(f"{path} is not a readable CMU-MultimodalSDK .csd file ({error})") from None
    roots = list(handle.keys())
    if len(roots) != 1 or "data" not in handle[roots[0]]:
        handle.close()
        raise MsaflowError(f"{path}: not in CMU-MultimodalSDK layout (/<name>/data/<video>/features|intervals)")
    return handle, handle[roots[0]]["data"]


def _decode_word(raw) -> str:
    value = raw[0] if np.ndim(raw) else raw
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def video_ids(labels_path: Path) -> list[str]:
    handle, data = _open(labels_path)
    with handle:
        return sorted(data.keys())


def read_segments(labels_path: Path, words_path: Path, label_column: int = 0,
                  videos: list[str] | None = None) -> tuple[list[Segment], list[tuple[str, str]]]:
    """Segments (one per label interval) with their words, and (utterance id, reason) for problems.

    The SDK's pause token `sp` is dropped; every other word goes through the same normaliser as
    our own transcripts (so `don't` stays one word and `2` becomes `two`, its interval split evenly).
    """
    labels_handle, labels = _open(labels_path)
    words_handle, words = _open(words_path)
    segments: list[Segment] = []
    problems: list[tuple[str, str]] = []
    with labels_handle, words_handle:
        for video_id in (sorted(labels.keys()) if videos is None else videos):
            if video_id not in labels:
                raise MsaflowError(f"{labels_path}: video {video_id!r} not found")
            values = labels[video_id]["features"][()]
            intervals = labels[video_id]["intervals"][()]
            if values.ndim != 2 or label_column >= values.shape[1]:
                raise MsaflowError(f"{labels_path}: video {video_id}: labels have shape {values.shape}; "
                                   f"label_column {label_column} does not exist")
            order = np.argsort(intervals[:, 0], kind="stable")
            if video_id in words:
                word_rows = [_decode_word(w) for w in words[video_id]["features"][()]]
                word_times = words[video_id]["intervals"][()]
            else:
                word_rows, word_times = [], np.zeros((0, 2))
            for k, index in enumerate(order):
                start, end = (float(t) for t in intervals[index])
                clip_id = str(k + 1)
                uid = make_utterance_id(video_id, clip_id)
                label = float(values[index, label_column])
                if not np.isfinite(label) or not -3.0 <= label <= 3.0:
                    problems.append((uid, f"label {label} missing or outside [-3, 3] in {labels_path.name}"))
                    continue
                if not end > start:
                    problems.append((uid, f"segment interval {start}-{end} s is empty in {labels_path.name}"))
                    continue
                inside = ((word_times[:, 0] >= start - SEGMENT_EDGE_TOLERANCE_S)
                          & (word_times[:, 1] <= end + SEGMENT_EDGE_TOLERANCE_S))
                segment_words = []
                for word, (w_start, w_end) in zip((w for w, m in zip(word_rows, inside) if m), word_times[inside]):
                    if word.strip().lower() == SHORT_PAUSE_TOKEN:
                        continue
                    pieces = normalize_transcript(word)
                    if not pieces:
                        continue
                    step = (w_end - w_start) / len(pieces)
                    for j, piece in enumerate(pieces):
                        segment_words.append((piece, round(float(w_start + j * step - start), 6),
                                              round(float(w_start + (j + 1) * step - start), 6)))
                if not segment_words:
                    problems.append((uid, f"no words inside segment {start:.2f}-{end:.2f} s in {words_path.name}"))
                    continue
                segments.append(Segment(video_id, clip_id, start, end, label, tuple(segment_words)))
    return segments, problems


def dimension_names(path: Path, width: int, prefix: str) -> list[str]:
    """The file's own per-column names (metadata 'dimension names') when it has one per column."""
    handle, _ = _open(path)
    with handle:
        root = handle[list(handle.keys())[0]]
        names = None
        if "metadata" in root and "dimension names" in root["metadata"]:
            raw = root["metadata"]["dimension names"][()]
            if np.ndim(raw) == 1 and len(raw) == width:
                names = [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in raw]
    if names and len(set(names)) == width and all(names):
        return names
    return [f"{prefix}_{i}" for i in range(width)]


def frame_entries(path: Path, segments: list[Segment], qc, n_columns: int | None = None, what: str = "frame"):
    """Cut an SDK frame file per segment: (entries for write_csd, column count), one QC row per segment.

    Non-finite values (the published files hold -inf/inf, e.g. log of zero) become NaN, noted in QC.
    """
    from msaflow.common import progress

    entries = []
    for segment, frames, intervals in progress(segment_frames(path, segments), desc=f"sdk {what}", total=len(segments)):
        uid = segment.utterance_id
        if frames is None:
            qc.add(uid, "failed", f"video {segment.video_id} not in {path.name}")
        elif n_columns is not None and frames.shape[1] != n_columns:
            qc.add(uid, "failed", f"{frames.shape[1]} {what} columns, expected {n_columns}")
        elif len(frames) == 0:
            qc.add(uid, "failed", f"no {what} frame inside the segment")
        else:
            n_columns = frames.shape[1]
            bad = ~np.isfinite(frames)
            entries.append((uid, np.where(bad, np.nan, frames), intervals))
            qc.add(uid, "ok", f"{int(bad.sum())} non-finite values set to NaN" if bad.any() else "")
    return entries, n_columns


def segment_frames(acoustic_path: Path, segments: list[Segment]):
    """Yield (segment, frames T x D float32, intervals T x 2 relative seconds) per segment."""
    handle, data = _open(acoustic_path)
    with handle:
        by_video: dict[str, list[Segment]] = {}
        for segment in segments:
            by_video.setdefault(segment.video_id, []).append(segment)
        for video_id, video_segments in by_video.items():
            if video_id not in data:
                for segment in video_segments:
                    yield segment, None, None
                continue
            features = data[video_id]["features"][()].astype(np.float32)
            intervals = data[video_id]["intervals"][()]
            for segment in video_segments:
                mask = (intervals[:, 1] > segment.start) & (intervals[:, 0] < segment.end)
                yield segment, features[mask], intervals[mask] - segment.start
