"""Row types shared by the alignment engines and the stage."""

from __future__ import annotations

from dataclasses import dataclass

# Column order of work/{ds}/align/{shard}.tsv (DESIGN.md §3).
ALIGN_COLUMNS = ("utterance_id", "word_index", "word", "start", "end", "source")
FALLBACK_SOURCE = "fallback"


@dataclass(frozen=True)
class EngineWord:
    """A word as an engine reported it (its own spelling, possibly merged/split/skipped)."""

    word: str
    start: float
    end: float


@dataclass(frozen=True)
class WordInterval:
    """One transcript word with its time span in seconds from the utterance start."""

    word: str
    start: float
    end: float
    source: str

    def as_row(self, utterance_id: str, index: int) -> tuple:
        return (utterance_id, index, self.word, f"{self.start:.3f}", f"{self.end:.3f}", self.source)
