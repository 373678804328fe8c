"""Our exports read by the peers' own code (issue 12): MMSA 2.2.1 and MAG-BERT, end to end.

The small demo (6 videos x 4 clips) runs through the pipeline to
`work/demo/exports/covarep_like_{mmsa_aligned,mag}.pkl`; then, in the MMSA peer venv
(`.venv-peers/mmsa`, built by `make peer-venvs`, which `make test` runs), the drivers in
tests/peers/ run MMSA's `MMDataLoader` for every regression config, train lf_dnn, mult and self_mm
for one epoch with MMSA's own trainers, and (when a MAG-BERT checkout is given in
MSAFLOW_MAG_BERT_DIR) MAG-BERT's `get_appropriate_dataset` with the widths our info file states.
Numbers are printed (pytest -s) for the record.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
from e2e_pipeline import FSET, REPO

pytestmark = pytest.mark.e2e

PEERS = REPO / "tests" / "peers"
MMSA_PYTHON = Path(os.environ.get("MSAFLOW_MMSA_PYTHON", REPO / ".venv-peers" / "mmsa" / "bin" / "python"))
MAG_DIR = os.environ.get("MSAFLOW_MAG_BERT_DIR")
# 17 regression configs in MMSA 2.2.1 (PyPI) + tetfn, cenet, almt of thuiar/MMSA master (see mmsa_check.py)
MMSA_MODELS = 20
TRAINED = ["lf_dnn", "mult", "self_mm"]


def _peer_python() -> Path:
    if not MMSA_PYTHON.exists():
        message = f"the MMSA peer venv {MMSA_PYTHON} is missing: build it with `make peer-venvs`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return MMSA_PYTHON


def _run_peer(*args, timeout=900) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([str(_peer_python()), *map(str, args)], capture_output=True, text=True, env=env,
                            timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"peer driver failed ({result.returncode}): {args}\n{result.stderr[-6000:]}")


@pytest.fixture(scope="module")
def demo_exports(small_demo):
    _peer_python()
    return small_demo / "work" / "demo" / "exports"  # conftest.small_demo builds the exports too


@pytest.fixture(scope="module")
def bert_dir():
    from msaflow.encoders import resolve_encoder

    return resolve_encoder("minilm-l6")  # a BERT-type checkpoint on disk, bert-base-uncased vocabulary


def test_mmsa_loader_reads_the_export_for_every_regression_config(demo_exports, tmp_path):
    out = tmp_path / "load.json"
    _run_peer(PEERS / "mmsa_check.py", "load", demo_exports / f"{FSET}_mmsa_aligned.pkl", out)
    results = json.loads(out.read_text())
    failed = {m: r["error"] for m, r in results.items() if not r["ok"]}
    loaded = ", ".join(f"{m}[{r['dataset']}]" for m, r in results.items() if r["ok"])
    print(f"\nMMSA MMDataLoader: {len(results) - len(failed)}/{len(results)} regression configs load ({loaded})")
    assert not failed, failed
    assert len(results) == MMSA_MODELS
    info = json.loads((demo_exports / f"{FSET}_exports.json").read_text())
    assert results["mult"]["feature_dims"] == info["mmsa"]["feature_dims"]


@pytest.mark.parametrize("model", TRAINED)
def test_mmsa_trains_one_epoch(demo_exports, bert_dir, tmp_path, model):
    out = tmp_path / "result.json"
    _run_peer(PEERS / "mmsa_check.py", "train", demo_exports / f"{FSET}_mmsa_aligned.pkl", model, out,
              "--bert", bert_dir)
    result = json.loads(out.read_text())
    print(f"\nMMSA {model}: one epoch in {result['train_seconds']} s on {result['samples']}; "
          f"test MAE {result['test']['MAE']:.3f}")
    assert result["samples"]["train"] > 0 and result["test"]["MAE"] == result["test"]["MAE"]  # finite, not NaN


@pytest.mark.skipif(not MAG_DIR, reason="MAG-BERT is not on PyPI: set MSAFLOW_MAG_BERT_DIR to a checkout of "
                    "WasifurRahman/BERT_multimodal_transformer to run its data preparation on our export")
def test_mag_bert_prepares_the_export_with_the_documented_dims(demo_exports, bert_dir, tmp_path):
    info = json.loads((demo_exports / f"{FSET}_exports.json").read_text())
    dims = info["mag"]["global_configs"]
    out = tmp_path / "mag.json"
    _run_peer(PEERS / "mag_check.py", MAG_DIR, demo_exports / f"{FSET}_mag.pkl", dims["ACOUSTIC_DIM"],
              dims["VISUAL_DIM"], bert_dir, out)
    splits = json.loads(out.read_text())["splits"]
    print(f"\nMAG-BERT get_appropriate_dataset with {dims}: {splits}")
    assert all(s["ok"] for s in splits.values()), splits
    assert splits["train"]["acoustic"][1:] == [50, dims["ACOUSTIC_DIM"]]
    assert splits["train"]["visual"][1:] == [50, dims["VISUAL_DIM"]]
