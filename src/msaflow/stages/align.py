"""`msaflow align`: word-level forced alignment for one shard (DESIGN.md §3, §6).

Reads the shard manifest (transcripts) and the audio stage's wav files and QC, aligns every
utterance the audio stage did not fail, and writes `align/{shard}.tsv` (one row per transcript
word), `align/{shard}.qc.tsv` (ok | fallback | failed per utterance) and, optionally, one Praat
TextGrid per utterance.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

from msaflow.common import MsaflowError, QCTable, get_logger, progress, read_qc, read_tsv, write_tsv

STAGE = "align"


def configure(parser: argparse.ArgumentParser) -> None:
    from msaflow.align.aligner import ENGINES, AlignSettings

    d = AlignSettings()
    io = parser.add_argument_group("inputs and outputs")
    io.add_argument("--shard-manifest", required=True, help="work/{ds}/shards/{shard}.tsv (utterance_id, video_id, text, ...)")
    io.add_argument("--audio-dir", required=True, help="folder with <utterance_id>.wav (16 kHz mono)")
    io.add_argument("--audio-qc", required=True, help="the audio stage's QC table for this shard")
    io.add_argument("--out", required=True, help="word table: utterance_id, word_index, word, start, end, source")
    io.add_argument("--qc", required=True, help="QC table: utterance_id, status, reason")
    io.add_argument("--textgrid-dir", default=None, help="also write <utterance_id>.TextGrid here (for Praat)")
    io.add_argument("--log", default=None, help="log file (the log also goes to stderr)")
    opts = parser.add_argument_group("alignment")
    opts.add_argument("--engine", choices=ENGINES, default=d.engine)
    opts.add_argument("--threads", type=int, default=1, help="parallel worker processes")
    opts.add_argument("--keep-markers", action="store_true", help="keep (umm), <laughter>, sp as words (see msaflow.text)")
    opts.add_argument("--beam-log10", type=float, default=d.beam_log10, help="pocketsphinx beam, as log10")
    opts.add_argument("--wbeam-log10", type=float, default=d.wbeam_log10, help="pocketsphinx word beam, as log10")
    opts.add_argument("--retry-beam-log10", type=float, default=d.retry_beam_log10, help="beam for the retry of a failed utterance")
    opts.add_argument("--retry-wbeam-log10", type=float, default=d.retry_wbeam_log10)
    opts.add_argument("--silence-probability", type=float, default=d.silence_probability,
                      help="pocketsphinx probability of an optional pause between words")
    opts.add_argument("--min-engine-fraction", type=float, default=d.min_engine_fraction,
                      help="below this share of words timed by the engine the utterance is QC 'fallback'")
    opts.add_argument("--window-s", type=float, default=d.window_s,
                      help="audio longer than this is aligned in windows cut at pauses (no length limit)")
    opts.add_argument("--no-refine-boundaries", dest="refine_boundaries", action="store_false",
                      help="keep the engine's word onsets (no refinement on the signal)")
    opts.add_argument("--max-uncovered-speech-s", type=float, default=d.max_uncovered_speech_s,
                      help="more speech than this outside every word makes the utterance QC 'fallback'")
    opts.add_argument("--no-number-readings", dest="number_readings", action="store_false",
                      help="align numbers only as normalised ('2019' = twenty nineteen), no alternative readings")
    opts.add_argument("--espeak-voice", default=d.espeak_voice, help="espeak-ng voice for out-of-vocabulary pronunciations")
    opts.add_argument("--g2p-cache", default=None, help="TSV cache of generated pronunciations (shared between jobs)")
    mfa = parser.add_argument_group("mfa engine")
    mfa.add_argument("--mfa-dictionary", default="english_us_arpa", help="MFA dictionary name or path")
    mfa.add_argument("--mfa-acoustic-model", default="english_us_arpa", help="MFA acoustic model name or path")
    mfa.add_argument("--mfa-arg", action="append", default=[], help="extra argument for `mfa align` (repeatable)")
    mfa.add_argument("--mfa-executable", default="mfa")


# --- worker processes (pocketsphinx) -------------------------------------------------------
_WORKER = None


def _init_worker(settings, extra_pronunciations):
    global _WORKER
    from msaflow.align.aligner import PocketsphinxWorker

    _WORKER = PocketsphinxWorker(settings, extra_pronunciations=extra_pronunciations)


def failed_utterance(utterance_id: str, text: str, settings, reason: str):
    """The QC outcome of an utterance whose file or decoder broke: one `failed` row, no words."""
    from msaflow.align.aligner import UtteranceAlignment
    from msaflow.text import normalize_transcript

    return UtteranceAlignment(utterance_id, normalize_transcript(text, settings.keep_markers), [], "failed", reason)


def _align_one(task):
    """One utterance; a broken file or a decoder error becomes its QC row, never the shard's end."""
    from msaflow.align.aligner import align_utterance
    from msaflow.align.audio import read_wav_int16

    utterance_id, text, wav_path, sample_rate = task
    try:
        samples = read_wav_int16(wav_path, utterance_id, sample_rate)
        return align_utterance(utterance_id, text, samples, sample_rate, _WORKER, _WORKER.settings)
    except MsaflowError as error:
        return failed_utterance(utterance_id, text, _WORKER.settings, str(error))
    except RuntimeError as error:  # pocketsphinx's C library reports internal errors this way
        return failed_utterance(utterance_id, text, _WORKER.settings, f"pocketsphinx error: {error}")


