"""Corpus validation: every listed defect is reported with its line and a fix; shards are stable."""

import csv
from pathlib import Path

import pytest

from msaflow.cli import main as cli_main
from msaflow.common import MsaflowError
from msaflow.corpus import MANIFEST_COLUMNS, read_corpus, read_manifest, shard_of, write_manifest, write_shard

HEADER = ["video_id", "clip_id", "text", "label", "annotation", "mode"]


def make_corpus(root: Path, rows, header=HEADER, media=True):
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "label.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    if media:
        for row in rows:
            record = dict(zip(header, row))
            if record.get("video_id") and record.get("clip_id"):
                path = root / "Raw" / record["video_id"] / f"{record['clip_id']}.mp4"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"not really media; validation only checks presence")
    return root


GOOD = [
    ["vid_a", "1", "it was great", "1.4", "Positive", "train"],
    ["vid_a", "2", "it was bad", "-2", "Negative", "train"],
    ["vid_b", "1", "so so", "0", "Neutral", "test"],
]


def problems_for(tmp_path, rows, **kwargs):
    root = make_corpus(tmp_path / "corpus", rows, **kwargs)
    with pytest.raises(MsaflowError) as caught:
        read_corpus(root, n_shards=4)
    return str(caught.value)


def test_good_corpus_reads_all_rows(tmp_path):
    utterances = read_corpus(make_corpus(tmp_path / "c", GOOD), n_shards=4)
    assert [u.utterance_id for u in utterances] == ["vid_a$_$1", "vid_a$_$2", "vid_b$_$1"]
    assert utterances[1].label == -2.0


def test_unimodal_labels_reach_the_manifest_not_the_shards(tmp_path):
    header = HEADER + ["label_T", "label_A", "label_V"]
    rows = [GOOD[0] + ["1", "0.5", "-1"], GOOD[1] + ["", "", ""], GOOD[2] + ["0", "0", "0"]]
    manifest = tmp_path / "m.tsv"
    write_manifest(read_corpus(make_corpus(tmp_path / "c", rows, header=header), n_shards=1), manifest)
    by_id = {r["utterance_id"]: r for r in read_manifest(manifest)}
    assert [by_id["vid_a$_$1"][c] for c in ("label_T", "label_A", "label_V")] == ["1.0", "0.5", "-1.0"]
    assert by_id["vid_a$_$2"]["label_T"] == ""
    write_shard(manifest, "s000", tmp_path / "s000.tsv")
    assert "label_T" not in read_manifest(tmp_path / "s000.tsv")[0]
    message = problems_for(tmp_path / "bad", [GOOD[0] + ["x", "0", "0"]], header=header)
    assert "must be numbers or empty" in message


def test_missing_columns_are_named(tmp_path):
    message = problems_for(tmp_path, [r[:4] for r in GOOD], header=HEADER[:4])
    assert "missing column(s) annotation, mode" in message


def test_duplicate_clip_names_both_lines(tmp_path):
    message = problems_for(tmp_path, GOOD + [["vid_a", "2", "again", "1", "Positive", "train"]])
    assert "line 5 (vid_a/2): duplicate (video_id, clip_id), first on line 3" in message


@pytest.mark.parametrize("label, expected", [
    ("", "is missing or not a number"),
    ("nan", "is missing or not a number"),
    ("abc", "is missing or not a number"),
    ("3.5", "outside [-3, 3]"),
    ("-4", "outside [-3, 3]"),
])
def test_bad_labels(tmp_path, label, expected):
    message = problems_for(tmp_path, GOOD + [["vid_c", "1", "text", label, "Positive", "train"]])
    assert "line 5 (vid_c/1): label" in message and expected in message


def test_unknown_mode(tmp_path):
    message = problems_for(tmp_path, GOOD + [["vid_c", "1", "text", "1", "Positive", "dev"]])
    assert "line 5 (vid_c/1): unknown mode 'dev'; use one of train, valid, test" in message


def test_empty_text(tmp_path):
    message = problems_for(tmp_path, GOOD + [["vid_c", "1", "  ", "1", "Positive", "train"]])
    assert "line 5 (vid_c/1): empty text" in message


def test_missing_media(tmp_path):
    root = make_corpus(tmp_path / "corpus", GOOD)
    (root / "Raw" / "vid_b" / "1.mp4").unlink()
    with pytest.raises(MsaflowError, match=r"line 4 \(vid_b/1\): media file missing: expected .*vid_b/1\.<mp4\|"):
        read_corpus(root, n_shards=2)


def test_start_not_before_end(tmp_path):
    header = HEADER + ["start", "end"]
    rows = [r + ["0", "2.5"] for r in GOOD] + [["vid_c", "1", "text", "1", "Positive", "train", "3.0", "3.0"]]
    message = problems_for(tmp_path, rows, header=header)
    assert "line 5 (vid_c/1): start 3.0 >= end 3.0" in message


