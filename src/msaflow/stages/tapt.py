"""Stage `tapt`: task-adaptive pretraining (Chu et al. 2022 §3.3): the pretraining objectives on the
task corpus's train split (its word-pieces and waveforms, labels unused), starting from a `pretrain`
checkpoint, with its k-means codebook. Held-out scores on the valid split (labels unused).

Output (`work/{ds}/tapt/{name}/`): `model.pt` and `history.json`, as the pretrain stage.
"""

from __future__ import annotations

import argparse
import json
import time

from msaflow.common import MsaflowError, atomic_write_text


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--init", required=True, help="work/pretrain/{name}/model.pt")
    parser.add_argument("--tokens", required=True, help="tokens/{encoder}/{fset}.pt of the task corpus")
    parser.add_argument("--waveforms", required=True, help="tokens/{encoder}/{fset}.waveforms.pt")
    parser.add_argument("--settings", default="{}", help="JSON: config 'pretrain' with 'pretrain.tapt' applied")
    parser.add_argument("--out-dir", required=True, help="work/{ds}/tapt/{name}")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--log", default=None)


def split_tensors(split: dict):
    """(ids, input_ids, attention_mask, maskable, waveforms as int16 arrays) of one tokens split."""
    from msaflow.waveforms import LENGTHS, WAVEFORM, to_int16

    lengths = split[LENGTHS].tolist()
    waves = [to_int16(split[WAVEFORM][i, :n].numpy()) for i, n in enumerate(lengths)]
    return split["ids"], split["input_ids"], split["attention_mask"], split["word_index"] >= 0, waves


def main(args) -> int:
    import torch

    from msaflow.models.cmt import CMTPretrainingHeads
    from msaflow.pretraining import loop
    from msaflow.stages.pretrain import pretraining_model, start
    from msaflow.tokenize import load_tokens
    from msaflow.waveforms import attach_waveforms, load_torch_artifact, load_waveforms

    log, t0, out_dir, _, cfg = start("tapt", args)
    checkpoint = load_torch_artifact(args.init, "pretraining checkpoint", "pretrain")
    arch = checkpoint["architecture"]
    tokens = load_tokens(args.tokens)
    if tokens["meta"].get("encoder") != arch["encoder"]:
        raise MsaflowError(f"{args.tokens} was tokenised with {tokens['meta'].get('encoder')!r} but {args.init} was "
                           f"pretrained with {arch['encoder']!r}")
    attach_waveforms(tokens, load_waveforms(args.waveforms), args.waveforms)
    torch.manual_seed(cfg.seed)
    model = pretraining_model(arch["encoder"], arch["speech_encoder"], arch["layers"], arch["heads"])
    model.load_pretrained(args.init)
    centroids = checkpoint["codebook"]
    heads = CMTPretrainingHeads(model.d_model, checkpoint["vocab_size"], len(centroids))
    heads.load_state_dict(checkpoint["heads"])
    sets = {}
    for name, split in (("train", "train"), ("heldout", "valid")):
        ids, input_ids, attention_mask, maskable, waves = split_tensors(tokens[split])
        sets[name] = loop.build_set(ids, input_ids, attention_mask, maskable, waves, loop.codeword_targets(waves, centroids))
    log.info("TAPT on %s: train %d, held-out (valid) %d utterances", args.tokens, len(sets["train"]["ids"]),
             len(sets["heldout"]["ids"]))
    history = loop.run(model, heads, sets["train"], sets["heldout"], cfg, out_dir, log, checkpoint["mask_token_id"],
                       checkpoint["vocab_size"], (), fingerprint_extra={"init": str(args.init), "tokens": str(args.tokens)})
    history.update(stage="tapt", init=str(args.init), tokens=str(args.tokens), architecture=arch,
                   pretraining=checkpoint.get("summary"), wall_time_s=round(time.time() - t0, 2), torch=torch.__version__)
    loop.save_checkpoint(out_dir / "model.pt", model, heads, centroids, history, "pt+tapt",
                         {"mask_token_id": checkpoint["mask_token_id"], "vocab_size": checkpoint["vocab_size"],
                          "pretraining": checkpoint.get("summary")})
    atomic_write_text(out_dir / "history.json", json.dumps(history, indent=1, default=str) + "\n")
    loop.remove_resume(out_dir)
    log.info("TAPT done in %.1f s: %s", time.time() - t0, json.dumps(loop.summary(history, "pt+tapt")))
    return 0
