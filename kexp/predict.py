"""``kexp predict``: a finished run's preprocessing and model applied to new data.

Reads only the run folder (config.yaml, preprocess.json, model.keras) and the new
data file; writes predicted classes with probabilities, or values for regression.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from kexp import backend
from kexp.data import images, named, paths, sources
from kexp.data.images import ImageFiles
from kexp.data.preprocess import NamedPreprocessor
from kexp.engine.output import Log, silent
from kexp.errors import ConfigError, DataError, RunError
from kexp.model import keep, resolve
from kexp.rundir.read import json_object
from kexp.rundir.write import atomic_write, check_creatable
from kexp.spec import Config, CsvData, FunctionalModel, ImagesData
from kexp.train.predictions import predictions


def predict(run_dir: Path, data_path: Path | list[Path], out: Path | None,
            log: Log = silent, on: str | None = None) -> tuple[Path, int]:
    """Apply a finished run's preprocessing and model to new data (a file; for a model
    trained on images, a folder of them or a list of image files); write a CSV. The model
    loads on ``on`` (a Keras backend; None: the one it was trained on, recorded in its
    ``config.yaml``)."""
    run_dir = Path(run_dir)
    for name in ("config.yaml", "preprocess.json", "model.keras"):
        if not (run_dir / name).is_file():
            raise RunError(f"{run_dir}: no {name}; is this a completed kexp run folder?")
    cfg_data = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg = Config.model_validate(cfg_data)
    images_in = isinstance(cfg.data, ImagesData)
    if isinstance(data_path, list) and not images_in:
        raise DataError(f"expected one data file for a model trained on {cfg.data.source} data, "
                        f"received {len(data_path)}")
    check_new_data(data_path, images_in)
    shown = data_path[0].parent / "images" if isinstance(data_path, list) else Path(data_path)
    out = Path(out) if out else run_dir / f"predictions-{shown.stem}.csv"
    check_creatable(out.parent, "--out", out)  # before Keras: nothing is loaded for nothing
    try:
        backend.select(on or cfg.backend, model=cfg.model)
    except ConfigError as exc:
        raise RunError(f"--backend {on}: {exc.message}" if on else
                       f"{run_dir / 'config.yaml'}: backend: {exc.message}; {exc.hint}") from None
    ins, outs = named.names_of(cfg)
    pre = NamedPreprocessor.from_state(json.loads((run_dir / "preprocess.json").read_text()), ins, outs)
    model = load_model(run_dir, cfg_data, log)
    x: Any
    if isinstance(cfg.data, ImagesData):
        x, y = new_images(cfg.data, data_path, pre.classes)
    else:
        assert not isinstance(data_path, list)
        x, y = _read_new_data(cfg, Path(data_path), _trained_columns(run_dir))
    data_path = shown
    if isinstance(y, dict) and set(y) != set(outs):
        y = None  # the new data lacks some outputs' columns: predict without y_true
    x, y = named.name_data(cfg, x, y, "new")
    arr = pre.transform_x(x, "x")
    named.check_finite(arr, "x")
    _check_shapes(model, arr, data_path)
    frame = predictions(model, cfg.compile, pre.classes, arr, pre.map_labels(y, "y"), cfg.fit.batch_size)
    atomic_write(out, frame.to_csv(index=False))
    return out, len(frame)


def load_model(run_dir: Path, cfg_data: dict[str, Any], log: Log = silent) -> Any:
    """The run's model, its custom code imported from the run's own copy (``custom/``)
    first, then the current folder; ``sys.path`` is as before afterwards."""
    keras = backend.keras()
    with keep.import_path(run_dir / keep.FOLDER, Path.cwd()):
        try:
            custom = resolve.custom_objects_in(cfg_data)
        except ConfigError as exc:
            raise RunError(f"{run_dir / 'config.yaml'}: {exc}") from None
        try:
            model = _load(keras, run_dir / "model.keras", custom)
        except (TypeError, ValueError) as exc:
            error = _load_error(run_dir, exc)
            if error is None:
                raise
            raise error from None
    for note in keep.differences(_kept(run_dir), run_dir):
        log(f"Warning: {note}")
    return model


def _load(keras: Any, path: Path, custom: dict[str, Any]) -> Any:
    """Keras's ``load_model``; a model with a layer that needs TensorFlow on every backend
    (a lookup or text layer), which Keras refuses while TensorFlow is not imported on JAX
    or PyTorch, is loaded again once it is (:func:`kexp.backend.tensorflow`)."""
    try:
        return keras.saving.load_model(path, custom_objects=custom, compile=False)
    except ImportError as exc:
        if "tensorflow" not in str(exc).lower() or "tensorflow" in sys.modules:
            raise
    backend.tensorflow()
    return keras.saving.load_model(path, custom_objects=custom, compile=False)


def _load_error(run_dir: Path, exc: Exception) -> RunError | None:
    """Keras's refusal to load a model, in a user's terms (None: not a refusal)."""
    text = str(exc)
    if "Lambda" in text and "safe_mode" in text:
        return RunError(
            f"{run_dir / 'model.keras'}: the model has a Lambda layer, whose Python code Keras "
            "refuses to load (safe mode: loading it could run any code). Replace the Lambda by a "
            "custom layer class named in the spec as package.module:Class (a keras.layers.Layer "
            "subclass) and train again"
        )
    if "safe_mode" in text:
        return RunError(f"{run_dir / 'model.keras'}: Keras refuses to load code saved in the model "
                        f"(safe mode): {text.splitlines()[0]}")
    if "Could not locate" in text or "custom_objects" in text:
        return RunError(f"{run_dir / 'model.keras'}: {text.splitlines()[0]}. The model needs custom "
                        f"code that is neither in the run folder's {keep.FOLDER}/ nor importable here")
    return None


def _kept(run_dir: Path) -> list[dict[str, Any]]:
    records = json_object(run_dir / "env.json")[0].get("custom_code")
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def _check_shapes(model: Any, arr: dict[str, np.ndarray], data_path: Path) -> None:
    """The preprocessed new data must have the shapes the model was trained on."""
    if len(arr) == 1:
        a, expected = next(iter(arr.values())), tuple(model.inputs[0].shape[1:])
        if tuple(a.shape[1:]) != expected:
            raise DataError(f"{data_path}: samples have shape {a.shape[1:]} after preprocessing, "
                            f"the model expects {expected}")
        return
    expected_shapes = {t.name: tuple(t.shape[1:]) for t in model.inputs}
    for name, a in arr.items():
        if name in expected_shapes and tuple(a.shape[1:]) != expected_shapes[name]:
            raise DataError(
                f"{data_path}: input '{name}' has samples of shape {a.shape[1:]} after "
                f"preprocessing, the model expects {expected_shapes[name]}"
            )


def new_images(cfg: ImagesData, paths: Path | list[Path], classes: dict[str, Any]
               ) -> tuple[ImageFiles, Any]:
    """Image files to predict, decoded as in training: a folder of class subfolders (their
    names are the true classes), any other folder (every image below it), or image files."""
    decoding = images.Decoding.of(cfg)
    trained = next(iter(classes.values())) or []
    if isinstance(paths, Path) and paths.is_dir():
        subfolders = [d.name for d in paths.iterdir() if d.is_dir() and not d.name.startswith(".")]
        if subfolders and all(d in map(str, trained) for d in subfolders):
            folder = images.list_folder(paths, ("data",), cfg.follow_links,
                                        classes=[str(c) for c in trained])
            return (images.image_files(folder.paths, decoding),
                    np.asarray(folder.labels, dtype=object))
        files = images.checked_files(paths, cfg.follow_links)
    else:
        files = []
        for p in [paths] if isinstance(paths, Path) else paths:
            if p.is_dir():
                files += images.checked_files(p, cfg.follow_links)
            elif not p.is_file():
                raise DataError(f"{p}: no such file or folder")
            else:
                files += images.checked_files(p, cfg.follow_links)
    return images.image_files(files, decoding), None


def check_new_data(data_path: Path | list[Path], images_in: bool) -> None:
    """Each path to predict exists and can be read (for a model trained on images, a
    folder too), before the model is loaded."""
    for p in data_path if isinstance(data_path, list) else [data_path]:
        p = Path(p)
        if p.is_file():
            paths.check_readable(p)
        elif p.is_dir():
            if not images_in:
                raise DataError(f"{p} is a folder; expected a CSV or .npz file of new rows")
            paths.check_listable(p)
        else:
            raise DataError(f"{p}: no such file" + (" or folder" if images_in else ""))


def _trained_columns(run_dir: Path) -> int | None:
    """The number of columns of the CSV file the run was trained on (``env.json``), or
    None when not recorded (an older run, a streamed file)."""
    data = json_object(run_dir / "env.json")[0].get("data")
    columns = data.get("columns") if isinstance(data, dict) else None
    return columns if isinstance(columns, int) and not isinstance(columns, bool) else None


def _read_new_data(cfg: Config, path: Path, trained_columns: int | None = None) -> tuple[Any, Any]:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            keys = npz.files
            if isinstance(cfg.model, FunctionalModel) and all(n in keys for n in cfg.model.inputs):
                # arrays named after the model's inputs (and outputs, for y_true)
                outs = cfg.model.outputs
                y_named = {o: npz[o] for o in outs} if all(o in keys for o in outs) else None
                return {n: npz[n] for n in cfg.model.inputs}, y_named
            xkey = next((k for k in ("x", "x_test", "x_train") if k in keys), None)
            if xkey is None:
                raise DataError(f"{path}: expected an array named x, x_test or x_train (arrays: {keys})")
            ykey = {"x": "y", "x_test": "y_test", "x_train": "y_train"}[xkey]
            return npz[xkey], (npz[ykey] if ykey in keys else None)
    if isinstance(cfg.data, CsvData):
        df = sources.read_csv(path, cfg.data, ("data",))
        if isinstance(df.columns[0], str):  # a header: columns by name, the target's may be absent
            return sources.select_columns(df, cfg.data, need_target=False)
        return headerless_rows(df, cfg.data, path, trained_columns)
    raise DataError(f"{path}: expected a .npz file for a model trained on {cfg.data.source} data")


def target_indices(data: CsvData) -> list[int]:
    """The target columns of a headerless CSV spec, by index, in the order given."""
    specs = list(data.target.values()) if isinstance(data.target, dict) else [data.target]
    out: list[int] = []
    for spec in specs:
        out += [t for t in (spec if isinstance(spec, list) else [spec]) if isinstance(t, int)]
    return out


def headerless_rows(df: pd.DataFrame, data: CsvData, path: Path,
                    trained_columns: int | None) -> tuple[Any, Any]:
    """Features (and targets, when given) of new rows of a file without a header, its
    columns by index as in training. The rows may hold the target column(s), as the
    training file did, or not (the usual case for new data): then the other columns are
    the training file's in their order. ``trained_columns``: the training file's number
    of columns, when recorded; otherwise the layout whose columns resolve is taken."""
    n, targets = df.shape[1], target_indices(data)
    layouts: list[tuple[pd.DataFrame, bool]] = []
    if trained_columns is None or n == trained_columns:
        layouts.append((df, True))
    if targets and (trained_columns is None or n == trained_columns - len(targets)):
        layouts.append((_without_targets(df, targets), False))
    problems = []
    for frame, with_target in layouts:
        try:
            x, y = sources.select_columns(frame, data, need_target=with_target)
        except ConfigError as exc:
            problems.append(f"{'with' if with_target else 'without'} the target: {exc}")
            continue
        return x, y if with_target else None
    cols = ", ".join(map(str, targets)) or "none"
    if trained_columns is not None:
        expected = (f"the model was trained on rows of {trained_columns} columns, the target "
                    f"being column(s) {cols} (data.target): give rows of "
                    f"{trained_columns - len(targets)} columns (the features, without the "
                    f"target) or of {trained_columns} (with it)")
    else:
        expected = (f"expected the training file's columns, with the target column(s) {cols} "
                    f"(data.target) or without them ({'; '.join(problems)})")
    raise DataError(f"{path}: rows of {n} columns (no header); {expected}")


def _without_targets(df: pd.DataFrame, targets: list[int]) -> pd.DataFrame:
    """``df``'s columns at the training file's positions, with empty target columns
    where the training file had them."""
    width = df.shape[1] + len(targets)
    at = {t % width for t in targets}
    given = iter(df.columns)
    columns = {i: (pd.Series(np.nan, index=df.index) if i in at else df[next(given)])
               for i in range(width)}
    return pd.DataFrame(columns)
