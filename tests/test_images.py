"""``source: images``: a folder of class subfolders read as Keras's
``image_dataset_from_directory`` reads it, trained batch by batch, predicted, plotted,
cross-validated and swept; every bad folder or setting refused before training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kexp.data import images
from tests.helpers import invoke, only_folder, write_yaml

CLASSES = ("bright", "dark", "stripes")


def pixels(kind: str, rng: np.random.Generator, size: int = 16) -> np.ndarray:
    """One 16x16 grayscale image of a class: bright noise, dark noise, or stripes."""
    if kind == "bright":
        return rng.integers(160, 256, (size, size), dtype=np.uint8)
    if kind == "dark":
        return rng.integers(0, 96, (size, size), dtype=np.uint8)
    img = np.zeros((size, size), dtype=np.uint8)
    img[:, ::4] = 255
    return np.clip(img.astype(int) + rng.integers(0, 40, img.shape), 0, 255).astype(np.uint8)


def write_folder(root: Path, per_class: int, seed: int, classes: tuple[str, ...] = CLASSES,
                 size: int = 16) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(pixels(c, rng, size)).save(root / c / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("images")
    write_folder(root / "train", 12, seed=1)
    write_folder(root / "test", 4, seed=2)
    return root


def spec(folders: Path, **data: object) -> dict:
    return {
        "name": "shapes",
        "seed": 3,
        "data": {"source": "images", "path": str(folders / "train"),
                 "test_path": str(folders / "test"), "image_size": [16, 16],
                 "color_mode": "grayscale", **data},
        "model": {"layers": [
            {"Input": {"shape": [16, 16, 1]}},
            {"Rescaling": {"scale": 1 / 255}},
            {"RandomFlip": {"mode": "horizontal"}},
            {"Conv2D": {"filters": 4, "kernel_size": 3, "activation": "relu"}},
            {"MaxPooling2D": 2},
            "Flatten",
            {"Dense": {"units": 3, "activation": "softmax"}},
        ]},
        "compile": {"loss": "sparse_categorical_crossentropy",
                    "optimizer": {"Adam": {"learning_rate": 0.01}}, "metrics": ["accuracy"]},
        "fit": {"epochs": 3, "batch_size": 8},
    }


@pytest.fixture(scope="module")
def trained(folders: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run on the image folder (the module's shared run folder)."""
    work = tmp_path_factory.mktemp("run")
    path = write_yaml(work, spec(folders))
    invoke("run", str(path), "--runs-dir", str(work / "runs"), exit_code=0)
    return only_folder(work / "runs")


def test_a_run_records_the_folder_its_classes_and_each_part(trained: Path, folders: Path) -> None:
    data = json.loads((trained / "env.json").read_text())["data"]
    assert data["source"] == "images"
    assert data["path"] == str((folders / "train").resolve())
    assert data["class_names"] == list(CLASSES)
    assert data["files"] == dict.fromkeys(CLASSES, 12)
    assert data["test_files"] == dict.fromkeys(CLASSES, 4)
    assert data["parts"] == {"train": dict.fromkeys(CLASSES, 12), "test": dict.fromkeys(CLASSES, 4)}
    assert len(data["sha256"]) == 64 and data["sha256"] != data["test_sha256"]
    assert json.loads((trained / "preprocess.json").read_text())["classes"] == list(CLASSES)
    frame = pd.read_csv(trained / "predictions.csv")
    assert list(frame.columns[:3]) == ["path", "y_true", "y_pred"]
    assert sorted(frame["path"]) == sorted(str(p) for p in (folders / "test").resolve().glob("*/*.png"))
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["samples"] == 12 and metrics["metrics"]["accuracy"] > 0.6  # three easy classes
    assert (trained / "misclassified.png").is_file()


