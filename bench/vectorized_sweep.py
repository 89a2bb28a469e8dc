"""A vectorized sweep against one cross-validation of the same network (issue: 16 trials
of 5-fold CV in under 2x the time of one such CV).

As separate processes on one backend (default JAX), medians of ``--repeat``:

- ``kexp sweep configs/pima.yaml --param lr=4 values --param l2=4 values --cv 5 --stack``:
  16 trials x 5 folds x 150 epochs (80 trainings of the Pima tutorial's 12-8-1 network,
  an L2 penalty on its first layer), each trial recorded in its own CV folder, then the
  refit of the best parameters (one more training) and its test evaluation;
- ``kexp cv configs/pima.yaml --folds 5`` on the same spec (one trial's CV; the folds of
  the whole data set, not of the training part), unstacked and with ``--stack``.

Prints the seconds and the ratios sweep / CV.

    python bench/vectorized_sweep.py                    # JAX, 150 epochs
    python bench/vectorized_sweep.py --backend tensorflow --epochs 30
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: the network of configs/pima.yaml with an L2 penalty on its first layer, Adam's rate given
SETS = ["--set", "model.layers.0.Dense.kernel_regularizer={L2: {l2: 0.001}}",
        "--set", "compile.optimizer={Adam: {learning_rate: 0.001}}"]
GRID = ["--param", "compile.optimizer.Adam.learning_rate=0.0003,0.001,0.003,0.01",
        "--param", "model.layers.0.Dense.kernel_regularizer.L2.l2=0.0001,0.001,0.01,0.1"]


def timed(args: list[str], backend: str) -> float:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kexp", *args, "--backend", backend],
                          env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"kexp {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="jax")
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    common = ["configs/pima.yaml", *SETS, "--epochs", str(args.epochs), "--no-plots"]
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="kexp-bench-sweep-") as tmp:
        for i in range(args.repeat):
            runs = str(Path(tmp) / str(i))
            got = {
                "sweep 16 trials x 5 folds --stack": timed(
                    ["sweep", *common, *GRID, "--cv", "5", "--stack", "--runs-dir", runs],
                    args.backend),
                "cv 5 folds": timed(["cv", *common, "--folds", "5", "--runs-dir", runs],
                                    args.backend),
                "cv 5 folds --stack": timed(["cv", *common, "--folds", "5", "--stack",
                                             "--runs-dir", runs], args.backend),
            }
            for key, value in got.items():
                times.setdefault(key, []).append(value)
            print(f"  repeat {i + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in got.items()),
                  flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{args.backend}, {args.epochs} epochs, seconds (median of {args.repeat}):")
    for key, value in med.items():
        print(f"  {key:36} {value:8.2f}")
    sweep = med["sweep 16 trials x 5 folds --stack"]
    print(f"  sweep / one CV (unstacked)           {sweep / med['cv 5 folds']:8.3f}   (goal < 2)")
    print(f"  sweep / one CV (--stack)             {sweep / med['cv 5 folds --stack']:8.3f}")


if __name__ == "__main__":
    main()
