"""kexp.stats.ci95: the 95% t interval of a mean, None below two values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kexp.stats import ci95


def test_ci95_is_the_mean_plus_minus_t_times_the_standard_error():
    values = [0.8, 0.9, 1.0]
    mean = 0.9
    s = math.sqrt(((0.8 - mean) ** 2 + (1.0 - mean) ** 2) / (3 - 1))  # sample std = 0.1
    t = 4.302652729911275  # t(0.975, 2 degrees of freedom), from statistical tables
    half = t * s / math.sqrt(3)
    assert ci95(values) == pytest.approx((mean - half, mean + half), rel=1e-9)
    assert ci95(values) == pytest.approx((0.65159, 1.14841), abs=1e-5)


def test_ci95_of_two_values_uses_one_degree_of_freedom():
    low, high = ci95(np.array([1.0, 3.0]))
    half = 12.706204736174698 * math.sqrt(2.0) / math.sqrt(2)  # t(0.975, 1) * s / sqrt(n)
    assert (low, high) == pytest.approx((2.0 - half, 2.0 + half))


def test_ci95_of_equal_values_is_a_point():
    assert ci95([0.5, 0.5, 0.5, 0.5]) == pytest.approx((0.5, 0.5))


@pytest.mark.parametrize("values", [[], [0.7]], ids=["none", "one"])
def test_ci95_is_none_below_two_values(values):
    assert ci95(values) is None


def test_ci95_returns_plain_floats():
    interval = ci95((1, 2, 3))
    assert interval is not None
    assert all(type(bound) is float for bound in interval)
