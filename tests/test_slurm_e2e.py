"""The demo pipeline on a real (throw-away, single-node) SLURM cluster through profiles/slurm.

The cluster is started by scripts/slurm-local-start.sh (root, Debian slurm-wlm + munge, private
munge key, slurmctld/slurmd on 127.0.0.1, no accounting) and stopped by scripts/slurm-local-stop.sh
(by PID). The cluster runs every job of one shard's media (audio, alignment, acoustic and visual
features) and every job after them (words, tokens, training, evaluation, dataset summary) on a copy
of the session's small demo; its outputs must equal, byte for byte, those of the local run with
profiles/default. (The whole pipeline from the corpus synthesis took 4 minutes here, nine rounds of
seconds-long jobs each paying a SLURM job's and a Snakemake start-up; one shard exercises the same
rules, resources and sbatch arguments in six rounds.) Missing prerequisites make the test fail, not
skip (`make test` installs them).
"""

import os
import re
import shutil
import subprocess

import pytest
from e2e_pipeline import (
    ALL_STAGES,
    LEVEL,
    MODEL,
    REPO,
    SHARDS,
    VSET,
    copy_workdir,
    expected,
    output_files,
    planned_jobs,
    snakemake,
    targets,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the SLURM test starts slurmctld/slurmd and must run as root")
    missing = [t for t in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: install Debian slurm-wlm and munge (make test-system-deps)")
    state = tmp_path_factory.mktemp("slurm-state")
    # 8 declared CPUs: the small demo's 24 jobs run side by side instead of two at a time (each is
    # seconds of job-step start-up and a little work); what is tested (sbatch arguments, same
    # outputs) does not depend on it, and it saves about a minute.
    start = subprocess.run(["bash", str(REPO / "scripts/slurm-local-start.sh"), str(state)],
                           capture_output=True, text=True, timeout=180, env={**os.environ, "MSAFLOW_SLURM_CPUS": "8"})
    try:
        assert start.returncode == 0, f"cluster did not start:\n{start.stdout}\n{start.stderr}"
        yield state
    finally:
        stop = subprocess.run(["bash", str(REPO / "scripts/slurm-local-stop.sh"), str(state)],
                              capture_output=True, text=True, timeout=120)
        assert stop.returncode == 0, stop.stderr


def _sbatch_calls(text: str) -> dict[str, list[str]]:
    calls: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "sbatch call:" in line and (m := re.search(r"--comment '?rule_(\w+?)(?:_wildcards_\S*?)?'?\s", line)):
            calls.setdefault(m.group(1), []).append(line)
    return calls


def test_demo_pipeline_on_slurm_equals_local_run(slurm_cluster, small_demo, tmp_path):
    # The local reference is the session's small demo (conftest), built with profiles/default.
    local = small_demo
    # The SLURM profile plans the same jobs as a local run, from nothing.
    planning = tmp_path / "plan"
    planning.mkdir()
    shutil.copy2(local / "config.yaml", planning / "config.yaml")
    assert planned_jobs(planning, profile="slurm") == expected(*ALL_STAGES)

    # On a copy of the local run, the cluster redoes one shard's jobs and everything after them.
    cluster = copy_workdir(local, tmp_path / "slurm")
    shard = SHARDS[1]
    force = ["--forcerun", f"work/demo/audio/{shard}.qc.tsv", f"work/demo/visual/{VSET}/{shard}.qc.tsv", "--"]
    redone = expected("audio", "align", "acoustic", "visual", "words", "words_visual", "tokens", "train",
                      "evaluate", "dataset_summary", shards=[shard])
    assert planned_jobs(cluster, *force, *targets(), profile="slurm") == redone
    # The profile's first status check comes 5 s after a submission and each check that finds nothing
    # finished waits 10 s longer (the plugin's back-off); every stage here takes seconds, so the
    # test checks after 1 s and then at most every 2 s (snakemake_capped_polling; the submissions
    # and the results are the same, the run takes about half as long).
    run = snakemake(cluster, "--verbose", "--slurm-init-seconds-before-status-checks", "1", *force, *targets(),
                    profile="slurm", timeout=1200, cap_polling_s=2)
    log = run.stdout + run.stderr
    calls = _sbatch_calls(log)

    # Every non-local rule went through sbatch, with its own threads, memory and runtime.
    submitted = {"audio", "align", "acoustic"}
    if LEVEL == "results":
        submitted |= {"visual", "words", "tokens", "train", "evaluate", "dataset_summary"}
    assert submitted == set(calls), f"rules submitted: {sorted(calls)}"
    assert all(len(calls[rule]) == 1 for rule in submitted - {"words"}), calls  # one shard; words: audio and visual
    assert "shard" not in calls, "local rules must not be submitted"
    assert all("--cpus-per-task=2" in c for c in calls["audio"]), calls["audio"][0]
    assert all("--cpus-per-task=1" in c and " --mem 1500" in c for c in calls["acoustic"]), calls["acoustic"][0]
    if LEVEL == "results":
        # GPU rules are mapped to --gres (and only those); the fake GPU GRES lets them schedule here.
        assert all("--gres=gpu:1" in c and "--gpus" not in c for c in calls["train"]), calls["train"][0]
        assert not any("--gres" in c for rule, cs in calls.items() if rule != "train" for c in cs)
        assert (cluster / f"results/{MODEL}_demo.json").is_file()

    # Same content as the local run, file by file (bytes; tensors and non-timing fields for .pt/.json).
    local_files, cluster_files = output_files(local), output_files(cluster)
    assert sorted(cluster_files) == sorted(local_files)
    differing = [name for name in local_files if local_files[name] != cluster_files[name]]
    assert not differing, f"files that differ between the SLURM and the local run: {differing}"
    # Nothing left to do afterwards, with either profile.
    assert planned_jobs(cluster, profile="slurm") == set()
    assert planned_jobs(cluster) == set()
