"""Shared plumbing for every stage: user-facing errors, atomic outputs, QC tables, logging.

Stages never write their final output path directly: a killed job must not leave a
half-written file that Snakemake would later treat as complete.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

UTTERANCE_ID_SEPARATOR = "$_$"  # MMSA convention: <video_id>$_$<clip_id>
QC_STATUSES = ("ok", "fallback", "failed")
QC_COLUMNS = ("utterance_id", "status", "reason")


class MsaflowError(Exception):
    """An error the user can fix; the CLI prints it without a traceback."""


def make_utterance_id(video_id: str, clip_id: str) -> str:
    return f"{video_id}{UTTERANCE_ID_SEPARATOR}{clip_id}"


def split_utterance_id(utterance_id: str) -> tuple[str, str]:
    video_id, sep, clip_id = utterance_id.partition(UTTERANCE_ID_SEPARATOR)
    if not sep:
        raise MsaflowError(f"utterance id {utterance_id!r} lacks the '{UTTERANCE_ID_SEPARATOR}' separator")
    return video_id, clip_id


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix + ".tmp",
        dir=target.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


# tempfile.mkdtemp's random part: a stage's staging folder is `.{name}.` + these 8 characters.
_MKDTEMP_SUFFIX = re.compile(r"[a-z0-9_]{8}")


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove what a killed run left of output `path` and return it: atomic_path's
    `.{name}.*.tmp` files beside it (SIGKILL skips atomic_path's clean-up), staging folders
    `.{name}.XXXXXXXX` (tempfile.mkdtemp), and `.*.tmp` files inside `path` if it is a folder.

    Only for the outputs of the job that is starting: Snakemake gives an output to one job at a
    time, so nothing else is writing these names.
    """
    target = Path(path)
    if not target.parent.is_dir():
        return []
    stale = list(target.parent.glob(f".{glob.escape(target.name)}.*.tmp"))
    prefix = f".{target.name}."
    stale += [p for p in target.parent.glob(f"{glob.escape(prefix)}*")
              if p.is_dir() and _MKDTEMP_SUFFIX.fullmatch(p.name[len(prefix):])]
    if target.is_dir():
        stale += list(target.glob(".*.tmp"))
    removed = []
    for item in dict.fromkeys(stale):
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item, ignore_errors=True)
        else:
            item.unlink(missing_ok=True)
        removed.append(item)
    return removed


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_tsv(path: str | os.PathLike, columns: Iterable[str], rows: Iterable[Iterable]) -> None:
    """Atomically write a tab-separated table with a header row."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
            writer.writerow(list(columns))
            for row in rows:
                writer.writerow(list(row))


def read_tsv(path: str | os.PathLike) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@dataclass
class QCTable:
    """Accounts for every utterance that entered a stage: ok, fallback or failed, with a reason."""

    stage: str
    rows: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, utterance_id: str, status: str, reason: str = "") -> None:
        if status not in QC_STATUSES:
            raise ValueError(f"QC status must be one of {QC_STATUSES}, got {status!r}")
        if utterance_id in self.rows:
            raise ValueError(f"{self.stage}: utterance {utterance_id!r} recorded twice in QC")
        self.rows[utterance_id] = (status, " ".join(str(reason).split()))

    def ok_ids(self) -> list[str]:
        return [u for u, (s, _) in self.rows.items() if s != "failed"]

    def counts(self) -> dict[str, int]:
        counts = {s: 0 for s in QC_STATUSES}
        for status, _ in self.rows.values():
            counts[status] += 1
        return counts

    def check_accounts_for(self, utterance_ids: Iterable[str]) -> None:
        """Raise if the stage lost or invented an utterance (in = ok + fallback + failed)."""
        expected = set(utterance_ids)
        seen = set(self.rows)
        missing, extra = expected - seen, seen - expected
        if missing or extra:
            raise MsaflowError(
                f"{self.stage}: QC does not account for its input: "
                f"{len(missing)} missing (e.g. {sorted(missing)[:3]}), {len(extra)} unexpected (e.g. {sorted(extra)[:3]})"
            )

    def write(self, path: str | os.PathLike) -> None:
        write_tsv(path, QC_COLUMNS, ((u, s, r) for u, (s, r) in sorted(self.rows.items())))


def read_qc(path: str | os.PathLike) -> dict[str, tuple[str, str]]:
    return {row["utterance_id"]: (row["status"], row["reason"]) for row in read_tsv(path)}


def usable_ids(qc_path: str | os.PathLike) -> list[str]:
    """Utterances a previous stage did not fail (ok or fallback), in sorted order."""
    return sorted(u for u, (status, _) in read_qc(qc_path).items() if status != "failed")


def get_logger(name: str, log_file: str | os.PathLike | None = None) -> logging.Logger:
    logger = logging.getLogger(f"msaflow.{name}")
    if logger.handlers:
        return logger
    logger.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    logger.addHandler(stream)
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    logger.propagate = False
    return logger


LOG_PROGRESS_INTERVAL_S = 10.0  # one progress line per this many seconds in a log file


class _LineStream:
    """tqdm's redraws as one line each: in a log file (not a terminal) a carriage-return bar would
    pile up on one line, so `tail -f work/logs/<ds>/<stage>.log` shows a line per update instead."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")
            self.stream.flush()

    def flush(self) -> None:
        self.stream.flush()


def progress(iterable, desc: str, total: int | None = None):
    """A progress bar on stderr (Snakemake sends stderr to the rule's log).

    On a terminal: a redrawn tqdm bar. Otherwise (a rule's log file): a line such as
    `align s001:  40%|####      | 34/84 [00:12<00:18, 2.80it/s]` every 10 s and at the end.
    """
    from tqdm import tqdm

    if sys.stderr.isatty():
        return tqdm(iterable, desc=desc, total=total, file=sys.stderr, mininterval=2.0, dynamic_ncols=True)
    return tqdm(iterable, desc=desc, total=total, file=_LineStream(sys.stderr), mininterval=LOG_PROGRESS_INTERVAL_S,
                ncols=100, ascii=True)
