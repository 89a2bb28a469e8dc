"""k-fold cross-validation: a fresh model per fold, every fold kept as a run folder.

``cross_validate`` splits the whole data set with scikit-learn's splitters
(:func:`kexp.splits.kfold`), writes each fold's indices, trains the folds with
an executor of :mod:`kexp.folds` (in-process, spawned processes, Ray, or
stacked), and writes ``folds.csv`` and ``summary.json`` as folds finish.

Each fold's seed is derived from the base seed and the fold number only, and
everything fitted from data (scalers, label encoders) is fitted on the fold's
training part only, so a fold's metrics do not depend on the executor.

The CV folder holds ``config.yaml``, ``env.json``, ``status.json`` (kind cv),
``folds.csv``, ``summary.json`` and ``fold-01/`` ... (each a run folder plus
``indices.json``). ``resume`` trains only the folds that did not complete.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kexp import experiment
from kexp.cv.folds import CVOptions, FoldOutcome, FoldTask, Job, _Lost, _outcomes, fold_seed, take
from kexp.data import sources as data_mod
from kexp.data import split as splits
from kexp.errors import ConfigError, DataError, KexpError, RunError
from kexp.model import resolve
from kexp.rundir.write import Interrupted, RunFolder, write_json
from kexp.spec import Config, CsvData, Spec, apply_overrides, parse_spec, resolved

__all__ = ["CVOptions", "CVResult", "CVInterrupted", "FoldOutcome", "FoldTask", "Job", "cross_validate",
           "fold_seed", "headline", "percent_like", "resume", "summarize", "take"]

Log = Callable[[str], None]

#: exit codes of ``kexp cv`` besides 0 (all folds completed) and 2 (bad input)
EXIT_FOLDS_FAILED = 1
EXIT_INTERRUPTED = 130


def _silent(_: str) -> None:
    pass


@dataclass
class CVResult:
    path: Path
    outcomes: list[FoldOutcome]
    summary: dict[str, Any]
    folds: pd.DataFrame

    @property
    def failed(self) -> list[int]:
        return [o.fold for o in self.outcomes if o.status == "failed"]


class CVInterrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or a lost worker: finished folds are on disk; resume with --resume."""

    def __init__(self, path: Path, done: int, total: int, reason: str) -> None:
        super().__init__(reason)
        self.path, self.done, self.total, self.reason = path, done, total, reason


def _concat(a: Any, b: Any) -> Any:
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return pd.concat([a, b], ignore_index=True)
    return np.concatenate([a, b])


# ------------------------------------------------------------------------- preparing


def _whole_data(cfg: Config, raw: data_mod.RawData, base_dirs: list[Path], notes: list[str]) -> tuple[Any, Any, Any]:
    """All samples (a source's own test part appended), and the group labels if any."""
    x, y = raw.x_train, raw.y_train
    if raw.x_test is not None:
        x, y = _concat(x, raw.x_test), _concat(y, raw.y_test)
        notes.append(f"cv: the source's test part ({len(raw.x_test)} samples) is folded in with the rest")
    groups = None
    if cfg.cv.group is not None:
        groups, x = _groups(cfg, raw, x, base_dirs, notes)
    return x, y, groups


def _groups(cfg: Config, raw: data_mod.RawData, x: Any, base_dirs: list[Path], notes: list[str]) -> tuple[Any, Any]:
    key = ("cv", "group")
    if not isinstance(cfg.data, CsvData):
        raise ConfigError(key, f"a group column needs a CSV data source, received source '{cfg.data.source}'",
                          hint="Remove cv.group, or load the data from a CSV file")
    frames = [data_mod.read_csv(data_mod.find_file(cfg.data.path, ("data", "path"), base_dirs), cfg.data, key)]
    if cfg.data.test_path:
        frames.append(data_mod.read_csv(data_mod.find_file(cfg.data.test_path, ("data", "test_path"), base_dirs),
                                        cfg.data, key))
    if cfg.data.limit is not None:
        frames = [f.iloc[: cfg.data.limit] for f in frames]
    df = pd.concat(frames, ignore_index=True)
    col = data_mod.column(df, cfg.cv.group, key)
    groups = df[col].to_numpy()
    if isinstance(x, pd.DataFrame) and col in x.columns and cfg.data.features is None:
        x = x.drop(columns=[col])
        notes.append(f"cv: the group column {col!r} is not used as a feature")
    return groups, x


