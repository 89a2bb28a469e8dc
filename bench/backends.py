"""The same specs on each installed Keras backend (TensorFlow, JAX, PyTorch), side by side
with the hand-written scripts, in one invocation.

For each backend, as separate processes (``KERAS_BACKEND`` set for the hand-written ones,
``--backend`` for kexp), medians of ``--repeat``:

- import: ``import keras`` on the backend, with TensorFlow on TensorFlow only (what a kexp
  process imports: on JAX and PyTorch, arrays in memory are fed by NumPy batches);
- first epoch / steady epoch: ``configs/mnist.yaml`` through kexp's library call in a process
  of its own, each epoch timed by a callback (the first epoch holds the compile);
- ``kexp run configs/mnist.yaml`` whole process against ``bench/overhead.py``'s hand-written
  MNIST script (``--hand-only``) on the same backend;
- ``kexp cv configs/pima.yaml --folds F`` (``--epochs E``; the tutorial's 10 x 150 by default)
  whole process against the Pima tutorial's hand-written stratified CV loop
  (``bench/cv_pima.py``'s ``hand_loop``) on the same backend, and with ``--stack``.

Prints a table and the ratios against the hand-written TensorFlow scripts.

    python bench/backends.py                      # every installed backend, 10 folds x 150 epochs
    python bench/backends.py --small              # 5 folds x 30 epochs
    python bench/backends.py --backends tensorflow,jax --repeat 3 --skip-hand-cv
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("tensorflow", "jax", "torch")


def _env(backend: str) -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": str(ROOT)}


def _timed(cmd: list[str], backend: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=_env(backend), cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} ({backend}) failed:\n{done.stderr[-3000:]}")
    return wall, done.stdout


def import_time(backend: str) -> float:
    also = ", tensorflow" if backend == "tensorflow" else ""
    code = (f"import time; t = time.perf_counter(); import keras{also}; "
            "keras.ops.convert_to_numpy(keras.ops.ones(2)); print(time.perf_counter() - t)")
    return float(_timed([sys.executable, "-c", code], backend)[1].split()[-1])


def epoch_times(backend: str) -> tuple[float, float]:
    """(first epoch, median of the others) of configs/mnist.yaml through kexp."""
    out = _timed([sys.executable, str(Path(__file__).resolve()), "--epochs-of", backend], backend)[1]
    times = json.loads(out.splitlines()[-1])
    return times[0], statistics.median(times[1:])


def _epochs_of(backend: str) -> None:
    """The ``--epochs-of`` side: one kexp run of configs/mnist.yaml, its epochs timed."""
    from kexp import backend as kb
    from kexp import experiment
    from kexp.spec import load_spec
    from kexp.train import fit as fit_mod

    kb.select(backend)
    keras = kb.keras()
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # noqa: ANN001, ANN202
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # noqa: ANN001, ANN202
            times.append(time.perf_counter() - self.t0)

    real = fit_mod.fit

    def fit(model, cfg, split, callbacks, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        return real(model, cfg, split, [*callbacks, Clock()], *args, **kwargs)

    fit_mod.fit = fit
    with tempfile.TemporaryDirectory() as runs:
        experiment.run(load_spec(ROOT / "configs" / "mnist.yaml"),
                       experiment.Options(runs_dir=Path(runs), verbose=0))
    print(json.dumps(times))


def mnist(backend: str, runs: Path) -> tuple[float, float]:
    """(kexp run, hand-written) whole-process seconds."""
    kexp = _timed([sys.executable, "-m", "kexp", "run", "configs/mnist.yaml", "--backend", backend,
                   "--runs-dir", str(runs)], backend)[0]
    hand = _timed([sys.executable, "bench/overhead.py", "--hand-only", "--spec",
                   "configs/mnist.yaml", "--hand-data=arrays"], backend)[0]
    return kexp, hand


def pima_cv(backend: str, runs: Path, folds: int, epochs: int, hand: bool) -> tuple[float, float | None]:
    """(kexp cv, the tutorial's hand loop) whole-process seconds."""
    kexp = _timed([sys.executable, "-m", "kexp", "cv", "configs/pima.yaml", "--folds", str(folds),
                   "--epochs", str(epochs), "--backend", backend, "--no-plots",
                   "--runs-dir", str(runs)], backend)[0]
    if not hand:
        return kexp, None
    code = f"from bench.cv_pima import hand_loop; hand_loop({folds}, {epochs}, 10)"
    return kexp, _timed([sys.executable, "-c", code], backend)[0]


def pima_stack(backend: str, runs: Path, folds: int, epochs: int, plots: bool = False) -> float:
    """``kexp cv configs/pima.yaml --stack`` whole-process seconds (the folds as one program
    on JAX, vectorized elsewhere), with ``--no-plots`` unless ``plots``."""
    return _timed([sys.executable, "-m", "kexp", "cv", "configs/pima.yaml", "--folds", str(folds),
                   "--epochs", str(epochs), "--backend", backend, "--stack",
                   *([] if plots else ["--no-plots"]), "--runs-dir", str(runs)], backend)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default=",".join(b for b in BACKENDS if find_spec(b)),
                    help="comma-separated (default: every installed one)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--small", action="store_true", help="5 folds x 30 epochs")
    ap.add_argument("--skip-hand-cv", action="store_true", help="not the tutorial's CV loop")
    ap.add_argument("--epochs-of", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.epochs_of:
        _epochs_of(args.epochs_of)
        return
    if args.small:
        args.folds, args.epochs = 5, 30
    rows: dict[str, dict[str, float | None]] = {}
    with tempfile.TemporaryDirectory(prefix="kexp-bench-") as tmp:
        for backend in args.backends.split(","):
            runs: dict[str, list[float | None]] = {}
            for i in range(args.repeat):
                values: dict[str, float | None] = {"import": import_time(backend)}
                values["first epoch"], values["steady epoch"] = epoch_times(backend)
                values["kexp run mnist"], values["hand mnist"] = mnist(backend, Path(tmp) / f"m{backend}{i}")
                values["kexp cv pima"], values["hand cv pima"] = pima_cv(
                    backend, Path(tmp) / f"c{backend}{i}", args.folds, args.epochs,
                    not args.skip_hand_cv)
                values["kexp cv --stack"] = pima_stack(backend, Path(tmp) / f"s{backend}{i}",
                                                       args.folds, args.epochs)
                values["--stack, plots"] = pima_stack(backend, Path(tmp) / f"p{backend}{i}",
                                                      args.folds, args.epochs, plots=True)
                for key, value in values.items():
                    runs.setdefault(key, []).append(value)
                print(f"  {backend} repeat {i + 1}: " + ", ".join(
                    f"{k} {v:.2f} s" for k, v in values.items() if v is not None), flush=True)
            rows[backend] = {k: statistics.median(v) if None not in v else None  # type: ignore[type-var]
                             for k, v in runs.items()}
    keys = list(next(iter(rows.values())))
    print(f"\nseconds, median of {args.repeat}; CV: {args.folds} folds x {args.epochs} epochs")
    print(f"{'':16}" + "".join(f"{b:>12}" for b in rows))
    for key in keys:
        print(f"{key:16}" + "".join(f"{'-' if r[key] is None else f'{r[key]:.2f}':>12}"
                                    for r in rows.values()))
    tf = rows.get("tensorflow")
    if tf is not None:
        print("\nagainst the hand-written TensorFlow scripts:")
        for backend, r in rows.items():
            line = f"  {backend:10} kexp run mnist / hand (tensorflow) {r['kexp run mnist'] / tf['hand mnist']:.3f}"
            if tf["hand cv pima"]:
                line += f"   kexp cv pima / hand (tensorflow) {r['kexp cv pima'] / tf['hand cv pima']:.3f}"
            print(line)


if __name__ == "__main__":
    main()
