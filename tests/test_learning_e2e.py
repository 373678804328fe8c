"""Learning check on the full demo corpus (issue 5), end to end from the corpus synthesis.

T-BERT must learn the text (test corr > 0.5 averaged over the 5 seeds) and the CM-BERT variant
whose audio reaches the output must beat T-BERT on test MAE. (The faithful CM-BERT's audio
invariance is proven by unit tests in test_models.py; `make demo` runs it on this corpus.)
Numbers are printed (pytest -s) for the record.
"""

import json

import pytest
import yaml
from e2e_pipeline import REPO, snakemake

pytestmark = pytest.mark.e2e


def test_full_demo_learning_check(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["demo"]["spec"] = str(REPO / config["demo"]["spec"])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(tmp_path, "results/cmbertav_demo.json", timeout=1800)
    variant = json.loads((tmp_path / "results/cmbertav_demo.json").read_text())
    tbert = variant["baseline"]["metrics"]["test"]
    test = variant["metrics"]["test"]
    print(f"\nlearning check (test, mean over seeds {variant['seeds']}): tbert mae {tbert['mae']['mean']:.3f} "
          f"corr {tbert['corr']['mean']:.3f}; cmbertav mae {test['mae']['mean']:.3f} "
          f"corr {test['corr']['mean']:.3f}")
    assert len(variant["seeds"]) == 5
    assert tbert["corr"]["mean"] > 0.5
    assert test["mae"]["mean"] < tbert["mae"]["mean"]
    assert variant["describe"]["audio_reaches_output"] is True
    assert variant["data"]["failed_utterances"] == 0 and variant["dataset_summary"]["utterances"] == 336
