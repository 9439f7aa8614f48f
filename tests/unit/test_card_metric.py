"""The q-error of one cardinality estimate."""
from __future__ import annotations

import pytest

from pilotscope.Common.CardMetricCalc import q_error_calc


def test_the_q_error_is_the_factor_an_estimate_is_off_whichever_way():
    assert q_error_calc(10, 1000) == q_error_calc(1000, 10) == 100
    assert q_error_calc(42, 42) == 1


@pytest.mark.parametrize("estimated, true", [(0, 5), (5, 0), (-1, 5), (float("nan"), 5)])
def test_a_q_error_of_a_non_positive_cardinality_is_refused(estimated, true):
    with pytest.raises(ValueError, match="positive cardinalities"):
        q_error_calc(estimated, true)
