"""Stage `pretrain`: cross-modal pretraining (PT) of a CMT architecture on a speech+transcript corpus.

Inputs: one or more corpora (LibriSpeech or MMSA layout, labels ignored; msaflow.pretraining.corpus).
Output (`work/pretrain/{name}/`): `model.pt` (backbone, MLM heads, the k-means codebook, architecture,
summary), `history.json` (both losses per step, held-out accuracies per epoch), `corpus.qc.tsv`.
The codebook is fitted here, on the training part of the corpus, and reused by TAPT.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from msaflow.common import MsaflowError, QCTable, atomic_write_text, get_logger

DATA_KEYS = {"codewords": 100, "max_seconds": 10.0, "heldout_fraction": 0.05, "max_length": 50}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", nargs="+", required=True, help="corpus folders (LibriSpeech or MMSA layout)")
    parser.add_argument("--text-encoder", required=True, help="the tokens stage's encoder (e.g. minilm-l6, roberta-large)")
    parser.add_argument("--speech-encoder", required=True, help="hubert-small (embedded) or a HuBERT hub id / directory")
    parser.add_argument("--layers", type=int, required=True, help="cross-modal blocks per stream")
    parser.add_argument("--heads", type=int, required=True, help="attention heads per stream")
    parser.add_argument("--settings", default="{}", help="JSON: config 'pretrain' (loop and data settings)")
    parser.add_argument("--out-dir", required=True, help="work/pretrain/{name}")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--log", default=None)


def split_settings(settings: dict) -> tuple[dict, dict]:
    """(data settings with defaults, loop settings) from the JSON the rule passes."""
    data = {k: settings.get(k, v) for k, v in DATA_KEYS.items()}
    loop = {k: v for k, v in settings.items() if k not in DATA_KEYS}
    return data, loop


def tokenise(tokenizer, word_lists, max_length):
    """(input_ids, attention_mask, maskable) N x max_length, and how many were cut to max_length."""
    import numpy as np

    from msaflow.tokenize import align_words

    alignments = [align_words(tokenizer, words, max_length) for words in word_lists]
    input_ids = np.stack([a.input_ids for a in alignments]) if alignments else np.zeros((0, max_length), np.int64)
    attention_mask = np.stack([a.attention_mask for a in alignments]) if alignments else np.zeros((0, max_length), np.int64)
    maskable = np.stack([a.word_index >= 0 for a in alignments]) if alignments else np.zeros((0, max_length), bool)
    return input_ids, attention_mask, maskable, sum(a.truncated for a in alignments)


def start(stage: str, args):
    """What every pretraining-loop stage (pretrain, tapt) sets up first: (log, start time, out_dir,
    data settings, loop config), with --threads over the settings' threads."""
    from msaflow.pretraining import loop
    from msaflow.stages.train import _json_arg

    log = get_logger(stage, args.log)
    t0 = time.time()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_settings, loop_settings = split_settings(_json_arg(args.settings))
    if args.threads:
        loop_settings["threads"] = args.threads
    return log, t0, out_dir, data_settings, loop.PretrainConfig.from_dict(loop_settings)


def pretraining_model(text_encoder: str, speech_encoder: str, layers: int, heads: int):
    from msaflow.models.cmt import CMT

    return CMT({"arch": "cmt", "encoder": text_encoder, "speech_encoder": speech_encoder, "layers": layers,
                "heads": heads, "init": "none"}, {})


def main(args) -> int:
    import torch

    from msaflow.encoders import load_tokenizer, speech_encoder_spec
    from msaflow.models.cmt import CMTPretrainingHeads
    from msaflow.pretraining import loop
    from msaflow.pretraining.codewords import assign, fit_codebook, mfcc_features
    from msaflow.pretraining.corpus import heldout_ids, load_corpus

    log, t0, out_dir, data_settings, cfg = start("pretrain", args)
    tokenizer = load_tokenizer(args.text_encoder)  # first: an unusable encoder fails at once
    torch.manual_seed(cfg.seed)
    model = pretraining_model(args.text_encoder, args.speech_encoder, args.layers, args.heads)

    qc = QCTable("pretrain-corpus")
    items = load_corpus(args.corpus, data_settings["max_seconds"], qc)
    qc.write(out_dir / "corpus.qc.tsv")
    counts = qc.counts()
    log.info("pretraining corpus: %d utterances usable, %d failed (%s)", len(items), counts["failed"], out_dir / "corpus.qc.tsv")
    if len(items) < 10:
        raise MsaflowError(f"the pretraining corpus has only {len(items)} usable utterances (at least 10 needed); "
                           f"see {out_dir / 'corpus.qc.tsv'}")
    held = heldout_ids([it.id for it in items], data_settings["heldout_fraction"])
    parts = {"train": [it for it in items if it.id not in held], "heldout": [it for it in items if it.id in held]}
    features = {name: [mfcc_features(it.waveform) for it in part] for name, part in parts.items()}
    centroids = fit_codebook(features["train"], int(data_settings["codewords"]), cfg.seed)
    sets, truncated = {}, 0
    for name, part in parts.items():
        ids, mask, maskable, cut = tokenise(tokenizer, [it.words for it in part], int(data_settings["max_length"]))
        truncated += cut
        targets = [assign(f, centroids) for f in features[name]]
        sets[name] = loop.build_set([it.id for it in part], ids, mask, maskable, [it.waveform for it in part], targets)
    log.info("train/held-out %d/%d utterances, %d codewords, %d transcripts cut to %d word-pieces",
             len(parts["train"]), len(parts["heldout"]), len(centroids), truncated, data_settings["max_length"])
    vocab_size = model.encoder.get_input_embeddings().num_embeddings
    heads = CMTPretrainingHeads(model.d_model, vocab_size, len(centroids))
    spec = speech_encoder_spec(args.speech_encoder)
    embedded_speech = spec is not None and spec.config is not None
    scratch = ("text_adapter.", "text_blocks.", "audio_blocks.", "heads.") + (("speech.",) if embedded_speech else ())
    history = loop.run(model, heads, sets["train"], sets["heldout"], cfg, out_dir, log, tokenizer.mask_token_id,
                       vocab_size, scratch, fingerprint_extra={"corpus": [str(c) for c in args.corpus],
                                                               "data": data_settings, "arch": model.architecture()})
    history.update(stage="pretrain", corpus=[str(c) for c in args.corpus], data=data_settings,
                   corpus_counts=counts, transcripts_truncated=truncated, architecture=model.architecture(),
                   wall_time_s=round(time.time() - t0, 2), torch=torch.__version__)
    loop.save_checkpoint(out_dir / "model.pt", model, heads, centroids, history, "pt",
                         {"mask_token_id": tokenizer.mask_token_id, "vocab_size": vocab_size, "data": data_settings})
    atomic_write_text(out_dir / "history.json", json.dumps(history, indent=1, default=str) + "\n")
    loop.remove_resume(out_dir)
    log.info("pretraining done in %.1f s: %s", time.time() - t0, json.dumps(loop.summary(history, "pt")))
    return 0
