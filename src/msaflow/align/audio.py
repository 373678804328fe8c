"""Reading the utterance wav files written by the audio stage (16 kHz mono, 16-bit PCM)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError

EXPECTED_SAMPLE_RATE = 16000


def read_wav_int16(path: str | Path, utterance_id: str = "", sample_rate: int = EXPECTED_SAMPLE_RATE) -> np.ndarray:
    """Samples as int16. Raises MsaflowError naming the utterance if the file breaks the contract."""
    label = f"utterance {utterance_id!r} ({path})" if utterance_id else str(path)
    try:
        with wave.open(str(path), "rb") as handle:
            channels, width, rate, frames = (handle.getnchannels(), handle.getsampwidth(),
                                             handle.getframerate(), handle.getnframes())
            data = handle.readframes(frames)
    except FileNotFoundError:
        raise MsaflowError(f"{label}: audio file is missing; rerun the audio stage for this shard") from None
    except (wave.Error, EOFError) as error:
        raise MsaflowError(f"{label}: not a readable PCM wav file ({error}); rerun the audio stage") from None
    if channels != 1 or width != 2 or rate != sample_rate:
        raise MsaflowError(
            f"{label}: expected {sample_rate} Hz mono 16-bit wav, found {rate} Hz, {channels} channel(s), "
            f"{8 * width}-bit; the audio stage writes the expected format, rerun it"
        )
    return np.frombuffer(data, dtype="<i2").copy()