# --- helpers ---------------------------------------------------------------------------------
def _settings_from_args(args):
    from msaflow.align.aligner import AlignSettings

    if not 0.0 <= args.min_engine_fraction <= 1.0:
        raise MsaflowError(f"--min-engine-fraction must be in [0, 1], got {args.min_engine_fraction}")
    if not 0.0 < args.silence_probability <= 1.0:
        raise MsaflowError(f"--silence-probability must be in (0, 1], got {args.silence_probability}")
    if args.window_s < 5:
        raise MsaflowError(f"--window-s must be at least 5 seconds, got {args.window_s}")
    if not args.max_uncovered_speech_s > 0:
        raise MsaflowError(f"--max-uncovered-speech-s must be positive, got {args.max_uncovered_speech_s}")
    for name in ("beam_log10", "wbeam_log10", "retry_beam_log10", "retry_wbeam_log10"):
        if not getattr(args, name) < 0:
            raise MsaflowError(f"--{name.replace('_', '-')} must be negative (a log10 of a beam width below 1)")
    return AlignSettings(
        engine=args.engine, keep_markers=args.keep_markers, beam_log10=args.beam_log10,
        wbeam_log10=args.wbeam_log10, retry_beam_log10=args.retry_beam_log10,
        retry_wbeam_log10=args.retry_wbeam_log10, min_engine_fraction=args.min_engine_fraction,
        espeak_voice=args.espeak_voice, silence_probability=args.silence_probability, window_s=args.window_s,
        refine_boundaries=args.refine_boundaries, max_uncovered_speech_s=args.max_uncovered_speech_s,
        number_readings=args.number_readings,
    )


def load_shard(shard_manifest: str, audio_qc: str) -> tuple[dict[str, dict], list[str], dict[str, tuple[str, str]]]:
    """Manifest rows by id, the ids to align (audio not failed), and the audio QC."""
    rows = read_tsv(shard_manifest)
    if rows and not {"utterance_id", "text"} <= set(rows[0]):
        raise MsaflowError(f"{shard_manifest}: needs columns utterance_id and text, found {sorted(rows[0])}")
    by_id: dict[str, dict] = {}
    for row in rows:
        if row["utterance_id"] in by_id:
            raise MsaflowError(f"{shard_manifest}: utterance {row['utterance_id']!r} appears twice")
        by_id[row["utterance_id"]] = row
    qc = read_qc(audio_qc)
    not_in_qc = sorted(set(by_id) - set(qc))
    if not_in_qc:
        raise MsaflowError(f"{audio_qc}: the audio QC does not list utterance {not_in_qc[0]!r} "
                           f"({len(not_in_qc)} missing); rerun the audio stage for this shard")
    usable = [u for u in by_id if qc[u][0] != "failed"]
    return by_id, usable, qc


