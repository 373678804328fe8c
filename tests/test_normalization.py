"""Per-speaker z-normalisation (msaflow.normalization): hand-computed statistics and fallbacks."""

import numpy as np
import pytest

from msaflow.common import MsaflowError
from msaflow.normalization import SpeakerNorm, fit_speaker_norm, scope_of, speaker_of


def test_each_speaker_is_centred_and_scaled_by_its_own_statistics():
    # speaker a: values 1, 3 (mean 2, std 1); speaker b: 10, 30 (mean 20, std 10), column 0
    values = {"a1": np.array([[1.0, 5.0]]), "a2": np.array([[3.0, 5.0]]),
              "b1": np.array([[10.0, np.nan]]), "b2": np.array([[30.0, 7.0]])}
    speakers = {"a1": "a", "a2": "a", "b1": "b", "b2": "b"}
    norm = fit_speaker_norm(values, speakers, ["a1", "a2"], 2, min_utterances=2)
    np.testing.assert_allclose(norm.apply("a", values["a1"])[0, 0], -1.0)
    np.testing.assert_allclose(norm.apply("b", values["b2"])[0, 0], 1.0)
    # column 1: constant within a -> 0 after centring; b defines it once -> the train fallback
    # (train = a's utterances: mean 5, std 0 -> 1)
    assert norm.apply("a", values["a1"])[0, 1] == 0.0
    np.testing.assert_allclose(norm.apply("b", values["b2"])[0, 1], 2.0)
    assert np.isnan(norm.apply("b", values["b1"])[0, 1])  # undefined stays undefined: the fill step decides
    assert norm.metadata()["n_speakers"] == 2 and norm.metadata()["fallback_speakers"] == []


def test_a_speaker_with_too_few_utterances_gets_the_train_statistics():
    values = {"a1": np.array([[0.0]]), "a2": np.array([[2.0]]), "lone": np.array([[4.0]])}
    norm = fit_speaker_norm(values, {"a1": "a", "a2": "a", "lone": "z"}, ["a1", "a2"], 1, min_utterances=2)
    # train statistics: mean 1, std 1, so the lone clip keeps its distance from the train mean
    np.testing.assert_allclose(norm.apply("z", values["lone"]), [[3.0]])
    assert norm.metadata()["fallback_speakers"] == ["z"]
    # predict's path: only the metadata, an unknown speaker
    restored = SpeakerNorm.from_metadata(norm.metadata())
    np.testing.assert_allclose(restored.apply(None, values["lone"]), [[3.0]])


def test_bad_input_is_named():
    with pytest.raises(MsaflowError, match="'x' has no speaker"):
        fit_speaker_norm({"x": np.zeros((1, 1))}, {}, ["x"], 1)
    with pytest.raises(MsaflowError, match="no train-split"):
        fit_speaker_norm({"x": np.zeros((1, 1))}, {"x": "s"}, [], 1)
    with pytest.raises(MsaflowError, match="words.znorm"):
        scope_of("per-video")


def test_scope_and_speaker_key():
    assert (scope_of(True), scope_of(False), scope_of("speaker")) == ("train", "none", "speaker")
    assert speaker_of({"video_id": "v1"}) == "v1"
    assert speaker_of({"video_id": "v1", "speaker": "anna"}) == "anna"
