"""`msaflow words`: word-level averages of one feature set for a dataset.

Inputs per shard: the frame features' `.h5` + QC (acoustic or visual: the same averaging for both)
and the align stage's word table + QC; plus the
dataset manifest (text, label, annotation, mode). Output: `words/{fset}.csd` (rows in word_index
order, z-normalised per speaker and/or with train statistics, NaN filled; see msaflow.features.words_build), its QC
table. The exports for other frameworks are a later stage (`msaflow exports`).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from msaflow.common import MsaflowError, QCTable, get_logger, progress, read_qc, read_tsv

STAGE = "words"


def configure(parser: argparse.ArgumentParser) -> None:
    from msaflow.features.word_average import MODES

    parser.add_argument("--fset", required=True)
    parser.add_argument("--dataset", default="")
    parser.add_argument("--manifest", required=True, help="work/{ds}/manifest.tsv")
    parser.add_argument("--frames", "--acoustic", dest="acoustic", nargs="+", required=True,
                        help="frame features, one .h5 per shard: acoustic/{fset}/{shard}.h5 or visual/{vset}/{shard}.h5")
    parser.add_argument("--frames-qc", "--acoustic-qc", dest="acoustic_qc", nargs="+", required=True)
    parser.add_argument("--align", nargs="+", required=True, help="align/{shard}.tsv, same shard order")
    parser.add_argument("--align-qc", nargs="+", required=True)
    parser.add_argument("--out", required=True, help="words/{fset}.csd")
    parser.add_argument("--qc", required=True)
    parser.add_argument("--mode", choices=MODES, default="nanmean")
    parser.add_argument("--fill-value", type=float, default=0.0)
    parser.add_argument("--columns", default="all", help="'all', a preset name, or a JSON list of names")
    parser.add_argument("--presets", default="{}", help="JSON {preset: [names]}")
    parser.add_argument("--znorm", choices=("speaker", "train", "none"), default="train",
                        help="speaker: each speaker's own statistics first (msaflow.normalization), then the "
                             "train split's; train: the train split's only; none: raw")
    parser.add_argument("--no-znorm", action="store_true", help="the same as --znorm none")
    parser.add_argument("--speaker-min-utterances", type=int, default=5,
                        help="a speaker with fewer utterances is normalised with the train statistics")
    parser.add_argument("--log", default=None)


def _columns_spec(text: str):
    """A preset name, "all", or a list of column names; given plain or as JSON."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(args: argparse.Namespace) -> int:
    from msaflow.features import csd, words_build

    logger = get_logger(STAGE, args.log)
    if not (len(args.acoustic) == len(args.acoustic_qc) == len(args.align) == len(args.align_qc)):
        raise MsaflowError("--frames, --frames-qc, --align and --align-qc need one file per shard, in the same order")
    manifest = {row["utterance_id"]: row for row in read_tsv(args.manifest)}
    presets = json.loads(args.presets)
    qc = QCTable(STAGE)
    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    frame_meta = None
    col_idx = None
    expected: list[str] = []
    for h5, aqc, align, alqc in zip(args.acoustic, args.acoustic_qc, args.align, args.align_qc):
        align_ok = {u for u, (s, _) in read_qc(alqc).items() if s != "failed"}
        acoustic_qc = read_qc(aqc)
        shard_tables = words_build.group_alignment(read_tsv(align), align)
        frames, meta = csd.read_csd(h5)
        if frame_meta is None:
            frame_meta = meta
            col_idx = words_build.resolve_columns(_columns_spec(args.columns), meta["column names"], presets)
        ids = sorted(align_ok | set(acoustic_qc))
        expected += ids
        for uid in progress(ids, desc=f"{STAGE} {args.fset} {h5}", total=len(ids)):
            if uid not in align_ok:
                qc.add(uid, "failed", "failed or missing in align QC")
                continue
            status = acoustic_qc.get(uid, ("failed", f"not in {aqc}"))
            if status[0] == "failed" or uid not in frames:
                qc.add(uid, "failed", f"frames: {status[1] or 'no features'}")
                continue
            if uid not in shard_tables:
                qc.add(uid, "failed", f"no word rows in {align}")
                continue
            if uid not in manifest:
                qc.add(uid, "failed", f"not in {args.manifest}")
                continue
            feats, intervals = frames[uid]
            table = shard_tables[uid]
            results[uid] = (words_build.word_means(feats, intervals, table, args.mode, args.fill_value, col_idx),
                            table.intervals)
            qc.add(uid, "ok", status[1])
    qc.check_accounts_for(expected)
    if frame_meta is None:
        raise MsaflowError("words: no frame-feature shard given")
    names = [frame_meta["column names"][i] for i in col_idx]
    columns_meta = [frame_meta["columns"][i] for i in col_idx]

    scope = "none" if args.no_znorm else args.znorm
    train_ids = [u for u in results if manifest[u].get("mode") == "train"]
    speaker = None
    if scope == "speaker" and train_ids:
        from msaflow.normalization import fit_speaker_norm, speaker_of

        speakers = {u: speaker_of(manifest[u]) for u in results}
        norm = fit_speaker_norm({u: f for u, (f, _) in results.items()}, speakers, train_ids, len(names),
                                args.speaker_min_utterances)
        results = {u: (norm.apply(speakers[u], f), iv) for u, (f, iv) in results.items()}
        speaker = norm.metadata()
        logger.info("speaker normalisation: %d speakers on their own statistics, %d on the train split's "
                    "(fewer than %d utterances)", speaker["n_speakers"], len(speaker["fallback_speakers"]),
                    args.speaker_min_utterances)
    mean = std = None
    znorm = {"applied": False, "scope": "none"}
    if scope != "none":
        if train_ids:
            mean, std, n_words = words_build.fit_znorm([results[u][0] for u in train_ids])
            znorm = {"applied": True, "scope": scope, "fitted_on": "train", "n_words": n_words, "columns": names,
                     "mean": [float(v) for v in mean], "std": [float(v) for v in std]}
            if speaker is not None:
                znorm["speaker"] = speaker
        else:
            logger.warning("no train-split utterance: z-normalisation skipped")
            znorm = {"applied": False, "scope": "none", "reason": "no train-split utterance"}
    final = {u: words_build.apply(f, mean, std, args.fill_value) for u, (f, _) in results.items()}

    metadata = {
        "computational sequence description": f"msaflow {args.fset} word-level averages ({args.mode})",
        "computational sequence version": "1",
        "dataset name": args.dataset,
        "creator": "msaflow",
        "column names": names,
        "columns": columns_meta,
        "znorm": znorm,
        "fill": {"mode": args.mode, "fill_value": args.fill_value,
                 "order": "word means -> column subset -> [speaker z-norm] -> z-norm (train stats) -> NaN := fill_value",
                 "epsilon_s": 1e-5},
        "settings": {"frame_settings": frame_meta.get("settings"), "columns_spec": args.columns},
    }
    n = csd.write_csd(args.out, args.fset, ((u, final[u], results[u][1]) for u in sorted(final)), metadata)
    logger.info("%s: %d utterances, %d columns -> %s (%s)", args.fset, n, len(names), args.out, qc.counts())

    qc.write(args.qc)
    return 0
