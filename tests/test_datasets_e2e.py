"""Dataset entry points end to end: a small raw MMSA-layout corpus and small CMU-MultimodalSDK files
both reach results/tbert_<dataset>.json; absent data stops the first rule with a message."""

import json

import pytest
import yaml
from e2e_pipeline import snakemake, write_config, write_small_spec
from sdk_fixture import write_sdk_dataset, write_sdk_visual

pytestmark = pytest.mark.e2e


def _config(work, spec, datasets):
    path = write_config(work, spec)
    config = yaml.safe_load(path.read_text())
    config["datasets"].update(datasets)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_sdk_entry_reaches_results(tmp_path):
    expected = write_sdk_dataset(tmp_path / "sdk", segments_per_video=6)
    work = tmp_path / "work"
    _config(work, write_small_spec(tmp_path / "spec.yaml"),
            {"sdktest": {"root": str(tmp_path / "sdk"), "source": "auto", "folds": "mosi", "shards": 2}})
    snakemake(work, "results/tbert_sdktest.json", "results/dataset_sdktest.json")
    result = json.loads((work / "results/tbert_sdktest.json").read_text())
    summary = json.loads((work / "results/dataset_sdktest.json").read_text())
    assert summary["utterances"] == len(expected) == 30
    assert summary["utterances_per_split"] == {"train": 18, "valid": 6, "test": 6}
    assert summary["words_per_utterance"]["n"] == 30
    assert result["dataset_summary"]["utterances"] == 30
    # no media stage ran for an SDK dataset: the words came from the SDK, frames from its COVAREP
    assert not (work / "work/sdktest/audio").exists()
    table = (work / "work/sdktest/align/s000.tsv").read_text() + (work / "work/sdktest/align/s001.tsv").read_text()
    assert "\tsdk\n" in table and "\tsp\t" not in table
    assert (work / "work/sdktest/words/covarep.csd").exists()


def test_sdk_visual_file_reaches_visual_words_and_exports(tmp_path):
    """A FACET file in the SDK folder: sdk-visual cuts it per utterance, its word averages are built
    (words.done) and they are the vision of the COVAREP exports."""
    import pickle

    write_sdk_dataset(tmp_path / "sdk", segments_per_video=2)
    names = write_sdk_visual(tmp_path / "sdk")
    work = tmp_path / "work"
    _config(work, write_small_spec(tmp_path / "spec.yaml"),
            {"sdktest": {"root": str(tmp_path / "sdk"), "source": "auto", "folds": "mosi", "shards": 2}})
    snakemake(work, "work/sdktest/words.done", "work/sdktest/exports/covarep_mag.pkl")
    assert (work / "work/sdktest/visual/facet42/s000.h5").exists()
    assert (work / "work/sdktest/words/facet42.csd").exists()
    mag = pickle.load(open(work / "work/sdktest/exports/covarep_mag.pkl", "rb"))
    (words, visual, acoustic), _, _ = mag["train"][0]
    assert visual.shape == (len(words), len(names)) and acoustic.shape == (len(words), 74)
    assert visual.any()


def test_raw_corpus_reaches_results_with_summary(small_demo, tmp_path):
    # the session's small demo corpus (MMSA layout: label.csv + Raw/), read in place as a user's raw corpus
    corpus = small_demo / "work/demo/corpus"
    work = tmp_path / "work"
    _config(work, write_small_spec(tmp_path / "spec.yaml"), {"rawtest": {"root": str(corpus), "source": "raw", "shards": 2}})
    snakemake(work, "results/tbert_rawtest.json")
    result = json.loads((work / "results/tbert_rawtest.json").read_text())
    summary = result["dataset_summary"]
    assert summary["utterances"] == 24 and summary["videos"] == 6
    assert summary["duration_s"]["n"] == 24 and summary["duration_s"]["mean"] > 0.5
    assert summary["qc"]["audio"]["ok"] == 24


def test_absent_data_stops_with_where_to_put_what(tmp_path):
    work = tmp_path / "work"
    _config(work, write_small_spec(tmp_path / "spec.yaml"),
            {"mosi": {"root": str(tmp_path / "nothing_here"), "folds": "mosi", "shards": 2}})
    result = snakemake(work, "--dry-run", "results/cmbert_mosi.json", check=False)
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "no data in" in text and "label.csv" in text and "CMU_MOSI_TimestampedWords.csd" in text
    assert "Raw/<video_id>/<clip_id>.mp4" in text
    # the message alone: checked before the DAG is built, not wrapped in an input-function traceback
    assert "Exception" not in text and "Traceback" not in text and "File " not in text, text
