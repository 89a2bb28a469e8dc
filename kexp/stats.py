"""The one confidence interval of kexp: a 95% Student-t interval of a mean over folds."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

__all__ = ["ci95"]


def ci95(values: Iterable[float]) -> tuple[float, float] | None:
    """The 95% confidence interval of the mean of ``values``, or ``None`` below two values.

    ``mean ± t(0.975, n-1) · s / sqrt(n)``, with ``s`` the sample standard
    deviation (``ddof=1``) and ``t`` Student's t quantile (:data:`scipy.stats.t`).

    >>> [round(bound, 4) for bound in ci95([0.8, 0.9, 1.0])]
    [0.6516, 1.1484]
    >>> ci95([0.8]) is None
    True
    """
    array = np.asarray(list(values), dtype=float)
    n = len(array)
    if n < 2:
        return None
    from scipy import stats

    mean = float(array.mean())
    half = float(stats.t.ppf(0.975, n - 1)) * float(array.std(ddof=1)) / math.sqrt(n)
    return mean - half, mean + half
