"""Helpers for the end-to-end workflow tests (test_rerun_e2e.py, test_slurm_e2e.py).

Every run uses a working directory under tmp (never the repository), `--snakefile` of the
repository (or of a copy), `--workflow-profile none` and an explicit `--profile`, and a
config.yaml derived from the repository's with a small demo corpus (6 videos x 4 clips).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DATASET = "demo"
SHARDS = ["s000", "s001", "s002", "s003"]
FSET = "covarep_like"
VSET = "facial_like"  # visual set (config visual.feature_sets); its word file feeds the exports' vision
MODEL = "tbert"
SEED = 1111

# How far the shared small pipeline goes. "results": through words, tokens, training and
# evaluation (results/tbert_demo.json); "features": through alignment and acoustic features.
LEVEL = os.environ.get("MSAFLOW_E2E_LEVEL", "results")


def targets(level: str = LEVEL) -> list[str]:
    if level == "results":
        return [f"results/{MODEL}_{DATASET}.json"]
    if level == "features":
        return [f"work/{DATASET}/align.done", f"work/{DATASET}/acoustic/{FSET}.done"]
    raise ValueError(level)


def env() -> dict:
    """The caller's environment as a plain shell has it: no activated venv, no `msaflow` on PATH
    and no PYTHONPATH (Snakemake is started by its full path; the rules must not need more)."""
    e = dict(os.environ)
    e["PATH"] = os.pathsep.join(d for d in e.get("PATH", "").split(os.pathsep)
                                if d and not (Path(d) / "msaflow").exists())
    for name in ("SLURM_CONF", "VIRTUAL_ENV", "PYTHONPATH"):
        e.pop(name, None)
    return e


def write_small_spec(path: Path) -> Path:
    spec = yaml.safe_load((REPO / "resources/demo/spec.yaml").read_text())
    spec.update(videos=6, clips_per_video=4, splits={"train": 4, "valid": 1, "test": 1})
    if "dir" in spec.get("faces", {}):  # relative to the spec file, which moves
        spec["faces"]["dir"] = str((REPO / "resources/demo" / spec["faces"]["dir"]).resolve())
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def write_config(workdir: Path, spec: Path, **sections) -> Path:
    """config.yaml of the repository, small and fast: 1 seed, 1 epoch, 100 bootstrap resamples."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["demo"] = {"spec": str(spec), "seed": 7}
    config["default_targets"] = []
    config["datasets"][DATASET]["shards"] = len(SHARDS)
    config["train"].update(seeds=[SEED], epochs=1)
    config["evaluate"]["bootstrap"] = 100
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def update_config(workdir: Path, section: str, **values) -> None:
    path = workdir / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config[section].update(values)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def snakemake(workdir: Path, *args: str, profile: str = "default", snakefile: Path | None = None,
              check: bool = True, timeout: float = 900, cap_polling_s: float | None = None) -> subprocess.CompletedProcess:
    """Snakemake by its full path; `cap_polling_s`: through snakemake_capped_polling (remote executors)."""
    launcher = ([str(BIN / "python"), str(Path(__file__).with_name("snakemake_capped_polling.py")), str(cap_polling_s)]
                if cap_polling_s else [str(BIN / "snakemake")])
    cmd = [
        *launcher, "--snakefile", str(snakefile or REPO / "Snakefile"),
        "--directory", str(workdir), "--workflow-profile", "none",
        "--profile", str(REPO / "profiles" / profile),
        *(["--cores", "2"] if profile == "default" else []), *args,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}): {' '.join(cmd)}\n--- stdout\n{result.stdout[-6000:]}"
            f"\n--- stderr\n{result.stderr[-12000:]}"
        )
    return result


_RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")
_TOTAL = re.compile(r"^total\s+(\d+)$")


def job_name(rule: str, wildcards: dict[str, str]) -> str:
    values = ",".join(f"{k}={v}" for k, v in sorted(wildcards.items()) if k != "ds")
    return f"{rule}[{values}]" if values else rule


def planned_jobs(workdir: Path, *targets_: str, snakefile: Path | None = None, profile: str = "default") -> set[str]:
    """The jobs a dry run plans, as names like `audio[shard=s001]` (the ds wildcard is left out)."""
    result = snakemake(workdir, "--dry-run", *(targets_ or targets()), snakefile=snakefile, profile=profile)
    text = result.stdout + "\n" + result.stderr
    jobs, rule, total = [], None, None
    for line in text.splitlines():
        if m := _RULE.match(line.strip()):
            if rule is not None:
                jobs.append(job_name(rule, {}))
            rule = m.group(1)
        elif rule is not None and (m := _WILDCARDS.match(line)):
            wildcards = dict(part.split("=", 1) for part in m.group(1).split(", "))
            jobs.append(job_name(rule, wildcards))
            rule = None
        elif rule is not None and not line.strip():
            jobs.append(job_name(rule, {}))
            rule = None
        if m := _TOTAL.match(line.strip()):
            total = int(m.group(1))
    if rule is not None:
        jobs.append(job_name(rule, {}))
    if "Nothing to be done" in text:
        assert not jobs, text
        return set()
    assert total == len(jobs) == len(set(jobs)), f"parsed {len(jobs)} jobs, job stats say {total}:\n{text}"
    return set(jobs)


