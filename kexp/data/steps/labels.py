"""Label maps (``preprocess.labels``): turn the raw labels into the task's labels.

``{binary: {positive: [0, 2, 4, 6, 8]}}`` makes "is the digit even" out of MNIST's
digits; ``{map: {0: zero, 1: one}}`` renames or merges classes. Applied before y is
encoded, to every part (train, validation, test) and to ``kexp predict``'s labels,
so ``predictions.csv`` compares mapped labels with predicted ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kexp.errors import DataError
from kexp.spec import LabelMap


def _key(value: Any) -> Any:
    """A label as a dictionary key: 1, 1.0, np.int64(1) and True are all 1; '1' stays '1'."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        f = float(value)
        return int(f) if f.is_integer() else f
    return str(value)


def apply(spec: LabelMap | None, y: Any, part: str = "y", key: str = "preprocess.labels") -> Any:
    """The labels of ``y`` (array, Series or one-column frame) mapped as ``spec`` says."""
    if spec is None or y is None:
        return y
    arr = y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(f"{key}: expected one label per sample in {part}, received shape {arr.shape}")
    if spec.binary is not None:
        positive = {_key(v) for v in spec.binary.positive}
        out = np.fromiter((_key(v) in positive for v in arr.tolist()), dtype=bool, count=len(arr))
        mapped: Any = out.astype(np.int64)
    else:
        assert spec.map is not None
        table = {_key(k): v for k, v in spec.map.items()}
        missing = sorted({str(v) for v in arr.tolist() if _key(v) not in table})
        if missing:
            raise DataError(
                f"{key}: {part} has label(s) {', '.join(missing[:5])} that the map does not "
                f"name (it maps {', '.join(map(str, list(table)[:10]))}). Add them to the map"
            )
        values = [table[_key(v)] for v in arr.tolist()]
        mapped = np.asarray(values, dtype=object if any(isinstance(v, str) for v in values) else None)
    if isinstance(y, (pd.Series, pd.DataFrame)):
        return pd.Series(mapped, index=y.index, name=getattr(y, "name", None))
    return mapped
