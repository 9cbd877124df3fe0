"""The nearest-rank quantile against hand-counted ranks."""

from __future__ import annotations

import pytest

from agent.core.stats import nearest_rank


def test_a_single_value_is_every_quantile() -> None:
    assert nearest_rank([5.0], 0.95) == 5.0
    assert nearest_rank([5.0], 0.01) == 5.0


def test_p95_of_one_to_a_hundred_is_the_95th_smallest() -> None:
    # ⌈0.95·100⌉ = 95 → the 95th smallest of 1..100, whatever the input order.
    assert nearest_rank([float(v) for v in range(100, 0, -1)], 0.95) == 95.0


def test_p95_of_twenty_values_is_the_19th() -> None:
    # ⌈0.95·20⌉ = ⌈19⌉ = 19 → 19.0, not the maximum 20.0.
    assert nearest_rank([float(v) for v in range(1, 21)], 0.95) == 19.0


def test_p95_of_ten_values_is_the_maximum() -> None:
    # ⌈0.95·10⌉ = ⌈9.5⌉ = 10 → the largest of ten.
    assert nearest_rank([3.0, 9.0, 1.0, 7.0, 5.0, 2.0, 8.0, 4.0, 10.0, 6.0], 0.95) == 10.0


def test_median_of_four_is_the_second_smallest() -> None:
    # ⌈0.5·4⌉ = 2 → 2nd smallest; nearest rank never averages the two middle values.
    assert nearest_rank([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0


def test_float_noise_in_q_times_n_does_not_push_the_rank_up() -> None:
    # 0.07·100 is 7.000000000000001 in binary floating point; the rank is still ⌈7⌉ = 7.
    assert nearest_rank([float(v) for v in range(1, 101)], 0.07) == 7.0


def test_a_tiny_quantile_is_the_smallest_value() -> None:
    # ⌈0.001·3⌉ = ⌈0.003⌉ = 1 → the smallest.
    assert nearest_rank([2.0, 1.0, 3.0], 0.001) == 1.0


def test_no_values_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        nearest_rank([], 0.95)
