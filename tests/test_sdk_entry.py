"""Entry from CMU-MultimodalSDK files: segments, words (sp dropped), frames, folds."""


import numpy as np
from sdk_fixture import pick_videos, write_sdk_dataset

from msaflow.cli import main as cli_main
from msaflow.common import read_qc, read_tsv
from msaflow.features.csd import read_csd
from msaflow.folds import apply_standard_folds, standard_folds
from msaflow.sdk_entry import read_segments


def test_standard_mosi_folds_have_the_published_sizes():
    folds = standard_folds("mosi")
    assert [sum(m == mode for m in folds.values()) for mode in ("train", "valid", "test")] == [52, 10, 31]


def test_fold_disagreement_is_overridden_with_a_warning():
    folds = {"a": "train", "b": "test"}
    modes, warnings = apply_standard_folds({"a": "test", "b": "test", "c": "valid"}, folds)
    assert modes == {"a": "train", "b": "test", "c": "valid"}
    assert "1 video(s) have a mode that disagrees" in warnings[0] and "a: test -> train" in warnings[0]
    assert "in no standard fold" in warnings[1]


def test_segments_words_and_labels(tmp_path):
    expected = write_sdk_dataset(tmp_path)
    segments, problems = read_segments(tmp_path / "CMU_MOSI_Opinion_Labels.csd",
                                       tmp_path / "CMU_MOSI_TimestampedWords.csd")
    assert problems == []
    assert {s.utterance_id: ([w for w, _, _ in s.words], round(s.label, 3)) for s in segments} == \
        {uid: (words, round(label, 3)) for uid, (words, label) in expected.items()}
    first = segments[0]
    assert first.words[0][1] == 0.0  # times are relative to the segment start
    assert all(0 <= s <= e <= first.end - first.start + 1e-6 for _, s, e in first.words)


def test_sdk_stages_write_pipeline_contracts(tmp_path):
    write_sdk_dataset(tmp_path / "sdk")
    sdk = tmp_path / "sdk"
    manifest, qc = tmp_path / "manifest.tsv", tmp_path / "manifest.qc.tsv"
    assert cli_main(["sdk-manifest", "--labels", str(sdk / "CMU_MOSI_Opinion_Labels.csd"), "--words",
                     str(sdk / "CMU_MOSI_TimestampedWords.csd"), "--folds", "mosi", "--shards", "1",
                     "--out", str(manifest), "--qc", str(qc)]) == 0
    rows = read_tsv(manifest)
    assert len(rows) == 20
    folds = standard_folds("mosi")
    assert all(r["mode"] == folds[r["video_id"]] for r in rows)
    assert cli_main(["shard", "--manifest", str(manifest), "--shard", "s000", "--out", str(tmp_path / "s000.tsv")]) == 0
    assert cli_main(["sdk-align", "--shard-manifest", str(tmp_path / "s000.tsv"),
                     "--labels", str(sdk / "CMU_MOSI_Opinion_Labels.csd"), "--words", str(sdk / "CMU_MOSI_TimestampedWords.csd"),
                     "--out", str(tmp_path / "align.tsv"), "--qc", str(tmp_path / "align.qc.tsv")]) == 0
    table = read_tsv(tmp_path / "align.tsv")
    assert "sp" not in {r["word"] for r in table}
    assert {r["source"] for r in table} == {"sdk"}
    assert cli_main(["sdk-acoustic", "--shard-manifest", str(tmp_path / "s000.tsv"), "--align-qc",
                     str(tmp_path / "align.qc.tsv"), "--acoustic", str(sdk / "CMU_MOSI_COVAREP.csd"),
                     "--out", str(tmp_path / "covarep.h5"), "--qc", str(tmp_path / "covarep.qc.tsv")]) == 0
    frames, meta = read_csd(tmp_path / "covarep.h5")
    assert len(frames) == 20 and meta["column names"][:2] == ["F0", "VUV"] and len(meta["column names"]) == 74
    features, intervals = frames[f"{pick_videos()[0]}$_$1"]
    assert features.shape[1] == 74 and np.isnan(features[:, 5]).any() and not np.isinf(features).any()
    assert intervals[0, 0] < 0.01 + 1e-9  # relative to the segment start
    assert {s for s, _ in read_qc(tmp_path / "covarep.qc.tsv").values()} == {"ok"}
