"""Write tests/fixtures/cmbert_code_reference.pt by running the published CM-BERT code itself.

Usage (in a throw-away environment that has the original's dependency; torch from this project):

    python -m venv /tmp/cmbert-ref && /tmp/cmbert-ref/bin/pip install --no-deps \\
        pytorch-pretrained-bert==0.6.1 boto3 botocore s3transfer jmespath
    # make this project's torch/numpy/requests/tqdm/regex importable, e.g. a .pth file pointing at .venv's site-packages
    /tmp/cmbert-ref/bin/python scripts/make_cmbert_code_fixture.py /path/to/Cross-Modal-BERT [out.pt]

`/path/to/Cross-Modal-BERT` is a checkout of github thuiar/Cross-Modal-BERT (this script contains
none of its code; it imports `model.py` from there, and executes the freezing and optimiser-group
block of `run_classifier.py` read from that file). What it does:

1. builds the original `BertForSequenceClassification` (`model.py`) with a tiny BERT config
   (hidden 32; the code builds as many layers as `num_attention_heads`, so 2 heads = 2 layers).
   The fusion block `BertFinetun` hard-codes a width of 768 in three layers (`proj_t`, `dense`,
   `LayerNorm1`); they are rebuilt with the same classes at width 32, then the model's own
   `init_bert_weights` is applied as its constructor does. Fusion bias and weights are set to
   non-trivial values so that every path carries signal.
2. runs `run_classifier.py`'s freezing loop and optimiser-group block verbatim (read from the file,
   `n_gpu = 2` as hard-coded there, so the loss is averaged over the batch), with
   `num_train_optimization_steps` = int(n_train / batch) * epochs for a nominal n_train of 8,
   batch 4 and 3 epochs (t_total 6: step 0 has lr 0, steps 1-2 are past the 10 % warmup).
3. records the eval-mode forward pass on two padded batches (and on the first batch padded to a
   longer length, which changes the code's output), then three BertAdam steps on batches
   A, B, A computed in eval mode (dropout off: the two implementations draw their dropout masks in
   different orders, so train-mode steps cannot be compared), recording the loss, the forward
   output and every parameter after each step.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

TINY = dict(vocab_size_or_config_json_file=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=64, type_vocab_size=2)
AUDIO_DIM, FUSION_DIM = 5, 30  # as hard-coded in the original
N_TRAIN, BATCH, EPOCHS = 8, 4, 3


def make_batch(lengths, pad_to, seed, label_scale=3.0):
    g = torch.Generator().manual_seed(seed)
    b = len(lengths)
    input_ids = torch.zeros(b, pad_to, dtype=torch.long)
    mask = torch.zeros(b, pad_to, dtype=torch.long)
    audio = torch.zeros(b, pad_to, AUDIO_DIM)
    for i, n in enumerate(lengths):
        input_ids[i, :n] = torch.randint(5, TINY["vocab_size_or_config_json_file"], (n,), generator=g)
        input_ids[i, 0], input_ids[i, n - 1] = 1, 2  # [CLS] ... [SEP]
        mask[i, :n] = 1
        audio[i, 1 : n - 1] = torch.randn(n - 2, AUDIO_DIM, generator=g)  # zero at [CLS], [SEP] and padding
    labels = (torch.rand(b, generator=g) * 2 - 1) * label_scale
    return {"input_ids": input_ids, "attention_mask": mask, "segment_ids": torch.zeros_like(input_ids),
            "audio": audio, "labels": labels}


def repad(batch, pad_to):
    out = {}
    for k, v in batch.items():
        if v.dim() >= 2:
            extra = torch.zeros((v.shape[0], pad_to - v.shape[1]) + tuple(v.shape[2:]), dtype=v.dtype)
            out[k] = torch.cat([v, extra], dim=1)
        else:
            out[k] = v
    return out


def original_block(run_classifier: Path, start: str, end: str) -> str:
    source = run_classifier.read_text(encoding="utf-8").replace("\r\n", "\n")
    i = source.rindex("\n", 0, source.index(start)) + 1  # from the start of that line
    j = source.index(end, i)
    return textwrap.dedent(source[i:j])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path, help="a checkout of github thuiar/Cross-Modal-BERT")
    parser.add_argument("out", type=Path, nargs="?",
                        default=Path(__file__).resolve().parents[1] / "tests/fixtures/cmbert_code_reference.pt")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sys.path.insert(0, str(args.checkout))
    import model as original  # the published model.py
    from pytorch_pretrained_bert.optimization import BertAdam

    torch.manual_seed(0)
    config = original.BertConfig(**TINY)
    net = original.BertForSequenceClassification(config, num_labels=1)
    fusion = net.BertFinetun
    hidden = TINY["hidden_size"]
    fusion.proj_t = torch.nn.Conv1d(hidden, FUSION_DIM, kernel_size=1, padding=0, bias=False)
    fusion.dense = torch.nn.Linear(hidden, hidden)
    fusion.LayerNorm1 = original.BertLayerNorm(hidden)
    net.apply(net.init_bert_weights)
    with torch.no_grad():
        fusion.text_weight_1.fill_(1.3)
        fusion.audio_weight_1.fill_(0.7)
        fusion.bias.fill_(0.1)
        net.classifier.weight.mul_(10.0)  # a stronger frozen read-out so the loss moves visibly in 3 steps
    initial = {k: v.detach().clone() for k, v in net.state_dict().items()}

    # run_classifier.py: freezing loop and optimiser groups, executed as written there
    namespace = {"model": net, "torch": torch, "BertAdam": BertAdam, "device": torch.device("cpu"), "n_gpu": 2,
                 "args": argparse.Namespace(learning_rate=2e-5, warmup_proportion=0.1),
                 "num_train_optimization_steps": int(N_TRAIN / BATCH / 1) * float(EPOCHS)}
    block = original_block(args.checkout / "run_classifier.py", "for name, param in model.named_parameters():",
                           "global_step = 0")
    exec(compile(block, str(args.checkout / "run_classifier.py"), "exec"), namespace)
    wrapped, optimizer = namespace["model"], namespace["optimizer"]

    def forward(batch):
        net.eval()
        with torch.no_grad():
            logits, _, _ = net(batch["input_ids"], batch["audio"], batch["segment_ids"], batch["attention_mask"])
        return logits.view(-1).clone()

    batch_a = make_batch([12, 9, 6, 4], pad_to=12, seed=1)
    batch_b = make_batch([7, 12, 10, 5], pad_to=12, seed=2)
    out = {
        "meta": {
            "source": "github thuiar/Cross-Modal-BERT",
            "commit": subprocess.run(["git", "-C", str(args.checkout), "rev-parse", "HEAD"], capture_output=True,
                                     text=True).stdout.strip(),
            "pytorch_pretrained_bert": "0.6.1", "torch": str(torch.__version__),
            "config": {k.replace("vocab_size_or_config_json_file", "vocab_size"): v for k, v in TINY.items()},
            "n_train": N_TRAIN, "batch_size": BATCH, "epochs": EPOCHS, "warmup_proportion": 0.1,
            "t_total": namespace["num_train_optimization_steps"], "fusion_dim": FUSION_DIM, "audio_dim": AUDIO_DIM,
        },
        "state_dict": dict(initial),
        "requires_grad": {n: p.requires_grad for n, p in net.named_parameters()},
        "batches": {"a": batch_a, "b": batch_b, "a_padded16": repad(batch_a, 16)},
        "forward": {name: forward(b) for name, b in (("a", batch_a), ("b", batch_b), ("a_padded16", repad(batch_a, 16)))},
        "steps": [],
    }
    for batch_name in ("a", "b", "a"):
        batch = out["batches"][batch_name]
        wrapped.eval()  # dropout off (see the module docstring)
        loss = wrapped(batch["input_ids"], batch["audio"], batch["segment_ids"], batch["attention_mask"], batch["labels"])
        loss = loss.mean()  # run_classifier.py: n_gpu > 1 -> loss.mean()
        loss.backward()
        grad_norms = {n: float(p.grad.norm()) for n, p in net.named_parameters() if p.grad is not None}
        optimizer.step()
        optimizer.zero_grad()
        out["steps"].append({"batch": batch_name, "loss": float(loss),
                             "params": {n: p.detach().clone() for n, p in net.named_parameters()},
                             "forward_a": forward(batch_a)})
        clipped = sorted(n for n, v in grad_norms.items() if v > 1.0)
        print(f"step on {batch_name}: loss {float(loss):.6f}; {len(grad_norms)} tensors with a gradient, "
              f"clipped (norm > 1): {clipped}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