def _prepare(spec: Spec, overrides: list[Any], log: Log) -> tuple[Spec, Config, Job, list[tuple[np.ndarray, np.ndarray]], str]:
    """Validate, load, split and check that fold 1 builds; raise KexpError before any training."""
    from kexp import backend

    full = apply_overrides(spec, overrides)
    try:
        cfg, base_dirs = experiment.setup(full)
        seed = cfg.seed
        assert seed is not None
        raw = data_mod.load(cfg.data, seed, base_dirs)
        notes = list(raw.notes)
        if cfg.data.test is not None and raw.x_test is None:
            notes.append("cv: data.test is not applied; each fold's held-out part is its test set")
        x, y, groups = _whole_data(cfg, raw, base_dirs, notes)
        folds = splits.kfold(y, cfg.cv, seed, groups)
        name = splits.splitter_name(y, cfg.cv, groups is not None)
        # build fold 1 here so that model/loss/shape errors come before any folder or training
        backend.seed_everything(fold_seed(seed, 1), cfg.deterministic)
        tr, te = folds[0]
        split, pre = experiment.fit_transform(cfg, take(x, tr), take(y, tr), take(x, te), take(y, te), seed)
        experiment.build_model(cfg, split, pre, [])
        backend.keras().backend.clear_session()
    except ConfigError as exc:
        raise experiment.located(full, exc) from None
    for note in notes:
        log(f"Note: {note}")
    info = {**raw.info, "samples": len(x)}
    return full, cfg, Job(full, cfg, x, y, info, notes, []), folds, name


# -------------------------------------------------------------------------- record


def _fold_dir(root: Path, fold: int, total: int) -> Path:
    return root / f"fold-{fold:0{max(2, len(str(total)))}d}"


