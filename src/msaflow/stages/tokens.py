"""Stage `tokens`: word-pieces for every usable utterance, word features copied to their pieces.

Inputs: the manifest (labels, splits), the alignment tables (the normalised words, in order), the
word-level feature file (`words/{fset}.csd`, one row per word) and optionally upstream QC tables.
Output: `tokens/{encoder}/{fset}.pt` (DESIGN §3) and its QC table. An utterance is failed here when
its words or features are missing or disagree in number; truncation to max_length is counted.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError, QCTable, atomic_path, get_logger, progress, read_qc, read_tsv

MANIFEST_COLUMNS = ("utterance_id", "label", "mode")
ALIGN_COLUMNS = ("utterance_id", "word_index", "word")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True, help="work/{ds}/manifest.tsv")
    parser.add_argument("--align", nargs="+", required=True, help="align/{shard}.tsv tables")
    parser.add_argument("--usable-qc", nargs="*", default=[],
                        help="QC tables of the previous stage (words): only utterances they list as ok/fallback enter")
    parser.add_argument("--upstream-qc", nargs="*", default=[], help="QC tables of earlier stages; their failed utterances are skipped")
    parser.add_argument("--audio-words", required=True, help="word-level audio features (.csd)")
    parser.add_argument("--vision-words", default=None, help="word-level visual features (.csd), optional")
    parser.add_argument("--encoder", default="minilm-l6")
    parser.add_argument("--max-length", type=int, default=50)
    parser.add_argument("--out", required=True, help="tokens/{encoder}/{fset}.pt")
    parser.add_argument("--qc", required=True, help="QC table to write")
    parser.add_argument("--log", default=None)


def load_word_features(path):
    """(features by utterance, column names, metadata), via the features package's reader."""
    try:
        from msaflow.features.csd import load_word_features as loader
    except ImportError:  # the features package is not there yet: read the SDK layout directly
        loader = _read_csd
    try:
        return loader(path)
    except MsaflowError:
        raise
    except (OSError, KeyError, ValueError) as error:
        raise MsaflowError(f"cannot read word features {path}: {error}") from None


def _read_csd(path):
    import json

    import h5py

    if not Path(path).exists():
        raise MsaflowError(f"word feature file {path} does not exist")
    with h5py.File(path, "r") as h5:
        if len(h5.keys()) != 1:
            raise MsaflowError(f"{path}: expected one computational sequence, found {list(h5.keys())}")
        name = next(iter(h5.keys()))
        data = {uid: np.asarray(g["features"][()], dtype=np.float32) for uid, g in h5[name]["data"].items()}
        metadata = {}
        for key, value in h5[name].get("metadata", {}).items():
            raw = value[()]
            raw = raw.decode() if isinstance(raw, bytes) else raw
            try:
                metadata[key] = json.loads(raw) if isinstance(raw, str) else raw
            except json.JSONDecodeError:
                metadata[key] = raw
    columns = metadata.get("columns") or metadata.get("feature_names") or []
    return data, list(columns), metadata


def read_words(align_paths) -> dict[str, list[str]]:
    words: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for path in align_paths:
        rows = read_tsv(path)
        if rows and not set(ALIGN_COLUMNS) <= set(rows[0]):
            raise MsaflowError(f"{path}: alignment table needs columns {', '.join(ALIGN_COLUMNS)}")
        for row in rows:
            try:
                words[row["utterance_id"]].append((int(row["word_index"]), row["word"]))
            except ValueError:
                raise MsaflowError(f"{path}: bad word_index {row['word_index']!r} for {row['utterance_id']}") from None
    out = {}
    for uid, pairs in words.items():
        pairs.sort()
        if [i for i, _ in pairs] != list(range(len(pairs))):
            raise MsaflowError(f"alignment of {uid}: word_index is not 0..n-1 ({[i for i, _ in pairs][:10]}...)")
        out[uid] = [w for _, w in pairs]
    return out


