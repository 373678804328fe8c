"""The HTML report (msaflow.reporting), its Snakemake inputs, stage benchmarks, progress lines."""

import json
import re

import numpy as np
import pytest

from msaflow.common import write_tsv
from msaflow.evaluation.results import build_result, read_run, stage_benchmarks, stage_wall_times
from msaflow.reporting.build import ReportInputs, ablation_table, build_report, pick_examples
from msaflow.training import workflow_config as wfc

SEEDS = (1111, 1112)


def _write_run(root, model, seed, labels, noise):
    d = root / model / f"seed{seed}"
    d.mkdir(parents=True)
    rng = np.random.default_rng(seed + noise)
    rows = []
    for split, ys in labels.items():
        for i, y in enumerate(ys):
            rows.append((f"v{split}$_${i}", split, f"{y:.4f}", f"{y * 0.6 + rng.normal(0, noise / 10 + 0.3):.6f}"))
    write_tsv(d / "predictions.tsv", ("utterance_id", "split", "label", "prediction"), rows)
    epochs = [{"epoch": e, "train_loss": 1.0 / e, "valid_loss": 1.2 / e, "valid_metrics": {"mae": 0.9 / e},
               "train_samples_per_s": 10.0} for e in (1, 2, 3)]
    history = {"seed": seed, "epochs": epochs, "best_epoch": 3, "select_by": "valid_loss",
               "settings": {"arch": model}, "describe": {"arch": model, "modalities": ["text"] if model == "tbert" else ["text", "audio"]}}
    (d / "history.json").write_text(json.dumps(history))
    return d


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    labels = {"valid": rng.uniform(-3, 3, 12).round(2), "test": rng.uniform(-3, 3, 30).round(2)}
    runs_root = root / "runs"
    base = [read_run(_write_run(runs_root, "tbert", s, labels, 5)) for s in SEEDS]
    model = [read_run(_write_run(runs_root, "cmbert", s, labels, 1)) for s in SEEDS]
    meta = {"counts": {"train": 50, "valid": 12, "test": 30}, "max_length": 50, "encoder": "minilm-l6"}
    result = build_result("cmbert", "toy", model, "tbert", base, meta, {"x": 1}, "abc123", 0.95, 100, None)
    result["ablation"] = {"confidence": 0.95, "conditions": {
        "audio_zero": {"modality": "audio", "kind": "zero", "max_abs_prediction_change": 0.1,
                       "metrics": {"mae": {"diff": 0.05, "ci_low": 0.01, "ci_high": 0.09, "p": 0.01},
                                   "corr": {"diff": -0.02, "ci_low": -0.05, "ci_high": 0.01, "p": 0.2}}},
        "audio_shuffle": {"modality": "audio", "kind": "shuffle", "max_abs_prediction_change": 0.1,
                          "metrics": {"mae": {"diff": 0.03, "ci_low": -0.01, "ci_high": 0.07, "p": 0.3}}}}}
    path = root / "cmbert_toy.json"
    path.write_text(json.dumps(result))
    # a second model whose result has no ablation section (evaluated before it existed)
    other = build_result("cmbertav", "toy", model, None, [], meta, {}, "def456", 0.95, 100, None)
    other.pop("ablation", None)
    other_path = root / "cmbertav_toy.json"
    other_path.write_text(json.dumps(other))
    summary = {"utterances": 84, "videos": 7, "utterances_per_split": {"train": 50, "valid": 12, "test": 30},
               "videos_per_split": {"train": 4, "valid": 1, "test": 2},
               "label": {"histogram": {"bin_edges": list(np.arange(-3, 3.5, 0.5)), "counts": [1] * 12}},
               "qc": {"audio": {"ok": 83, "fallback": 0, "failed": 1, "top_reasons": {"ffmpeg: no audio track": 1}},
                      "align": {"ok": 80, "fallback": 3, "failed": 0, "top_reasons": {"pocketsphinx failed": 3}}}}
    summary_path = root / "dataset_toy.json"
    summary_path.write_text(json.dumps(summary))
    return root, path, other_path, summary_path


def test_report_renders_every_section_and_names_what_is_missing(demo_results):
    root, path, other_path, summary_path = demo_results
    page = build_report(ReportInputs(dataset="toy", results=[str(path), str(other_path)], runs_root=str(root / "runs"),
                                     summary=str(summary_path), attention=False))
    for section in ("comparison", "ablation", "models", "data", "examples", "provenance"):
        assert f'id="{section}"' in page
    for model in ("tbert", "cmbert", "cmbertav"):
        assert f'id="model-{model}"' in page
        assert f'id="fig-scatter-{model}"' in page and f'id="fig-confusion-{model}"' in page
        assert f'id="fig-history-{model}"' in page
    assert 'id="fig-ablation-cmbert"' in page and "audio_shuffle" in page
    assert "cmbertav_toy.json has no &#x27;ablation&#x27; section" in page
    assert "text-only model" in page  # tbert: nothing to ablate
    assert "not available: no durations" in page and "not available: no alignment tables given" in page
    assert "ffmpeg: no audio track (1)" in page  # QC reasons
    assert page.count("▲") >= 9  # one best mark per metric column at least
    assert 'id="paired-cmbert"' in page
    assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained, no network
    images = re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) >= 10