def folds_frame(outcomes: Iterable[FoldOutcome], repeats: bool = False, total: int = 0) -> pd.DataFrame:
    rows = []
    for o in sorted(outcomes, key=lambda o: o.fold):
        row: dict[str, Any] = {"fold": o.fold, "status": o.status, "train_size": o.train_size,
                               "test_size": o.test_size}
        if repeats:
            row["repeat"] = o.repeat
        row.update(sorted(o.metrics.items(), key=lambda kv: kv[0] != "loss"))
        row.update(epochs=o.epochs, duration_s=o.duration_s,
                   indices=f"{_fold_dir(Path(), o.fold, total).name}/indices.json", error=o.error or "")
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(outcomes: list[FoldOutcome], total: int, splitter: str) -> dict[str, Any]:
    """Per metric over the completed folds: mean, population std (numpy's default,
    ddof=0, as seed 002 prints), min, max and a 95% t-interval of the mean
    (sample std, ddof=1, n-1 degrees of freedom)."""
    from scipy import stats

    done = [o for o in outcomes if o.status == "completed"]
    names = list(dict.fromkeys(k for o in done for k in o.metrics))
    metrics: dict[str, Any] = {}
    for name in names:
        v = np.array([o.metrics[name] for o in done if name in o.metrics], dtype=float)
        mean, n = float(v.mean()), len(v)
        half = float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        metrics[name] = {
            "mean": mean, "std": float(v.std()), "min": float(v.min()), "max": float(v.max()),
            "ci95_low": mean - half if n > 1 else None, "ci95_high": mean + half if n > 1 else None,
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
    m = metric.lower()
    return "accuracy" in m or m in ("auc", "precision", "recall") or m.endswith(("_auc", "precision", "recall"))


def headline(name: str, stats: dict[str, Any], n: int) -> str:
    """``accuracy: 76.1% ± 4.7% (10 folds)`` (std: population, like seed 002)."""
    if percent_like(name):
        return f"{name}: {stats['mean'] * 100:.1f}% ± {stats['std'] * 100:.1f}% ({n} folds)"
    return f"{name}: {stats['mean']:.4g} ± {stats['std']:.2g} ({n} folds)"


def _progress(o: FoldOutcome, total: int, done: list[FoldOutcome]) -> str:
    ok = [d for d in done if d.status == "completed"]
    if o.status != "completed":
        return f"fold {o.fold:>2}/{total} {o.status} after {o.duration_s:.1f}s: {o.error}"
    values = "  ".join(f"{k} {v:.4f}" for k, v in o.metrics.items())
    key = next((k for k in o.metrics if k != "loss"), "loss")
    mean = np.mean([d.metrics[key] for d in ok if key in d.metrics])
    return (f"fold {o.fold:>2}/{total} completed in {o.duration_s:.1f}s: {values} | "
            f"running mean {key} {mean:.4f} ({len(ok)} folds)")


# ----------------------------------------------------------------------------- run


def cross_validate(spec: Spec, options: experiment.Options, cv_opts: CVOptions, log: Log = _silent) -> CVResult:
    """Cross-validate the experiment in ``spec``; write a CV folder in ``options.runs_dir``."""
    full, cfg, job, folds, splitter = _prepare(spec, options.overrides, log)
    if cv_opts.stack:
        from kexp.cv import stack

        try:
            stack.check(cfg, [len(tr) for tr, _ in folds])
        except ConfigError as exc:
            raise experiment.located(full, exc) from None
    job.argv, job.save_model, job.plots = options.argv, cv_opts.save_models, cv_opts.plots
    rf = RunFolder.create(options.runs_dir, cfg.name, kind="cv")
    total = len(folds)
    rf.set_status("running", name=cfg.name, notes=job.notes, folds=total)
    log(f"CV folder: {rf.path} ({splitter}, {total} folds, "
        f"{'ray' if cv_opts.executor == 'ray' else f'{cv_opts.jobs} job(s)'})")
    rf.write_text("spec.yaml", full.text or "")
    rf.write_yaml("config.yaml", resolved(cfg))
    env = experiment.environment(cfg, cfg.seed or 0, data_mod.RawData(None, None, info=job.raw_info), options.argv)
    env["cv"] = {"splitter": splitter, "folds": total, "executor": cv_opts.executor, "jobs": cv_opts.jobs,
                 "threads_per_fold": cv_opts.fold_threads(), "address": cv_opts.address,
                 "spec_dir": str(spec.path.resolve().parent) if spec.path else None}
    rf.write_json("env.json", env)
    tasks = []
    k = cfg.cv.folds
    for i, (tr, te) in enumerate(folds, 1):
        path = _fold_dir(rf.path, i, total)
        path.mkdir()
        repeat = (i - 1) // k + 1 if cfg.cv.repeats > 1 else None
        task = FoldTask(i, tr, te, fold_seed(cfg.seed or 0, i), str(path), repeat)
        write_json(path / "indices.json", {"fold": i, "repeat": repeat, "seed": task.seed,
                                           "train": tr.tolist(), "test": te.tolist()})
        tasks.append(task)
    return _execute(rf, job, tasks, [], total, splitter, cfg.cv.repeats > 1, cv_opts, log)


def resume(cv_dir: Path, options: experiment.Options, cv_opts: CVOptions, log: Log = _silent) -> CVResult:
    """Train the folds of an interrupted (or partly failed) CV folder that did not complete."""
    cv_dir = Path(cv_dir)
    st_path = cv_dir / "status.json"
    try:
        status = json.loads(st_path.read_text())
    except (OSError, ValueError):
        raise RunError(f"{cv_dir}: no readable status.json; is this a kexp cv folder?") from None
    if status.get("kind") != "cv":
        raise RunError(f"{cv_dir}: a '{status.get('kind')}' folder, not a CV folder (kind cv)")
    import yaml

    from kexp import backend

    spec_text = (cv_dir / "spec.yaml").read_text() if (cv_dir / "spec.yaml").exists() else ""
    env = json.loads((cv_dir / "env.json").read_text())
    cfg = Config.model_validate(yaml.safe_load((cv_dir / "config.yaml").read_text()))
    spec_dir = (env.get("cv") or {}).get("spec_dir")
    spec = parse_spec(spec_text, Path(spec_dir) / "spec.yaml" if spec_dir else None) if spec_text else Spec({})
    base_dirs = [Path.cwd(), *( [Path(spec_dir), Path(spec_dir).parent] if spec_dir else [])]
    for d in base_dirs:
        resolve.add_search_path(d)
    raw = data_mod.load(cfg.data, cfg.seed or 0, base_dirs)
    old = (env.get("data") or {}).get("sha256")
    if old and raw.info.get("sha256") and old != raw.info["sha256"]:
        raise DataError(f"{raw.info.get('path')}: the data changed since {cv_dir.name} started "
                        "(sha256 differs); the saved fold indices no longer apply. Start a new `kexp cv`")
    notes: list[str] = []
    x, y, _ = _whole_data(cfg, raw, base_dirs, notes)
    backend.keras()
    job = Job(spec, cfg, x, y, {**raw.info, "samples": len(x)}, list(status.get("notes") or []),
              options.argv, cv_opts.save_models, cv_opts.plots)
    dirs = sorted(p for p in cv_dir.glob("fold-*") if (p / "indices.json").exists())
    done, tasks = [], []
    for p in dirs:
        idx = json.loads((p / "indices.json").read_text())
        fst = _read_json(p / "status.json")
        if fst.get("status") == "completed":
            metrics = _read_json(p / "metrics.json").get("metrics", {})
            done.append(FoldOutcome(idx["fold"], "completed", len(idx["train"]), len(idx["test"]), metrics,
                                    int(fst.get("epochs") or 0), None, float(fst.get("duration_s") or 0),
                                    idx.get("repeat")))
        else:
            tasks.append(FoldTask(idx["fold"], np.array(idx["train"]), np.array(idx["test"]), idx["seed"],
                                  str(p), idx.get("repeat")))
    rf = RunFolder(cv_dir, kind="cv")
    rf._status = status
    rf.set_status("running", error=None, finished=None, duration_s=None, pid=os.getpid())
    total = len(dirs)
    log(f"Resuming {cv_dir}: {len(done)} of {total} folds completed, training {len(tasks)}")
    splitter = (env.get("cv") or {}).get("splitter", "")
    return _execute(rf, job, tasks, done, total, splitter, cfg.cv.repeats > 1, cv_opts, log)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _execute(rf: RunFolder, job: Job, tasks: list[FoldTask], done: list[FoldOutcome], total: int,
             splitter: str, repeats: bool, cv_opts: CVOptions, log: Log) -> CVResult:
    outcomes = list(done)

    def record() -> pd.DataFrame:
        frame = folds_frame(outcomes, repeats, total)
        rf.write_text("folds.csv", frame.to_csv(index=False))
        return frame

    previous = _raise_on_sigterm()
    try:
        for o in _outcomes(job, tasks, cv_opts):
            if o.files is not None:
                _write_files(_fold_dir(rf.path, o.fold, total), o.files)
                o.files = None
            outcomes.append(o)
            record()
            rf.set_status(folds_done=len(outcomes))
            log(_progress(o, total, outcomes))
            if o.status == "interrupted":
                raise KeyboardInterrupt
    except (KeyboardInterrupt, _Lost) as exc:
        reason = str(exc) if isinstance(exc, _Lost) else "interrupted (Ctrl-C or SIGTERM)"
        outcomes = [o for o in outcomes if o.status != "interrupted"]
        record()
        n = sum(o.status == "completed" for o in outcomes)
        rf.set_status("interrupted", error=f"{reason}; {n} of {total} folds completed")
        raise CVInterrupted(rf.path, n, total, reason) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    frame = record()
    summary = summarize(outcomes, total, splitter)
    rf.write_json("summary.json", summary)
    failed = summary["failed"]
    epochs = max((o.epochs for o in outcomes), default=0)
    if failed:
        rf.set_status("failed", epochs=epochs, error=f"fold(s) {', '.join(map(str, failed))} failed; see folds.csv")
    else:
        rf.set_status("completed", epochs=epochs, error=None)
    if cv_opts.plots:
        _cv_plots(rf, log)
    return CVResult(rf.path, sorted(outcomes, key=lambda o: o.fold), summary, frame)


def _raise_on_sigterm() -> Any:
    """SIGTERM stops the CV like Ctrl-C (finished folds kept, status interrupted)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_term(signum: int, frame: Any) -> None:
        raise Interrupted()

    return signal.signal(signal.SIGTERM, on_term)


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    from kexp.rundir.write import atomic_write

    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, content)


def _cv_plots(rf: RunFolder, log: Log) -> None:
    from kexp import report

    try:
        report.plot_history(rf.path)
    except KexpError as exc:
        log(f"Note: plot: {exc}")
