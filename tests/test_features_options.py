"""Extractor options from config (acoustic.options.<fset>) reach the extractor and are checked."""

import numpy as np
import pytest

from msaflow.common import MsaflowError
from msaflow.features import registry
from msaflow.features.covarep_like import IDX
from msaflow.features.synthetic import vowel


def test_pitch_range_option_changes_the_f0_search():
    x = vowel(120.0, duration=0.8)
    default = registry.extract("covarep_like", x, 16000)
    f0 = default.features[:, IDX["F0"]]
    assert np.nanmedian(f0) == pytest.approx(120.0, rel=0.01)
    narrowed = registry.extract("covarep_like", x, 16000, {"f0_min": 200, "f0_max": 500})
    f0_narrow = narrowed.features[:, IDX["F0"]]
    # 120 Hz lies outside the search range: no frame may report it.
    assert not np.any(np.abs(f0_narrow[np.isfinite(f0_narrow)] - 120.0) < 10)
    assert registry.settings("covarep_like", {"f0_min": 200, "f0_max": 500})["f0_min"] == 200


@pytest.mark.parametrize("fset, options, message", [
    ("covarep_like", {"f0_floor": 60}, "unknown option"),
    ("egemaps", {"f0_min": 60}, "allowed: none"),
])
def test_unknown_options_are_rejected(fset, options, message):
    with pytest.raises(MsaflowError, match=message):
        registry.check_options(fset, options)


def test_inverted_pitch_range_is_a_clear_error():
    with pytest.raises(MsaflowError, match="0 < f0_min < f0_max"):
        registry.extract("covarep_like", vowel(120.0, duration=0.3), 16000, {"f0_min": 300, "f0_max": 100})
