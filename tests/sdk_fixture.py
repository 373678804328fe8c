"""Tiny CMU-MultimodalSDK-layout files (words, COVAREP, labels) for tests of the SDK entry."""

from pathlib import Path

import h5py
import numpy as np

from msaflow.folds import standard_folds

SENTENCES = [
    ("i really loved this movie", 2.2), ("the plot was boring and slow", -1.8), ("it was okay i guess", 0.2),
    ("the actors were great", 1.6), ("i hated the ending", -2.4), ("nothing special about it", -0.4),
]


def pick_videos(per_mode=(3, 1, 1)):
    folds = standard_folds("mosi")
    chosen = []
    for mode, count in zip(("train", "valid", "test"), per_mode):
        chosen += sorted(v for v, m in folds.items() if m == mode)[:count]
    return chosen


def _write(path: Path, root: str, data: dict):
    with h5py.File(path, "w") as handle:
        group = handle.create_group(root)
        data_group = group.create_group("data")
        for video, (features, intervals) in data.items():
            g = data_group.create_group(video)
            g.create_dataset("features", data=features)
            g.create_dataset("intervals", data=intervals)
        meta = group.create_group("metadata")
        for key in ("root name", "computational sequence description", "dimension names"):
            ds = meta.create_dataset(key, (1,), dtype=h5py.string_dtype())
            ds[0] = root if key == "root name" else "test"


def write_sdk_dataset(root: Path, segments_per_video: int = 4, seed: int = 0) -> dict:
    """Words with `sp` pauses, 100 Hz COVAREP-shaped frames (with some -inf), opinion labels."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    words, covarep, labels = {}, {}, {}
    expected = {}
    for v, video in enumerate(pick_videos()):
        t = 0.5
        w_rows, w_times, seg_labels, seg_times = [], [], [], []
        for s in range(segments_per_video):
            sentence, label = SENTENCES[(v + s) % len(SENTENCES)]
            start = t
            for word in sentence.split():
                w_rows.append([word.encode()])
                w_times.append([t, t + 0.3])
                t += 0.3
                if rng.random() < 0.3:
                    w_rows.append([b"sp"])
                    w_times.append([t, t + 0.1])
                    t += 0.1
            seg_labels.append([label])
            seg_times.append([start, t])
            expected[f"{video}$_${s + 1}"] = (sentence.split(), label)
            t += 1.0
        n_frames = int(t * 100) + 10
        frames = rng.normal(size=(n_frames, 74)).astype(np.float32)
        frames[::50, 5] = -np.inf
        frame_times = np.stack([np.arange(n_frames) / 100, (np.arange(n_frames) + 1) / 100], axis=1)
        words[video] = (np.array(w_rows, dtype="S32"), np.array(w_times))
        covarep[video] = (frames, frame_times)
        labels[video] = (np.array(seg_labels, dtype=np.float32), np.array(seg_times))
    _write(root / "CMU_MOSI_TimestampedWords.csd", "words", words)
    _write(root / "CMU_MOSI_COVAREP.csd", "COVAREP", covarep)
    _write(root / "CMU_MOSI_Opinion_Labels.csd", "Opinion Segment Labels", labels)
    return expected


def write_sdk_visual(root: Path, name: str = "CMU_MOSI_Visual_Facet_42.csd", n_columns: int = 35,
                     skip_videos: tuple[str, ...] = (), seed: int = 1) -> list[str]:
    """A FACET-shaped visual file (30 Hz frames, some -inf, per-column 'dimension names') covering
    the videos of the labels file written by write_sdk_dataset; returns the column names."""
    rng = np.random.default_rng(seed)
    names = [f"facet_col{i}" for i in range(n_columns)]
    data = {}
    with h5py.File(root / "CMU_MOSI_Opinion_Labels.csd", "r") as labels:
        group = labels[list(labels.keys())[0]]["data"]
        for video in group:
            if video in skip_videos:
                continue
            end = float(group[video]["intervals"][()].max()) + 0.5
            n = int(end * 30)
            frames = rng.normal(size=(n, n_columns)).astype(np.float32)
            frames[::40, 3] = -np.inf
            times = np.stack([np.arange(n) / 30, (np.arange(n) + 1) / 30], axis=1)
            data[video] = (frames, times)
    _write(root / name, "FACET_4.2", data)
    with h5py.File(root / name, "a") as handle:
        meta = handle["FACET_4.2"]["metadata"]
        del meta["dimension names"]
        meta.create_dataset("dimension names", data=np.array(names, dtype="S32"))
    return names
