"""`msaflow exports`: the word-level features of one acoustic set (+ one visual set) in the layouts
of MMSA's and MAG-BERT's own loaders (msaflow.features.exports describes both).

Inputs: the manifest (text, labels, split), the align tables (the words, in order), the words
stage's audio file `words/{fset}.csd` and its QC, optionally a visual words file
`words/{vset}.csd`, and a text encoder (word-level text features and `text_bert`).
Outputs: `exports/{fset}_mmsa_aligned.pkl`, `exports/{fset}_mag.pkl`, an info file
(`{fset}_exports.json`: widths to configure in the peers, sources, counts) and a QC table.
An utterance without audio words is failed here; one without visual words (when a visual set is
given) gets zero vision and status fallback.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError, QCTable, atomic_path, get_logger, progress, read_qc, read_tsv

STAGE = "exports"
SUB_LABEL_COLUMNS = {"T": "label_T", "A": "label_A", "V": "label_V"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True, help="work/{ds}/manifest.tsv")
    parser.add_argument("--align", nargs="+", required=True, help="align/{shard}.tsv tables (the words)")
    parser.add_argument("--audio-words", required=True, help="words/{fset}.csd")
    parser.add_argument("--audio-qc", required=True, help="words/{fset}.qc.tsv")
    parser.add_argument("--vision-words", default=None, help="words/{vset}.csd (none: zero vision placeholder)")
    parser.add_argument("--placeholder-vision-dim", type=int, default=1,
                        help="width of the zero vision placeholder when no visual words are given")
    parser.add_argument("--encoder", default="minilm-l6", help="text encoder (msaflow.encoders) for text and text_bert")
    parser.add_argument("--length", type=int, default=50, help="words (and text_bert word-pieces) per utterance")
    parser.add_argument("--rows", choices=("word", "wordpiece"), default="word",
                        help="MMSA export: one row per word, or per text_bert word-piece")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mmsa-out", required=True)
    parser.add_argument("--mag-out", required=True)
    parser.add_argument("--info-out", required=True)
    parser.add_argument("--qc", required=True)
    parser.add_argument("--log", default=None)


def _sub_labels(row: dict) -> dict[str, float] | None:
    """label_T/A/V of a manifest row when all three are numbers, else None."""
    try:
        values = {m: float(row[c]) for m, c in SUB_LABEL_COLUMNS.items()}
    except (KeyError, TypeError, ValueError):
        return None
    return values if all(np.isfinite(v) for v in values.values()) else None


def collect_items(manifest_rows, words, audio, audio_qc, vision, vision_dim, text_features, tokenizer, length):
    """Per-utterance ExportItems and the QC table (the stage's logic, testable without files).

    `vision` is None when no visual set is given (zero placeholder, status ok) and a dict of word
    features otherwise (an utterance missing from it gets zeros and status fallback).
    `text_features(list of word lists) -> list of (n_words x Dt)` encodes the kept utterances.
    """
    from msaflow.features.exports import ExportItem, text_bert_ids

    qc = QCTable(STAGE)
    kept = []
    for row in manifest_rows:
        uid = row["utterance_id"]
        status, reason = audio_qc.get(uid, ("failed", "not in the words QC"))
        a, w = audio.get(uid), words.get(uid)
        if status == "failed" or a is None:
            qc.add(uid, "failed", f"no word-level audio features (words: {reason or status})")
        elif not w:
            qc.add(uid, "failed", "no words in the align tables")
        elif a.shape[0] != len(w):
            qc.add(uid, "failed", f"audio words has {a.shape[0]} rows for {len(w)} words")
        elif row.get("mode") not in ("train", "valid", "test"):
            qc.add(uid, "failed", f"mode {row.get('mode')!r} is not train/valid/test")
        else:
            try:
                label = float(row["label"])
            except (KeyError, ValueError):
                qc.add(uid, "failed", f"label {row.get('label')!r} is not a number")
                continue
            notes = [f"truncated to {length} of {len(w)} words"] if len(w) > length else []
            v = None if vision is None else vision.get(uid)
            fallback = vision is not None and (v is None or v.shape[0] != len(w))
            if fallback:
                why = "no visual words" if v is None else f"visual words has {v.shape[0]} rows for {len(w)} words"
                notes.append(f"{why}: zero vision")
                v = None
            kept.append((row, label, w, a, v))
            qc.add(uid, "fallback" if fallback else "ok", "; ".join(notes))
    qc.check_accounts_for(r["utterance_id"] for r in manifest_rows)
    texts = text_features([w for _, _, w, _, _ in kept])
    items = []
    for (row, label, w, a, v), t in zip(kept, texts):
        ids, piece_words = text_bert_ids(tokenizer, list(w), length)
        items.append(ExportItem(
            id=row["utterance_id"], words=list(w), raw_text=row.get("text", ""), annotation=row.get("annotation", ""),
            label=label, mode=row["mode"], text=t, audio=np.asarray(a, np.float32),
            vision=np.zeros((len(w), vision_dim), np.float32) if v is None else np.asarray(v, np.float32),
            text_bert=ids, piece_words=piece_words, sub_labels=_sub_labels(row),
        ))
    return items, qc


def main(args: argparse.Namespace) -> int:
    import torch

    from msaflow.encoders import load_text_encoder, load_tokenizer
    from msaflow.features import csd, exports, words_build

    logger = get_logger(STAGE, args.log)
    t0 = time.time()
    torch.set_num_threads(max(1, args.threads))
    for label, path in [("manifest", args.manifest), ("audio words", args.audio_words), ("words QC", args.audio_qc)] + [
            ("align table", p) for p in args.align] + ([("visual words", args.vision_words)] if args.vision_words else []):
        if not Path(path).is_file():
            raise MsaflowError(f"{label} {path} does not exist; build it first (snakemake {path})")
    tokenizer = load_tokenizer(args.encoder)
    model = load_text_encoder(args.encoder)
    manifest_rows = read_tsv(args.manifest)
    words = {}
    for path in args.align:
        words.update({u: t.words for u, t in words_build.group_alignment(read_tsv(path), path).items()})
    audio, audio_columns, _ = csd.load_word_features(args.audio_words)
    vision, vision_columns, vision_dim = None, [], args.placeholder_vision_dim
    if args.vision_words:
        vision, vision_columns, _ = csd.load_word_features(args.vision_words)
        vision_dim = len(vision_columns)
    else:
        logger.warning("no visual word features given: vision is a zero placeholder %d wide in both exports "
                       "(configure a visual feature set for real vision)", vision_dim)

    lost_words = 0

    def text_features(utterances):
        nonlocal lost_words
        feats, lost_words = exports.encode_words(model, tokenizer, utterances, args.batch_size, progress)
        return feats

    items, qc = collect_items(manifest_rows, words, audio, read_qc(args.audio_qc), vision, vision_dim,
                              text_features, tokenizer, args.length)
    if lost_words:
        logger.warning("%d words lie beyond the encoder's maximum length: their text rows are zero", lost_words)
    mmsa = exports.build_mmsa(items, args.length, args.rows)
    exports.write_pickle(args.mmsa_out, mmsa)
    exports.write_pickle(args.mag_out, exports.build_mag(items))
    first = items[0]
    counts = {**qc.counts(), **{split: int(len(mmsa[split]["id"])) for split in exports.SPLITS_MMSA.values()}}
    info = {
        "mmsa_rows": args.rows,
        "layout": {"word": "row i of text, audio and vision is word i of the align table",
                   "wordpiece": "row p of text, audio and vision is text_bert position p (the word's vectors "
                                "copied to each of its word-pieces, zero at [CLS]/[SEP]/padding)"}[args.rows],
        "length": args.length,
        "text": {"encoder": args.encoder, "dim": int(first.text.shape[1]), "pooling": exports.TEXT_POOLING,
                 "text_bert": "[input_ids, attention_mask, token_type_ids] of the encoder's tokenizer"},
        "audio": {"words": str(args.audio_words), "dim": int(first.audio.shape[1]), "columns": audio_columns},
        "vision": {"words": str(args.vision_words) if args.vision_words else None, "dim": int(vision_dim),
                   "placeholder": not args.vision_words, "columns": vision_columns},
        "mmsa": {"file": str(args.mmsa_out), "keys": sorted(mmsa["train"]),
                 "feature_dims": [int(first.text.shape[1]), int(first.audio.shape[1]), int(vision_dim)]},
        "mag": {"file": str(args.mag_out), "global_configs": {"ACOUSTIC_DIM": int(first.audio.shape[1]),
                                                               "VISUAL_DIM": int(vision_dim)}},
        "counts": counts,
        "words_beyond_encoder_length": lost_words,
        "wall_time_s": round(time.time() - t0, 3),
    }
    with atomic_path(args.info_out) as tmp:
        Path(tmp).write_text(json.dumps(info, indent=2) + "\n")
    qc.write(args.qc)
    logger.info("exports: %d utterances (train/valid/test %d/%d/%d; %s), text %d + audio %d + vision %d%s -> %s, %s",
                len(items), counts["train"], counts["valid"], counts["test"], qc.counts(), first.text.shape[1],
                first.audio.shape[1], vision_dim, " (placeholder)" if not args.vision_words else "",
                args.mmsa_out, args.mag_out)
    return 0
