"""Utterance audio: any container/codec/channel layout -> 16 kHz mono 16-bit PCM wav (ffmpeg).

A clip that cannot give audio (no audio stream, zero length, undecodable) is a QC failure with
ffmpeg's own reason; the rest of the shard continues.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from msaflow.common import MsaflowError, atomic_path

MIN_SAMPLES = 160  # 10 ms at 16 kHz: shorter output is no usable speech
# Decoded audio may fall short of the declared duration by codec padding and rounding (tens of ms).
TRUNCATION_TOLERANCE_S = 0.1
TRUNCATION_TOLERANCE_FRACTION = 0.02


@dataclass(frozen=True)
class ExtractionResult:
    utterance_id: str
    ok: bool
    reason: str
    seconds: float = 0.0


def require_ffmpeg() -> str:
    for tool in ("ffmpeg", "ffprobe"):  # ffprobe ships with ffmpeg
        if shutil.which(tool) is None:
            raise MsaflowError(f"{tool} is not on PATH: install ffmpeg (apt-get install ffmpeg, or conda install ffmpeg)")
    return shutil.which("ffmpeg")


# ffmpeg prefixes messages with its component's memory address ("[mov,mp4,... @ 0x5614a2c0] ..."),
# which differs between identical runs: QC reasons must not.
_MEMORY_ADDRESS = re.compile(r"\s*@\s*0x[0-9a-fA-F]+")


def _ffmpeg_reason(stderr: str) -> str:
    lines = [_MEMORY_ADDRESS.sub("", line).strip() for line in stderr.splitlines() if line.strip()]
    return "; ".join(lines[-3:])[:300] if lines else "ffmpeg failed without a message"


def _parse_seconds(value) -> float | None:
    """ffprobe's "2.400000" or a Matroska DURATION tag "00:00:02.408000000"."""
    try:
        if isinstance(value, str) and ":" in value:
            hours, minutes, seconds = value.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        return float(value)
    except (TypeError, ValueError):
        return None


@functools.lru_cache(maxsize=64)
def _declared_audio_seconds(media_path: str, size: int, mtime_ns: int, timeout_s: float) -> float | None:
    """The first audio stream's duration as the container declares it (ffprobe), or None when
    unknown. (size, mtime_ns) key the cache: clips cut from one long video probe it once."""
    cmd = ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,duration:stream_tags=DURATION:format=duration",
           "-of", "json", media_path]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        info = json.loads(result.stdout or "{}")
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        return None
    streams = info.get("streams", [])
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if audio is None:
        return None
    declared = _parse_seconds(audio.get("duration")) or _parse_seconds(audio.get("tags", {}).get("DURATION"))
    if declared is None and len(streams) == 1:  # the format's duration is the audio's only when alone
        declared = _parse_seconds(info.get("format", {}).get("duration"))
    return declared


def truncation_reason(media_path: Path, decoded_s: float, start: float | None, end: float | None,
                      stderr: str, timeout_s: float = 60) -> str | None:
    """Why a clip decoded (ffmpeg exit 0) to less audio than its container declares, or None.

    A truncated file (an interrupted download or copy) decodes partly and ffmpeg still exits 0,
    with a warning or error ("partial file", "File ended prematurely", "filesize and duration do
    not match"); its transcript then covers speech that is not in the wav. Codec padding and
    rounding stay below the tolerance.
    """
    stat = media_path.stat()
    declared = _declared_audio_seconds(str(media_path), stat.st_size, stat.st_mtime_ns, timeout_s)
    if declared is None:
        return None
    begin = start or 0.0
    expected = (declared if end is None else min(end, declared)) - begin
    if expected - decoded_s <= TRUNCATION_TOLERANCE_S + TRUNCATION_TOLERANCE_FRACTION * expected:
        return None
    detail = f"; ffmpeg: {_ffmpeg_reason(stderr)}" if stderr.strip() else ""
    return (f"truncated media: decoded {decoded_s:.2f} s of the {expected:.2f} s its container declares "
            f"({media_path.name}){detail}; replace the file with a complete copy")


class _ClipFailure(Exception):
    pass


def _run_ffmpeg(cmd: list[str], media_path: Path, timeout_s: float) -> tuple[int, str]:
    """Run ffmpeg, return the number of samples written and its stderr, or raise _ClipFailure."""
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
            return handle.getnframes(), result.stderr
    except (wave.Error, EOFError) as error:
        raise _ClipFailure(f"ffmpeg produced an unreadable wav: {error}") from error


def extract_audio(media_path: str | Path, out_path: str | Path, utterance_id: str, sample_rate: int = 16000,
                  start: float | None = None, end: float | None = None, timeout_s: float = 300) -> ExtractionResult:
    """Decode, cut and resample one clip; never raises for a bad clip, returns the reason instead."""
    media_path = Path(media_path)
    if not media_path.is_file():
        return ExtractionResult(utterance_id, False, f"media file missing: {media_path}")
    if media_path.stat().st_size == 0:
        return ExtractionResult(utterance_id, False, f"empty file (0 bytes): {media_path}; replace it with the clip's media")
    # Warnings too: a truncated file often decodes with only a warning ("filesize and duration do
    # not match") or an error and exit 0; a clean file prints nothing at this level.
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "warning", "-y"]
    if start is not None:
        cmd += ["-ss", f"{start:.3f}"]
    if end is not None:
        cmd += ["-to", f"{end:.3f}"]
    # -map 0:a:0: the first audio stream; its absence is an error we report, not silence.
    cmd += ["-i", str(media_path), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(sample_rate),
            "-c:a", "pcm_s16le", "-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1", "-f", "wav"]
    try:
        with atomic_path(out_path) as tmp:
            n_samples, stderr = _run_ffmpeg(cmd + [str(tmp)], media_path, timeout_s)
            if n_samples < MIN_SAMPLES:
                span = "" if start is None else f" for span {start}-{end} s"
                raise _ClipFailure(f"zero-length audio ({n_samples} samples){span}")
            # ffprobe costs as much as the decoding: only when ffmpeg complained yet exited 0.
            if stderr.strip() and (reason := truncation_reason(media_path, n_samples / sample_rate, start, end,
                                                               stderr, timeout_s)):
                raise _ClipFailure(reason)
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