def test_report_without_inputs_says_not_available(tmp_path):
    page = build_report(ReportInputs(dataset="empty", results=[str(tmp_path / "missing.json")]))
    assert "not available: no result file for this dataset" in page
    assert "is not an msaflow result file" in page


def test_examples_are_best_median_worst(demo_results):
    from msaflow.reporting.build import collect_models

    root, path, _, _ = demo_results
    models, _ = collect_models([str(path)], str(root / "runs"), log=None)
    view = next(v for v in models if v.name == "cmbert")
    picks = pick_examples(view)
    assert [p[0] for p in picks] == ["best", "median", "worst"]
    errors = [abs(pred - label) for _, _, label, pred in picks]
    assert errors[0] <= errors[1] <= errors[2]


def test_ablation_table_reads_variants():
    names, values, note = ablation_table({"conditions": {"audio_zero": {"metrics": {"mae": {
        "diff": 0.1, "ci_low": 0.0, "ci_high": 0.2, "p": 0.04}}}}})
    assert names == ["audio_zero"] and values[("audio_zero", "mae")] == (0.1, 0.0, 0.2, 0.04) and note is None
    names, values, _ = ablation_table({"conditions": [{"condition": "vision_shuffle", "metrics": {"corr": {
        "change": -0.1, "ci": [-0.2, 0.0]}}}]})
    assert values[("vision_shuffle", "corr")] == (-0.1, -0.2, 0.0, None)
    assert ablation_table({"conditions": {}, "note": "nothing to ablate"}) == ([], {}, "nothing to ablate")
    assert ablation_table(None) == ([], {}, None)


def test_report_inputs_required_and_existing_models():
    config = {"work_dir": "work", "models": {"tbert": {}, "cmbert": {"baseline": "tbert"}, "cmbertav": {"baseline": "tbert"}},
              "train": {"seeds": [1, 2]}, "tokens": {"encoder": "minilm-l6", "audio_fset": "covarep_like"},
              "report": {"models": ["cmbert"], "include_existing": True}}
    exists = {"results/cmbertav_toy.json"}.__contains__
    assert wfc.report_models(config, "toy", exists) == ["cmbert", "cmbertav"]
    files = wfc.report_inputs(config, "toy", ["s000"], "raw", exists)
    assert files["results"] == ["results/cmbert_toy.json", "results/cmbertav_toy.json"]
    assert "work/toy/runs/tbert/seed2/predictions.tsv" in files["runs"]
    assert "work/toy/runs/cmbert/seed1/model.pt" in files["runs"] and len(files["runs"]) == len(set(files["runs"]))
    assert files["audio_qc"] == ["work/toy/audio/s000.qc.tsv"]
    config["report"]["include_existing"] = False
    assert wfc.report_models(config, "toy", exists) == ["cmbert"]
    config["report"]["models"] = ["nope"]
    with pytest.raises(ValueError, match="nope"):
        wfc.report_models(config, "toy", exists)


def test_stage_benchmarks_sum_wall_and_cpu(tmp_path):
    bench = tmp_path / "benchmarks" / "toy"
    bench.mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (bench / "align_s000.tsv").write_text(header + "10.0\t0:00:10\t100\t0\t0\t0\t0\t0\t0\t8.0\n")
    (bench / "align_s001.tsv").write_text(header + "5.0\t0:00:05\t300\t0\t0\t0\t0\t0\t0\t4.5\n")
    (bench / "train-cmbert_seed1.tsv").write_text(header + "60\t0:01:00\t900\t0\t0\t0\t0\t0\t0\tNA\n")
    out = stage_benchmarks(bench, "toy")
    assert out["align"] == {"jobs": 2, "wall_s": 15.0, "cpu_s": 12.5, "max_rss_mb": 300.0}
    assert out["train-cmbert"]["cpu_s"] == 0.0 and out["train-cmbert"]["wall_s"] == 60.0
    assert stage_wall_times(bench, "toy") == {"align": 15.0, "train-cmbert": 60.0}


def test_progress_in_a_log_file_is_one_line_per_update(capfd):
    from msaflow.common import progress

    for _ in progress(range(3), desc="align s001"):
        pass
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line]
    assert "\r" not in err and lines and all(line.startswith("align s001:") for line in lines)
    assert "3/3" in lines[-1]


def test_progress_command_shows_the_last_progress_line(tmp_path, capsys):
    from types import SimpleNamespace

    from msaflow.stages import progress as stage

    logs = tmp_path / "logs" / "toy"
    logs.mkdir(parents=True)
    (logs / "align_s001.log").write_text("2026 INFO start\nalign s001:  10%|#  | 1/10 [00:01<00:09]\n"
                                         "align s001:  40%|#### | 4/10 [00:04<00:06]\nINFO note\n")
    (logs / "words_covarep_like.log").write_text("INFO nothing yet\n")
    stage.main(SimpleNamespace(logs=str(tmp_path / "logs"), dataset="toy", minutes=10))
    out = capsys.readouterr().out
    assert "align_s001.log" in out and "4/10" in out and "1/10" not in out
    assert "(no progress line yet)" in out
