"""Time `msaflow predict` on a ~10-s clip after the model is loaded (issue 14: under 10 s on 2 CPU cores).

The clip is the demo's test clips (video and audio) joined into one file (their transcripts joined),
so it is real pipeline media with a known transcript; a model that reads vision runs the visual stage. Prints load time, then per call the time of every
stage and the total, and the audio seconds per wall second.

    python benchmarks/bench_predict.py [--run work/demo/runs/cmbert/seed1111] [--seconds 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as msaflow predict does (see stages/predict.py)


def make_clip(work: Path, dataset: str, seconds: float, out: Path) -> tuple[Path, str]:
    """The dataset's test media (video and audio) joined until `seconds`, and their transcripts joined."""
    import wave

    from msaflow.common import read_tsv

    rows = [r for r in read_tsv(work / dataset / "manifest.tsv") if r["mode"] == "test"]
    media, texts, total = [], [], 0.0
    for r in rows:
        wav = work / dataset / "audio" / r["shard"] / f"{r['utterance_id']}.wav"
        if not wav.exists() or not Path(r["media_path"]).exists():
            continue
        with wave.open(str(wav)) as handle:
            total += handle.getnframes() / handle.getframerate()
        media.append(Path(r["media_path"]))
        texts.append(r["text"])
        if total >= seconds:
            break
    if not media:
        raise SystemExit(f"no test media with audio under {work / dataset}: build the demo first (make demo)")
    out = out.with_suffix(media[0].suffix)
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{m.resolve()}'\n" for m in media))
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-c", "copy", str(out)], check=True)
    return out, " ".join(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="work/demo/runs/cmbert/seed1111")
    parser.add_argument("--work", default="work")
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from msaflow.bundle import load_bundle
    from msaflow.predict import ClipRequest, Predictor

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        clip, text = make_clip(Path(args.work), args.dataset, args.seconds, Path(tmp) / "clip")
        t0 = time.perf_counter()
        predictor = Predictor([load_bundle(args.run)])
        print(f"model and aligner loaded in {time.perf_counter() - t0:.2f} s ({predictor.model_name}, torch threads "
              f"{torch.get_num_threads()})")
        request = ClipRequest(media=clip, transcript=text)
        totals, cpus = [], []
        for i in range(args.repeats + 1):
            cpu0 = os.times()
            out = predictor.predict(request)
            cpu1 = os.times()
            cpu = (cpu1.user + cpu1.system + cpu1.children_user + cpu1.children_system
                   - cpu0.user - cpu0.system - cpu0.children_user - cpu0.children_system)
            timing = out["timing_s"]
            label = "first call" if i == 0 else f"call {i}"
            print(f"{label}: {out['duration_s']:.1f} s clip, {len(out['words'])} words, score {out['score']:+.4f}; "
                  + ", ".join(f"{k} {v:.2f}" for k, v in timing.items() if k != "total") + f"; total {timing['total']:.2f} s wall, {cpu:.2f} CPU s (with ffmpeg)")
            if i:
                totals.append(timing["total"])
                cpus.append(cpu)
        median = statistics.median(totals)
        load = os.getloadavg()[0]
        print(f"median {median:.2f} s wall, {statistics.median(cpus):.2f} CPU s for {out['duration_s']:.1f} s of audio "
              f"({out['duration_s'] / median:.1f} audio s per wall s); load average {load:.1f} on {os.cpu_count()} CPUs; "
              f"target < 10 s wall: {'PASS' if median < 10 else 'FAIL'}")


if __name__ == "__main__":
    main()
