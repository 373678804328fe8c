"""Benchmarks for the acoustic and words stages (printed numbers, not timed tests).

  PYTHONPATH=src python benchmarks/bench_features.py [--minutes 10]

1. covarep_like on a 10-minute recording (espeak-ng speech, tiled; synthetic vowels if espeak-ng
   is missing): audio seconds per CPU second, and its CPU time as a ratio to opensmile eGeMAPS
   LLD on the same audio in the same run. Each extractor runs in a fresh child process so that
   its peak RSS (a shard job's memory) is measured on its own.
2. Word averaging: utterances per second on 2,000 utterances x 20 words x 74 columns.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

SR = 16000
TEXT = ("The movie was surprisingly good, although the ending felt a little rushed. "
        "I would still recommend it to my friends, mostly for the acting and the music. "
        "Honestly, I did not expect much, but the second half really surprised me. ")


def make_audio(minutes: float) -> tuple[np.ndarray, str]:
    n = int(minutes * 60 * SR)
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "s.wav"
            subprocess.run(["espeak-ng", "-w", str(wav), TEXT * 4], check=True)
            from scipy.io import wavfile
            from scipy.signal import resample_poly

            sr, x = wavfile.read(wav)
            x = x.astype(np.float64) / 32768.0
            if sr != SR:
                x = resample_poly(x, SR, sr)
        return np.tile(x, int(np.ceil(n / len(x))))[:n], "espeak-ng speech (tiled)"
    from msaflow.features import synthetic

    return synthetic.utterance(SR, n / SR, seed=0), "synthetic vowels"


def _child(fset: str, x: np.ndarray, queue) -> None:
    from msaflow.features import registry

    registry.extract(fset, x[: SR], SR)  # warm-up (library init, cached matrices)
    t0 = time.process_time()
    ff = registry.extract(fset, x, SR)
    cpu = time.process_time() - t0
    queue.put((cpu, ff.features.shape, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def run_extractor(fset: str, x: np.ndarray):
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fset, x, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def bench_words(n_utt: int = 2000, n_words: int = 20, dim: int = 74) -> float:
    from msaflow.features import word_average

    rng = np.random.default_rng(0)
    utts = []
    for _ in range(n_utt):
        n_frames = int(rng.integers(300, 700))
        dur = n_frames * 0.01
        feats = rng.normal(size=(n_frames, dim)).astype(np.float32)
        feats[rng.random(n_frames) < 0.4, :11] = np.nan  # unvoiced frames
        s = np.arange(n_frames) * 0.01
        frames = np.stack([s, s + 0.01], axis=1)
        edges = np.sort(rng.uniform(0, dur, n_words + 1))
        words = np.stack([edges[:-1], edges[1:]], axis=1)
        utts.append((feats, frames, words))
    t0 = time.perf_counter()
    for feats, frames, words in utts:
        word_average.average(feats, frames, words, mode="nanmean")
    return n_utt / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    x, source = make_audio(args.minutes)
    seconds = len(x) / SR
    print(f"audio: {seconds:.0f} s of {source}, {SR} Hz")
    cov_cpu, cov_shape, cov_mb = run_extractor("covarep_like", x)
    ege_cpu, ege_shape, ege_mb = run_extractor("egemaps", x)
    print(f"covarep_like: {cov_cpu:.2f} CPU s for {cov_shape[0]} frames x {cov_shape[1]} -> "
          f"{seconds / cov_cpu:.1f} audio s per CPU s (target >= 10); peak RSS {cov_mb:.0f} MB")
    print(f"egemaps:      {ege_cpu:.2f} CPU s for {ege_shape[0]} frames x {ege_shape[1]} -> "
          f"{seconds / ege_cpu:.1f} audio s per CPU s; peak RSS {ege_mb:.0f} MB")
    print(f"covarep_like / egemaps CPU time ratio: {cov_cpu / ege_cpu:.2f} (target <= 3)")
    rate = bench_words()
    print(f"word averaging: {rate:.0f} utterances/s on 2000 utt x 20 words x 74 columns (target >= 1000)")


if __name__ == "__main__":
    main()
