"""Word-level forced alignment (DESIGN.md §3 word intervals, §6 engines).

Layout:
  types.py               WordInterval, EngineWord, the row format of align/{shard}.tsv
  audio.py               reading the 16 kHz mono wav files the audio stage writes
  g2p.py                 out-of-vocabulary pronunciations from espeak-ng (IPA -> ARPAbet), cached on disk
  pocketsphinx_engine.py the default engine (model and CMU dictionary ship in the PyPI wheel): our own
                         grammar (number readings, prefix windows), the -64 dBFS noise floor
  vad.py                 energy speech activity: no speech, pauses, speech region
  longform.py            audio longer than one window: aligned piece by piece, cut at pauses
  refine.py              word onsets moved to the acoustic change next to the engine's boundary
  qc.py                  coverage QC: speech outside every word, words squeezed to the minimum
  mfa.py                 Montreal Forced Aligner runner (needs a conda install; optional)
  reconcile.py           map engine output back onto the transcript's words, one row each
  fallback.py            proportional word timing over the speech region
  textgrid.py            Praat TextGrid read/write (MFA's long format)
  synth.py               espeak-ng speech with known word onsets (tests, benchmarks)
  aligner.py             per-utterance orchestration: checks, engine, retry, refinement, QC, fallback
"""

from msaflow.align.types import ALIGN_COLUMNS, EngineWord, WordInterval

__all__ = ["ALIGN_COLUMNS", "EngineWord", "WordInterval"]
