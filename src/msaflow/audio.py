"""Utterance audio: any container/codec/channel layout -> 16 kHz mono 16-bit PCM wav (ffmpeg).

A clip that cannot give audio (no audio stream, zero length, undecodable) is a QC failure with
ffmpeg's own reason; the rest of the shard continues.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from msaflow.common import MsaflowError, atomic_path

MIN_SAMPLES = 160  # 10 ms at 16 kHz: shorter output is no usable speech


@dataclass(frozen=True)
class ExtractionResult:
    utterance_id: str
    ok: bool
    reason: str
    seconds: float = 0.0


def require_ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise MsaflowError("ffmpeg is not on PATH: install it (apt-get install ffmpeg, or conda install ffmpeg)")
    return path


def _ffmpeg_reason(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return "; ".join(lines[-3:])[:300] if lines else "ffmpeg failed without a message"


class _ClipFailure(Exception):
    pass


def _run_ffmpeg(cmd: list[str], media_path: Path, timeout_s: float) -> int:
    """Run ffmpeg, return the number of samples written, or raise _ClipFailure with its reason."""
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as error:
        raise _ClipFailure(f"ffmpeg timed out after {timeout_s} s on {media_path}") from error
    if result.returncode != 0:
        reason = _ffmpeg_reason(result.stderr)
        if "matches no streams" in reason or "does not contain any stream" in reason:
            reason = f"no audio track in {media_path.name} ({reason})"
        raise _ClipFailure(f"ffmpeg: {reason}")
    try:
        with wave.open(cmd[-1]) as handle:
            return handle.getnframes()
    except (wave.Error, EOFError) as error:
        raise _ClipFailure(f"ffmpeg produced an unreadable wav: {error}") from error


def extract_audio(media_path: str | Path, out_path: str | Path, utterance_id: str, sample_rate: int = 16000,
                  start: float | None = None, end: float | None = None, timeout_s: float = 300) -> ExtractionResult:
    """Decode, cut and resample one clip; never raises for a bad clip, returns the reason instead."""
    media_path = Path(media_path)
    if not media_path.is_file():
        return ExtractionResult(utterance_id, False, f"media file missing: {media_path}")
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y"]
    if start is not None:
        cmd += ["-ss", f"{start:.3f}"]
    if end is not None:
        cmd += ["-to", f"{end:.3f}"]
    # -map 0:a:0: the first audio stream; its absence is an error we report, not silence.
    cmd += ["-i", str(media_path), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(sample_rate),
            "-c:a", "pcm_s16le", "-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1", "-f", "wav"]
    try:
        with atomic_path(out_path) as tmp:
            n_samples = _run_ffmpeg(cmd + [str(tmp)], media_path, timeout_s)
            if n_samples < MIN_SAMPLES:
                span = "" if start is None else f" for span {start}-{end} s"
                raise _ClipFailure(f"zero-length audio ({n_samples} samples){span}")
    except _ClipFailure as failure:  # atomic_path has removed the partial file
        return ExtractionResult(utterance_id, False, str(failure))
    seconds = n_samples / sample_rate
    return ExtractionResult(utterance_id, True, "", seconds)


def extract_many(jobs: list[dict], out_dir: Path, sample_rate: int, timeout_s: float, threads: int, bar):
    """Run extract_audio over manifest rows in a thread pool (ffmpeg does the work in subprocesses)."""

    def one(row: dict) -> ExtractionResult:
        start = float(row["start"]) if row.get("start") else None
        end = float(row["end"]) if row.get("end") else None
        return extract_audio(row["media_path"], out_dir / f"{row['utterance_id']}.wav", row["utterance_id"],
                             sample_rate, start, end, timeout_s)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        yield from bar(pool.map(one, jobs), total=len(jobs))
