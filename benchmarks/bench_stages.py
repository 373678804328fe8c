"""Stage speed as audio seconds per CPU second, the figures README states. Prints; asserts nothing.

    nice -n 10 python benchmarks/bench_stages.py [--corpus work/demo/corpus] [--utterances 96]

Each stage (audio extraction, alignment, covarep_like, eGeMAPS) runs as `python -m msaflow
<stage>` in a child process, one thread, with the settings of config.yaml, on the first
--utterances utterances of the corpus (sorted by id), and once more on the first 2. Its CPU time
comes from os.wait4, so it includes every process the stage started and waited for (ffmpeg,
espeak-ng, worker pools); Snakemake's benchmark files miss such short-lived children.

Reported per stage: audio seconds, CPU seconds, wall seconds, and two rates
  overall  = audio s / CPU s of the large run (includes start-up: imports, decoder set-up);
  marginal = (audio_large - audio_small) / (CPU_large - CPU_small), the cost of more audio;
with the 1-minute load average before and after each run and the process's nice value. On a
loaded machine CPU seconds grow too (shared caches, frequency), so read rates with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from msaflow.common import write_tsv  # noqa: E402
from msaflow.corpus import MANIFEST_COLUMNS, read_corpus  # noqa: E402

STAGES = ("audio", "align", "covarep_like", "egemaps")


def run_measured(command: list[str], log: Path) -> dict:
    """Run `command`; CPU time of it and its waited-for descendants (os.wait4), wall time, load."""
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with open(log, "w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"})
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed ({process.returncode}); see {log}:\n{log.read_text()[-2000:]}")
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall, "load": (load_before, os.getloadavg()[0])}


def wav_seconds(folder: Path) -> float:
    total = 0.0
    for path in folder.glob("*.wav"):
        with wave.open(str(path)) as handle:
            total += handle.getnframes() / handle.getframerate()
    return total


def stage_commands(stage: str, shard: Path, out: Path, config: dict) -> list[str]:
    msaflow = [sys.executable, "-m", "msaflow"]
    audio_dir, audio_qc = out / "audio", out / "audio.qc.tsv"
    if stage == "audio":
        return msaflow + ["audio", "--shard-manifest", str(shard), "--out-dir", str(audio_dir), "--qc", str(audio_qc),
                          "--sample-rate", str(config["audio"]["sample_rate"]), "--threads", "1"]
    if stage == "align":
        a = config["align"]
        return msaflow + [
            "align", "--shard-manifest", str(shard), "--audio-dir", str(audio_dir), "--audio-qc", str(audio_qc),
            "--out", str(out / "align.tsv"), "--qc", str(out / "align.qc.tsv"), "--engine", a["engine"], "--threads", "1",
            f"--beam-log10={a['beam_log10']}", f"--wbeam-log10={a['wbeam_log10']}",
            f"--retry-beam-log10={a['retry_beam_log10']}", f"--retry-wbeam-log10={a['retry_wbeam_log10']}",
            "--silence-probability", str(a["silence_probability"]), "--min-engine-fraction", str(a["min_engine_fraction"]),
            "--espeak-voice", a["espeak_voice"], "--g2p-cache", str(out / "g2p.tsv"),
        ]
    options = json.dumps(config["acoustic"]["options"].get(stage, {}))
    return msaflow + ["acoustic", "--fset", stage, "--dataset", "bench", "--audio-dir", str(audio_dir),
                      "--audio-qc", str(audio_qc), "--options", options,
                      "--out", str(out / f"{stage}.h5"), "--qc", str(out / f"{stage}.qc.tsv")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(REPO / "work/demo/corpus"), help="corpus folder (label.csv + Raw/)")
    parser.add_argument("--utterances", type=int, default=96)
    parser.add_argument("--small", type=int, default=2, help="utterances of the second run (for the marginal rate)")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--config", default=str(REPO / "config.yaml"))
    args = parser.parse_args()
    if not (Path(args.corpus) / "label.csv").is_file():
        raise SystemExit(f"no corpus at {args.corpus}: build the demo (make demo) or pass --corpus")
    config = yaml.safe_load(Path(args.config).read_text())
    utterances = sorted(read_corpus(args.corpus, n_shards=1), key=lambda u: u.utterance_id)
    stages = [s for s in args.stages.split(",") if s]

    results: dict[str, dict[str, dict]] = {s: {} for s in stages}
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        for size in (args.utterances, args.small):
            out = Path(tmp) / f"n{size}"
            out.mkdir()
            shard = out / "shard.tsv"
            write_tsv(shard, MANIFEST_COLUMNS, (u.row() for u in utterances[:size]))
            if "audio" not in stages:  # the other stages need the wav files
                run_measured(stage_commands("audio", shard, out, config), out / "audio.log")
            for stage in stages:
                measured = run_measured(stage_commands(stage, shard, out, config), out / f"{stage}.log")
                measured["audio_s"] = wav_seconds(out / "audio")
                measured["utterances"] = size
                results[stage][size] = measured

    print(f"bench_stages: {args.utterances} (and {args.small}) utterances of {args.corpus}, one thread per stage, "
          f"{os.cpu_count()} CPUs, nice {os.nice(0)}")
    print(f"{'stage':<13} {'audio s':>8} {'CPU s':>7} {'wall s':>7} {'overall':>8} {'marginal':>9}  load (1 min) before/after")
    for stage in stages:
        big, small = results[stage][args.utterances], results[stage][args.small]
        overall = big["audio_s"] / big["cpu_s"]
        extra_cpu = big["cpu_s"] - small["cpu_s"]
        marginal = (big["audio_s"] - small["audio_s"]) / extra_cpu if extra_cpu > 0 else float("nan")
        loads = f"{big['load'][0]:.2f}/{big['load'][1]:.2f} (small run {small['load'][0]:.2f}/{small['load'][1]:.2f})"
        print(f"{stage:<13} {big['audio_s']:8.1f} {big['cpu_s']:7.2f} {big['wall_s']:7.2f} {overall:8.1f} {marginal:9.1f}  {loads}")
    print("rates: audio seconds per CPU second (CPU of the stage process and its children, os.wait4)")


if __name__ == "__main__":
    main()
