"""Corpus input (MMSA layout) -> validated manifest with a stable shard per video.

A corpus is `label.csv` plus media at `Raw/<video_id>/<clip_id>.<ext>`. Every problem is found
in one pass and reported with its label.csv line and the fix, so a user fixes a corpus in one go
instead of one crash at a time.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from msaflow.common import MsaflowError, make_utterance_id, write_tsv

REQUIRED_COLUMNS = ("video_id", "clip_id", "text", "label", "annotation", "mode")
OPTIONAL_COLUMNS = ("label_T", "label_A", "label_V", "start", "end")
MODES = ("train", "valid", "test")
MEDIA_EXTENSIONS = ("mp4", "mkv", "webm", "mov", "avi", "wav", "flac", "mp3", "m4a", "ogg")
LABEL_RANGE = (-3.0, 3.0)
# Shard tables hold what the per-shard media stages need; the manifest adds the optional unimodal
# labels (label_T/A/V, empty when the corpus has none), so adding them reruns no media stage.
SHARD_COLUMNS = ("utterance_id", "video_id", "clip_id", "text", "label", "annotation", "mode",
                 "shard", "media_path", "start", "end")
SUB_LABEL_COLUMNS = ("label_T", "label_A", "label_V")
MANIFEST_COLUMNS = SHARD_COLUMNS + SUB_LABEL_COLUMNS
MAX_REPORTED_PROBLEMS = 30


@dataclass(frozen=True)
class Utterance:
    utterance_id: str
    video_id: str
    clip_id: str
    text: str
    label: float
    annotation: str
    mode: str
    shard: str
    media_path: str
    start: float | None
    end: float | None
    sub_labels: tuple[float, float, float] | None = None  # label_T, label_A, label_V when the corpus has them

    def row(self) -> tuple:
        def number(value):
            return "" if value is None else repr(value)

        return (self.utterance_id, self.video_id, self.clip_id, self.text, repr(self.label), self.annotation,
                self.mode, self.shard, self.media_path, number(self.start), number(self.end),
                *(number(v) for v in (self.sub_labels or (None,) * len(SUB_LABEL_COLUMNS))))


class CorpusError(MsaflowError):
    """All problems found in a corpus, one per line."""

    def __init__(self, label_csv: Path, problems: list[str]):
        shown = problems[:MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(shown)
        text = f"{label_csv}: {len(problems)} problem(s) found\n  " + "\n  ".join(shown)
        if more:
            text += f"\n  ... and {more} more"
        super().__init__(text)
        self.problems = problems


def shard_of(video_id: str, n_shards: int) -> str:
    """Stable across runs, machines and Python versions (no built-in hash(), which is salted)."""
    digest = hashlib.sha1(video_id.encode("utf-8")).digest()
    return f"s{int.from_bytes(digest[:8], 'big') % n_shards:03d}"


def find_media(raw_dir: Path, video_id: str, clip_id: str) -> tuple[Path | None, list[Path]]:
    """The clip's media file, and every candidate (more than one is ambiguous)."""
    folder = raw_dir / video_id
    candidates = [folder / f"{clip_id}.{ext}" for ext in MEDIA_EXTENSIONS if (folder / f"{clip_id}.{ext}").is_file()]
    return (candidates[0] if len(candidates) == 1 else None), candidates


def _parse_float(value: str | None) -> float | None:
    if value is None or value.strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return math.nan
    return number