def pocketsphinx_dictionary_words() -> set[str]:
    """Words in the CMU dictionary that ships with pocketsphinx (alternates folded)."""
    import pocketsphinx

    path = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    words = set()
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            head = line.split(" ", 1)[0]
            words.add(head.split("(", 1)[0])
    return words


def out_of_vocabulary_pronunciations(all_words, cache_path, voice, log) -> dict[str, list[str]]:
    """espeak-ng pronunciations for the shard's words the CMU dictionary lacks, via the disk cache."""
    from msaflow.align.g2p import PronunciationCache

    known = pocketsphinx_dictionary_words()
    oov = sorted({w for w in all_words if w not in known})
    if not oov:
        return {}
    cache = PronunciationCache(cache_path, voice)
    prons = cache.lookup(oov)
    cache.save()
    empty = [w for w, p in prons.items() if not p]
    log.info("%d out-of-vocabulary words pronounced by espeak-ng (%s%s)", len(oov), ", ".join(oov[:8]),
             ", ..." if len(oov) > 8 else "")
    if empty:
        log.warning("no usable pronunciation for %s: their utterances will fall back", empty[:8])
    return prons


def run_pocketsphinx(tasks, settings, threads, prons, log):
    results = []
    if threads > 1 and len(tasks) > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(min(threads, len(tasks)), initializer=_init_worker, initargs=(settings, prons)) as pool:
            for result in progress(pool.imap(_align_one, tasks, chunksize=1), desc="align", total=len(tasks)):
                results.append(result)
    else:
        _init_worker(settings, prons)
        for task in progress(tasks, desc="align", total=len(tasks)):
            results.append(_align_one(task))
    return results


def run_mfa(tasks, settings, args, by_id, log):
    from msaflow.align.aligner import UtteranceAlignment, finish_alignment
    from msaflow.align.audio import read_wav_int16
    from msaflow.align.mfa import MfaItem, align_shard_with_mfa
    from msaflow.align.reconcile import spoken_words
    from msaflow.text import normalize_transcript

    items, words_by_id, samples_by_id, unreadable, results = [], {}, {}, {}, []
    for uid, text, wav_path, sample_rate in tasks:
        words = normalize_transcript(text, keep_markers=settings.keep_markers)
        words_by_id[uid] = words
        try:
            samples_by_id[uid] = read_wav_int16(wav_path, uid, sample_rate)
        except MsaflowError as error:  # one bad file is one QC row, not the shard's end
            unreadable[uid] = str(error)
            continue
        if spoken_words(words) and len(samples_by_id[uid]):
            items.append(MfaItem(uid, by_id[uid].get("video_id") or uid, spoken_words(words), Path(wav_path)))
    outcome = align_shard_with_mfa(items, args.mfa_dictionary, args.mfa_acoustic_model, args.threads,
                                   args.mfa_arg, args.mfa_executable, log=log) if items else {}
    for uid, _text, _wav, sample_rate in progress(tasks, desc="align (parse mfa)", total=len(tasks)):
        if uid in unreadable:
            results.append(UtteranceAlignment(uid, words_by_id[uid], [], "failed", unreadable[uid]))
            continue
        words, samples = words_by_id[uid], samples_by_id[uid]
        if not words or not len(samples) or uid not in outcome:
            reason = "transcript has no words after normalisation" if not words else (
                "audio is empty" if not len(samples) else "transcript has only non-speech markers")
            if words and len(samples):
                from msaflow.align.fallback import fallback_intervals
                results.append(UtteranceAlignment(uid, words, fallback_intervals(words, samples, sample_rate),
                                                  "fallback", reason, len(samples) / sample_rate))
            else:
                results.append(UtteranceAlignment(uid, words, [], "failed", reason, len(samples) / sample_rate))
            continue
        got = outcome[uid]
        engine_words, failure = (got, "") if isinstance(got, list) else (None, got)
        if engine_words is not None and not engine_words:
            engine_words, failure = None, "mfa aligned no words"
        results.append(finish_alignment(uid, words, samples, sample_rate, "mfa", engine_words, failure, settings))
    return results


