"""The README's headline command from a minimal shell (`env -i`), with and without the venv
activated: the DAG builds without any printed exception and real jobs run, although `msaflow`
is not on PATH in the first case. A 3-clip corpus keeps it to a few seconds per run."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ffmpeg

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.e2e


@pytest.fixture
def tiny(tmp_path):
    corpus = tmp_path / "corpus"
    rows = ["video_id,clip_id,text,label,annotation,mode"]
    for video, text, label, mode in (("v1", "hello there", 1.0, "train"), ("v2", "bad movie", -1.0, "valid"),
                                     ("v3", "it was fine", 0.0, "test")):
        (corpus / "Raw" / video).mkdir(parents=True)
        ffmpeg("-f", "lavfi", "-i", "sine=frequency=220:duration=0.6", corpus / "Raw" / video / "c1.wav")
        rows.append(f"{video},c1,{text},{label},x,{mode}")
    (corpus / "label.csv").write_text("\n".join(rows) + "\n")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["datasets"]["tiny"] = {"root": str(corpus), "source": "raw", "shards": 1}
    config["default_targets"] = []
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    return work


def run(work, *targets, activated: bool, dry: bool = False, profile: str = "default"):
    """snakemake from `env -i`: activated = the venv's bin first on PATH and a bare `snakemake`;
    otherwise PATH=/usr/bin:/bin and the venv's snakemake by its full path (README's command)."""
    if activated:
        env = {"HOME": os.environ.get("HOME", "/root"), "PATH": f"{BIN}:/usr/bin:/bin", "VIRTUAL_ENV": str(BIN.parent)}
        command = ["snakemake"]
    else:
        env = {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/bin:/bin"}
        command = [str(BIN / "snakemake")]
    command += ["--snakefile", str(REPO / "Snakefile"), "--directory", str(work), "--workflow-profile", "none",
                "--profile", str(REPO / "profiles" / profile), *(["--cores", "1"] if profile == "default" else []),
                *(["--dry-run"] if dry else []), *targets]
    result = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()), *command],
                            capture_output=True, text=True, timeout=600)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-6000:]
    return text


def test_headline_command_from_a_plain_shell_and_with_the_venv_activated(tiny):
    # The DAG of the headline target builds without any exception printed along the way (the
    # evaluate rule once also matched results/dataset_tiny.json and printed one every time).
    text = run(tiny, "results/cmbert_tiny.json", activated=False, dry=True)
    assert "Exception" not in text and "Traceback" not in text, text
    assert "evaluate" in text and "dataset_summary" in text
    # the same through the SLURM profile (a job re-runs Snakemake with this Python; tests/test_slurm_e2e.py
    # runs real SLURM jobs from the same minimal environment, see e2e_pipeline.env)
    text = run(tiny, "results/cmbert_tiny.json", activated=False, dry=True, profile="slurm")
    assert "Exception" not in text and "Traceback" not in text and "evaluate" in text, text
    # Real jobs with `msaflow` on no PATH: manifest and shard list ...
    run(tiny, "work/tiny/shards/s000.tsv", activated=False)
    assert (tiny / "work/tiny/shards/s000.tsv").read_text().count("\n") == 4
    # ... and with the venv activated: the audio job (ffmpeg) after them.
    run(tiny, "work/tiny/audio/s000.qc.tsv", activated=True)
    qc = (tiny / "work/tiny/audio/s000.qc.tsv").read_text().splitlines()
    assert [line.split("\t")[1] for line in qc[1:]] == ["ok", "ok", "ok"], qc
