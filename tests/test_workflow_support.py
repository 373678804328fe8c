"""Snakefile support (msaflow.workflow_support): the job shell prefix, the datasets the targets
name, and config errors that name the key, its section and the allowed keys only."""

import copy
import subprocess
from pathlib import Path

import yaml

from msaflow.workflow_support import config_problems, msaflow_shell_prefix, requested_datasets

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def _unformat(prefix: str) -> str:
    """What Snakemake's shell.prefix makes of the string (it formats it: doubled braces)."""
    return prefix.replace("{{", "{").replace("}}", "}")


def test_shell_prefix_defines_msaflow_with_the_snakemake_python(tmp_path):
    bin_dir = tmp_path / "venv dir/bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "msaflow").write_text("")
    python = bin_dir / "python"  # a stand-in that prints what it was given
    python.write_text('#!/bin/sh\necho "$PYTHONPATH" "$@"\n')
    python.chmod(0o755)
    src = tmp_path / "src"
    prefix = _unformat(msaflow_shell_prefix(python, src, own_envs=False))
    assert prefix.startswith("set -euo pipefail; msaflow() {")
    # `msaflow` on no PATH runs `python -m msaflow`, PYTHONPATH = src first, the caller's after it
    out = subprocess.run(["bash", "-c", prefix + "msaflow audio"], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": "/elsewhere"}, check=True).stdout
    assert out.strip() == f"{src}:/elsewhere -m msaflow audio"


def test_shell_prefix_leaves_msaflow_to_conda_envs_and_foreign_pythons(tmp_path):
    (tmp_path / "msaflow").write_text("")
    assert msaflow_shell_prefix(tmp_path / "python", tmp_path, own_envs=True) == "set -euo pipefail; "
    assert msaflow_shell_prefix("/usr/bin/python3-without-msaflow", tmp_path, own_envs=False) == "set -euo pipefail; "


def test_requested_datasets_from_targets():
    datasets = {"demo": {}, "mosi": {}, "mosei": {}}
    argv = ["--cores", "8", "results/cmbert_mosi.json", "results/dataset_mosei.json", "work/demo/audio.done",
            "results/cmbert_other.json", "--config", "x=1"]
    assert requested_datasets(argv, "work", datasets) == ["mosi", "mosei", "demo"]
    assert requested_datasets(["--cores", "2"], "work", datasets, ["work/demo/audio.done"]) == ["demo"]
    assert requested_datasets([str(Path.cwd() / "work/mosi/manifest.tsv")], "work", datasets) == ["mosi"]
    assert requested_datasets(["./results/tbert_mosei.json"], "work", datasets) == ["mosei"]


def _problems(mutate):
    config = copy.deepcopy(yaml.safe_load((REPO / "config.yaml").read_text()))
    mutate(config)
    return config_problems(config, SCHEMA)


def test_config_problem_names_key_section_and_allowed_keys():
    assert _problems(lambda c: None) == []
    (problem,) = _problems(lambda c: c["audio"].update(sample_rat=16000))
    assert problem == ("unknown key 'sample_rat' in section 'audio' (allowed: ffmpeg_timeout_s, sample_rate); "
                       "did you mean 'sample_rate'?")
    (problem,) = _problems(lambda c: c["datasets"]["demo"].update(shard=2))
    assert problem.startswith("unknown key 'shard' in section 'datasets.demo' (allowed: folds, ")
    (problem,) = _problems(lambda c: c.update(datasetz={}))
    assert problem.startswith("unknown key 'datasetz' in section 'top level'") and "'datasets'?" in problem
    (problem,) = _problems(lambda c: c["datasets"]["demo"].update(shards=0))
    assert problem == "datasets.demo.shards: 0 is less than the minimum of 1"