# --- the jobs of each stage, for the small demo ------------------------------------------------

def stage_jobs(stage: str, shards=SHARDS, level: str = LEVEL) -> set[str]:
    per_shard = {
        "shard": lambda s: job_name("shard", {"shard": s}),
        "audio": lambda s: job_name("audio", {"shard": s}),
        "align": lambda s: job_name("align", {"shard": s}),
        "acoustic": lambda s: job_name("acoustic", {"fset": FSET, "shard": s}),
        "visual": lambda s: job_name("visual", {"vset": VSET, "shard": s}),
    }
    if stage in per_shard:
        return {per_shard[stage](s) for s in shards}
    single = {
        "make_demo": "make_demo",
        "manifest": "manifest",
        "words": job_name("words", {"fset": FSET}),
        "words_visual": job_name("words", {"fset": VSET}),  # the words rule on the visual set
        "tokens": job_name("tokens", {"encoder": "minilm-l6", "fset": FSET}),
        "train": job_name("train", {"model": MODEL, "seed": str(SEED)}),
        "evaluate": job_name("evaluate", {"model": MODEL}),
        "dataset_summary": "dataset_summary",
        # aggregating markers (only at the "features" level, where they are the targets)
        "align_all": "align_all",
        "acoustic_all": job_name("acoustic_all", {"fset": FSET}),
    }
    return {single[stage]}


def expected(*stages: str, shards=SHARDS, level: str = LEVEL) -> set[str]:
    """Jobs of the named stages that exist at this level (later stages are dropped at 'features')."""
    if level == "features":
        drop = {"visual", "words_visual", "words", "tokens", "train", "evaluate", "dataset_summary"}
        extra = {"align": "align_all", "acoustic": "acoustic_all"}
        stages = tuple(s for s in stages if s not in drop) + tuple(extra[s] for s in stages if s in extra)
    else:
        stages = tuple(s for s in stages if s not in ("align_all", "acoustic_all"))
    jobs: set[str] = set()
    for stage in stages:
        jobs |= stage_jobs(stage, shards=shards, level=level)
    return jobs


ALL_STAGES = ("make_demo", "manifest", "shard", "audio", "align", "acoustic", "visual", "words_visual", "words", "tokens",
              "train", "evaluate", "dataset_summary")


def copy_workdir(src: Path, dst: Path) -> Path:
    """Copy a built working directory, keeping modification times and Snakemake's metadata."""
    shutil.copytree(src, dst, symlinks=True, copy_function=shutil.copy2)
    for lock in (dst / ".snakemake" / "locks").glob("*"):
        lock.unlink()
    return dst


# Keys that measure time, not results (history.json, tokens' meta): left out of comparisons.
_TIMING_KEY = re.compile(r"(^|_)(time_s|wall_time_s|samples_per_s|seconds)$")


def _normalized(value):
    import torch

    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items() if not (isinstance(k, str) and _TIMING_KEY.search(k))}
    if isinstance(value, (list, tuple)):
        return [_normalized(v) for v in value]
    if torch.is_tensor(value):
        return (str(value.dtype), tuple(value.shape), value.detach().cpu().contiguous().numpy().tobytes())
    return value


def comparable(path: Path):
    """A file's content for an equality check: bytes, except timing fields in JSON and torch files
    (torch.save archives are not byte-stable across processes; their tensors are compared)."""
    if path.suffix == ".json":
        return _normalized(json.loads(path.read_text()))
    if path.suffix == ".pt":
        import torch

        return _normalized(torch.load(path, map_location="cpu", weights_only=False))
    return path.read_bytes()


def output_files(workdir: Path, level: str = LEVEL) -> dict[str, object]:
    """The files of the data stages (what a run on another executor must reproduce), by relative path."""
    roots = ["work/demo/manifest.tsv", "work/demo/shards", "work/demo/audio", "work/demo/align",
             f"work/demo/acoustic/{FSET}"]
    if level == "results":
        roots += ["work/demo/words", "work/demo/tokens", f"work/demo/runs/{MODEL}"]
    files = {}
    for root in roots:
        path = workdir / root
        for file in sorted([path] if path.is_file() else path.rglob("*")):
            if file.is_file():
                files[file.relative_to(workdir).as_posix()] = comparable(file)
    return files


def wait_for(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
