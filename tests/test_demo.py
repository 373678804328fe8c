"""The demo corpus: deterministic, valid MMSA layout, labels from the documented process."""

import hashlib
import json
import subprocess

import numpy as np
import pytest
import yaml
from conftest import REPO

from msaflow.common import MsaflowError
from msaflow.corpus import read_corpus
from msaflow.demo import best_achievable, load_spec, plan_clips

SPEC = REPO / "resources" / "demo" / "spec.yaml"


def test_plan_meets_the_brief():
    spec = load_spec(SPEC)
    plans = plan_clips(spec, seed=20261121)
    videos = {p.video_id for p in plans}
    assert len(plans) >= 300 and len(videos) >= 12
    split_of = {}
    for p in plans:
        assert split_of.setdefault(p.video_id, p.mode) == p.mode  # no video in two splits
    assert set(split_of.values()) == {"train", "valid", "test"}
    labels = np.array([p.label for p in plans])
    assert labels.min() >= -3 and labels.max() <= 3 and labels.std() > 0.8
    neutral = [p for p in plans if p.s_text == 0]
    assert len(neutral) > 0.2 * len(plans)
    # Neutral sentences still get labels spread by voice and picture.
    assert np.std([p.label for p in neutral]) > 0.5
    # Prosody follows s_audio: pitch, rate and loudness all increase with it.
    by_speaker = [p for p in plans if p.video_id == "demo_v01"]
    s_audio = [p.s_audio for p in by_speaker]
    for attribute in ("pitch", "rate", "amplitude", "glide_cents"):
        assert np.corrcoef(s_audio, [getattr(p, attribute) for p in by_speaker])[0, 1] > 0.95


def test_plan_is_deterministic_and_seeded():
    spec = load_spec(SPEC)
    assert plan_clips(spec, 5) == plan_clips(spec, 5)
    assert plan_clips(spec, 5) != plan_clips(spec, 6)


def test_speakers_get_their_photo_and_a_look_of_their_own():
    spec = load_spec(SPEC)
    plans = plan_clips(spec, seed=20261121)
    looks = {p.video_id: p.look for p in plans}
    assert len(set(looks.values())) == spec["videos"]
    assert [looks[f"demo_v{i + 1:02d}"].face for i in range(spec["videos"])] == [s["face"] for s in spec["speakers"]]
    assert len({p.motion_seed for p in plans}) > 0.95 * len(plans)


def test_faces_only_change_the_picture_not_the_labels():
    """Labels depend on the seed alone: which photos the speakers have does not change them."""
    spec = load_spec(SPEC)
    other = load_spec(SPEC)
    for speaker in other["speakers"]:
        speaker["face"] = "hopper"
    for a, b in zip(plan_clips(spec, 9), plan_clips(other, 9)):
        assert (a.text, a.label, a.s_vision, a.motion_seed) == (b.text, b.label, b.s_vision, b.motion_seed)


def test_spec_without_faces_is_a_clear_error(tmp_path):
    spec = yaml.safe_load(SPEC.read_text())
    del spec["speakers"][2]["face"]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(MsaflowError, match=r"speakers \[3\] have no 'face'"):
        load_spec(path)


def test_text_alone_cannot_reach_the_best_score():
    bounds = best_achievable(load_spec(SPEC), seed=1, draws=50_000)
    assert bounds["all_modalities"]["mae"] < 0.25 and bounds["all_modalities"]["corr"] > 0.95
    assert bounds["text_only"]["mae"] > 2 * bounds["all_modalities"]["mae"]
    assert bounds["text_only"]["corr"] < 0.85


@pytest.mark.e2e
def test_small_demo_corpus_is_real_media_and_reproducible(tmp_path):
    spec = yaml.safe_load(SPEC.read_text())
    spec.update(videos=3, clips_per_video=3, splits={"train": 1, "valid": 1, "test": 1})
    spec["faces"]["dir"] = str(SPEC.parent / spec["faces"]["dir"])
    small = tmp_path / "spec.yaml"
    small.write_text(yaml.safe_dump(spec))
    digests = []
    for run in ("a", "b"):
        root = tmp_path / run
        subprocess.run(["msaflow", "make-demo", "--spec", small, "--seed", "3", "--root", root, "--threads", "2"],
                       check=True, capture_output=True)
        files = sorted(root.rglob("*.mp4"))
        assert len(files) == 9
        digests.append({f.relative_to(root).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
                       | {"label.csv": (root / "label.csv").read_text()})
    assert digests[0] == digests[1]
    utterances = read_corpus(tmp_path / "a", n_shards=2)
    assert len(utterances) == 9
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json",
                            str(tmp_path / "a" / "Raw" / "demo_v01" / "1.mp4")], capture_output=True, text=True, check=True)
    assert sorted(s["codec_name"] for s in json.loads(probe.stdout)["streams"]) == ["aac", "h264"]
    process = json.loads((tmp_path / "a" / "generative_process.json").read_text())
    assert process["best_achievable"]["all_modalities"]["mae"] < process["best_achievable"]["text_only"]["mae"]
