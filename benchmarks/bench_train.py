"""Training throughput on CPU (printed, not a timed test).

    PYTHONPATH=src HF_HUB_OFFLINE=1 python benchmarks/bench_train.py [--steps 6] [--threads 2]

Measures training samples per second for CM-BERT (batch 24, max length 50, full-length batches,
no padding trimming, so the numbers are the worst case) with
  * minilm-l6 (all-MiniLM-L6-v2, 6 x 384, the embedded default), and
  * a randomly initialised BERT-base-sized config (12 x 768; the paper's bert-base-uncased size,
    no weights needed),
and the peak resident memory of the process after each.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import torch


def peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


def fake_batch(n: int, length: int, audio_dim: int, vocab: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1000, vocab, (n, length), generator=g)
    input_ids[:, 0], input_ids[:, -1] = 101, 102
    word_index = torch.arange(length).repeat(n, 1) - 1
    word_index[:, 0] = word_index[:, -1] = -1
    audio = torch.randn(n, length, audio_dim, generator=g)
    audio[:, 0] = 0
    return {"input_ids": input_ids, "attention_mask": torch.ones(n, length, dtype=torch.long), "word_index": word_index,
            "audio": audio, "vision": torch.zeros(n, length, 0), "labels": torch.randn(n, generator=g)}


def bench(name: str, encoder, steps: int, batch_size: int, length: int, audio_dim: int) -> dict:
    from msaflow.models import build_model
    from msaflow.training.trainer import apply_freeze

    torch.manual_seed(0)
    model = build_model({"arch": "cmbert", "cls_audio": "mean"}, {"audio_dim": audio_dim}, encoder=encoder)
    apply_freeze(model, model.frozen_patterns())
    optimizer = torch.optim.AdamW(model.param_groups())
    model.train()
    batch = fake_batch(batch_size, length, audio_dim, encoder.config.vocab_size)
    times = []
    for _ in range(steps + 1):  # the first step is warm-up
        t = time.perf_counter()
        loss = model.loss(model(batch), batch["labels"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - t)
    per_step = sum(times[1:]) / steps
    return {"encoder": name, "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
            "s_per_step": per_step, "samples_per_s": batch_size / per_step, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--max-length", type=int, default=50)
    parser.add_argument("--audio-dim", type=int, default=74)
    parser.add_argument("--skip-base", action="store_true", help="only the minilm-l6 measurement")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import BertConfig, BertModel

    from msaflow.encoders import load_text_encoder

    rows = [bench("minilm-l6", load_text_encoder("minilm-l6"), args.steps, args.batch_size, args.max_length, args.audio_dim)]
    if not args.skip_base:
        torch.manual_seed(0)
        rows.append(bench("bert-base-sized (random init)", BertModel(BertConfig()), args.steps, args.batch_size,
                          args.max_length, args.audio_dim))
    print(f"CM-BERT training on CPU, {args.threads} threads, batch {args.batch_size}, length {args.max_length}, "
          f"audio dim {args.audio_dim}, torch {torch.__version__}")
    print(f"{'encoder':<32} {'params (M)':>10} {'s/step':>8} {'samples/s':>10} {'peak RSS (MB)':>14}")
    for r in rows:
        print(f"{r['encoder']:<32} {r['params_M']:>10.1f} {r['s_per_step']:>8.3f} {r['samples_per_s']:>10.1f} {r['peak_rss_mb']:>14.0f}")


if __name__ == "__main__":
    main()
