"""Word averaging: CMU-MultimodalSDK semantics, nanmean mode, vectorised == reference loop."""

import numpy as np
import pytest

from msaflow.features import word_average as W


def grid(n, hop=0.01):
    s = np.arange(n) * hop
    return np.stack([s, s + hop], axis=1)


def test_plain_mean_overlap_epsilon():
    feats = np.arange(10, dtype=float)[:, None]
    words = np.array([[0.0, 0.03], [0.03 - 5e-6, 0.05], [0.095, 0.2]])
    out = W.average(feats, grid(10), words, mode="mean")
    assert out[0, 0] == pytest.approx(1.0)  # frames 0,1,2 (frame 3 overlaps by 0)
    assert out[1, 0] == pytest.approx(3.5)  # frames 3,4: frame 2 overlaps by 5e-6 < 1e-5
    assert out[2, 0] == pytest.approx(9.0)  # only frame 9 exists there


def test_short_word_gets_touching_frame_and_missing_word_gets_fill():
    feats = np.arange(10, dtype=float)[:, None]
    words = np.array([[0.042, 0.044], [0.05, 0.05], [0.5, 0.6]])
    out = W.average(feats, grid(10), words, mode="mean", fill_value=-7.0)
    assert out[0, 0] == 4.0
    assert out[1, 0] in (4.0, 5.0)
    assert out[2, 0] == -7.0


def test_nanmean_vs_mean_on_unvoiced_frames():
    feats = np.array([[1.0], [np.nan], [3.0], [np.nan]])
    words = np.array([[0.0, 0.03], [0.03, 0.04]])
    nan = W.average(feats, grid(4), words, mode="nanmean")
    plain = W.average(feats, grid(4), words, mode="mean", fill_value=0.0)
    assert nan[0, 0] == pytest.approx(2.0)
    assert np.isnan(nan[1, 0])  # all frames undefined: left for the fill step
    assert plain[0, 0] == pytest.approx(4.0 / 3.0)
    assert plain[1, 0] == 0.0


def test_vectorised_equals_reference_loop():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(300, 5))
    feats[rng.random(feats.shape) < 0.3] = np.nan
    starts = np.sort(rng.uniform(0, 3.2, 40))
    words = np.stack([starts, starts + rng.choice([0.0, 0.004, 0.05, 0.3], 40)], axis=1)
    for mode in ("mean", "nanmean"):
        a = W.average(feats, grid(300), words, mode=mode, fill_value=0.5)
        b = W.average_reference(feats, grid(300), words, mode=mode, fill_value=0.5)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_infinite_frame_values_are_undefined_and_do_not_poison_later_words():
    """One +-inf frame must only be an undefined value of its own word, not NaN in every later word
    (inf - inf in the prefix sums)."""
    feats = np.arange(12, dtype=float)[:, None].repeat(2, axis=1)
    feats[3, 0], feats[4, 1] = np.inf, -np.inf
    words = np.array([[0.0, 0.03], [0.03, 0.06], [0.06, 0.09], [0.09, 0.12]])
    nan = W.average(feats, grid(12), words, mode="nanmean")
    np.testing.assert_allclose(nan[:, 0], [1.0, 4.5, 7.0, 10.0])  # word 1: frames 4, 5 (frame 3 undefined)
    np.testing.assert_allclose(nan[:, 1], [1.0, 4.0, 7.0, 10.0])  # word 1: frames 3, 5
    plain = W.average(feats, grid(12), words, mode="mean", fill_value=0.0)
    np.testing.assert_allclose(plain[:, 0], [1.0, 3.0, 7.0, 10.0])  # (0 + 4 + 5) / 3
    assert np.isfinite(plain).all()
    for mode in ("mean", "nanmean"):
        np.testing.assert_allclose(W.average(feats, grid(12), words, mode=mode),
                                   W.average_reference(feats, grid(12), words, mode=mode))


def test_bad_mode():
    with pytest.raises(ValueError):
        W.average(np.zeros((2, 1)), grid(2), np.array([[0, 0.01]]), mode="median")