def write_textgrids(results, textgrid_dir: str) -> None:
    """All TextGrids into a temporary sibling folder, then one rename (the folder is all or nothing)."""
    from msaflow.align.textgrid import format_textgrid, words_textgrid

    target = Path(textgrid_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for r in results:
            if r.status != "failed":
                (tmp / f"{r.utterance_id}.TextGrid").write_text(format_textgrid(words_textgrid(r.intervals, r.duration)),
                                                                  encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def main(args) -> int:
    from msaflow.align.reconcile import spoken_words
    from msaflow.align.types import ALIGN_COLUMNS
    from msaflow.text import normalize_transcript

    log = get_logger(STAGE, args.log)
    settings = _settings_from_args(args)
    if args.threads < 1:
        raise MsaflowError(f"--threads must be >= 1, got {args.threads}")
    if settings.engine == "mfa":
        from msaflow.align.mfa import find_mfa

        find_mfa(args.mfa_executable)  # fail before any work, with the install message
    by_id, usable, _ = load_shard(args.shard_manifest, args.audio_qc)
    sample_rate = 16000
    audio_dir = Path(args.audio_dir)
    tasks = [(uid, by_id[uid]["text"] or "", str(audio_dir / f"{uid}.wav"), sample_rate) for uid in usable]
    missing = [t[0] for t in tasks if not Path(t[2]).exists()]
    if missing:
        raise MsaflowError(f"utterance {missing[0]!r}: {audio_dir / (missing[0] + '.wav')} is missing although the "
                           f"audio QC says it is usable ({len(missing)} such files); rerun the audio stage for this shard")
    log.info("%d utterances in shard, %d usable after the audio stage; engine %s, %d thread(s)",
             len(by_id), len(usable), settings.engine, args.threads)

    cpu0, wall0 = time.process_time(), time.time()
    if settings.engine == "pocketsphinx":
        all_words = {w for _, text, _, _ in tasks for w in spoken_words(normalize_transcript(text, settings.keep_markers))}
        prons = out_of_vocabulary_pronunciations(all_words, args.g2p_cache, settings.espeak_voice, log)
        results = run_pocketsphinx(tasks, settings, args.threads, prons, log)
    else:
        results = run_mfa(tasks, settings, args, by_id, log)

    qc = QCTable(STAGE)
    rows = []
    for r in results:
        if r.status != "failed" and len(r.intervals) != len(r.words):  # the contract, checked not assumed
            raise MsaflowError(f"utterance {r.utterance_id!r}: {len(r.intervals)} intervals for {len(r.words)} words")
        qc.add(r.utterance_id, r.status, r.reason)
        rows.extend(x.as_row(r.utterance_id, i) for i, x in enumerate(r.intervals))
        if r.status != "ok":
            log.info("%s: %s (%s)", r.utterance_id, r.status, r.reason)
    qc.check_accounts_for(usable)
    if args.textgrid_dir:
        write_textgrids(results, args.textgrid_dir)
    write_tsv(args.out, ALIGN_COLUMNS, rows)
    qc.write(args.qc)
    audio_s = sum(r.duration for r in results)
    wall = time.time() - wall0
    log.info("done: %s; %d words; %.1f s of audio in %.1f s wall (%.1f audio s per wall s, %.1f s main-process CPU)",
             qc.counts(), len(rows), audio_s, wall, audio_s / max(wall, 1e-9), time.process_time() - cpu0)
    return 0
