"""Learning check on the full demo corpus, end to end from the corpus synthesis (issues 5, 11, 15).

A model that ignores audio can beat T-BERT on MAE (extra text-side parameters, seed variance), so
"uses a modality" is shown two ways on the same trained models, without training T-BERT here:
* the late-fusion baseline `lfbert` (the cheapest tri-modal model) beats, on the same test
  utterances, the *text oracle*: the best a model can do that knows the text component s_text of
  every label exactly (prediction w_text * s_text, from label.csv); T-BERT, which has only the text,
  scores far above it (0.85-0.97 per seed, docs/models.md);
* it gets worse on test when its audio or its vision is shuffled across utterances: the paired
  bootstrap CI of the change of test MAE excludes 0 (the criterion of issue 11).
Measured as run here (2 seeds, faces at 5 fps; non-text features normalised per speaker,
`words.znorm: speaker`): text oracle 0.789 on the test split; lfbert 0.382; audio shuffled, MAE
+0.306 [+0.202, +0.413]; vision shuffled, MAE +0.363 [+0.247, +0.488]. Every pair of the 5 demo
seeds (faces at 10 fps) passes (lowest CI bound +0.167, audio, seeds 1113/1114; highest MAE 0.409), so 2 seeds (one
round of two jobs on 2 cores) keep the verdict at half the training time of 4. With train-only
normalisation the audio's MAE change was +0.082 [-0.033, +0.190] over 5 seeds (docs/models.md,
"Speaker normalisation"): that would fail this test. Numbers are printed (pytest -s) for the record. The seed models (senbert, mhmf) are
measured by documented runs (docs/models.md), not here: their 5-seed runs take longer than this
suite's budget.
"""

import csv
import json
import statistics

import pytest
import yaml
from e2e_pipeline import REPO, snakemake

pytestmark = pytest.mark.e2e

SEEDS = [1111, 1112]


def text_oracle_mae(corpus, split="test") -> float:
    """MAE on `split` of the prediction w_text * s_text (the label's text component, known exactly)."""
    process = json.loads((corpus / "generative_process.json").read_text())
    assert process["components_in_label_csv"]["label_T"] == "s_text"
    weight = process["weights"]["text"]
    with open(corpus / "label.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["mode"] == split]
    return statistics.fmean(abs(float(r["label"]) - weight * float(r["label_T"])) for r in rows)


def test_full_demo_lfbert_uses_audio_and_vision(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["demo"]["spec"] = str(REPO / config["demo"]["spec"])
    config["models"]["lfbert"]["baseline"] = None  # the text oracle below is the stronger reference
    # faces sampled at 5 of the videos' 10 frames per second: the visual stage is the largest share of
    # this test's CPU time, and each clip's expression lasts the whole clip
    config["visual"]["options"]["facial_like"]["fps"] = 5
    # 2 seeds: one round of two training jobs on 2 cores
    config["train"]["seeds"] = SEEDS
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(tmp_path, "results/lfbert_demo.json", timeout=5400)
    result = json.loads((tmp_path / "results/lfbert_demo.json").read_text())
    oracle = text_oracle_mae(tmp_path / "work/demo/corpus")
    test = result["metrics"]["test"]
    conditions = result["ablation"]["conditions"]
    lines = [f"\nlearning check (test, mean over seeds {result['seeds']}): text oracle mae {oracle:.3f}; "
             f"lfbert mae {test['mae']['mean']:.3f} corr {test['corr']['mean']:.3f}"]
    for name, c in sorted(conditions.items()):
        m = c["metrics"]["mae"]
        lines.append(f"  {name:16s} delta mae {m['diff']:+.3f} [{m['ci_low']:+.3f}, {m['ci_high']:+.3f}] p {m['p']:.3f}")
    print("\n".join(lines))
    assert result["seeds"] == SEEDS
    assert result["data"]["failed_utterances"] == 0 and result["dataset_summary"]["utterances"] == 336
    assert test["mae"]["mean"] < oracle, "lfbert does not beat the text oracle: it cannot be using audio or vision"
    for modality in ("audio", "vision"):
        shuffled = conditions[f"{modality}_shuffle"]["metrics"]
        assert shuffled["mae"]["ci_low"] > 0, f"shuffling {modality} does not raise lfbert's test mae: {shuffled['mae']}"
