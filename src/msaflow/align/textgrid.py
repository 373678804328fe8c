"""Praat TextGrid reading and writing, enough for word (and phone) interval tiers.

Writing produces Praat's long text format, which is also what Montreal Forced Aligner
writes (`--output_format long_textgrid`, its default). Reading accepts the long and the short
("short_textgrid") text formats, UTF-8 or UTF-16, because both are token streams of the same
values: after dropping keys (``xmin =``) and item indices (``intervals [3]:``) every tier is
class, name, xmin, xmax, count, then (xmin, xmax, text) per interval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from msaflow.align.types import WordInterval
from msaflow.common import MsaflowError, atomic_write_text

_TOKEN = re.compile(r'"((?:[^"]|"")*)"|(\[\s*\d*\s*\])|(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)')
# Labels MFA (and P2FA) use for silence or nothing; they are not transcript words.
SILENCE_LABELS = {"", "sil", "sp", "<eps>", "<sil>", "silence"}


@dataclass
class Tier:
    name: str
    intervals: list[tuple[float, float, str]] = field(default_factory=list)


@dataclass
class TextGrid:
    xmin: float
    xmax: float
    tiers: list[Tier]

    def tier(self, name: str) -> Tier:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise KeyError(name)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _fmt(x: float) -> str:
    return repr(round(float(x), 6))


def format_textgrid(grid: TextGrid) -> str:
    """Praat long text format; gaps between intervals are filled with empty intervals (Praat requires it)."""
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "",
             f"xmin = {_fmt(grid.xmin)}", f"xmax = {_fmt(grid.xmax)}", "tiers? <exists>",
             f"size = {len(grid.tiers)}", "item []:"]
    for t_index, tier in enumerate(grid.tiers, 1):
        filled = _fill_gaps(tier.intervals, grid.xmin, grid.xmax)
        lines += [f"    item [{t_index}]:", '        class = "IntervalTier"', f"        name = {_quote(tier.name)}",
                  f"        xmin = {_fmt(grid.xmin)}", f"        xmax = {_fmt(grid.xmax)}",
                  f"        intervals: size = {len(filled)}"]
        for i_index, (a, b, text) in enumerate(filled, 1):
            lines += [f"        intervals [{i_index}]:", f"            xmin = {_fmt(a)}",
                      f"            xmax = {_fmt(b)}", f"            text = {_quote(text)}"]
    return "\n".join(lines) + "\n"


def _fill_gaps(intervals, xmin, xmax):
    filled, cursor = [], xmin
    for a, b, text in sorted(intervals):
        a, b = max(a, cursor), max(b, cursor)  # Praat rejects overlaps; clip to the previous end
        if b <= a:
            continue  # zero-length intervals cannot exist in a TextGrid
        if a > cursor:
            filled.append((cursor, a, ""))
        filled.append((a, b, text))
        cursor = b
    if cursor < xmax or not filled:
        filled.append((cursor, xmax, ""))
    return filled


def write_textgrid(path: str | Path, grid: TextGrid) -> None:
    atomic_write_text(path, format_textgrid(grid))


def words_textgrid(intervals: list[WordInterval], duration: float) -> TextGrid:
    """A TextGrid with a `words` tier (as MFA names it) for inspection in Praat."""
    end = max([duration] + [x.end for x in intervals])
    return TextGrid(0.0, end, [Tier("words", [(x.start, x.end, x.word) for x in intervals])])


def parse_textgrid(text: str, source: str = "TextGrid") -> TextGrid:
    values: list[str | float] = []
    for match in _TOKEN.finditer(text):
        string, index, number = match.groups()
        if string is not None:
            values.append(string.replace('""', '"'))
        elif number is not None:
            values.append(float(number))
    try:
        if values[:2] != ["ooTextFile", "TextGrid"]:
            raise ValueError("not a Praat TextGrid text file")
        pos = 2
        xmin, xmax = float(values[pos]), float(values[pos + 1])
        n_tiers = int(values[pos + 2])
        pos += 3
        tiers = []
        for _ in range(n_tiers):
            kind, name = values[pos], values[pos + 1]
            count = int(values[pos + 4])
            pos += 5
            tier = Tier(str(name))
            if kind == "IntervalTier":
                for _ in range(count):
                    a, b, label = values[pos:pos + 3]
                    tier.intervals.append((float(a), float(b), str(label)))
                    pos += 3
            elif kind == "TextTier":  # point tiers: keep points as zero-length intervals
                for _ in range(count):
                    t, label = values[pos:pos + 2]
                    tier.intervals.append((float(t), float(t), str(label)))
                    pos += 2
            else:
                raise ValueError(f"unknown tier class {kind!r}")
            tiers.append(tier)
    except (IndexError, ValueError, TypeError) as error:
        raise MsaflowError(f"{source}: cannot parse TextGrid ({error})") from None
    return TextGrid(xmin, xmax, tiers)


def read_textgrid(path: str | Path) -> TextGrid:
    raw = Path(path).read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16")
    else:
        text = raw.decode("utf-8-sig", errors="replace")
    return parse_textgrid(text, str(path))


def word_tier(grid: TextGrid, source: str = "TextGrid") -> Tier:
    """The words tier: `words`, or MFA's multi-speaker naming `<speaker> - words`."""
    for tier in grid.tiers:
        if tier.name == "words" or tier.name.endswith(" - words"):
            return tier
    raise MsaflowError(f"{source}: no 'words' tier (tiers: {[t.name for t in grid.tiers]})")


def engine_words_from_textgrid(grid: TextGrid, source: str = "TextGrid"):
    """Non-silence intervals of the words tier as EngineWord (engine spelling, lower case)."""
    from msaflow.align.types import EngineWord

    return [EngineWord(label.strip().lower(), a, b) for a, b, label in word_tier(grid, source).intervals
            if label.strip().lower() not in SILENCE_LABELS]
