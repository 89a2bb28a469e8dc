"""Parameter sets of a sweep, from scikit-learn's ``ParameterGrid`` and ``ParameterSampler``.

A distribution becomes the matching ``scipy.stats`` one (``uniform``, ``loguniform``,
``randint``); values come back as plain Python numbers, so they can be written into
YAML and compared across processes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kexp.spec.sweep import Distribution, SweepConfig


def _scipy(dist: Distribution) -> Any:
    from scipy import stats

    low, high = dist.bounds
    if dist.kind == "uniform":
        return stats.uniform(low, high - low)
    if dist.kind == "loguniform":
        return stats.loguniform(low, high)
    return stats.randint(low, high)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def parameter_sets(cfg: SweepConfig, seed: int) -> list[dict[str, Any]]:
    """Every parameter set the sweep tries, in order, keyed by spec path (the spec's order)."""
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    space = {
        path: _scipy(value) if isinstance(value, Distribution) else list(value)
        for path, value in cfg.parameters.items()
    }
    if cfg.method == "grid":
        sets = list(ParameterGrid(space))
    else:
        assert cfg.trials is not None
        sets = list(ParameterSampler(space, n_iter=cfg.trials,
                                     random_state=cfg.seed if cfg.seed is not None else seed))
    order = list(cfg.parameters)
    return [{path: _plain(params[path]) for path in order} for params in sets]


def grid_size(cfg: SweepConfig) -> int:
    """How many sets a grid of these lists has."""
    return int(np.prod([len(v) for v in cfg.parameters.values() if isinstance(v, list)]))
