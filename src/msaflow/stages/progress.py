"""`msaflow progress`: which stage jobs are running and how far they are, from the rules' logs.

Every rule writes its log to work/logs/{ds}/<stage>_<shard|seed>.log; long stages write a progress
line there every 10 s (`align s001:  40%|####      | 34/84 [00:12<00:18, 2.80it/s]`). This prints,
for the logs written to recently, the last progress line of each (`watch -n 10 msaflow progress` to
follow a run; `tail -f` one log for the full story).
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

PROGRESS_LINE = re.compile(r"^\S.*:\s+(\d+%\||\d+it \[)")  # with and without a known total


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--logs", default="work/logs", help="the logs folder (config work_dir + /logs)")
    parser.add_argument("--dataset", default=None, help="only this dataset's logs")
    parser.add_argument("--minutes", type=float, default=10.0, help="logs written to in the last N minutes")


def last_progress(path: Path, tail_bytes: int = 20000) -> str | None:
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        handle.seek(max(0, handle.tell() - tail_bytes))
        lines = handle.read().decode("utf-8", errors="replace").replace("\r", "\n").splitlines()
    found = [line.strip() for line in lines if PROGRESS_LINE.match(line.strip())]
    return found[-1] if found else None


def main(args) -> int:
    root = Path(args.logs) / args.dataset if args.dataset else Path(args.logs)
    if not root.exists():
        print(f"no logs under {root} yet")
        return 0
    now = time.time()
    recent = sorted((p for p in root.rglob("*.log") if now - p.stat().st_mtime < 60 * args.minutes),
                    key=lambda p: p.stat().st_mtime)
    if not recent:
        print(f"no log under {root} was written to in the last {args.minutes:g} minutes")
        return 0
    width = max(len(str(p.relative_to(root))) for p in recent)
    for path in recent:
        line = last_progress(path) or "(no progress line yet)"
        print(f"{str(path.relative_to(root)):<{width}}  {now - path.stat().st_mtime:5.0f} s ago  {line}")
    return 0
