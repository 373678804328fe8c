"""Training throughput and peak memory of the tri-modal models on CPU (printed, not a timed test).

    PYTHONPATH=src HF_HUB_OFFLINE=1 python benchmarks/bench_trimodal.py [--steps 4] [--threads 2]
        [--models tbert,lfbert,mhmf,senbert] [--encoders minilm-l6,bert-base]

MOSI-like sizes: 50 word-pieces, word-level audio 74-d (COVAREP) and vision 35-d (FACET), and
unaligned frames at 20 Hz for 10 s (200 frames each) for SenBERT; full-length batches (no
padding trimming: the worst case). Each model trains with its config.yaml settings and its batch
size (SenBERT 32, the paper's; the others train.batch_size) on
  * minilm-l6 (all-MiniLM-L6-v2, 6 x 384, the embedded default), and
  * a randomly initialised BERT-base-sized encoder (12 x 768; no weights needed).
Every (model, encoder) runs in its own process, so the peak resident memory (getrusage
ru_maxrss) is that case's alone. One optimizer step (forward, the model's training loss with its
auxiliary terms, backward, AdamW) is timed after one warm-up step.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FRAMES = 200  # 20 Hz x 10 s
SIZES = {"length": 50, "audio_dim": 74, "vision_dim": 35, "audio_frames": FRAMES, "audio_frames_dim": 74,
         "vision_frames": FRAMES, "vision_frames_dim": 35}


def peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


def run_case(model_name: str, encoder_name: str, steps: int, threads: int) -> dict:
    import torch
    import yaml

    from msaflow.models import build_model
    from msaflow.training import workflow_config as wfc
    from msaflow.training.synthetic import make_trimodal_batch, trimodal_meta
    from msaflow.training.trainer import apply_freeze

    torch.set_num_threads(threads)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    settings = json.loads(wfc.model_settings_json(config, model_name))
    batch_size = wfc.train_settings(config, "mosi", model_name)["batch_size"]
    torch.manual_seed(0)
    if encoder_name == "bert-base":
        from transformers import BertConfig, BertModel

        encoder = BertModel(BertConfig())
    else:
        from msaflow.encoders import load_text_encoder

        encoder = load_text_encoder(encoder_name)
    batch = make_trimodal_batch(batch_size, vocab=encoder.config.vocab_size, full_length=True, **SIZES)
    model = build_model(settings, trimodal_meta(batch), encoder=encoder)
    apply_freeze(model, model.frozen_patterns())
    optimizer = torch.optim.AdamW(model.param_groups())
    model.train()
    times = []
    for _ in range(steps + 1):  # the first step is warm-up
        t = time.perf_counter()
        loss, _ = model.training_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - t)
    per_step = sum(times[1:]) / steps
    encoder_params = sum(p.numel() for p in model.encoder.parameters())
    return {"model": model_name, "encoder": encoder_name, "batch_size": batch_size,
            "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
            "fusion_params_M": (sum(p.numel() for p in model.parameters()) - encoder_params) / 1e6,
            "s_per_step": per_step, "samples_per_s": batch_size / per_step, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="tbert,lfbert,mhmf,senbert")
    parser.add_argument("--encoders", default="minilm-l6,bert-base")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # model:encoder, run in this process
    args = parser.parse_args()
    if args.case:
        model_name, encoder_name = args.case.split(":")
        print(json.dumps(run_case(model_name, encoder_name, args.steps, args.threads)))
        return
    rows = []
    for encoder_name in args.encoders.split(","):
        for model_name in args.models.split(","):
            out = subprocess.run([sys.executable, __file__, "--case", f"{model_name}:{encoder_name}",
                                  "--steps", str(args.steps), "--threads", str(args.threads)],
                                 check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(f"done {model_name} with {encoder_name}", file=sys.stderr, flush=True)
    import torch

    print(f"Training on CPU, {args.threads} threads, {args.steps} timed steps, length {SIZES['length']}, "
          f"audio/vision {SIZES['audio_dim']}/{SIZES['vision_dim']}-d, frames {FRAMES} per modality, torch {torch.__version__}")
    print(f"{'model':<8} {'encoder':<10} {'batch':>5} {'params (M)':>10} {'fusion (M)':>10} {'s/step':>8} "
          f"{'samples/s':>10} {'peak RSS (MB)':>14}")
    for r in rows:
        print(f"{r['model']:<8} {r['encoder']:<10} {r['batch_size']:>5} {r['params_M']:>10.1f} {r['fusion_params_M']:>10.1f} "
              f"{r['s_per_step']:>8.3f} {r['samples_per_s']:>10.1f} {r['peak_rss_mb']:>14.0f}")


if __name__ == "__main__":
    main()
