"""CMT throughput on CPU (printed, not a timed test).

    PYTHONPATH=src HF_HUB_OFFLINE=1 nice python benchmarks/bench_cmt.py [--threads 2] [--seconds 3] [--steps 3]

For each encoder pair, in its own process (so that the peak resident memory is its own):
  * pretraining steps per second (the PT/TAPT objective: four encoder passes, masked and clean text and
    audio, both cross-modal streams, both MLM heads, backward, AdamW step; gradient into the conv
    waveform encoder scaled by 0.1 as in pretraining);
  * fine-tuning samples per second (CMT-2, task loss + orthogonality term, backward, Adam step; text
    embeddings and conv waveform encoder frozen as in the model's defaults);
  * peak RSS.
Pairs: minilm-l6 + hubert-small (the embedded default, HuBERT architecture 3 x 256), and minilm-l6 +
a randomly initialised HuBERT-base-sized encoder (12 x 768, 512 conv channels, group norm: its conv
encoder runs utterance by utterance, see models/cmt.py). Every utterance is `--seconds` long with 16
word-pieces (the demo averages 2.2 s; MOSEI about 7 s).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

PAIRS = ("minilm-l6+hubert-small", "minilm-l6+hubert-base-sized")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(pair: str):
    import torch
    from transformers import HubertConfig, HubertModel

    from msaflow.encoders import load_speech_encoder
    from msaflow.models.cmt import CMT

    torch.manual_seed(0)
    speech = load_speech_encoder("hubert-small") if pair.endswith("hubert-small") else HubertModel(HubertConfig(layerdrop=0.0))
    return CMT({"arch": "cmt", "encoder": "minilm-l6", "init": "none"}, {}, speech_encoder=speech)


def batch_of(n: int, seconds: float, vocab: int, seed: int = 0) -> dict:
    import torch

    g = torch.Generator().manual_seed(seed)
    samples = int(16000 * seconds)
    input_ids = torch.randint(1000, vocab, (n, 16), generator=g)
    input_ids[:, 0], input_ids[:, -1] = 101, 102
    maskable = torch.ones(n, 16, dtype=torch.bool)
    maskable[:, 0] = maskable[:, -1] = False
    return {"input_ids": input_ids, "attention_mask": torch.ones(n, 16, dtype=torch.long), "maskable": maskable,
            "audio_waveform": 0.1 * torch.randn(n, samples, generator=g),
            "audio_waveform_lengths": torch.full((n,), samples), "labels": torch.randn(n, generator=g)}


def timed(step, steps: int) -> float:
    step()  # warm-up
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def measure(pair: str, args) -> dict:
    import torch

    from msaflow.models.cmt import CMTPretrainingHeads
    from msaflow.pretraining import loop
    from msaflow.pretraining.codewords import n_frames
    from msaflow.training.trainer import apply_freeze

    torch.set_num_threads(args.threads)
    model = build(pair)
    vocab = model.encoder.get_input_embeddings().num_embeddings
    result = {"pair": pair, "params_M": sum(p.numel() for p in model.parameters()) / 1e6}

    # pretraining
    heads = CMTPretrainingHeads(model.d_model, vocab, 100)
    cfg = loop.PretrainConfig(batch_size=args.pretrain_batch)
    optimizer = torch.optim.AdamW(loop.parameter_groups(model, heads, cfg, ("text_blocks.", "audio_blocks.", "heads.")))
    model.speech.feature_grad_scale = cfg.feature_grad_mult
    batch = batch_of(args.pretrain_batch, args.seconds, vocab)
    frames = n_frames(batch["audio_waveform"].shape[1])
    batch["targets"] = torch.randint(0, 100, (args.pretrain_batch, frames))
    batch["audio_waveform"] = (batch["audio_waveform"] * 32768).to(torch.int16)
    pre = {"waveform": batch["audio_waveform"], "waveform_lengths": batch["audio_waveform_lengths"], **batch}
    model.train()
    heads.train()

    def pretrain_step():
        g = torch.Generator().manual_seed(0)
        masked, labels, frame_mask = loop.masks_for(pre, model, cfg, 103, vocab, g)
        out = loop.objective(model, heads, pre, masked, labels, frame_mask)
        optimizer.zero_grad()
        (out["loss_text"] + out["loss_audio"]).backward()
        optimizer.step()

    s = timed(pretrain_step, args.steps)
    result.update(pretrain_s_per_step=s, pretrain_steps_per_s=1 / s, pretrain_batch=args.pretrain_batch)
    model.speech.feature_grad_scale = 1.0

    # fine-tuning
    apply_freeze(model, model.frozen_patterns())
    optimizer = torch.optim.AdamW(model.param_groups(), betas=(0.9, 0.999))
    batch = batch_of(args.batch_size, args.seconds, vocab, seed=1)

    def finetune_step():
        loss, _ = model.training_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    s = timed(finetune_step, args.steps)
    result.update(finetune_s_per_step=s, finetune_samples_per_s=args.batch_size / s, batch_size=args.batch_size,
                  peak_rss_mb=peak_rss_mb())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="audio per utterance")
    parser.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up step)")
    parser.add_argument("--batch-size", type=int, default=16, help="fine-tuning batch (the paper's effective batch)")
    parser.add_argument("--pretrain-batch", type=int, default=16)
    parser.add_argument("--only", choices=PAIRS, help="measure one pair in this process (internal)")
    parser.add_argument("--skip-base", action="store_true", help="only the embedded pair")
    args = parser.parse_args()
    if args.only:
        print(json.dumps(measure(args.only, args)))
        return
    rows = []
    for pair in PAIRS[:1] if args.skip_base else PAIRS:
        cmd = [sys.executable, __file__, "--only", pair, "--threads", str(args.threads), "--seconds", str(args.seconds),
               "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--pretrain-batch",
               str(args.pretrain_batch)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    import os

    import torch

    print(f"CMT-2 on CPU, {args.threads} threads, {args.seconds:g} s of audio and 16 word-pieces per utterance, "
          f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'text + speech encoder':<30} {'params (M)':>10} {'PT s/step':>10} {'PT steps/s':>11} "
          f"{'FT s/step':>10} {'FT samples/s':>13} {'peak RSS (MB)':>14}")
    for r in rows:
        print(f"{r['pair']:<30} {r['params_M']:>10.1f} {r['pretrain_s_per_step']:>10.2f} {r['pretrain_steps_per_s']:>11.3f} "
              f"{r['finetune_s_per_step']:>10.2f} {r['finetune_samples_per_s']:>13.2f} {r['peak_rss_mb']:>14.0f}")
    print(f"(PT batch {args.pretrain_batch}, FT batch {args.batch_size})")


if __name__ == "__main__":
    main()