def read_corpus(root: str | Path, n_shards: int, check_media: bool = True) -> list[Utterance]:
    """Validate `root/label.csv` (and the media tree) and return its utterances, or raise CorpusError."""
    root = Path(root)
    label_csv = root / "label.csv"
    if not label_csv.is_file():
        raise MsaflowError(
            f"{label_csv} not found. A corpus folder holds label.csv (columns {', '.join(REQUIRED_COLUMNS)}) "
            f"and Raw/<video_id>/<clip_id>.<ext>; set datasets.<name>.root in config.yaml to that folder"
        )
    try:
        with open(label_csv, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            rows = list(reader)
    except UnicodeDecodeError as error:
        raise MsaflowError(f"{label_csv} is not UTF-8 text ({error}); re-save it as UTF-8 CSV") from error
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CorpusError(label_csv, [
            f"missing column(s) {', '.join(missing)}; the header has {', '.join(header) or 'nothing'}. "
            f"Add them (MMSA layout: {', '.join(REQUIRED_COLUMNS)}; optional {', '.join(OPTIONAL_COLUMNS)})"
        ])
    if not rows:
        raise CorpusError(label_csv, ["no utterances: label.csv has a header but no rows"])

    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    utterances: list[Utterance] = []
    raw_dir = root / "Raw"
    for index, row in enumerate(rows):
        line = index + 2  # header is line 1
        problems_before = len(problems)
        video_id = (row.get("video_id") or "").strip()
        clip_id = (row.get("clip_id") or "").strip()
        where = f"line {line} ({video_id or '?'}/{clip_id or '?'})"
        if not video_id or not clip_id:
            problems.append(f"{where}: empty video_id or clip_id; every row needs both")
            continue
        key = (video_id, clip_id)
        if key in seen:
            problems.append(f"{where}: duplicate (video_id, clip_id), first on line {seen[key]}; remove or rename one")
            continue
        seen[key] = line
        label = _parse_float(row.get("label"))
        if label is None or math.isnan(label):
            problems.append(f"{where}: label {row.get('label')!r} is missing or not a number; give a number in [-3, 3]")
        elif not LABEL_RANGE[0] <= label <= LABEL_RANGE[1]:
            problems.append(f"{where}: label {label} is outside [-3, 3]; rescale labels to the MOSI range")
        mode = (row.get("mode") or "").strip()
        if mode not in MODES:
            problems.append(f"{where}: unknown mode {mode!r}; use one of {', '.join(MODES)}")
        text = (row.get("text") or "").strip()
        if not text:
            problems.append(f"{where}: empty text; give the utterance's transcript (alignment needs it)")
        sub_labels = [_parse_float(row.get(c)) for c in SUB_LABEL_COLUMNS]
        if any(v is not None and math.isnan(v) for v in sub_labels):
            problems.append(f"{where}: {'/'.join(SUB_LABEL_COLUMNS)} {[row.get(c) for c in SUB_LABEL_COLUMNS]} "
                            f"must be numbers or empty")
        start, end = _parse_float(row.get("start")), _parse_float(row.get("end"))
        if (start is None) != (end is None):
            problems.append(f"{where}: give both start and end, or neither (neither = the whole clip)")
        elif start is not None and (math.isnan(start) or math.isnan(end)):
            problems.append(f"{where}: start/end {row.get('start')!r}/{row.get('end')!r} are not numbers (seconds)")
        elif start is not None and (start < 0 or start >= end):
            problems.append(f"{where}: start {start} >= end {end} (or negative); fix the clip's time span in seconds")
        media_path = raw_dir / video_id / f"{clip_id}.mp4"
        if check_media:
            found, candidates = find_media(raw_dir, video_id, clip_id)
            if found is None and not candidates:
                problems.append(f"{where}: media file missing: expected {raw_dir / video_id / clip_id}.<"
                                f"{'|'.join(MEDIA_EXTENSIONS)}>; add it or remove the row")
            elif found is None:
                problems.append(f"{where}: several media files for one clip ({', '.join(c.name for c in candidates)}); keep one")
            elif found.stat().st_size == 0:
                problems.append(f"{where}: empty file (0 bytes): {found}; replace it with the clip's media or remove the row")
            else:
                media_path = found
        if len(problems) > problems_before:
            continue
        utterances.append(Utterance(
            utterance_id=make_utterance_id(video_id, clip_id), video_id=video_id, clip_id=clip_id, text=text,
            label=float(label), annotation=(row.get("annotation") or "").strip(), mode=mode,
            shard=shard_of(video_id, n_shards), media_path=str(media_path), start=start, end=end,
            sub_labels=tuple(sub_labels) if all(v is not None for v in sub_labels) else None,
        ))
    if problems:
        raise CorpusError(label_csv, problems)
    split_of_video: dict[str, str] = {}
    for u in utterances:
        other = split_of_video.setdefault(u.video_id, u.mode)
        if other != u.mode:
            problems.append(f"video {u.video_id} appears in both {other} and {u.mode}; a video must stay in one split "
                            f"(otherwise the test score leaks speaker identity)")
            split_of_video[u.video_id] = u.mode
    if problems:
        raise CorpusError(label_csv, sorted(set(problems)))
    return utterances


def check_splits(utterances: list[Utterance], label_csv: str | Path) -> None:
    """Raise CorpusError unless train, valid and test all have utterances, naming videos that could move.

    Training selects its epoch on valid and reports test: an empty split would only surface
    after every feature stage, in the tokens stage. Videos move whole (a video stays in one split).
    """
    videos: dict[str, dict[str, int]] = {m: {} for m in MODES}
    for u in utterances:
        videos[u.mode][u.video_id] = videos[u.mode].get(u.video_id, 0) + 1
    counts = ", ".join(f"{m} {sum(videos[m].values())}" for m in MODES)
    problems = []
    for mode in (m for m in MODES if not videos[m]):
        donor = max(MODES, key=lambda m: (len(videos[m]), m != "test"))
        if len(videos[donor]) >= 2:
            smallest = sorted(videos[donor].items(), key=lambda item: (item[1], item[0]))[:3]
            examples = ", ".join(f"{video} ({n} utterance{'s' * (n != 1)})" for video, n in smallest)
            fix = (f"set mode={mode} on every row of some {donor} videos (whole videos: a video stays in one "
                   f"split), e.g. {examples}; {donor} has {len(videos[donor])} videos")
        else:
            fix = f"add videos with mode={mode}"
        problems.append(f"split {mode!r} has no utterances ({counts}); every split needs some (training picks its "
                        f"epoch on valid and reports test): {fix}")
    if problems:
        raise CorpusError(Path(label_csv), problems)


def write_manifest(utterances: list[Utterance], manifest_path: str | Path) -> dict[str, int]:
    """Write the full manifest in a stable order; return utterances per shard."""
    utterances = sorted(utterances, key=lambda u: (u.video_id, u.clip_id))
    write_tsv(manifest_path, MANIFEST_COLUMNS, (u.row() for u in utterances))
    counts: dict[str, int] = {}
    for u in utterances:
        counts[u.shard] = counts.get(u.shard, 0) + 1
    return dict(sorted(counts.items()))


def write_shard(manifest_path: str | Path, shard: str, out_path: str | Path) -> int:
    """One shard's rows (an empty shard gets a header-only file).

    A shard file's bytes change only when its own videos change, so Snakemake's checksum
    comparison reruns only that shard's jobs when one video is added to the corpus.
    """
    rows = [r for r in read_manifest(manifest_path) if r["shard"] == shard]
    write_tsv(out_path, SHARD_COLUMNS, ([r[c] for c in SHARD_COLUMNS] for r in rows))
    return len(rows)


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    from msaflow.common import read_tsv

    try:
        return read_tsv(path)
    except FileNotFoundError as error:
        raise MsaflowError(f"manifest {path} not found; run the manifest stage first") from error
