"""Raw 16 kHz waveforms for models that read audio themselves (CMT), a sibling of the tokens file.

`tokens/{encoder}/{fset}.waveforms.pt` holds, per split, the utterances of `tokens/{encoder}/{fset}.pt`
in the same order (`ids` equal), each utterance's audio-stage wav (`work/{ds}/audio/{shard}/<id>.wav`),
cut to `max_seconds` from its start and zero-padded to the split's longest utterance:

  ids (N), audio_waveform (N x S float16, samples / 32768 in [-1, 1]), audio_waveform_lengths (N int64,
  samples before padding)

The names put both tensors in the `audio` modality of the trainer's modality ablation (it zeroes
`audio_*` float tensors and shuffles all of them, msaflow.training.ablation). float16 halves the file
and the memory of a split against float32 (a MOSEI-sized corpus at a 10 s cap: about 7 GB) at a
quantisation error below 6e-4 of full scale (~65 dB SNR); the trainer's batches are float32.
`attach_waveforms` adds the two tensors to the tokens file's splits for training.
"""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError, QCTable, progress
from msaflow.tokenize import SPLITS

SAMPLE_RATE = 16000
WAVEFORM, LENGTHS = "audio_waveform", "audio_waveform_lengths"
KEYS = (WAVEFORM, LENGTHS)


def read_wav_int16(path: Path, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """(mono int16 samples at `sample_rate`, the file's own rate); resampled (polyphase) when it differs."""
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="int16", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as error:
        raise MsaflowError(f"cannot read audio {path}: {error}") from None
    if data.shape[1] > 1:
        data = data.astype(np.float64).mean(axis=1)
    else:
        data = data[:, 0]
    if rate != sample_rate:
        from scipy.signal import resample_poly

        g = gcd(int(rate), sample_rate)
        data = np.clip(np.round(resample_poly(data.astype(np.float64), sample_rate // g, int(rate) // g)), -32768, 32767)
    return np.asarray(data, dtype=np.int16), int(rate)


def wav_index(audio_dirs) -> dict[str, Path]:
    """utterance id -> wav path over the audio stage's shard folders."""
    index = {}
    for directory in audio_dirs:
        directory = Path(directory)
        if not directory.is_dir():
            raise MsaflowError(f"audio folder {directory} does not exist; build it first (snakemake {directory})")
        for path in directory.glob("*.wav"):
            index[path.stem] = path
    return index


def stack(waves: list[np.ndarray], dtype=np.int16):
    """(N x S tensor, N lengths) zero-padded to the longest; int16 samples as they are, or as float
    samples / 32768 (`dtype` float16/float32)."""
    import torch

    longest = max([len(w) for w in waves] + [1])
    out = np.zeros((len(waves), longest), dtype=dtype)
    scale = 1.0 if np.issubdtype(np.dtype(dtype), np.integer) else 1.0 / 32768.0
    for i, w in enumerate(waves):
        out[i, : len(w)] = w * scale if scale != 1.0 else w
    return torch.from_numpy(out), torch.tensor([len(w) for w in waves], dtype=torch.long)


def to_int16(waveform) -> np.ndarray:
    """A stored waveform row (float in [-1, 1] or int16) as int16 samples."""
    x = np.asarray(waveform)
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.int16)
    return np.clip(np.round(x.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def build_waveforms(tokens: dict, audio_dirs, max_seconds: float) -> tuple[dict, QCTable]:
    """The waveforms of every utterance of the tokens file, in its order, and a QC table."""
    index = wav_index(audio_dirs)
    cap = int(round(max_seconds * SAMPLE_RATE))
    qc = QCTable("waveforms")
    data = {}
    resampled, capped, seconds = set(), 0, 0.0
    for split in SPLITS:
        ids = list(tokens[split]["ids"])
        waves = []
        for uid in progress(ids, desc=f"waveforms {split}", total=len(ids)):
            path = index.get(uid)
            if path is None:
                raise MsaflowError(
                    f"utterance {uid} is in the tokens file but has no wav in {', '.join(map(str, audio_dirs))}: the "
                    "audio stage's output is out of date; rerun it (snakemake --forcerun audio ...)"
                )
            wave, rate = read_wav_int16(path)
            if rate != SAMPLE_RATE:
                resampled.add(rate)
            if len(wave) > cap:
                capped += 1
                qc.add(uid, "ok", f"truncated: kept {cap / SAMPLE_RATE:.2f} of {len(wave) / SAMPLE_RATE:.2f} s")
                wave = wave[:cap]
            else:
                qc.add(uid, "ok", "")
            seconds += len(wave) / SAMPLE_RATE
            waves.append(wave)
        waveform, lengths = stack(waves, np.float16)
        data[split] = {"ids": ids, WAVEFORM: waveform, LENGTHS: lengths}
    data["meta"] = {"sample_rate": SAMPLE_RATE, "max_seconds": max_seconds, "dtype": "float16", "truncated": capped,
                    "seconds": round(seconds, 2), "resampled_from_hz": sorted(resampled),
                    "counts": {s: len(data[s]["ids"]) for s in SPLITS}}
    return data, qc


def load_torch_artifact(path, what: str, stage: str):
    """torch.load of a file a stage wrote, with errors that name the file and the stage to rerun."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise MsaflowError(f"{what} {path} does not exist; run the {stage} stage first (snakemake {path})") from None
    except Exception as error:
        raise MsaflowError(f"{what} {path} cannot be read ({error}); delete it and rerun the {stage} stage") from None


def load_waveforms(path) -> dict:
    data = load_torch_artifact(path, "waveforms file", "waveforms")
    if not isinstance(data, dict) or not all(s in data for s in SPLITS):
        raise MsaflowError(f"{path} is not a waveforms file (expected keys {', '.join(SPLITS)})")
    return data


def attach_waveforms(tokens: dict, waveforms: dict, source: str = "waveforms file") -> None:
    """Add `audio_waveform`, `audio_waveform_lengths` to each split of `tokens`, checking the utterance order."""
    for split in SPLITS:
        if list(tokens[split]["ids"]) != list(waveforms[split]["ids"]):
            raise MsaflowError(f"{source}: the {split} utterances differ from the tokens file's (order or ids); "
                               "rebuild it from this tokens file (snakemake <the .waveforms.pt file>)")
        for key in KEYS:
            tokens[split][key] = waveforms[split][key]
