"""DAG scale benchmark: MOSEI-sized synthetic corpus, `snakemake -n` time and planned job count.

  .venv/bin/python benchmarks/bench_dag.py [--utterances 23000] [--videos 3800] [--shards 64] [--seeds 5]

Writes a synthetic MMSA label.csv (23,000 utterances in 3,800 videos, MOSEI's size; empty media files:
only the DAG is built) in a temporary folder, a config.yaml with that dataset as `bench` and
5 seeds, and times `snakemake -n results/cmbert_bench.json` (profiles/default) twice: with nothing
built (the whole DAG) and with the manifest and shard lists built (the DAG as it stands once the
corpus is read). Targets (issue 6): dry run < 10 s, <= 300 jobs.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def write_corpus(root: Path, utterances: int, videos: int) -> None:
    root.mkdir(parents=True)
    (root / "Raw").mkdir()
    modes = ["train"] * 7 + ["valid"] + ["test"] * 2
    with open(root / "label.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video_id", "clip_id", "text", "label", "annotation", "mode"])
        for i in range(utterances):
            video = i % videos
            (root / "Raw" / f"vid{video:05d}").mkdir(exist_ok=True)
            (root / "Raw" / f"vid{video:05d}" / f"{i // videos}.mp4").touch()  # empty: only the DAG is built
            writer.writerow([f"vid{video:05d}", str(i // videos), "the movie was good", f"{(i % 7) - 3:.1f}",
                             "Positive", modes[video % len(modes)]])


def write_config(work: Path, corpus: Path, shards: int, seeds: int) -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["datasets"]["bench"] = {"root": str(corpus), "source": "raw", "shards": shards}
    config["default_targets"] = []
    config["train"]["seeds"] = [1111 + i for i in range(seeds)]
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def dry_run(work: Path, target: str) -> tuple[float, int, dict[str, int]]:
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
           "--workflow-profile", "none", "--profile", str(REPO / "profiles/default"), "--cores", "2",
           "-n", "--quiet", "rules", "--", target]
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env={"PATH": f"{BIN}:/usr/bin:/bin"})
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"dry run failed:\n{result.stdout}\n{result.stderr}")
    text = result.stdout + result.stderr
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", text, re.M)}
    total = counts.pop("total", 0)
    return seconds, total, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=23000)
    parser.add_argument("--videos", type=int, default=3800)
    parser.add_argument("--shards", type=int, default=64, help="config.yaml's mosei entry uses 64")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--model", default="cmbert")
    args = parser.parse_args()
    target = f"results/{args.model}_bench.json"
    with tempfile.TemporaryDirectory(prefix="bench-dag-") as tmp:
        work, corpus = Path(tmp) / "run", Path(tmp) / "corpus"
        work.mkdir()
        write_corpus(corpus, args.utterances, args.videos)
        write_config(work, corpus, args.shards, args.seeds)
        print(f"corpus: {args.utterances} utterances in {args.videos} videos; {args.shards} shards; "
              f"{args.seeds} seeds; target {target}")
        seconds, total, counts = dry_run(work, target)
        print(f"dry run, nothing built:            {seconds:6.2f} s, {total} jobs  {counts}")
        # Read the corpus (manifest + shard lists) for real, then plan the rest.
        shard_targets = [f"work/bench/shards/s{i:03d}.tsv" for i in range(args.shards)]
        start = time.perf_counter()
        subprocess.run([str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
                        "--workflow-profile", "none", "--profile", str(REPO / "profiles/default"), "--cores", "2",
                        "--quiet", "all", "--", *shard_targets],
                       check=True, capture_output=True, text=True, env={"PATH": f"{BIN}:/usr/bin:/bin"})
        print(f"manifest + {args.shards} shard lists built in {time.perf_counter() - start:.2f} s")
        seconds, total, counts = dry_run(work, target)
        print(f"dry run, manifest and shards built: {seconds:6.2f} s, {total} jobs  {counts}")
        ok = seconds < 10 and total <= 300
        print(f"targets (dry run < 10 s, <= 300 jobs): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
