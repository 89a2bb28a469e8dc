"""Benchmark: the Pima Indians diabetes tutorial's hand-written 10-fold stratified CV loop
vs ``kexp cv configs/pima.yaml``.

Runs, in one invocation, the tutorial's loop in plain Keras + scikit-learn
(StratifiedKFold, shuffle, seed 7, 12-8-1 network, adam, binary cross-entropy)
and ``kexp cv`` through the library API with the same model and fit settings,
once per lever, and prints wall times, speed-ups and mean ± std accuracy
(population std, as the tutorial prints it).

Levers (each keeps every fold's math: same batches, same epochs):
  plain  kexp cv as is (in-process, one fold after another)
  spe    + compile.steps_per_execution=N (fewer dispatches from Python)
  jobs   + --jobs J (folds in J spawned processes; threads per process = cores // J)
  stack  + --stack (opt-in: the K folds as one model of K disjoint sub-networks, each
         with its own init, preprocessing, shuffled batches and loss; one step
         advances every fold)

Usage (from the repository root; shrink it on a shared machine):
  python bench/cv_pima.py                       # 10 folds, 150 epochs (slow)
  python bench/cv_pima.py --epochs 20 --folds 5
  python bench/cv_pima.py --epochs 20 --folds 5 --levers spe,jobs --skip-hand
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def hand_loop(folds: int, epochs: int, batch: int) -> list[float]:
    """The tutorial's loop, with today's names (StratifiedKFold.split, keras 3)."""
    import numpy
    from keras.layers import Dense, Input
    from keras.models import Sequential
    from sklearn.model_selection import StratifiedKFold

    seed = 7
    numpy.random.seed(seed)
    dataset = numpy.loadtxt(ROOT / "datasets" / "pima-indians-diabetes.csv", delimiter=",")
    X, Y = dataset[:, 0:8], dataset[:, 8]
    kfold = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    cvscores = []
    for train, test in kfold.split(X, Y):
        model = Sequential()
        model.add(Input((8,)))
        model.add(Dense(12, activation="relu", kernel_initializer="random_uniform"))
        model.add(Dense(8, activation="relu", kernel_initializer="random_uniform"))
        model.add(Dense(1, activation="sigmoid", kernel_initializer="random_uniform"))
        model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
        model.fit(X[train], Y[train], epochs=epochs, batch_size=batch, verbose=0)
        scores = model.evaluate(X[test], Y[test], verbose=0)
        cvscores.append(scores[1] * 100)
    print("  tutorial's line: %.2f%% (+/- %.2f%%)"  # noqa: UP031 (as the tutorial prints it)
          % (numpy.mean(cvscores), numpy.std(cvscores)))
    return [s / 100 for s in cvscores]


def kexp_cv(folds: int, epochs: int, spe: int, jobs: int, stack: bool = False) -> list[float]:
    from kexp import experiment
    from kexp.cv.options import CVOptions
    from kexp.cv.run import cross_validate
    from kexp.spec import load_spec

    overrides = [f"cv.folds={folds}", f"fit.epochs={epochs}", f"compile.steps_per_execution={spe}"]
    with tempfile.TemporaryDirectory(prefix="kexp-bench-") as runs:
        result = cross_validate(
            load_spec(ROOT / "configs" / "pima.yaml"),
            experiment.Options(overrides=overrides, runs_dir=Path(runs), argv=["bench"]),
            CVOptions(jobs=jobs, plots=False, stack=stack),
        )
        return [o.metrics["accuracy"] for o in result.outcomes if o.status == "completed"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=10, help="the tutorial's 10 (pima.yaml says the same)")
    ap.add_argument("--spe", type=int, default=70, help="steps_per_execution for the spe lever")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--levers", default="plain,spe,jobs,stack",
                    help="comma-separated: plain, spe, jobs, stack")
    ap.add_argument("--skip-hand", action="store_true", help="do not run the hand-written loop")
    args = ap.parse_args()
    if args.batch_size != 10:
        print("note: --batch-size only changes the hand loop; pima.yaml keeps 10")

    from kexp import backend

    backend.keras()  # import TensorFlow once, outside every timing
    print(f"Pima, {args.folds} folds x {args.epochs} epochs, batch 10, {os.cpu_count()} cores")
    import numpy as np

    rows = []
    hand_t = None
    if not args.skip_hand:
        t0 = time.perf_counter()
        acc = hand_loop(args.folds, args.epochs, args.batch_size)
        hand_t = time.perf_counter() - t0
        rows.append(("hand-written loop", hand_t, acc))
    levers = {
        "plain": ("kexp cv", 1, 1),
        "spe": (f"kexp cv + steps_per_execution={args.spe}", args.spe, 1),
        "jobs": (f"kexp cv + steps_per_execution={args.spe} + --jobs {args.jobs}", args.spe, args.jobs),
        "stack": (f"kexp cv + steps_per_execution={args.spe} + --stack", args.spe, 1),
    }
    for key in args.levers.split(","):
        label, spe, jobs = levers[key.strip()]
        t0 = time.perf_counter()
        acc = kexp_cv(args.folds, args.epochs, spe, jobs, stack=key.strip() == "stack")
        rows.append((label, time.perf_counter() - t0, acc))

    print(f"\n{'':52} {'wall s':>8} {'speed-up':>9}  accuracy (mean ± std)")
    for label, secs, acc in rows:
        speed = f"{hand_t / secs:8.2f}x" if hand_t else "        -"
        print(f"{label:52} {secs:8.1f} {speed}  {np.mean(acc) * 100:.2f}% ± {np.std(acc) * 100:.2f}%"
              f" ({len(acc)} folds)")


if __name__ == "__main__":
    main()