def test_the_saved_model_predicts_raw_image_files(trained: Path, folders: Path,
                                                  tmp_path: Path) -> None:
    """model.keras holds the Rescaling (and the augmentation, off at inference): kexp
    predict on the test folder gives the run's own test predictions."""
    out = tmp_path / "p.csv"
    invoke("predict", str(trained), str(folders / "test"), "--out", str(out), exit_code=0)
    new, recorded = pd.read_csv(out), pd.read_csv(trained / "predictions.csv")
    assert list(new["y_true"]) == list(recorded["y_true"])
    np.testing.assert_allclose(new.filter(like="prob_").to_numpy(),
                               recorded.filter(like="prob_").to_numpy(), atol=1e-5)
    # files, or a folder without class subfolders: no y_true
    two = [str(folders / "test" / "dark" / "000.png"), str(folders / "test" / "stripes" / "001.png")]
    invoke("predict", str(trained), *two, "--out", str(out), exit_code=0)
    frame = pd.read_csv(out)
    assert list(frame["path"]) == two and "y_true" not in frame.columns
    invoke("predict", str(trained), str(folders / "test" / "dark"), "--out", str(out), exit_code=0)
    assert len(pd.read_csv(out)) == 4
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    result = invoke("predict", str(trained), str(bad), exit_code=2)
    assert "not an image file" in result.output


def test_decoding_is_image_dataset_from_directorys(folders: Path) -> None:
    """The same pixels as Keras's own loader, resized (and cropped) alike."""
    import keras
    import tensorflow as tf

    for crop in (False, True):
        ours = images.Decoding((10, 7), 3, "bilinear", crop_to_aspect_ratio=crop)
        theirs = keras.utils.image_dataset_from_directory(
            folders / "test", image_size=(10, 7), color_mode="rgb", shuffle=False,
            batch_size=12, crop_to_aspect_ratio=crop)
        batch, labels = next(iter(theirs))
        paths = sorted(str(p) for p in (folders / "test").glob("*/*.png"))
        mine = np.stack([images.decode(tf.constant(p), ours).numpy() for p in paths])
        np.testing.assert_allclose(mine, batch.numpy(), atol=1e-4)
        assert theirs.class_names == list(CLASSES)


def test_a_held_out_test_part_is_stratified_and_limit_takes_every_class(
        folders: Path, tmp_path: Path) -> None:
    s = spec(folders, test_path=None, test={"size": 0.25}, limit=24, cache=True)
    s["fit"]["epochs"] = 1
    invoke("run", str(write_yaml(tmp_path, s)), "--runs-dir", str(tmp_path / "runs"),
           exit_code=0)
    parts = json.loads((only_folder(tmp_path / "runs") / "env.json").read_text())["data"]["parts"]
    assert parts["test"] == dict.fromkeys(CLASSES, 2) and parts["train"] == dict.fromkeys(CLASSES, 6)
    assert images.interleaved(["a"] * 5 + ["b"] * 2, 4).tolist() == [0, 1, 5, 6]


def test_a_scale_step_divides_the_decoded_pixels(folders: Path, tmp_path: Path) -> None:
    s = spec(folders)
    s["model"]["layers"].pop(1)  # no Rescaling layer: preprocess.x scales
    s["preprocess"] = {"x": [{"scale": 255}]}
    s["fit"]["epochs"] = 1
    invoke("run", str(write_yaml(tmp_path, s)), "--runs-dir", str(tmp_path / "runs"),
           exit_code=0)
    run = only_folder(tmp_path / "runs")
    out = tmp_path / "p.csv"
    invoke("predict", str(run), str(folders / "test"), "--out", str(out), exit_code=0)
    np.testing.assert_allclose(pd.read_csv(out).filter(like="prob_").to_numpy(),
                               pd.read_csv(run / "predictions.csv").filter(like="prob_").to_numpy(),
                               atol=1e-5)


# ------------------------------------------------------------------------ bad input


def _bad_folder(tmp: Path, case: str) -> Path:
    root = tmp / "bad"
    if case == "empty":
        root.mkdir()
    elif case == "one-class":
        write_folder(root, 3, 0, classes=("only",))
    elif case == "class-without-images":
        write_folder(root, 3, 0, classes=("a", "b"))
        (root / "c").mkdir()
        (root / "c" / "readme.txt").write_text("nothing here")
    elif case == "loose-images":
        write_folder(root, 3, 0, classes=("a",))
        for f in (root / "a").iterdir():
            f.rename(root / f.name)
        (root / "a").rmdir()
    else:
        write_folder(root, 3, 0, classes=("a", "b"))
        target = root / "b" / "001.png"
        if case == "zero-bytes":
            target.write_bytes(b"")
        elif case == "not-an-image":
            target.write_text("this is text, not a PNG")
        elif case == "cut-short":
            target.write_bytes(target.read_bytes()[:-20])
    return root


