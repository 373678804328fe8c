"""Caching and rerun behaviour, end to end: the exact set of jobs a dry run plans after a change.

One small demo pipeline (6 videos x 4 clips, 4 shards, 1 seed, 1 epoch) is built once per module
with profiles/default; each test works on a copy of that working directory (mtimes and
Snakemake's metadata kept). How far the pipeline goes: e2e_pipeline.LEVEL.
"""

import csv
import shutil
import time
from pathlib import Path

import pytest
import yaml
from e2e_pipeline import (
    ALL_STAGES,
    FSET,
    REPO,
    SHARDS,
    copy_workdir,
    expected,
    planned_jobs,
    snakemake,
    stage_jobs,
    update_config,
    write_config,
    write_small_spec,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def built(small_demo, tmp_path_factory):
    root = tmp_path_factory.mktemp("rerun")
    fresh = root / "fresh"
    write_config(fresh, write_small_spec(root / "spec.yaml"))
    assert planned_jobs(fresh) == expected(*ALL_STAGES), "a fresh directory must plan the whole pipeline"
    return small_demo  # the same configuration, built once per session (conftest.small_demo)


@pytest.fixture
def work(built, tmp_path):
    return copy_workdir(built, tmp_path / "work")


def test_noop_rerun_plans_nothing(work):
    assert planned_jobs(work) == set()


def test_touch_without_content_change_plans_nothing(work):
    time.sleep(1.1)  # coarse file-system clocks: make the touched inputs strictly newer
    spec = Path(yaml.safe_load((work / "config.yaml").read_text())["demo"]["spec"])
    inputs = [spec, work / "config.yaml", work / "work/demo/manifest.tsv"]
    inputs += list((work / "work/demo/corpus").rglob("*")) + list((work / "work/demo/shards").glob("*.tsv"))
    inputs += list((work / "work/demo/audio").glob("*.qc.tsv"))
    for path in inputs:
        path.touch()
    assert planned_jobs(work) == set()


def test_resource_settings_rerun_nothing(work):
    update_config(work, "acoustic", mem_mb=2500, runtime_min=90, feature_sets=["covarep_like", "egemaps", "compare"])
    update_config(work, "align", threads=1)
    assert planned_jobs(work) == set()


def test_touching_the_audio_folder_plans_nothing(work):
    time.sleep(1.1)
    for path in (work / "work/demo/audio").rglob("*"):
        path.touch()
    assert planned_jobs(work) == set()


def test_byte_identical_rewrite_of_manifest_and_shards_plans_nothing(work):
    before = {p.name: p.stat().st_mtime_ns for p in (work / "work/demo/shards").glob("*.tsv")}
    time.sleep(1.1)
    snakemake(work, "--forcerun", "manifest", "--", *(f"work/demo/shards/{s}.tsv" for s in SHARDS))
    after = {p.name: p.stat().st_mtime_ns for p in (work / "work/demo/shards").glob("*.tsv")}
    assert all(after[name] > before[name] for name in before), "the shard files were not rewritten"
    assert planned_jobs(work) == set()


def test_training_hyperparameter_reruns_only_training_and_evaluation(work):
    update_config(work, "train", batch_size=16)
    assert planned_jobs(work) == expected("train", "evaluate")


def test_acoustic_setting_reruns_acoustic_onward_not_audio_or_align(work):
    # The pitch search range is an extractor option, a param of the covarep_like acoustic jobs.
    update_config(work, "acoustic", options={"covarep_like": {"f0_min": 60, "f0_max": 500}})
    planned = planned_jobs(work)
    assert planned == expected("acoustic", "words", "tokens", "train", "evaluate", "dataset_summary")
    assert not any(job.startswith(("audio", "align", "manifest", "shard", "make_demo")) for job in planned)


def test_visual_setting_reruns_visual_onward_not_audio_align_or_acoustic(work):
    # The frame-rate cap is a visual option, a param of the facial_like visual jobs; the visual
    # words feed the tokens (vision), hence tokens and what follows; the acoustic words stay.
    update_config(work, "visual", options={"facial_like": {"fps_max": 5, "max_faces": 2}})
    planned = planned_jobs(work)
    assert planned >= expected("visual", "words_visual", "tokens", "train", "evaluate")
    assert not planned & stage_jobs("words"), "the acoustic words do not read the visual frames"
    assert planned <= expected("visual", "words_visual", "tokens", "train", "evaluate", "dataset_summary")
    assert not any(job.startswith(("audio", "align", "acoustic", "manifest", "shard", "make_demo")) for job in planned)


def _copy_workflow(dst: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copy2(REPO / "Snakefile", dst / "Snakefile")
    shutil.copytree(REPO / "workflow", dst / "workflow", ignore=ignore)
    shutil.copytree(REPO / "src", dst / "src", ignore=ignore)
    if (REPO / "envs").is_dir():  # conda environment files named by rules (metadata records them)
        shutil.copytree(REPO / "envs", dst / "envs")
    return dst / "Snakefile"


def test_feature_code_edit_reruns_feature_stage_onward(work, tmp_path):
    wf = tmp_path / "wf"
    wf.mkdir()
    snakefile = _copy_workflow(wf)
    assert planned_jobs(work, snakefile=snakefile) == set(), "an unchanged copy of the workflow must plan nothing"
    module = wf / "src/msaflow/features/covarep_like.py"
    module.write_text(module.read_text() + "\n# an edit of the feature code\n")
    planned = planned_jobs(work, snakefile=snakefile)
    assert planned == expected("acoustic", "words", "tokens", "train", "evaluate", "dataset_summary")
    # and editing only the trainer reruns only training and evaluation
    module.write_text(module.read_text().replace("\n# an edit of the feature code\n", ""))
    assert planned_jobs(work, snakefile=snakefile) == set()
    trainer = wf / "src/msaflow/training/trainer.py"
    trainer.write_text(trainer.read_text() + "\n# an edit of the trainer\n")
    assert planned_jobs(work, snakefile=snakefile) == expected("train", "evaluate")


def test_model_code_edit_reruns_only_that_models_jobs(work, tmp_path):
    # The built demo trained tbert only; CM-BERT's module is not part of tbert's code hash.
    wf = tmp_path / "wf"
    wf.mkdir()
    snakefile = _copy_workflow(wf)
    other = wf / "src/msaflow/models/cmbert.py"
    other.write_text(other.read_text() + "\n# an edit of another model\n")
    assert planned_jobs(work, snakefile=snakefile) == set()
    own = wf / "src/msaflow/models/tbert.py"
    own.write_text(own.read_text() + "\n# an edit of this model\n")
    assert planned_jobs(work, snakefile=snakefile) == expected("train", "evaluate")


def _add_video(corpus: Path, n_shards: int) -> tuple[str, str]:
    from msaflow.corpus import shard_of

    with open(corpus / "label.csv", newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    source = next(r["video_id"] for r in rows if r["mode"] == "train")
    new = f"{source}_extra"
    shutil.copytree(corpus / "Raw" / source, corpus / "Raw" / new)
    added = [{**r, "video_id": new} for r in rows if r["video_id"] == source]
    with open(corpus / "label.csv", "a", newline="") as f:
        csv.DictWriter(f, fieldnames=fields).writerows(added)
    return new, shard_of(new, n_shards)


def test_adding_one_video_reruns_only_its_shard(work):
    corpus = work / "work/demo/corpus"
    video, shard = _add_video(corpus, len(SHARDS))
    # Before the shard lists are rewritten, Snakemake cannot know which of them will change: a dry
    # run plans the manifest, every shard list and whatever depends on them, but never the corpus.
    first = planned_jobs(work)
    assert expected("manifest", "shard") <= first and "make_demo" not in first
    # Rewrite the manifest and the shard lists (cheap); only the new video's shard list changes bytes.
    before = {s: (work / f"work/demo/shards/{s}.tsv").read_bytes() for s in SHARDS}
    snakemake(work, "--", *(f"work/demo/shards/{s}.tsv" for s in SHARDS))
    changed = [s for s in SHARDS if (work / f"work/demo/shards/{s}.tsv").read_bytes() != before[s]]
    assert changed == [shard]
    planned = planned_jobs(work)
    assert planned == expected("audio", "align", "acoustic", "visual", "words", "words_visual", "tokens", "train",
                               "evaluate", "dataset_summary", shards=[shard])
    # and the real run of the per-shard stages does exactly that: the other shards' outputs are
    # untouched, and what is left to do is the new shard's visual job and the stages after the shards
    # (the rest of the run is the pipeline every other e2e test runs)
    others = [p for s in SHARDS if s != shard
              for p in (work / f"work/demo/audio/{s}.qc.tsv", work / f"work/demo/align/{s}.tsv",
                        work / f"work/demo/acoustic/{FSET}/{s}.h5")]
    mtimes = {p: p.stat().st_mtime_ns for p in others}
    snakemake(work, f"work/demo/align/{shard}.tsv", f"work/demo/acoustic/{FSET}/{shard}.h5")
    assert {p: p.stat().st_mtime_ns for p in others} == mtimes
    qc = (work / f"work/demo/audio/{shard}.qc.tsv").read_text()
    assert qc.count(f"{video}$_$") == 4
    assert planned_jobs(work) == expected("visual", "words", "words_visual", "tokens", "train", "evaluate",
                                          "dataset_summary", "align_all", "acoustic_all", shards=[shard])
