"""Stage `tokens`: word-pieces for every usable utterance, word features copied to their pieces.

Inputs: the manifest (labels, splits), the alignment tables (the normalised words, in order), the
word-level feature file (`words/{fset}.csd`, one row per word) and optionally upstream QC tables;
optionally the word-level visual file (`words/{vset}.csd`) with its QC, and the frame-level files
(`acoustic/{fset}/*.h5`, `visual/{vset}/*.h5`) for the unaligned sequences (msaflow.frames).
Output: `tokens/{encoder}/{fset}.pt` (DESIGN §3) and its QC table. An utterance is failed here when
its words or features are missing or disagree in number; truncation to max_length and frame
sequences cut at max_frames are counted. An utterance whose vision is missing (its visual stage
failed) is failed here naming the visual reason, or kept with zero vision (`--vision-missing zero`,
QC fallback).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError, QCTable, atomic_path, get_logger, progress, read_qc, read_tsv
from msaflow.frames import FrameInputs

MANIFEST_COLUMNS = ("utterance_id", "label", "mode")
VISION_MISSING = ("exclude", "zero")
ALIGN_COLUMNS = ("utterance_id", "word_index", "word")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True, help="work/{ds}/manifest.tsv")
    parser.add_argument("--align", nargs="+", required=True, help="align/{shard}.tsv tables")
    parser.add_argument("--usable-qc", nargs="*", default=[],
                        help="QC tables of the previous stage (words): only utterances they list as ok/fallback enter")
    parser.add_argument("--upstream-qc", nargs="*", default=[], help="QC tables of earlier stages; their failed utterances are skipped")
    parser.add_argument("--audio-words", required=True, help="word-level audio features (.csd)")
    parser.add_argument("--vision-words", default=None, help="word-level visual features (words/{vset}.csd), optional")
    parser.add_argument("--vision-qc", default=None,
                        help="QC table of the vision words (words/{vset}.qc.tsv): its failure reasons name why vision is missing")
    parser.add_argument("--vision-set", default="vision", help="name of the visual feature set (for QC reasons)")
    parser.add_argument("--vision-missing", choices=VISION_MISSING, default="exclude",
                        help="an utterance without vision: exclude (QC failed, default) or zero (QC fallback, zero vision)")
    parser.add_argument("--audio-frames", nargs="*", default=[], help="acoustic/{fset}/{shard}.h5 frame files (unaligned sequences)")
    parser.add_argument("--vision-frames", nargs="*", default=[], help="visual/{vset}/{shard}.h5 frame files")
    parser.add_argument("--frame-rate", type=float, default=20.0, help="Hz of the unaligned frame sequences")
    parser.add_argument("--max-frames", type=int, default=500, help="frames kept per utterance (the first ones)")
    parser.add_argument("--frame-dtype", default="float16", help="storage of the frame tensors: float16 or float32")
    parser.add_argument("--frame-znorm", choices=("speaker", "train"), default="train",
                        help="speaker: each speaker's own statistics first, then the train split's (msaflow.normalization)")
    parser.add_argument("--speaker-min-utterances", type=int, default=5)
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


def word_file_summary(path, metadata: dict) -> dict:
    """What inference must repeat to score a new clip like this file's words (DESIGN §3, run bundle):
    feature set, kept columns, fill step and the train-split z-normalisation statistics."""
    return {"source": str(path), "fset": metadata.get("root name"), "columns": metadata.get("column names"),
            "znorm": metadata.get("znorm"), "fill": metadata.get("fill"), "settings": metadata.get("settings")}


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


def build_tokens(manifest_rows, words, audio_feats, vision_feats, tokenizer, max_length, upstream_failed=(), log=None,
                 *, frames: FrameInputs | None = None, vision_dim: int | None = None, vision_failed=None,
                 vision_missing: str = "exclude", vision_name: str = "vision"):
    """The logic of the stage (testable without files): returns (data dict, QCTable).

    Vision is on when `vision_feats` holds utterances or `vision_dim` > 0. An utterance without
    word-level vision (its visual stage failed: reason in `vision_failed`) is failed here with
    that reason, or with `vision_missing="zero"` kept as `fallback` with zero vision (flag
    `vision_present` False in the split).
    """
    from msaflow import frames as fr
    from msaflow.tokenize import SPLITS, align_words, build_split_tensors

    if vision_missing not in VISION_MISSING:
        raise MsaflowError(f"tokens.vision_missing must be one of {VISION_MISSING}, got {vision_missing!r}")
    frames = frames or FrameInputs()
    vision_failed = dict(vision_failed or {})
    qc = QCTable("tokens")
    upstream_failed = set(upstream_failed)
    entering = [r for r in manifest_rows if r["utterance_id"] not in upstream_failed]
    audio_dim = next((v.shape[1] for v in audio_feats.values() if v.ndim == 2), None)
    if audio_dim is None:
        raise MsaflowError("the word-level audio feature file holds no utterances")
    if vision_dim is None:
        vision_dim = next((v.shape[1] for v in vision_feats.values() if v.ndim == 2), 0) if vision_feats else 0
    vision_feats = vision_feats or {}
    items = {s: [] for s in SPLITS}
    truncated, cut, vision_zeroed = 0, {"audio": 0, "vision": 0}, 0
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
        audio_seq = None
        if frames.audio is not None:
            audio_seq = frames.audio.get(uid)
            if audio_seq is None or len(audio_seq.values) == 0:
                qc.add(uid, "failed", "no audio frames in the acoustic frame files")
                continue
        v, vision_seq, missing = None, None, None
        if vision_dim:
            v = vision_feats.get(uid)
            if v is None:
                missing = vision_failed.get(uid) or "no word-level visual features"
            elif v.shape != (len(w), vision_dim):
                qc.add(uid, "failed", f"visual features shape {tuple(v.shape)} does not match {len(w)} words x {vision_dim}")
                continue
            elif not np.isfinite(v).all():
                qc.add(uid, "failed", "non-finite visual features")
                continue
            elif frames.vision is not None:
                vision_seq = frames.vision.get(uid)
                if vision_seq is None or len(vision_seq.values) == 0:
                    missing = "no visual frames in the visual frame files"
            if missing is not None:
                if vision_missing == "exclude":
                    qc.add(uid, "failed", f"{vision_name}: {missing} (tokens.vision_missing: exclude)")
                    continue
                v, vision_seq = np.zeros((len(w), vision_dim), np.float32), None
                vision_zeroed += 1
        notes = []
        al = align_words(tokenizer, w, max_length)
        if al.truncated:
            truncated += 1
            notes.append(f"truncated: kept {al.n_pieces_kept} of {al.n_pieces} word-pieces "
                         f"({al.n_words_kept} of {al.n_words} words)")
        for name, seq in (("audio", audio_seq), ("vision", vision_seq)):
            if seq is not None and seq.cut:
                cut[name] += 1
                notes.append(fr.cut_note(name, seq, frames.rate))
        if missing is not None:
            notes.insert(0, f"{vision_name} missing ({missing}): zero vision (tokens.vision_missing: zero)")
        qc.add(uid, "fallback" if missing is not None else "ok", "; ".join(notes))
        items[row["mode"]].append({"id": uid, "label": label, "alignment": al, "audio_words": a.astype(np.float32),
                                   "vision_words": v, "audio_frames": audio_seq, "vision_frames": vision_seq,
                                   "vision_present": missing is None})
    qc.check_accounts_for(r["utterance_id"] for r in entering)
    data = {s: build_split_tensors(items[s], max_length, audio_dim, vision_dim) for s in SPLITS}
    frame_meta = add_frames(data, items, frames, vision_dim)
    counts = qc.counts()
    data["meta"] = {
        "max_length": max_length,
        "audio_dim": audio_dim,
        "vision_dim": vision_dim,
        **frame_meta,
        "vision_missing": vision_missing,
        "counts": {
            "manifest": len(manifest_rows),
            "failed_upstream": len(manifest_rows) - len(entering),
            "entering": len(entering),
            "ok": counts["ok"],
            "fallback": counts["fallback"],
            "failed": counts["failed"],
            "truncated": truncated,
            "frames_cut_audio": cut["audio"],
            "frames_cut_vision": cut["vision"],
            "vision_zeroed": vision_zeroed,
            **{s: len(items[s]) for s in SPLITS},
        },
    }
    return data, qc


def add_frames(data: dict, items: dict, frames: FrameInputs, vision_dim: int) -> dict:
    """Put the normalised, padded frame sequences (and `vision_present`) into each split; returns meta keys."""
    import torch

    from msaflow import frames as fr
    from msaflow.tokenize import SPLITS

    meta = {"audio_frames_dim": 0, "vision_frames_dim": 0, "frame_rate": frames.rate, "max_frames": frames.max_frames,
            "frame_dtype": frames.dtype, "frame_znorm": {}}
    if vision_dim:
        for s in SPLITS:
            data[s]["vision_present"] = torch.tensor([bool(it["vision_present"]) for it in items[s]], dtype=torch.bool)
    for modality, by_id, dim in (("audio", frames.audio, frames.audio_dim), ("vision", frames.vision, frames.vision_dim)):
        if by_id is None or (modality == "vision" and not vision_dim):
            continue
        key = f"{modality}_frames"
        speaker = None
        if frames.znorm == "speaker":
            speaker = _speaker_normalise(items, key, frames, dim)
        mean, std, windows = fr.fit_znorm((it[key] for it in items["train"] if it[key] is not None), dim)
        for s in SPLITS:
            tensor, lengths, valid = fr.stack([it[key] for it in items[s]], dim, mean, std, frames.dtype)
            data[s][key], data[s][f"{modality}_frame_lengths"], data[s][f"{key}_valid"] = tensor, lengths, valid
        meta[f"{key}_dim"] = dim
        meta["frame_znorm"][modality] = {"fitted_on": "train", "windows": windows,
                                         "mean": mean.tolist(), "std": std.tolist(),
                                         "scope": frames.znorm, **({"speaker": speaker} if speaker else {})}
    return meta


def _speaker_normalise(items: dict, key: str, frames: FrameInputs, dim: int) -> dict:
    """Replace every `key` sequence by its values in its speaker's z-space; returns the metadata."""
    from dataclasses import replace

    from msaflow.normalization import fit_speaker_norm
    from msaflow.tokenize import SPLITS

    if not frames.speakers:
        raise MsaflowError("frame z-normalisation 'speaker' needs each utterance's speaker (manifest video_id)")
    present = [it for s in SPLITS for it in items[s] if it[key] is not None]
    norm = fit_speaker_norm({it["id"]: it[key].values for it in present}, frames.speakers,
                            [it["id"] for it in items["train"] if it[key] is not None], dim,
                            frames.speaker_min_utterances)
    for it in present:
        it[key] = replace(it[key], values=norm.apply(frames.speakers[it["id"]], it[key].values))
    return norm.metadata()


