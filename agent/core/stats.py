"""Order statistics shared by the store's host summaries and the report's utilisation figures."""

from __future__ import annotations

import math
from collections.abc import Sequence


def nearest_rank(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 < q ≤ 1) by the nearest-rank method: the ⌈q·n⌉-th smallest value.

    Always one of ``values`` (no interpolation), so a p95 is a value that was really seen.
    Raises ``ValueError`` for no values.
    """
    if not values:
        raise ValueError("nearest_rank of no values")
    ordered = sorted(values)
    # round() first: 0.07 * 100 is 7.000000000000001 in floating point, whose ceil would be 8.
    rank = max(1, math.ceil(round(q * len(ordered), 9)))
    return ordered[rank - 1]