def build_tokens(manifest_rows, words, audio_feats, vision_feats, tokenizer, max_length, upstream_failed=(), log=None):
    """The logic of the stage (testable without files): returns (data dict, QCTable)."""
    from msaflow.tokenize import SPLITS, align_words, build_split_tensors

    qc = QCTable("tokens")
    upstream_failed = set(upstream_failed)
    entering = [r for r in manifest_rows if r["utterance_id"] not in upstream_failed]
    audio_dim = next((v.shape[1] for v in audio_feats.values() if v.ndim == 2), None)
    if audio_dim is None:
        raise MsaflowError("the word-level audio feature file holds no utterances")
    vision_dim = next((v.shape[1] for v in vision_feats.values() if v.ndim == 2), 0) if vision_feats else 0
    items = {s: [] for s in SPLITS}
    truncated = 0
    for row in progress(entering, desc="tokens", total=len(entering)):
        uid = row["utterance_id"]
        if row["mode"] not in SPLITS:
            qc.add(uid, "failed", f"mode {row['mode']!r} is not one of {SPLITS}")
            continue
        try:
            label = float(row["label"])
        except ValueError:
            qc.add(uid, "failed", f"label {row['label']!r} is not a number")
            continue
        if not np.isfinite(label):
            qc.add(uid, "failed", "label is not finite")
            continue
        w = words.get(uid)
        if not w:
            qc.add(uid, "failed", "no words in the alignment tables")
            continue
        a = audio_feats.get(uid)
        if a is None:
            qc.add(uid, "failed", "no word-level audio features")
            continue
        if a.ndim != 2 or a.shape[0] != len(w) or a.shape[1] != audio_dim:
            qc.add(uid, "failed", f"audio features shape {tuple(a.shape)} does not match {len(w)} words x {audio_dim}")
            continue
        if not np.isfinite(a).all():
            qc.add(uid, "failed", "non-finite audio features")
            continue
        v = None
        if vision_dim:
            v = vision_feats.get(uid)
            if v is None or v.shape != (len(w), vision_dim):
                qc.add(uid, "failed", "visual features missing or not one row per word")
                continue
        al = align_words(tokenizer, w, max_length)
        if al.truncated:
            truncated += 1
            qc.add(uid, "ok", f"truncated: kept {al.n_pieces_kept} of {al.n_pieces} word-pieces ({al.n_words_kept} of {al.n_words} words)")
        else:
            qc.add(uid, "ok", "")
        items[row["mode"]].append({"id": uid, "label": label, "alignment": al, "audio_words": a.astype(np.float32), "vision_words": v})
    qc.check_accounts_for(r["utterance_id"] for r in entering)
    data = {s: build_split_tensors(items[s], max_length, audio_dim, vision_dim) for s in SPLITS}
    counts = qc.counts()
    data["meta"] = {
        "max_length": max_length,
        "audio_dim": audio_dim,
        "vision_dim": vision_dim,
        "counts": {
            "manifest": len(manifest_rows),
            "failed_upstream": len(manifest_rows) - len(entering),
            "entering": len(entering),
            "ok": counts["ok"],
            "fallback": counts["fallback"],
            "failed": counts["failed"],
            "truncated": truncated,
            **{s: len(items[s]) for s in SPLITS},
        },
    }
    return data, qc


def main(args) -> int:
    import torch

    from msaflow.encoders import load_tokenizer

    log = get_logger("tokens", args.log)
    t0 = time.time()
    tokenizer = load_tokenizer(args.encoder)  # first: an unusable encoder fails at once
    for label, path in [("manifest", args.manifest), ("word features", args.audio_words)] + [
        ("alignment table", p) for p in args.align] + [("QC table", p) for p in args.upstream_qc + args.usable_qc]:
        if not Path(path).is_file():
            raise MsaflowError(f"{label} {path} does not exist; build it first (snakemake {path})")
    manifest_rows = read_tsv(args.manifest)
    if manifest_rows and not set(MANIFEST_COLUMNS) <= set(manifest_rows[0]):
        raise MsaflowError(f"{args.manifest}: manifest needs columns {', '.join(MANIFEST_COLUMNS)}")
    failed = set()
    for qc_path in args.upstream_qc:
        failed |= {u for u, (s, _) in read_qc(qc_path).items() if s == "failed"}
    if args.usable_qc:
        usable = set()
        for qc_path in args.usable_qc:
            usable |= {u for u, (s, _) in read_qc(qc_path).items() if s != "failed"}
        failed |= {r["utterance_id"] for r in manifest_rows} - usable
    words = read_words(args.align)
    audio, audio_columns, audio_meta = load_word_features(args.audio_words)
    vision, vision_columns = ({}, [])
    if args.vision_words:
        vision, vision_columns, _ = load_word_features(args.vision_words)
    data, qc = build_tokens(manifest_rows, words, audio, vision, tokenizer, args.max_length, failed, log)
    data["meta"].update(
        encoder=args.encoder, tokenizer=type(tokenizer).__name__, audio_columns=audio_columns,
        vision_columns=vision_columns, audio_source=str(args.audio_words), wall_time_s=round(time.time() - t0, 3),
    )
    c = data["meta"]["counts"]
    log.info(
        "tokens: %d in manifest, %d failed upstream, %d ok, %d failed here, %d truncated to %d pieces; train/valid/test %d/%d/%d",
        c["manifest"], c["failed_upstream"], c["ok"], c["failed"], c["truncated"], args.max_length, c["train"], c["valid"], c["test"],
    )
    if not (c["train"] and c["valid"] and c["test"]):
        raise MsaflowError(f"tokens: every split needs utterances, got train/valid/test {c['train']}/{c['valid']}/{c['test']}")
    qc.write(args.qc)
    with atomic_path(args.out) as tmp:
        torch.save(data, tmp)
    return 0
