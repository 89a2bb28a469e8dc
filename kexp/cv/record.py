"""The record of a cross-validation: the ``folds.csv`` table, ``summary.json``, the
per-fold progress line, the headline ``accuracy: 76.1% ± 4.7% (10 folds)`` and
:class:`CVResult`, what a finished CV returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kexp.cv.folds import FoldOutcome
from kexp.stats import ci95


def fold_dir(root: Path, fold: int, total: int) -> Path:
    """``root/fold-01`` (two digits, more past 99 folds)."""
    return root / f"fold-{fold:0{max(2, len(str(total)))}d}"


def folds_frame(outcomes: Iterable[FoldOutcome], repeats: bool = False,
                total: int = 0) -> pd.DataFrame:
    """One row per fold, in fold order: the table of ``folds.csv``."""
    rows = []
    for o in sorted(outcomes, key=lambda o: o.fold):
        row: dict[str, Any] = {"fold": o.fold, "status": o.status, "train_size": o.train_size,
                               "test_size": o.test_size}
        if repeats:
            row["repeat"] = o.repeat
        row.update(sorted(o.metrics.items(), key=lambda kv: kv[0] != "loss"))
        row.update(epochs=o.epochs, duration_s=o.duration_s,
                   indices=f"{fold_dir(Path(), o.fold, total).name}/indices.json",
                   error=o.error or "")
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(outcomes: list[FoldOutcome], total: int, splitter: str) -> dict[str, Any]:
    """Per metric over the completed folds: mean, population std (numpy's default,
    ddof=0, as the Pima tutorial's CV loop prints), min, max and a 95% t-interval of
    the mean (:func:`kexp.stats.ci95`; null below two folds)."""
    done = [o for o in outcomes if o.status == "completed"]
    names = list(dict.fromkeys(k for o in done for k in o.metrics))
    metrics: dict[str, Any] = {}
    for name in names:
        v = np.array([o.metrics[name] for o in done if name in o.metrics], dtype=float)
        low, high = ci95(v) or (None, None)
        metrics[name] = {
            "mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
            "max": float(v.max()), "ci95_low": low, "ci95_high": high,
        }
    return {
        "folds": total, "completed": len(done),
        "failed": sorted(o.fold for o in outcomes if o.status == "failed"),
        "splitter": splitter,
        "std": "population standard deviation over folds (numpy.std, ddof=0)",
        "ci95": "mean ± t(0.975, n-1) · sample std (ddof=1) / sqrt(n)",
        "metrics": metrics,
    }


def percent_like(metric: str) -> bool:
    """Whether a metric reads as a percentage (accuracy, AUC, precision, recall)."""
    m = metric.lower()
    return ("accuracy" in m or m in ("auc", "precision", "recall")
            or m.endswith(("_auc", "precision", "recall")))


def headline(name: str, stats: dict[str, Any], n: int) -> str:
    """``accuracy: 76.1% ± 4.7% (10 folds)`` (std: population, like the Pima tutorial)."""
    if percent_like(name):
        return f"{name}: {stats['mean'] * 100:.1f}% ± {stats['std'] * 100:.1f}% ({n} folds)"
    return f"{name}: {stats['mean']:.4g} ± {stats['std']:.2g} ({n} folds)"


def progress_line(o: FoldOutcome, total: int, done: list[FoldOutcome]) -> str:
    """The line logged when a fold finishes, with the running mean of its first metric."""
    ok = [d for d in done if d.status == "completed"]
    if o.status != "completed":
        return f"fold {o.fold:>2}/{total} {o.status} after {o.duration_s:.1f}s: {o.error}"
    values = "  ".join(f"{k} {v:.4f}" for k, v in o.metrics.items())
    key = next((k for k in o.metrics if k != "loss"), "loss")
    mean = np.mean([d.metrics[key] for d in ok if key in d.metrics])
    return (f"fold {o.fold:>2}/{total} completed in {o.duration_s:.1f}s: {values} | "
            f"running mean {key} {mean:.4f} ({len(ok)} folds)")


@dataclass
class CVResult:
    """A finished CV: its folder, the folds' outcomes, ``summary.json`` and ``folds.csv``."""

    path: Path
    outcomes: list[FoldOutcome]
    summary: dict[str, Any]
    folds: pd.DataFrame

    @property
    def failed(self) -> list[int]:
        return [o.fold for o in self.outcomes if o.status == "failed"]

    def table(self) -> str:
        """The folds as printed by ``kexp cv`` (no indices, errors or durations)."""
        frame = self.folds.drop(columns=["indices", "error", "duration_s"], errors="ignore")
        return frame.to_string(index=False, float_format=lambda v: f"{v:.4f}")

    def headlines(self) -> list[str]:
        """One :func:`headline` per metric: loss first, percentages last."""
        stats = self.summary["metrics"]
        n = self.summary["completed"]
        names = sorted(stats, key=lambda m: (m != "loss", percent_like(m)))
        return [headline(metric, stats[metric], n) for metric in names]
