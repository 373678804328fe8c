"""Speech with known word onsets, synthesised by espeak-ng, for tests and benchmarks.

Two kinds:

- `synth_utterance` (word by word): each word is synthesised on its own, trimmed to its first
  and last non-silent sample, resampled to 16 kHz and concatenated with known gaps, so the
  ground-truth onset of every word is exact (espeak-ng writes digital silence around a word).
  Coarticulation across words is lost and every onset is an energy onset after silence, which
  makes boundaries easier than in connected speech.
- `synth_connected` (connected speech): the whole text is synthesised in one call through
  libespeak-ng, whose word events give the sample at which each word's first phoneme starts
  (for a stop that is the start of its closure, as in TIMIT's convention). Words run into each
  other as espeak-ng speaks them; pauses come only from punctuation. espeak-ng merges a few
  function words into their neighbour ("from the"): those get no event and no ground truth
  (onset NaN), and are left out of error statistics.
"""

from __future__ import annotations

import ctypes
import subprocess
import tempfile
import threading
import wave
from dataclasses import dataclass
from functools import lru_cache
from math import gcd
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError

SAMPLE_RATE = 16000
# Review-like sentences for tests and benchmarks (plain words: their normalisation is themselves, lower-cased).
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


@dataclass
class SynthUtterance:
    words: list[str]
    samples: np.ndarray  # int16, 16 kHz
    onsets: list[float]  # seconds
    offsets: list[float]

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = gcd(src, dst)
    return resample_poly(x.astype(np.float64), dst // g, src // g)


@lru_cache(maxsize=4096)
def synth_word(word: str, voice: str = "en-us", rate_wpm: int = 175) -> np.ndarray:
    """One word as float samples at 16 kHz, silence trimmed (cached: benchmarks reuse words)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.wav"
        proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate_wpm), "-w", str(path), word],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not path.exists():
            raise MsaflowError(f"espeak-ng could not synthesise {word!r} with voice {voice!r}: {proc.stderr.strip()}")
        with wave.open(str(path), "rb") as handle:
            rate = handle.getframerate()
            x = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").astype(np.float64)
    voiced = np.flatnonzero(np.abs(x) > 0)
    if voiced.size == 0:
        raise MsaflowError(f"espeak-ng produced silence for {word!r}")
    x = x[voiced[0]:voiced[-1] + 1]
    return _resample(x, rate, SAMPLE_RATE)


def synth_utterance(words: list[str], voice: str = "en-us", rate_wpm: int = 175, seed: int = 0,
                    max_gap_s: float = 0.15, lead_s: float = 0.3, tail_s: float = 0.3) -> SynthUtterance:
    """Concatenate words with random gaps in [0, max_gap_s]; onsets are exact by construction."""
    rng = np.random.default_rng(seed)
    pieces = [np.zeros(int(lead_s * SAMPLE_RATE))]
    onsets, offsets, cursor = [], [], len(pieces[0])
    for i, word in enumerate(words):
        if i:
            gap = np.zeros(int(rng.uniform(0.0, max_gap_s) * SAMPLE_RATE))
            pieces.append(gap)
            cursor += len(gap)
        audio = synth_word(word, voice, rate_wpm)
        onsets.append(cursor / SAMPLE_RATE)
        pieces.append(audio)
        cursor += len(audio)
        offsets.append(cursor / SAMPLE_RATE)
    pieces.append(np.zeros(int(tail_s * SAMPLE_RATE)))
    x = np.concatenate(pieces)
    peak = np.max(np.abs(x)) or 1.0
    samples = np.round(x / peak * 0.8 * 32767).astype(np.int16)
    return SynthUtterance(list(words), samples, onsets, offsets)


class _EspeakEvent(ctypes.Structure):
    """espeak_EVENT of speak_lib.h (the union `id` is 8 bytes: a pointer or char[8])."""

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_EVENT_LIST_TERMINATED, _EVENT_WORD = 0, 1
_AUDIO_OUTPUT_SYNCHRONOUS, _ESPEAK_RATE, _ESPEAK_CHARS_UTF8 = 2, 1, 1
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.POINTER(_EspeakEvent))


class _Espeak:
    """libespeak-ng in synchronous mode; one per process (the library has global state)."""

    def __init__(self):
        try:
            self.lib = ctypes.CDLL("libespeak-ng.so.1")
        except OSError as error:
            raise MsaflowError(f"connected synthesis needs libespeak-ng (apt-get install espeak-ng): {error}") from None
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
        if self.sample_rate <= 0:
            raise MsaflowError("libespeak-ng failed to initialise")
        self.chunks: list[np.ndarray] = []
        self.words: list[tuple[int, int]] = []  # (text position, sample) of each word event
        self.callback = _SYNTH_CALLBACK(self._on_audio)  # keep a reference: C holds the pointer
        self.lib.espeak_SetSynthCallback(self.callback)
        self.lock = threading.Lock()

    def _on_audio(self, wav, n, events):
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_WORD:
                self.words.append((events[i].text_position, events[i].sample))
            i += 1
        return 0

    def speak(self, text: str, voice: str, rate_wpm: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
        data = text.encode("utf-8")
        with self.lock:
            self.chunks, self.words = [], []
            base, plus, variant = voice.partition("+")
            # The library knows British English by its file name "en"; the command line also accepts "en-gb".
            name = ("en" if base == "en-gb" else base) + plus + variant
            if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
                raise MsaflowError(f"espeak-ng has no voice {voice!r}")
            self.lib.espeak_SetParameter(_ESPEAK_RATE, rate_wpm, 0)
            buffer = ctypes.create_string_buffer(data)
            self.lib.espeak_Synth(buffer, len(data) + 1, 0, 1, 0, _ESPEAK_CHARS_UTF8, None, None)
            self.lib.espeak_Synchronize()
            audio = np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=np.int16)
            return audio.astype(np.float64), list(self.words)


@lru_cache(maxsize=1)
def _espeak() -> _Espeak:
    return _Espeak()


def synth_connected(text: str, voice: str = "en-us", rate_wpm: int = 175, lead_s: float = 0.3,
                    tail_s: float = 0.3) -> SynthUtterance:
    """Connected speech of `text`; `words` of the result are its whitespace-separated tokens.

    `text` may hold punctuation (pauses) and digits; a caller that needs normalised words maps
    each token through `msaflow.text.normalize_transcript` (the token's onset is the onset of its
    first normalised word). Onsets come from espeak-ng's word events; a token without an event
    (merged by espeak-ng) gets NaN. Offsets are the next token's onset (or the end of the
    speech) and are only indicative.
    """
    words = text.split()
    spans, cursor = [], 0
    for token in words:
        start = text.index(token, cursor)
        spans.append((start, start + len(token)))
        cursor = start + len(token)
    audio, events = _espeak().speak(text, voice, rate_wpm)
    src_rate = _espeak().sample_rate
    voiced = np.flatnonzero(audio)
    if voiced.size == 0:
        raise MsaflowError(f"espeak-ng produced silence for {text!r}")
    onsets_src = [np.nan] * len(words)
    for position, sample in events:  # text_position is 1-based; the first event of a token is its onset
        for k, (a, b) in enumerate(spans):
            if a <= position - 1 < b and np.isnan(onsets_src[k]):
                onsets_src[k] = float(sample)
    first, last = voiced[0], voiced[-1] + 1
    x = _resample(audio[first:last], src_rate, SAMPLE_RATE)
    lead = int(lead_s * SAMPLE_RATE)
    x = np.concatenate([np.zeros(lead), x, np.zeros(int(tail_s * SAMPLE_RATE))])
    onsets = [np.nan if np.isnan(o) else lead_s + max(0.0, o - first) / src_rate for o in onsets_src]
    speech_end = lead_s + (last - first) / src_rate
    offsets = []
    for k in range(len(words)):
        later = [o for o in onsets[k + 1:] if not np.isnan(o)]
        offsets.append(later[0] if later else speech_end)
    peak = np.max(np.abs(x)) or 1.0
    samples = np.round(x / peak * 0.8 * 32767).astype(np.int16)
    return SynthUtterance(list(words), samples, onsets, offsets)


def add_white_noise(samples: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White noise at `snr_db` relative to the power of the non-silent part of the signal."""
    x = samples.astype(np.float64)
    active = x[np.abs(x) > 0]
    signal_power = np.mean(active**2) if active.size else np.mean(x**2)
    noise = np.random.default_rng(seed).normal(0.0, np.sqrt(signal_power / 10 ** (snr_db / 10)), size=x.shape)
    return np.clip(np.round(x + noise), -32768, 32767).astype(np.int16)


def noise_gate(samples: np.ndarray, threshold_dbfs: float, frame: int = 160) -> np.ndarray:
    """Every 10 ms frame (at 16 kHz) quieter than the threshold set to exact zero, as a noise gate does."""
    y = samples.copy()
    m = len(y) // frame
    power = np.mean((y[:m * frame].reshape(m, frame).astype(np.float64) / 32768) ** 2, axis=1)
    quiet = np.repeat(10 * np.log10(power + 1e-12) < threshold_dbfs, frame)
    y[:m * frame][quiet] = 0
    return y


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(np.asarray(samples, dtype="<i2").tobytes())