def main(args) -> int:
    import torch

    from msaflow.encoders import load_tokenizer

    log = get_logger("tokens", args.log)
    t0 = time.time()
    tokenizer = load_tokenizer(args.encoder)  # first: an unusable encoder fails at once
    from msaflow import frames as fr

    if args.frame_dtype not in fr.FRAME_DTYPES:
        raise MsaflowError(f"--frame-dtype must be one of {fr.FRAME_DTYPES}, got {args.frame_dtype!r}")
    if args.vision_frames and not args.vision_words:
        raise MsaflowError("--vision-frames needs --vision-words (the word-level file of the same visual set)")
    inputs = [("manifest", args.manifest), ("word features", args.audio_words)] + [
        ("alignment table", p) for p in args.align] + [("QC table", p) for p in args.upstream_qc + args.usable_qc] + [
        ("frame file", p) for p in args.audio_frames + args.vision_frames]
    if args.vision_words:
        inputs += [("visual word features", args.vision_words)] + ([("QC table", args.vision_qc)] if args.vision_qc else [])
    for label, path in inputs:
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
    vision, vision_columns, vision_failed, vision_meta = {}, [], {}, None
    if args.vision_words:
        vision, vision_columns, vision_meta = load_word_features(args.vision_words)
        if args.vision_qc:
            vision_failed = {u: r or "failed" for u, (s, r) in read_qc(args.vision_qc).items() if s == "failed"}
    entering = {r["utterance_id"] for r in manifest_rows} - failed
    from msaflow.normalization import speaker_of

    frames = fr.FrameInputs(rate=args.frame_rate, max_frames=args.max_frames, dtype=args.frame_dtype,
                            znorm=args.frame_znorm, speaker_min_utterances=args.speaker_min_utterances,
                            speakers={r["utterance_id"]: speaker_of(r) for r in manifest_rows})
    frame_columns = {"audio": [], "vision": []}
    for modality, paths, wanted in (("audio", args.audio_frames, entering), ("vision", args.vision_frames, entering & set(vision))):
        if paths:
            by_id, columns, _ = fr.read_frame_files(paths, wanted, args.frame_rate, args.max_frames, modality)
            setattr(frames, modality, by_id)
            setattr(frames, f"{modality}_dim", len(columns))
            frame_columns[modality] = columns
    data, qc = build_tokens(manifest_rows, words, audio, vision, tokenizer, args.max_length, failed, log, frames=frames,
                            vision_dim=len(vision_columns) if args.vision_words else 0, vision_failed=vision_failed,
                            vision_missing=args.vision_missing, vision_name=args.vision_set)
    data["meta"].update(
        encoder=args.encoder, tokenizer=type(tokenizer).__name__, audio_columns=audio_columns,
        vision_columns=vision_columns, audio_source=str(args.audio_words), wall_time_s=round(time.time() - t0, 3),
        vision_set=args.vision_set if args.vision_words else None,
        vision_source=str(args.vision_words) if args.vision_words else None,
        audio_frame_columns=frame_columns["audio"], vision_frame_columns=frame_columns["vision"],
        audio_words=word_file_summary(args.audio_words, audio_meta),
        vision_words=word_file_summary(args.vision_words, vision_meta) if args.vision_words else None,
    )
    c = data["meta"]["counts"]
    log.info(
        "tokens: %d in manifest, %d failed upstream, %d ok, %d fallback, %d failed here, %d truncated to %d pieces, "
        "frames cut audio/vision %d/%d at %d; train/valid/test %d/%d/%d",
        c["manifest"], c["failed_upstream"], c["ok"], c["fallback"], c["failed"], c["truncated"], args.max_length,
        c["frames_cut_audio"], c["frames_cut_vision"], args.max_frames, c["train"], c["valid"], c["test"],
    )
    for s in ("train", "valid", "test"):
        for key in ("audio_frames", "vision_frames"):
            if key in data[s]:
                t = data[s][key]
                log.info("%s %s: %s %s, %.1f MB", s, key, tuple(t.shape), t.dtype, t.numel() * t.element_size() / 1e6)
    if not (c["train"] and c["valid"] and c["test"]):
        hint = ""
        lost_vision = sum(1 for _, (st, r) in qc.rows.items() if st == "failed" and r.startswith(f"{args.vision_set}:"))
        if lost_vision:
            hint = (f"; {lost_vision} utterances had no usable vision ({args.vision_set}): for an audio-only corpus set "
                    "tokens.dataset_vision_fsets.<dataset>: null, or tokens.vision_missing: zero to keep them with zero vision")
        raise MsaflowError(f"tokens: every split needs utterances, got train/valid/test {c['train']}/{c['valid']}/{c['test']}{hint}")
    qc.write(args.qc)
    with atomic_path(args.out) as tmp:
        torch.save(data, tmp)
    return 0
