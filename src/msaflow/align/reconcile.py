"""Map what an engine reported back onto the transcript's words: one row per word, in order.

Engines merge, split, rename (``<unk>``) or skip words. The word table must nevertheless list
exactly the normalised transcript words (DESIGN.md §3). Words the engine reported with the same
spelling keep its times; runs of words it did not report get the span of whatever the engine
put there (or the gap between their aligned neighbours) split by length, with
``source=fallback`` on those rows. Non-speech markers kept in the transcript (``<laughter>``,
``sp``) are never sent to an engine; they take the pause between their neighbours.
"""

from __future__ import annotations

from difflib import SequenceMatcher

from msaflow.align.fallback import distribute
from msaflow.align.types import FALLBACK_SOURCE, EngineWord, WordInterval
from msaflow.text import is_nonspeech_marker


def spoken_words(words: list[str]) -> list[str]:
    """The words an engine should look for (non-speech markers removed)."""
    return [w for w in words if not is_nonspeech_marker(w)]


def reconcile(words: list[str], engine_words: list[EngineWord], source: str, duration: float
              ) -> tuple[list[WordInterval], int]:
    """Intervals for `words` (the transcript, markers included) from `engine_words`.

    Returns the intervals and how many spoken words had to be interpolated.
    """
    spoken_index = [i for i, w in enumerate(words) if not is_nonspeech_marker(w)]
    spoken = [words[i] for i in spoken_index]
    engine_words = sorted(engine_words, key=lambda e: (e.start, e.end))
    intervals: list[WordInterval | None] = [None] * len(words)

    matcher = SequenceMatcher(None, spoken, [e.word.lower() for e in engine_words], autojunk=False)
    pending: list[tuple[list[int], float | None, float | None]] = []  # runs without an engine word of their own
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                e = engine_words[j1 + k]
                intervals[spoken_index[i1 + k]] = WordInterval(words[spoken_index[i1 + k]], e.start, e.end, source)
        elif i2 > i1:  # 'replace' or 'delete': words the engine merged, split, renamed or skipped
            run = [spoken_index[i] for i in range(i1, i2)]
            if j2 > j1:  # the engine put something here: use its span
                pending.append((run, engine_words[j1].start, max(e.end for e in engine_words[j1:j2])))
            else:
                pending.append((run, None, None))
    return _fill(words, intervals, pending, source, duration)


def reconcile_indexed(words: list[str], timed: list[EngineWord | None], source: str, duration: float
                      ) -> tuple[list[WordInterval], int]:
    """Like `reconcile`, for an engine result already in transcript order: `timed[k]` is the k-th
    spoken word's time, or None if the engine did not time it (interpolated between neighbours)."""
    spoken_index = [i for i, w in enumerate(words) if not is_nonspeech_marker(w)]
    if len(timed) != len(spoken_index):
        raise ValueError(f"{len(timed)} timed entries for {len(spoken_index)} spoken words")
    intervals: list[WordInterval | None] = [None] * len(words)
    pending: list[tuple[list[int], float | None, float | None]] = []
    run: list[int] = []
    for k, i in enumerate(spoken_index):
        if timed[k] is None:
            run.append(i)
            continue
        if run:
            pending.append((run, None, None))
            run = []
        intervals[i] = WordInterval(words[i], timed[k].start, timed[k].end, source)
    if run:
        pending.append((run, None, None))
    return _fill(words, intervals, pending, source, duration)


def _fill(words, intervals, pending, source, duration) -> tuple[list[WordInterval], int]:
    """Interpolate the pending runs of spoken words, then place the non-speech markers."""
    interpolated = 0
    for run, span_start, span_end in pending:
        if span_start is not None:  # the engine put something here: use its span
            start, end = span_start, span_end
        else:  # the engine skipped them: use the gap between aligned neighbours
            start = _previous_end(intervals, run[0], 0.0)
            end = _next_start(intervals, run[-1], duration)
        for idx, interval in zip(run, distribute([words[i] for i in run], start, max(start, end), FALLBACK_SOURCE), strict=False):
            intervals[idx] = interval
        interpolated += len(run)

    # Non-speech markers: the pause between the neighbours the engine aligned.
    for i in range(len(words)):
        if intervals[i] is None:
            start = _previous_end(intervals, i, 0.0)
            end = max(start, _next_start(intervals, i, duration))
            neighbours = [x for x in (_neighbour(intervals, i, -1), _neighbour(intervals, i, +1)) if x]
            marker_source = source if neighbours and all(x.source == source for x in neighbours) else FALLBACK_SOURCE
            # Consecutive markers share the pause (each sees the same neighbours): split it.
            j = i
            while j < len(words) and intervals[j] is None:
                j += 1
            for idx, interval in zip(range(i, j), distribute(words[i:j], start, end, marker_source), strict=False):
                intervals[idx] = interval
    return [_clamp(x, duration) for x in intervals], interpolated


def _neighbour(intervals, i, step):
    j = i + step
    while 0 <= j < len(intervals):
        if intervals[j] is not None:
            return intervals[j]
        j += step
    return None


def _previous_end(intervals, i, default):
    x = _neighbour(intervals, i, -1)
    return x.end if x else default


def _next_start(intervals, i, default):
    x = _neighbour(intervals, i, +1)
    return x.start if x else default


def _clamp(x: WordInterval, duration: float) -> WordInterval:
    start = min(max(0.0, x.start), duration)
    end = min(max(start, x.end), duration)
    return WordInterval(x.word, start, end, x.source)
