"""The offline pretraining corpus: neutral synthetic speech, unlabelled, in the LibriSpeech layout.

No speech corpus ships in any package here, so the pipeline synthesises one (rule
`make_pretrain_corpus`) with the demo's speech synthesis (msaflow.demo.synthesise_speech: espeak-ng,
sox): sentences drawn by the demo's sentence sampler (msaflow.demo.sample_components, its templates,
lexicon and neutral sentences, with this corpus's own seed), spoken by voices that are not the demo's
speakers (`voices`), each voice with its own base pitch and rate and no sentiment prosody (no pitch,
rate or loudness offset, no final glide). It teaches the speech encoder what this kind of speech
sounds like and pairs words with their sound; it carries no sentiment and no labels. Its vocabulary is
the demo's, so pretraining on it is closer to task-adaptive pretraining than LibriSpeech would be.

Layout: `<out>/<speaker>/0/<speaker>-0-<nnnn>.flac` (16 kHz, 16 bit) and `<speaker>-0.trans.txt`,
plus `synth_corpus.json` (voices, pitch, rate, utterances per voice, seed).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError, atomic_write_text, get_logger, progress

DEFAULT_VOICES = ["en-us+m3", "en-gb+f1", "en-us+f4", "en-gb-x-rp+m2", "en-029+m4", "en-gb-scotland+f2",
                  "en-us-nyc+m6", "en-us+f3"]


def plan_corpus(spec: dict, utterances: int, seed: int, voices: list[str]) -> list[dict]:
    from msaflow.demo import sample_components

    if utterances < 1 or not voices:
        raise MsaflowError("the synthesised pretraining corpus needs utterances >= 1 and at least one voice")
    rng = np.random.default_rng(seed)
    sentences = sample_components(spec, rng, utterances)[0]
    speakers = [{"voice": v, "pitch": int(rng.integers(30, 66)), "rate": int(rng.integers(145, 171))} for v in voices]
    plans = []
    for i, sentence in enumerate(sentences):
        s = i % len(speakers)
        plans.append({"id": f"{s + 1:03d}-0-{i // len(speakers):04d}", "speaker": f"{s + 1:03d}", "text": sentence,
                      **speakers[s]})
    return plans


def _render(plan: dict, folder: Path, scratch: Path, amplitude: int) -> None:
    import soundfile as sf

    from msaflow.demo import synthesise_speech
    from msaflow.waveforms import SAMPLE_RATE, read_wav_int16

    wav = scratch / f"{plan['id']}.wav"
    synthesise_speech(plan["text"], plan["voice"], plan["pitch"], plan["rate"], amplitude, 0, wav, scratch, plan["id"])
    samples, _ = read_wav_int16(wav)  # espeak-ng writes 22.05 kHz: resampled to 16 kHz
    wav.unlink()
    sf.write(str(folder / f"{plan['id']}.flac"), samples, SAMPLE_RATE, subtype="PCM_16")


def make_synth_corpus(spec_path, out_dir, utterances: int, seed: int, voices: list[str] | None = None,
                      threads: int = 1, log_file=None) -> dict:
    from msaflow.demo import check_tools, load_spec

    log = get_logger("make-pretrain-corpus", log_file)
    check_tools()
    spec = load_spec(spec_path)
    voices = list(voices or DEFAULT_VOICES)
    plans = plan_corpus(spec, utterances, seed, voices)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for speaker in sorted({p["speaker"] for p in plans}):
            folder = staging / speaker / "0"
            folder.mkdir(parents=True)
            lines = [f"{p['id']} {p['text'].upper()}" for p in plans if p["speaker"] == speaker]
            (folder / f"{speaker}-0.trans.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        with tempfile.TemporaryDirectory(prefix="msaflow-synth-") as scratch, \
                ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            jobs = [pool.submit(_render, p, staging / p["speaker"] / "0", Path(scratch), spec["base_amplitude"])
                    for p in plans]
            for job in progress(jobs, desc="pretraining speech"):
                job.result()
        description = {"utterances": len(plans), "seed": seed, "spec": str(spec_path),
                       "speakers": [{"speaker": f"{i + 1:03d}", "voice": v} for i, v in enumerate(voices)],
                       "plans": plans,
                       "note": "neutral synthetic speech (no sentiment prosody), unlabelled; msaflow.pretraining.synth"}
        atomic_write_text(staging / "synth_corpus.json", json.dumps(description, indent=1))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("pretraining corpus ready: %s (%d utterances, %d voices)", out_dir, len(plans), len(voices))
    return description