@pytest.mark.parametrize(("case", "expected"), [
    ("empty", ["data.path", "no class subfolders", "one subfolder of images per class"]),
    ("one-class", ["data.path", "one class only (only)", "Add a subfolder"]),
    ("class-without-images", ["data.path", "the class folder 'c' holds no images"]),
    ("loose-images", ["data.path", "it holds 3 image(s) but no subfolder"]),
    ("zero-bytes", ["b/001.png", "empty (0-byte) image file"]),
    ("not-an-image", ["b/001.png", "not a readable image"]),
    ("cut-short", ["b/001.png", "damaged PNG"]),
])
def test_a_bad_folder_is_refused_before_training(tmp_path: Path, case: str,
                                                 expected: list[str]) -> None:
    root = _bad_folder(tmp_path, case)
    s = spec(tmp_path, path=str(root), test_path=None)
    s["model"]["layers"][-1] = {"Dense": {"units": 2, "activation": "softmax"}}
    result = invoke("run", str(write_yaml(tmp_path, s)), "--runs-dir", str(tmp_path / "runs"),
                    exit_code=2)
    for text in expected:
        assert text in result.output, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_files_that_are_not_images_are_skipped_with_a_note(folders: Path, tmp_path: Path) -> None:
    train = tmp_path / "train"
    shutil.copytree(folders / "train", train)
    (train / "dark" / "notes.txt").write_text("a note")
    (train / "bright" / "Thumbs.db").write_bytes(b"\0\1")
    s = spec(folders, path=str(train))
    s["fit"]["epochs"] = 1
    result = invoke("run", str(write_yaml(tmp_path, s)), "--runs-dir", str(tmp_path / "runs"),
                    exit_code=0)
    assert "skipped 2 file(s) that are not images" in result.output
    assert "bright/Thumbs.db" in result.output


