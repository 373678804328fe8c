"""`msaflow acoustic`: frame-level acoustic features (10 ms grid) for one shard (DESIGN.md §3, §7).

Reads the wav of every utterance the audio stage did not fail, extracts one feature set, and
writes `acoustic/{fset}/{shard}.h5` (computational-sequence layout, NaN where a value is
undefined) and its QC table. An utterance without a voiced frame is `ok` with a note; an
unreadable or empty wav is `failed`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError, QCTable, get_logger, progress, usable_ids

STAGE = "acoustic"


def configure(parser: argparse.ArgumentParser) -> None:
    from msaflow.features.registry import FEATURE_SETS

    parser.add_argument("--fset", required=True, choices=FEATURE_SETS, help="feature set")
    parser.add_argument("--audio-dir", required=True, help="folder with <utterance_id>.wav (16 kHz mono)")
    parser.add_argument("--audio-qc", required=True, help="the audio stage's QC table for this shard")
    parser.add_argument("--out", required=True, help="output .h5 (computational sequence)")
    parser.add_argument("--qc", required=True, help="output QC table")
    parser.add_argument("--dataset", default="", help="dataset name for the metadata")
    parser.add_argument("--options", default="{}", help="extractor options as JSON, e.g. '{\"f0_min\": 75}'")
    parser.add_argument("--log", default=None)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float signal in [-1, 1]; MsaflowError naming the file if it cannot be used."""
    from scipy.io import wavfile

    try:
        sr, data = wavfile.read(path)
    except (OSError, ValueError, EOFError) as error:
        raise MsaflowError(f"{path}: unreadable wav ({error})") from None
    if data.ndim == 2:
        data = data.mean(axis=1)
    if data.dtype.kind == "i":
        data = data.astype(np.float64) / float(np.iinfo(data.dtype).max + 1)
    elif data.dtype.kind == "u":
        data = (data.astype(np.float64) - 128.0) / 128.0
    else:
        data = data.astype(np.float64)
    if len(data) == 0:
        raise MsaflowError(f"{path}: empty wav")
    if not np.all(np.isfinite(data)):
        raise MsaflowError(f"{path}: wav contains NaN or infinite samples")
    return data, int(sr)


def run(fset: str, audio_dir: str | os.PathLike, ids: list[str], out: str | os.PathLike,
        dataset: str = "", logger=None, options: dict | None = None) -> QCTable:
    from msaflow.features import csd, registry

    qc = QCTable(STAGE)
    cols = registry.columns(fset)
    options = registry.check_options(fset, options)
    audio_dir = Path(audio_dir)
    cpu_audio = [0.0, 0.0]

    def entries():
        for uid in progress(ids, desc=f"{STAGE} {fset}", total=len(ids)):
            try:
                x, sr = read_wav(audio_dir / f"{uid}.wav")
                t0 = time.process_time()
                ff = registry.extract(fset, x, sr, options)
                cpu_audio[0] += time.process_time() - t0
                cpu_audio[1] += len(x) / sr
            except MsaflowError as error:
                qc.add(uid, "failed", str(error))
                if logger:
                    logger.warning("%s: %s", uid, error)
                continue
            except Exception as error:  # an extractor bug must not lose the whole shard silently
                qc.add(uid, "failed", f"{fset} extraction error: {type(error).__name__}: {error}")
                if logger:
                    logger.exception("%s: extraction error", uid)
                continue
            qc.add(uid, "ok", "; ".join(ff.notes))
            yield uid, ff.features, ff.intervals

    metadata = {
        "computational sequence description": f"msaflow {fset} frame-level acoustic features, 10 ms grid",
        "computational sequence version": "1",
        "dataset name": dataset,
        "creator": "msaflow",
        "column names": [c.name for c in cols],
        "columns": [c.as_dict() for c in cols],
        "settings": registry.settings(fset, options),
        "fill": {"frame_level": "NaN where undefined (see columns[].nan_when); filled at the words stage"},
    }
    n = csd.write_csd(out, fset, entries(), metadata)
    if logger:
        rate = cpu_audio[1] / cpu_audio[0] if cpu_audio[0] > 0 else float("nan")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        logger.info("%s: %d utterances written, %s; %.1f audio s per CPU s; peak RSS %.0f MB",
                    fset, n, qc.counts(), rate, peak_mb)
    return qc


def main(args: argparse.Namespace) -> int:
    logger = get_logger(STAGE, args.log)
    ids = usable_ids(args.audio_qc)
    logger.info("%s: %d utterances from %s", args.fset, len(ids), args.audio_qc)
    try:
        options = json.loads(args.options)
    except json.JSONDecodeError as error:
        raise MsaflowError(f"--options is not JSON ({error}): {args.options!r}") from None
    qc = run(args.fset, args.audio_dir, ids, args.out, args.dataset, logger, options)
    qc.check_accounts_for(ids)
    qc.write(args.qc)
    return 0
