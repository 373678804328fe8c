"""Stage `waveforms`: the tokens file's utterances as raw 16 kHz waveforms (msaflow.waveforms).

Inputs: the tokens file (utterance ids and order per split) and the audio stage's shard folders.
Output: `tokens/{encoder}/{fset}.waveforms.pt` and its QC table (every utterance ok; capped ones
say how much was kept).
"""

from __future__ import annotations

import argparse
import time

from msaflow.common import atomic_path, get_logger


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tokens", required=True, help="tokens/{encoder}/{fset}.pt (ids and their order)")
    parser.add_argument("--audio-dirs", nargs="+", required=True, help="the audio stage's work/{ds}/audio/{shard} folders")
    parser.add_argument("--max-seconds", type=float, default=10.0, help="keep at most this much of each utterance")
    parser.add_argument("--out", required=True, help="tokens/{encoder}/{fset}.waveforms.pt")
    parser.add_argument("--qc", required=True)
    parser.add_argument("--log", default=None)


def main(args) -> int:
    import torch

    from msaflow.tokenize import load_tokens
    from msaflow.waveforms import build_waveforms

    log = get_logger("waveforms", args.log)
    t0 = time.time()
    tokens = load_tokens(args.tokens)
    data, qc = build_waveforms(tokens, args.audio_dirs, args.max_seconds)
    data["meta"].update(tokens=str(args.tokens), wall_time_s=round(time.time() - t0, 3))
    meta = data["meta"]
    log.info("waveforms: train/valid/test %d/%d/%d utterances, %.1f s of audio, %d cut to %.1f s%s",
             meta["counts"]["train"], meta["counts"]["valid"], meta["counts"]["test"], meta["seconds"],
             meta["truncated"], args.max_seconds,
             f", resampled from {meta['resampled_from_hz']} Hz" if meta["resampled_from_hz"] else "")
    qc.write(args.qc)
    with atomic_path(args.out) as tmp:
        torch.save(data, tmp)
    return 0