@pytest.mark.parametrize(("edit", "expected"), [
    ({"Input": {"shape": [32, 32, 1]}},
     ["data.image_size", "resized to 16x16", "expects 32x32", "Set data.image_size: [32, 32]"]),
    ({"Input": {"shape": [16, 16, 3]}},
     ["data.color_mode", "grayscale reads images with 1 channel", "Set data.color_mode: rgb"]),
    ({"Input": {"shape": [256]}}, ["model.layers[0].Input", "(height, width, channels)"]),
])
def test_image_size_and_color_mode_must_fit_the_input(folders: Path, tmp_path: Path,
                                                      edit: dict, expected: list[str]) -> None:
    s = spec(folders)
    s["model"]["layers"][0] = edit
    result = invoke("run", str(write_yaml(tmp_path, s)), "--runs-dir", str(tmp_path / "runs"),
                    exit_code=2)
    for text in expected:
        assert text in result.output, result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("edit", "expected"), [
    ({"preprocess": {"x": ["standardize"]}},
     ["preprocess.x[0]", "standardize step cannot apply to images", "Normalization layer"]),
    ({"data": {"path": "nowhere"}}, ["data.path", "folder not found: nowhere"]),
    ({"data": {"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}},
     ["only one of crop_to_aspect_ratio and pad_to_aspect_ratio"]),
    ({"data": {"color_mode": "cmyk"}}, ["data.color_mode", "grayscale", "rgba"]),
])
def test_image_settings_are_checked(folders: Path, tmp_path: Path, edit: dict,
                                    expected: list[str]) -> None:
    s = spec(folders)
    for key, value in edit.items():
        s[key] = {**s.get(key, {}), **value}
    result = invoke("run", str(write_yaml(tmp_path, s)), "--runs-dir", str(tmp_path / "runs"),
                    exit_code=2)
    for text in expected:
        assert text in result.output, result.output


def test_a_path_that_is_a_file_is_refused(folders: Path, tmp_path: Path) -> None:
    s = spec(folders, path=str(folders / "train" / "dark" / "000.png"))
    result = invoke("run", str(write_yaml(tmp_path, s)), exit_code=2)
    assert "is a file; expected a folder" in result.output


# --------------------------------------------------------------------- cv and sweeps


def test_cv_folds_the_files_and_resume_refuses_a_changed_folder(folders: Path,
                                                                tmp_path: Path) -> None:
    train = tmp_path / "train"
    shutil.copytree(folders / "train", train)
    s = spec(folders, path=str(train), test_path=None)
    s["fit"]["epochs"] = 1
    path = write_yaml(tmp_path, s)
    result = invoke("cv", str(path), "--folds", "2", "--runs-dir", str(tmp_path / "runs"),
                    exit_code=0)
    assert "StratifiedKFold, 2 folds" in result.output
    cv_dir = only_folder(tmp_path / "runs")
    record = json.loads((cv_dir / "cv.json").read_text())
    assert record["data"]["samples"] == 36 and [f["test_size"] for f in record["folds"]] == [18, 18]
    assert json.loads((cv_dir / "fold-01" / "env.json").read_text())["data"]["source"] == "images"
    shutil.copy(train / "dark" / "000.png", train / "dark" / "extra.png")
    result = invoke("cv", "--resume", str(cv_dir), exit_code=2)
    assert str(train.resolve()) in result.output and "changed since the CV" in result.output
    result = invoke("cv", str(path), "--folds", "2", "--stack", exit_code=2)
    assert "--stack holds every fold's data in one array" in result.output


def test_a_sweep_over_an_image_folder_and_resume_refusing_it_changed(folders: Path,
                                                                     tmp_path: Path) -> None:
    train = tmp_path / "train"
    shutil.copytree(folders / "train", train)
    s = spec(folders, path=str(train))
    s["fit"]["epochs"] = 1
    s["sweep"] = {"method": "grid", "metric": "accuracy", "goal": "max",
                  "parameters": {"fit.batch_size": [8, 16]}}
    invoke("sweep", str(write_yaml(tmp_path, s)), "--runs-dir", str(tmp_path / "runs"),
           exit_code=0)
    sweep = only_folder(tmp_path / "runs")
    trials = sorted((sweep / "trials").iterdir())
    assert len(trials) == 2
    for trial in trials:
        assert "path" in pd.read_csv(trial / "predictions.csv").columns
    (train / "dark" / "005.png").unlink()
    result = invoke("sweep", "--resume", str(sweep), exit_code=2)
    assert f"{train.resolve()}: the data that {sweep} trained on changed" in result.output


# ------------------------------------------------------------------------- kexp init


def test_init_writes_a_cnn_spec_for_an_image_folder(folders: Path, tmp_path: Path) -> None:
    from kexp.spec import load_config, parse_spec

    out = tmp_path / "init.yaml"
    invoke("init", str(folders), "--out", str(out), exit_code=0)  # train/ and test/ inside
    text = out.read_text()
    cfg = load_config(parse_spec(text, out))
    assert cfg.data.source == "images"
    assert cfg.data.path == str(folders / "train") and cfg.data.test_path == str(folders / "test")
    assert cfg.data.image_size == [16, 16] and cfg.data.color_mode == "grayscale"
    assert "Dense: {units: 3, activation: softmax}" in text
    spec_dict = yaml.safe_load(text)
    spec_dict["fit"] = {"epochs": 1, "batch_size": 16}
    invoke("run", str(write_yaml(tmp_path, spec_dict, "trained.yaml")), "--runs-dir",
           str(tmp_path / "runs"), exit_code=0)
    result = invoke("init", str(folders / "train"), "--target", "x", exit_code=2)
    assert "remove --target" in result.output


def test_a_layer_takes_its_first_argument_alone() -> None:
    from kexp.model.layers import layer

    assert layer({"MaxPooling2D": 3}, ("model",)).pool_size == (3, 3)
    assert layer({"Dense": 4}, ("model",)).units == 4
    assert layer({"Rescaling": {"scale": 0.5}}, ("model",)).scale == 0.5
