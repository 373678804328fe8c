"""Word-level forced alignment (DESIGN.md §3 word intervals, §6 engines).

Layout:
  types.py               WordInterval, EngineWord, the row format of align/{shard}.tsv
  audio.py               reading the 16 kHz mono wav files the audio stage writes
  g2p.py                 out-of-vocabulary pronunciations from espeak-ng (IPA -> ARPAbet), cached on disk
  pocketsphinx_engine.py the default engine (model and CMU dictionary ship in the PyPI wheel)
  mfa.py                 Montreal Forced Aligner runner (needs a conda install; optional)
  reconcile.py           map engine output back onto the transcript's words, one row each
  fallback.py            energy-based speech region + proportional word timing
  textgrid.py            Praat TextGrid read/write (MFA's long format)
  aligner.py             per-utterance orchestration: engine, wider-beam retry, fallback
"""

from msaflow.align.types import ALIGN_COLUMNS, EngineWord, WordInterval

__all__ = ["ALIGN_COLUMNS", "EngineWord", "WordInterval"]
