"""config.yaml is validated on every run; a typo is a readable error, not a silent default."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def shipped_config():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_shipped_config_is_valid():
    validate(copy.deepcopy(shipped_config()), SCHEMA)


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["audio"].update(sample_rat=16000), "'sample_rat' was unexpected"),
    (lambda c: c.update(datasetz={}), "'datasetz' was unexpected"),
    (lambda c: c["datasets"]["demo"].update(shards=0), "0 is less than the minimum of 1"),
    (lambda c: c["datasets"]["demo"].pop("root"), "'root' is a required property"),
])
def test_schema_rejects_bad_keys_and_values(mutate, message):
    config = shipped_config()
    mutate(config)
    with pytest.raises(WorkflowError, match=message):
        validate(config, SCHEMA)


def test_schema_fills_defaults():
    config = shipped_config()
    del config["audio"]["ffmpeg_timeout_s"]
    validate(config, SCHEMA)
    assert config["audio"]["ffmpeg_timeout_s"] == 300


def test_dry_run_reports_misspelled_key(tmp_path):
    config = shipped_config()
    config["audio"]["sample_rat"] = 16000
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(bad)], cwd=REPO,
                            capture_output=True, text=True)
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "unknown key 'sample_rat' in section 'audio' (allowed: ffmpeg_timeout_s, sample_rate)" in text
    # only that: no schema dump, no traceback
    assert "Failed validating" not in text and "additionalProperties" not in text and "Traceback" not in text


def test_code_hash_changes_with_the_code(tmp_path):
    from msaflow.codehash import code_hash

    package = tmp_path / "pkg"
    (package / "stage").mkdir(parents=True)
    (package / "common.py").write_text("x = 1\n")
    (package / "stage" / "a.py").write_text("y = 1\n")
    (package / "other.py").write_text("z = 1\n")
    before = code_hash("stage", package_dir=package)
    (package / "other.py").write_text("z = 2\n")
    assert code_hash("stage", package_dir=package) == before
    (package / "stage" / "a.py").write_text("y = 2\n")
    assert code_hash("stage", package_dir=package) != before


def test_model_dataset_overrides_apply_per_dataset_and_are_checked():
    """models.<m>.dataset_overrides.<ds>: model settings for one dataset (CMT's lr on the demo),
    validated as the entry itself is, so a misspelt setting there is named."""
    from msaflow.training import workflow_config as wfc
    from msaflow.workflow_support import config_error

    config = shipped_config()
    assert config_error(copy.deepcopy(config), SCHEMA) is None
    assert wfc.model_settings(config, "cmt", "demo")["lr"] == 5e-5
    assert wfc.model_settings(config, "cmt", "other")["lr"] == 1e-5 == wfc.model_settings(config, "cmt")["lr"]
    assert "dataset_overrides" not in wfc.model_settings(config, "cmt", "demo")
    config["models"]["cmt"]["dataset_overrides"] = {"demo": {"lr": 0, "layerz": 3}}
    message = config_error(config, SCHEMA)
    assert "models.cmt.dataset_overrides.demo" in message and "'layerz' was unexpected" in message
    assert "0 is less than or equal to the minimum of 0" in message
