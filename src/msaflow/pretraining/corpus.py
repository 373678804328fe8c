"""Pretraining corpora: speech with transcripts, no labels.

Layouts (`pretrain.corpus`, `pretrain.extra_corpora`):

* LibriSpeech: `<root>/**/<speaker>-<chapter>.trans.txt`, one line `<utterance id> <TRANSCRIPT>` per
  utterance, audio `<utterance id>.flac` (or .wav) in the same folder. The synthesised offline corpus
  (msaflow.pretraining.synth) is written in this layout too.
* MMSA: `<root>/label.csv` (video_id, clip_id, text; optional start, end; labels ignored) and
  `<root>/Raw/<video_id>/<clip_id>.<ext>`, decoded with ffmpeg like the audio stage.

Transcripts are normalised like the alignment stage's words (msaflow.text.normalize_transcript), so
pretraining and fine-tuning tokenise the same kind of text. Every utterance is audio capped at
`max_seconds` from its start (the transcript is not cut: the word-pieces beyond max_length are; both
counted in the QC table) or a QC failure with its reason (unreadable audio, no words, shorter than one
frame).
"""

from __future__ import annotations

import csv
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError, QCTable, progress
from msaflow.pretraining.codewords import WINDOW
from msaflow.waveforms import SAMPLE_RATE, read_wav_int16

AUDIO_SUFFIXES = (".flac", ".wav")


@dataclass
class SpeechText:
    id: str
    words: list[str]
    waveform: np.ndarray  # int16, 16 kHz, capped


def corpus_layout(root: Path) -> str:
    if (root / "label.csv").is_file():
        return "mmsa"
    if next(root.rglob("*.trans.txt"), None) is not None:
        return "librispeech"
    raise MsaflowError(
        f"pretraining corpus {root}: neither label.csv (MMSA layout: label.csv + Raw/<video_id>/<clip_id>.<ext>) nor "
        "*.trans.txt files (LibriSpeech layout: <speaker>-<chapter>.trans.txt beside <utterance id>.flac) found; "
        "set pretrain.corpus to such a folder, or to 'synth' for the synthesised offline corpus"
    )


def librispeech_entries(root: Path) -> list[tuple[str, str, Path | None]]:
    """(utterance id, transcript, audio path or None) for every transcript line under `root`."""
    entries = []
    for transcript in sorted(root.rglob("*.trans.txt")):
        for line in transcript.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            uid, _, text = line.strip().partition(" ")
            audio = next((transcript.parent / f"{uid}{s}" for s in AUDIO_SUFFIXES
                          if (transcript.parent / f"{uid}{s}").is_file()), None)
            entries.append((uid, text, audio))
    return entries


def mmsa_entries(root: Path) -> list[tuple[str, str, Path | None, float | None, float | None]]:
    from msaflow.common import make_utterance_id
    from msaflow.corpus import find_media

    label_csv = root / "label.csv"
    with open(label_csv, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("video_id", "clip_id", "text") if c not in (reader.fieldnames or [])]
        if missing:
            raise MsaflowError(f"{label_csv}: a pretraining corpus needs columns video_id, clip_id, text (missing "
                               f"{', '.join(missing)}); labels are not needed")
        rows = list(reader)
    def seconds(row, key):
        value = (row.get(key) or "").strip()
        return float(value) if value else None

    entries = []
    for row in rows:
        media, _ = find_media(root / "Raw", row["video_id"], row["clip_id"])
        entries.append((make_utterance_id(row["video_id"], row["clip_id"]), row["text"], media,
                        seconds(row, "start"), seconds(row, "end")))
    return entries


def load_corpus(roots, max_seconds: float, qc: QCTable) -> list[SpeechText]:
    """Every usable utterance of the corpora in `roots`; ids are `<corpus index>/<utterance id>`."""
    from msaflow.audio import extract_audio
    from msaflow.text import normalize_transcript

    cap = int(round(max_seconds * SAMPLE_RATE))
    items = []
    for k, root in enumerate(roots):
        root = Path(root)
        if not root.is_dir():
            raise MsaflowError(f"pretraining corpus {root} does not exist (pretrain.corpus / pretrain.extra_corpora)")
        layout = corpus_layout(root)
        entries = librispeech_entries(root) if layout == "librispeech" else mmsa_entries(root)
        if not entries:
            raise MsaflowError(f"pretraining corpus {root} ({layout} layout) lists no utterances")
        with tempfile.TemporaryDirectory(prefix="msaflow-pretrain-") as scratch:
            for entry in progress(entries, desc=f"corpus {root.name}", total=len(entries)):
                uid, text, audio = entry[:3]
                key = f"{k}/{uid}"
                if audio is None:
                    qc.add(key, "failed", f"no audio file for {uid} in {root}")
                    continue
                if layout == "mmsa":
                    wav = Path(scratch) / "clip.wav"
                    result = extract_audio(audio, wav, uid, SAMPLE_RATE, entry[3], entry[4])
                    if not result.ok:
                        qc.add(key, "failed", result.reason)
                        continue
                    audio = wav
                try:
                    wave, _ = read_wav_int16(audio)
                except MsaflowError as error:
                    qc.add(key, "failed", str(error))
                    continue
                words = normalize_transcript(text)
                if not words:
                    qc.add(key, "failed", "no words in the transcript")
                    continue
                if len(wave) < WINDOW:
                    qc.add(key, "failed", f"shorter than one audio frame ({len(wave)} samples)")
                    continue
                if len(wave) > cap:
                    qc.add(key, "ok", f"truncated: kept {cap / SAMPLE_RATE:.2f} of {len(wave) / SAMPLE_RATE:.2f} s")
                    wave = wave[:cap]
                else:
                    qc.add(key, "ok", "")
                items.append(SpeechText(key, words, wave))
    return items


def heldout_ids(ids: list[str], fraction: float, minimum: int = 8) -> set[str]:
    """A deterministic held-out subset (by a hash of the id, not the order): `fraction` of the corpus,
    at least `minimum` utterances while the rest keeps four times as many."""
    n = max(int(np.ceil(fraction * len(ids))), min(minimum, len(ids) // 5))
    ranked = sorted(ids, key=lambda u: (zlib.crc32(u.encode()), u))
    return set(ranked[:n])
