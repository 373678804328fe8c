"""The demo pipeline on a real (throw-away, single-node) SLURM cluster through profiles/slurm.

The cluster is started by scripts/slurm-local-start.sh (root, Debian slurm-wlm + munge, private
munge key, slurmctld/slurmd on 127.0.0.1, no accounting) and stopped by scripts/slurm-local-stop.sh
(by PID). The outputs must equal those of a local run with profiles/default. Missing
prerequisites make the test fail, not skip (`make test` installs them).
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
    # The local reference is the session's small demo (conftest), built with profiles/default from
    # the same config; the cluster run gets that config and that spec file.
    local, cluster = small_demo, tmp_path / "slurm"
    cluster.mkdir()
    shutil.copy2(local / "config.yaml", cluster / "config.yaml")

    # The SLURM profile plans the same jobs as a local run.
    assert planned_jobs(cluster, profile="slurm") == expected(*ALL_STAGES)
    # The profile's first status check comes 5 s after a submission and each check that finds nothing
    # finished waits 10 s longer (the plugin's back-off); every stage here takes seconds, so the
    # test checks after 1 s and then at most every 2 s (snakemake_capped_polling; the submissions
    # and the results are the same, the run takes about half as long).
    run = snakemake(cluster, "--verbose", "--slurm-init-seconds-before-status-checks", "1", *targets(),
                    profile="slurm", timeout=1200, cap_polling_s=2)
    log = run.stdout + run.stderr
    calls = _sbatch_calls(log)

    # Every non-local rule went through sbatch, with its own threads, memory and runtime.
    submitted = {"make_demo", "manifest", "audio", "align", "acoustic"}
    if LEVEL == "results":
        submitted |= {"words", "tokens", "train", "evaluate"}
    assert submitted <= set(calls), f"rules submitted: {sorted(calls)}"
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
