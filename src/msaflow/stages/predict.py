"""`msaflow predict`: the sentiment of a new clip (or a folder of clips) with a trained run.

A TRANSCRIPT IS REQUIRED (there is no speech recogniser here): --transcript TEXT, or
--transcript-file FILE.txt / FILE.TextGrid (a TextGrid's `words` tier gives word timings and
skips alignment). For a folder, the transcripts come from a label.csv-like table.

The clip goes through the pipeline's own stages with the settings the run was trained with
(msaflow.predict, msaflow.bundle); --result uses every seed of a result file as an ensemble
(score = mean of the seeds' predictions).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from msaflow.common import MsaflowError, get_logger, progress, write_tsv

# Feature extraction (numpy/OpenBLAS, parselmouth) and torch share the cores one after another; with
# OpenMP's default busy-waiting, the idle pool of one stage spins while the next computes (measured:
# a 10-s clip's model step 0.9 s instead of 0.05 s on 2 cores). Read when OpenMP starts, so set here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

TABLE_COLUMNS = ("utterance_id", "clip", "status", "score", "class2", "class5", "class7", "label", "n_words",
                 "align", "reason")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__.split("\n\n", 1)[0].strip("`") + "\n\n" + __doc__.split("\n\n", 1)[1]
    parser.epilog = ("examples:\n"
                     "  msaflow predict clip.mp4 --transcript \"i really liked it\" --run work/mosi/runs/cmbert/seed1111\n"
                     "  msaflow predict clip.mp4 --transcript-file clip.TextGrid --result results/cmbert_mosi.json --json\n"
                     "  msaflow predict clips/ --transcript-file clips/label.csv --result results/cmbert_mosi.json --out scores.tsv")
    parser.add_argument("clip", help="a media file (mp4, wav, ...) or a folder of clips")
    text = parser.add_mutually_exclusive_group()
    text.add_argument("--transcript", help="the words spoken in the clip (required for a single clip, or a file)")
    text.add_argument("--transcript-file",
                      help="FILE.txt (the transcript), FILE.TextGrid (word timings), or for a folder a table "
                           "(csv/tsv: clip_id, text; optional video_id, label, path; default <folder>/label.csv)")
    runs = parser.add_mutually_exclusive_group(required=True)
    runs.add_argument("--run", help="work/{ds}/runs/{model}/seed{seed} (one run) or work/{ds}/runs/{model} (all its seeds)")
    runs.add_argument("--result", help="results/{model}_{ds}.json: all its seeds as an ensemble")
    parser.add_argument("--json", action="store_true", help="print JSON (machines) instead of a text summary")
    parser.add_argument("--out", default=None, help="also write the output here (.json, or .tsv for a folder)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--log", default=None)


def format_clip(out: dict) -> str:
    c = out["classes"]
    seeds = out["seeds"]
    lines = [f"{out['clip']}: {out['model']} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''}"
             f"{', ensemble mean' if len(seeds) > 1 else ''})",
             f"  score {out['score']:+.4f}   2-class {c['class2']}   5-class {c['class5']:+d} ({c['class5_name']})   "
             f"7-class {c['class7']:+d} ({c['class7_name']})"]
    if out.get("label") is not None:
        lines.append(f"  label {out['label']:+.4f}")
    if len(seeds) > 1:
        lines.append("  per seed: " + ", ".join(f"{s} {v:+.4f}" for s, v in seeds.items()))
    has_att = out.get("attention") is not None
    lines.append(f"  words ({out['duration_s']:.2f} s):" + ("   [fusion attention of the prediction]" if has_att else ""))
    for w in out["words"]:
        att = f"  {w['attention']:.3f} " + "#" * int(round(40 * w["attention"])) if has_att else ""
        lines.append(f"    {w['start']:6.2f}-{w['end']:6.2f}  {w['word']:<16}{'' if w['source'] != 'fallback' else ' (fallback)'}{att}")
    lines.append("  qc: " + "; ".join(f"{stage} {q['status']}" + (f" ({q['reason']})" if q["reason"] else "")
                                      for stage, q in out["qc"].items()))
    t = out["timing_s"]
    lines.append("  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))
    return "\n".join(lines)


def _table_row(out: dict) -> list:
    if out["status"] != "ok":
        label = out.get("label")
        return [out["utterance_id"], out["clip"], out["status"], "", "", "", "", "" if label is None else label, "", "",
                out.get("reason", "")]
    c = out["classes"]
    return [out["utterance_id"], out["clip"], "ok", f"{out['score']:.6f}", c["class2"], c["class5"], c["class7"],
            "" if out.get("label") is None else out["label"], len(out["words"]), out["qc"]["align"]["status"],
            out["qc"]["align"]["reason"]]


def main(args) -> int:
    from msaflow.bundle import bundle_dirs, load_bundle
    from msaflow.predict import (
        ClipError,
        ClipRequest,
        Predictor,
        check_clip_audio,
        folder_requests,
        read_transcript_file,
    )

    log = get_logger("predict", args.log)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    clip = Path(args.clip)
    if clip.is_dir():
        if args.transcript:
            raise MsaflowError("for a folder of clips give the transcripts as a table (--transcript-file table.csv)")
        requests = folder_requests(clip, args.transcript_file)
    else:
        if not args.transcript and not args.transcript_file:
            raise MsaflowError("a transcript is required (msaflow predict has no speech recogniser): "
                               "--transcript TEXT or --transcript-file FILE.txt|FILE.TextGrid")
        text, textgrid = (args.transcript, None) if args.transcript else read_transcript_file(args.transcript_file)
        requests = [ClipRequest(media=clip, transcript=text, textgrid=textgrid)]
    bundles = [load_bundle(d) for d in bundle_dirs(args.run, args.result)]
    if not clip.is_dir():  # a clip without usable audio fails now, not after the models are loaded
        audio = bundles[0].pipeline.get("audio") or {}
        check_clip_audio(requests[0], int(audio.get("sample_rate", 16000)), float(audio.get("ffmpeg_timeout_s", 300)))
    t0 = time.time()
    predictor = Predictor(bundles, args.device, log)
    log.info("loaded %s (%d run%s) in %.1f s", predictor.model_name, len(predictor.bundles),
             "s" if len(predictor.bundles) > 1 else "", time.time() - t0)

    if not clip.is_dir():
        out = predictor.predict(requests[0])  # a bad clip raises: the CLI prints the named error
        out["load_time_s"] = round(predictor.load_time_s, 3)
        _emit(out, args, single=True)
        return 0

    outputs = []
    for req in progress(requests, desc="predict", total=len(requests)):
        try:
            outputs.append(predictor.predict(req))
        except ClipError as error:
            log.warning("%s", error)
            outputs.append({"clip": str(req.media), "utterance_id": req.utterance_id, "status": "failed",
                            "stage": error.stage, "reason": error.reason, "qc": error.qc, "label": req.label})
    _emit(outputs, args, single=False)
    failed = sum(o["status"] != "ok" for o in outputs)
    log.info("%d clips: %d scored, %d failed", len(outputs), len(outputs) - failed, failed)
    return 1 if failed else 0


def _emit(out, args, single: bool) -> None:
    text = json.dumps(out, indent=2) if args.json else None
    if args.out:
        target = Path(args.out)
        if target.suffix.lower() == ".tsv" and not single:
            write_tsv(target, TABLE_COLUMNS, (_table_row(o) for o in out))
        else:
            from msaflow.common import atomic_write_text

            atomic_write_text(target, json.dumps(out, indent=2) + "\n")
    if text is not None:
        print(text)
    elif single:
        print(format_clip(out))
    else:
        print("\t".join(TABLE_COLUMNS))
        for o in out:
            print("\t".join(str(v) for v in _table_row(o)))
