"""egemaps / compare shapes and metadata; registry metadata for every set."""

import numpy as np
import pytest

from msaflow.features import registry
from msaflow.features import synthetic as S

SR = 16000


@pytest.mark.parametrize("fset,dim", [("egemaps", 25), ("compare", 65), ("covarep_like", 74)])
def test_shapes_and_metadata(fset, dim):
    x = S.utterance(SR, 1.5, seed=2)
    ff = registry.extract(fset, x, SR)
    assert ff.features.shape == (150, dim) and ff.features.dtype == np.float32
    assert ff.intervals.shape == (150, 2)
    np.testing.assert_allclose(np.diff(ff.intervals[:, 0]), 0.01)
    cols = registry.columns(fset)
    assert len(cols) == dim and len({c.name for c in cols}) == dim
    assert all(c.quality in ("exact-method", "approximation", "substitute") for c in cols)
    # a column may be NaN only where documented
    for j, c in enumerate(cols):
        if not c.nan_when:
            assert np.isfinite(ff.features[:, j]).all(), (fset, c.name)
    # no undocumented all-zero column
    for j, c in enumerate(cols):
        col = ff.features[:, j]
        assert not np.all(np.nan_to_num(col) == 0) or c.nan_when or c.name in ("creak",), (fset, c.name)
    assert registry.settings(fset)["libraries"]


def test_egemaps_f0_semitones_and_unvoiced_nan():
    x = np.concatenate([S.vowel(200.0, SR, 0.6), np.zeros(SR // 2)])
    ff = registry.extract("egemaps", x, SR)
    names = [c.name for c in registry.columns("egemaps")]
    f0 = ff.features[:, names.index("F0semitoneFrom27.5Hz_sma3nz")]
    expected = 12 * np.log2(200.0 / 27.5)
    assert abs(np.nanmedian(f0[10:50]) - expected) < 0.5
    assert np.isnan(f0[70:]).all()


def test_unknown_set_is_user_error():
    from msaflow.common import MsaflowError

    with pytest.raises(MsaflowError):
        registry.columns("nope")


@pytest.mark.parametrize("fset,offset", [("egemaps", 0), ("compare", 2)])
def test_each_opensmile_frame_is_taken_once_in_order(fset, offset):
    """Our grid centres lie exactly halfway between two opensmile centres; the tie must not be left
    to floating-point noise (it duplicated or skipped ~10 % of the frames). eGeMAPS frame k starts
    at k * 10 ms (centre k * 10 ms + 10 ms): grid frame k takes it; ComParE's index has 60 ms
    windows (centre k * 10 ms + 30 ms): grid frame k takes frame k - 2. (opensmile's last frames have
    truncated windows, so their centres are irregular; the check stops before them.)"""
    from msaflow.features import opensmile_sets

    x = S.utterance(SR, 3.7, seed=4)
    ff = registry.extract(fset, x, SR)
    values = opensmile_sets._smile(fset).process_signal(x.astype(np.float32), SR).to_numpy(dtype=np.float64)
    interior = len(values) - 2
    expected = np.clip(np.arange(interior) - offset, 0, None)
    checked = 0
    for j, column in enumerate(registry.columns(fset)):
        if column.nan_when:
            continue
        np.testing.assert_array_equal(ff.features[:interior, j], values[expected, j].astype(np.float32),
                                      err_msg=column.name)
        checked += 1
    assert checked >= 5


def test_nearest_frames_tie_goes_to_the_later_frame_and_ends_are_clamped():
    from msaflow.features.opensmile_sets import nearest_frames

    smile = np.arange(1, 6) * 0.01  # 0.01 .. 0.05
    grid = (np.arange(8) + 0.5) * 0.01  # 0.005 .. 0.075, each halfway between two smile centres
    noisy = grid + np.where(np.arange(8) % 2 == 0, 1e-12, -1e-12)
    for g in (grid, noisy):
        np.testing.assert_array_equal(nearest_frames(g, smile), [0, 1, 2, 3, 4, 4, 4, 4])
    np.testing.assert_array_equal(nearest_frames(np.array([0.0101, 0.0149, 0.02]), smile), [0, 0, 1])
    np.testing.assert_array_equal(nearest_frames(grid[:3], np.array([0.02])), [0, 0, 0])