def test_all_problems_reported_at_once(tmp_path):
    rows = GOOD + [["vid_c", "1", "", "9", "Positive", "nope"], ["vid_d", "1", "ok", "x", "Positive", "train"]]
    message = problems_for(tmp_path, rows)
    assert "4 problem(s) found" in message


def test_video_in_two_splits_is_rejected(tmp_path):
    message = problems_for(tmp_path, GOOD + [["vid_b", "2", "text", "1", "Positive", "train"]])
    assert "video vid_b appears in both test and train" in message


def test_missing_label_csv_says_what_a_corpus_is(tmp_path):
    with pytest.raises(MsaflowError, match="label.csv not found. A corpus folder holds label.csv"):
        read_corpus(tmp_path, n_shards=1)


def test_shard_assignment_is_stable_and_by_video():
    # Fixed expectations: a change of hash function would silently reshuffle every user's cache.
    assert [shard_of(v, 8) for v in ("03bSnISJMiM", "_dI--eQ6qVU", "demo_v01")] == ['s005', 's006', 's003']
    assert {shard_of(f"video{i}", 4) for i in range(200)} == {"s000", "s001", "s002", "s003"}


def test_shard_files_change_only_for_the_touched_shard(tmp_path):
    rows = [[f"v{i}", str(c), "words here", "0.5", "Positive", "train"] for i in range(12) for c in range(2)]
    root = make_corpus(tmp_path / "c", rows)
    manifest = tmp_path / "manifest.tsv"
    write_manifest(read_corpus(root, 4), manifest)
    before = {}
    for k in range(4):
        write_shard(manifest, f"s{k:03d}", tmp_path / f"before_{k}.tsv")
        before[k] = (tmp_path / f"before_{k}.tsv").read_bytes()
    new_video = ["v_new", "1", "new words", "1", "Positive", "train"]
    root = make_corpus(tmp_path / "c", rows + [new_video])
    write_manifest(read_corpus(root, 4), manifest)
    changed = []
    for k in range(4):
        write_shard(manifest, f"s{k:03d}", tmp_path / f"after_{k}.tsv")
        if (tmp_path / f"after_{k}.tsv").read_bytes() != before[k]:
            changed.append(f"s{k:03d}")
    assert changed == [shard_of("v_new", 4)]


def test_manifest_columns_and_cli_error_exit(tmp_path, capsys):
    root = make_corpus(tmp_path / "c", GOOD + [["vid_c", "1", "fine", "0.6", "Positive", "valid"]])
    out = tmp_path / "m.tsv"
    assert cli_main(["manifest", "--root", str(root), "--shards", "2", "--out", str(out)]) == 0
    rows = read_manifest(out)
    assert list(rows[0]) == list(MANIFEST_COLUMNS) and len(rows) == 4
    (root / "label.csv").write_text("video_id,clip_id\nx,1\n")
    assert cli_main(["validate-corpus", str(root)]) == 2
    assert "missing column(s) text, label, annotation, mode" in capsys.readouterr().err


def test_empty_media_file_is_reported_in_validation(tmp_path):
    root = make_corpus(tmp_path / "corpus", GOOD)
    (root / "Raw/vid_b/1.mp4").write_bytes(b"")
    with pytest.raises(MsaflowError, match=r"line 4 \(vid_b/1\): empty file \(0 bytes\): .*vid_b/1.mp4"):
        read_corpus(root, n_shards=1)


def test_a_split_without_utterances_fails_validation_and_manifest_naming_the_fix(tmp_path, capsys):
    rows = GOOD + [["vid_c", "1", "more", "1", "Positive", "train"], ["vid_d", "1", "and more", "1", "Positive", "train"],
                   ["vid_d", "2", "again", "1", "Positive", "train"]]
    root = make_corpus(tmp_path / "corpus", rows)
    assert cli_main(["validate-corpus", str(root)]) == 2
    message = capsys.readouterr().err
    assert "split 'valid' has no utterances (train 5, valid 0, test 1)" in message
    # whole videos of the largest split, the smallest first
    assert "set mode=valid on every row of some train videos" in message
    assert "e.g. vid_c (1 utterance), vid_a (2 utterances), vid_d (2 utterances); train has 3 videos" in message
    assert cli_main(["manifest", "--root", str(root), "--shards", "2", "--out", str(tmp_path / "m.tsv")]) == 2
    assert "split 'valid' has no utterances" in capsys.readouterr().err
    assert not (tmp_path / "m.tsv").exists()
    # with one valid video it passes
    make_corpus(root, rows + [["vid_e", "1", "valid now", "0", "Neutral", "valid"]])
    assert cli_main(["validate-corpus", str(root)]) == 0
