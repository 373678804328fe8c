"""Dataset summary: what went into a run (splits, labels, durations, words) and what fell out (QC)."""

from __future__ import annotations

import wave
from collections import Counter
from pathlib import Path

import numpy as np

from msaflow.common import read_qc, read_tsv

LABEL_BINS = np.arange(-3.0, 3.5, 0.5)


def _describe(values) -> dict:
    values = np.asarray(list(values), dtype=float)
    if values.size == 0:
        return {"n": 0}
    return {"n": int(values.size), "mean": round(float(values.mean()), 3), "sd": round(float(values.std()), 3),
            "min": round(float(values.min()), 3), "median": round(float(np.median(values)), 3),
            "max": round(float(values.max()), 3)}


def _wav_seconds(path: Path) -> float | None:
    try:
        with wave.open(str(path)) as handle:
            return handle.getnframes() / handle.getframerate()
    except (FileNotFoundError, wave.Error, EOFError):
        return None


def stage_counts(qc_files: list[str]) -> dict:
    counts = Counter()
    reasons = Counter()
    for path in qc_files:
        for status, reason in read_qc(path).values():
            counts[status] += 1
            if status != "ok" and reason:
                reasons[reason.split(":")[0][:80]] += 1
    return {"ok": counts["ok"], "fallback": counts["fallback"], "failed": counts["failed"],
            "top_reasons": dict(reasons.most_common(5))}


def word_counts(align_tables: list[str]) -> Counter:
    """Words per utterance from the alignment tables."""
    counts = Counter()
    for table in align_tables:
        for row in read_tsv(table):
            counts[row["utterance_id"]] += 1
    return counts


def utterance_durations(rows: list[dict], audio_dirs: list[str] | None = None) -> dict[str, float]:
    """Seconds per utterance: the manifest's start/end when given, else the audio stage's wav headers."""
    durations = {r["utterance_id"]: float(r["end"]) - float(r["start"]) for r in rows if r.get("start") and r.get("end")}
    if not durations and audio_dirs:
        by_shard = {Path(d).name: Path(d) for d in audio_dirs}
        for r in rows:
            seconds = _wav_seconds(by_shard.get(r["shard"], Path("/nonexistent")) / f"{r['utterance_id']}.wav")
            if seconds is not None:
                durations[r["utterance_id"]] = seconds
    return durations


def summarize(dataset: str, manifest: str, qc_by_stage: dict[str, list[str]], align_tables: list[str],
              audio_dirs: list[str] | None = None) -> dict:
    rows = read_tsv(manifest)
    labels = np.array([float(r["label"]) for r in rows])
    per_split = Counter(r["mode"] for r in rows)
    histogram, _ = np.histogram(np.clip(labels, -3, 3), bins=LABEL_BINS)
    words_per_utterance = word_counts(align_tables)
    durations = list(utterance_durations(rows, audio_dirs).values())
    return {
        "dataset": dataset,
        "utterances": len(rows),
        "videos": len({r["video_id"] for r in rows}),
        "utterances_per_split": {m: per_split.get(m, 0) for m in ("train", "valid", "test")},
        "videos_per_split": {m: len({r["video_id"] for r in rows if r["mode"] == m}) for m in ("train", "valid", "test")},
        "label": _describe(labels) | {"histogram": {"bin_edges": LABEL_BINS.tolist(), "counts": histogram.tolist()}},
        "duration_s": _describe(durations) | {"total_hours": round(sum(durations) / 3600, 3)},
        "words_per_utterance": _describe(words_per_utterance.values()),
        "qc": {stage: stage_counts(files) for stage, files in qc_by_stage.items()},
    }
