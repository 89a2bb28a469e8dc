"""Build fake run folders and CV folders by hand, following the run-folder contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

CONFIG: dict[str, Any] = {
    "name": "mnist-mlp",
    "seed": 7,
    "data": {"source": "mnist", "test": {"size": 0.2}},
    "model": {"type": "sequential", "layers": [{"Dense": {"units": 10}}]},
    "compile": {
        "loss": "categorical_crossentropy",
        "optimizer": {"SGD": {"learning_rate": 0.01, "momentum": 0.9}},
        "metrics": ["accuracy"],
    },
    "fit": {"epochs": 10, "batch_size": 800, "validation_split": 0.2},
}

_counter = iter(range(1, 100_000))


def history(epochs: int = 5, val: bool = True, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSVLogger-like history: loss falls, accuracy rises; val_loss best at epoch 3 (1-based)."""
    e = np.arange(epochs)
    data: dict[str, Any] = {"epoch": e, "accuracy": 0.5 + 0.08 * e, "loss": 1.0 / (1 + e)}
    if val:
        data["val_accuracy"] = 0.5 + 0.05 * e - 0.1 * np.maximum(e - 2, 0) ** 2
        data["val_loss"] = 1.0 / (1 + e) + 0.1 * np.maximum(e - 2, 0) ** 2
    for name in extra:
        data[name] = np.linspace(1, 2, epochs)
    return pd.DataFrame(data)


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out


def make_run(
    root: Path,
    name: str = "mnist-mlp",
    *,
    hist: pd.DataFrame | str | None = "default",
    status: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    predictions: pd.DataFrame | None = None,
    folder: str | None = None,
) -> Path:
    """A run folder; ``hist`` may be a frame, raw CSV text, or None (no history.csv)."""
    n = next(_counter)
    path = Path(root) / (folder or f"20261128-13{n:04d}-{name}-{n:06x}")
    path.mkdir(parents=True)
    cfg = merge(CONFIG, {"name": name, **(config or {})})
    (path / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    frame = history() if isinstance(hist, str) and hist == "default" else hist
    st = {
        "kind": "run", "name": name, "status": "completed",
        "started": "2026-11-28T13:05:00+00:00", "finished": "2026-11-28T13:05:12+00:00",
        "duration_s": 12.3, "pid": 1234, "host": "elsewhere", "error": None,
        "epochs": len(frame) if isinstance(frame, pd.DataFrame) else 0, "notes": [],
    }
    st.update(status or {})
    (path / "status.json").write_text(json.dumps(st))
    if isinstance(frame, pd.DataFrame):
        frame.to_csv(path / "history.csv", index=False)
    elif isinstance(frame, str):
        (path / "history.csv").write_text(frame)
    if metrics is not None:
        (path / "metrics.json").write_text(
            json.dumps({"evaluated_on": "test", "samples": 100, "metrics": metrics}))
    if predictions is not None:
        predictions.to_csv(path / "predictions.csv", index=False)
    return path


def binary_predictions(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, n), 0, 1)
    return pd.DataFrame({"y_true": y, "y_pred": (p > 0.5).astype(int),
                         "prob_0": 1 - p, "prob_1": p})


def make_cv(root: Path, name: str = "pima-cv", lengths: tuple[int, ...] = (5, 4, 3),
            config: dict[str, Any] | None = None) -> Path:
    """A CV folder with one fold run per entry of ``lengths`` (epochs of that fold), each
    with the ``metrics.json`` its row of ``folds.csv`` holds.

    As ``kexp cv`` writes it, ``summary.json`` has a population std and, with a
    single fold, ``null`` confidence bounds.
    """
    n = next(_counter)
    path = Path(root) / f"20261128-14{n:04d}-{name}-{n:06x}"
    path.mkdir(parents=True)
    cfg = merge(CONFIG, {"name": name, **(config or {})})
    (path / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (path / "status.json").write_text(json.dumps({
        "kind": "cv", "name": name, "status": "completed",
        "started": "2026-11-28T14:00:00+00:00", "duration_s": 100.0, "pid": 1, "host": "x"}))
    rows = []
    for k, epochs in enumerate(lengths, 1):
        metrics = {"loss": 0.3 + 0.01 * k, "accuracy": 0.8 + 0.01 * k}
        make_run(path, name, hist=history(epochs), folder=f"fold-{k:02d}", metrics=metrics)
        rows.append({"fold": k, "status": "completed", "train_size": 90, "test_size": 10,
                     **metrics})
    folds = pd.DataFrame(rows)
    folds.to_csv(path / "folds.csv", index=False)
    one = len(lengths) < 2
    summary = {"folds": len(lengths), "completed": len(lengths), "metrics": {
        m: {"mean": float(folds[m].mean()), "std": float(folds[m].std(ddof=0)),
            "min": float(folds[m].min()), "max": float(folds[m].max()),
            "ci95_low": None if one else float(folds[m].mean() - 0.05),
            "ci95_high": None if one else float(folds[m].mean() + 0.05)}
        for m in ("loss", "accuracy")}}
    (path / "summary.json").write_text(json.dumps(summary))
    return path


def make_sweep(root: Path, name: str = "pima-sweep", *, trials: int = 3, best: int | None = 2,
               best_config: dict[str, Any] | None = None) -> Path:
    """A finished grid sweep folder of ``trials`` trial run folders (``trials/NNN``), as
    ``kexp sweep`` writes it: its status says ``epochs: 0`` (a sweep trains no epoch itself)
    and its config.yaml is the base spec's; ``best`` (a trial number, or None) is the trial
    ``summary.json`` names best, its config ``best_config`` over the base one."""
    n = next(_counter)
    path = Path(root) / f"20261128-15{n:04d}-{name}-sweep-{n:06x}"
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(merge(CONFIG, {"name": name}), sort_keys=False))
    (path / "status.json").write_text(json.dumps({
        "kind": "sweep", "name": name, "status": "completed", "started": "2026-11-28T15:00:00+00:00",
        "duration_s": 60.0, "pid": 1, "host": "x", "epochs": 0, "trials": trials,
        "trials_done": trials}))
    values = {k: 0.5 - 0.01 * k for k in range(1, trials + 1)}
    for k in range(1, trials + 1):
        trial = make_run(path / "trials", name, folder=f"{k:03d}", hist=history(3),
                         config=best_config if k == best else None,
                         metrics={"loss": values[k], "accuracy": 0.7 + 0.01 * k})
        optimizer = ((best_config or {}).get("compile") or {}).get("optimizer")
        if k == best and optimizer is not None:  # the trial's optimizer, not merged with SGD's
            written = yaml.safe_load((trial / "config.yaml").read_text())
            written["compile"]["optimizer"] = optimizer
            (trial / "config.yaml").write_text(yaml.safe_dump(written, sort_keys=False))
    top = None if best is None else {
        "trial": best, "params": {}, "value": values[best], "folder": f"trials/{best:03d}",
        "metrics": {"loss": values[best], "accuracy": 0.7 + 0.01 * best}}
    (path / "summary.json").write_text(json.dumps({
        "method": "grid", "metric": "loss", "goal": "min", "cv": None, "trials": trials,
        "completed": trials, "failed": [], "pruned": [], "best": top}))
    return path
