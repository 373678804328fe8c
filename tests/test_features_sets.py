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
