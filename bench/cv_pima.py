"""Benchmark: the Pima Indians diabetes tutorial's hand-written 10-fold stratified CV loop
vs ``kexp cv configs/pima.yaml``.

Runs, in one invocation, the tutorial's loop in plain Keras + scikit-learn
(StratifiedKFold, shuffle, seed 7, 12-8-1 network, adam, binary cross-entropy)
and ``kexp cv`` through the library API with the same model and fit settings,
once per lever, and prints wall times, speed-ups and mean ± std accuracy
(population std, as the tutorial prints it).

Levers (each keeps every fold's math: same batches, same epochs; the script checks that
every unstacked kexp lever gives the same per-fold test accuracies, and which folds of
``--stack``, vectorized, differ in the last bits enough to flip a test prediction):
  plain  kexp cv with compile.steps_per_execution=1 (one dispatch from Python per batch)
  fresh  + steps_per_execution=N, --fresh-models (a new model built and traced per fold)
  spe    + steps_per_execution=N, the default engine: one warm compiled model per
         process, re-initialised from each fold's fresh model (nothing traced again)
  jobs   + --jobs J (this process and J - 1 spawned workers; threads per worker =
         cores // J); with --memory, each worker's peak memory (VmHWM) is reported
  stack  + --stack (opt-in: the K folds as one model, each on the batches it would see
         alone; one step advances every fold; for this Dense network vectorized, each
         layer one batched kernel for all folds: kexp/cv/vector.py)

--memory also runs the tutorial's loop as its own process and reports its peak memory,
the reference for a fold worker's.

Usage (from the repository root; shrink it on a shared machine):
  python bench/cv_pima.py                       # 10 folds, 150 epochs (slow)
  python bench/cv_pima.py --small               # 5 folds, 30 epochs
  python bench/cv_pima.py --small --levers spe,jobs --skip-hand --memory
  python bench/cv_pima.py --small --whole-process [--busy]   # --jobs 1 vs 2 as a user runs them
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


def kexp_cv(folds: int, epochs: int, spe: int, jobs: int, stack: bool = False,
            fresh: bool = False, memory: bool = False) -> tuple[list[float], list[float]]:
    """Per-fold test accuracies, and the workers' peak memory in MB (with ``memory``)."""
    from kexp import backend, experiment
    from kexp.cv.options import CVOptions
    from kexp.cv.run import cross_validate
    from kexp.engine import workers
    from kexp.spec import load_spec
    from kexp.train import warm

    warm.PROCESS.keep(None, None)  # each lever starts cold, as a new kexp process does
    overrides = [f"cv.folds={folds}", f"fit.epochs={epochs}", f"compile.steps_per_execution={spe}"]
    opts = CVOptions(jobs=jobs, plots=False, stack=stack, fresh_models=fresh)
    if jobs > 1:
        opts.workers = workers.start(jobs, opts.fold_threads(), backend.is_verbose())
    peaks: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="kexp-bench-") as runs:
            result = cross_validate(
                load_spec(ROOT / "configs" / "pima.yaml"),
                experiment.Options(overrides=overrides, runs_dir=Path(runs), argv=["bench"]),
                opts)
        if memory and opts.workers is not None:
            peaks = [peak_mb(p.pid) for p in opts.workers.procs]
    finally:
        if opts.workers is not None:
            opts.workers.close()
    acc = [o.metrics["accuracy"] for o in result.outcomes if o.status == "completed"]
    return acc, peaks


def peak_mb(pid: int | str = "self") -> float:
    """A process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def hand_process_peak_mb() -> float:
    """The tutorial's loop (2 folds x 2 epochs) as its own process: its peak memory."""
    import subprocess

    code = ("import sys; sys.path.insert(0, 'bench'); import cv_pima; "
            "cv_pima.hand_loop(2, 2, 10); print(cv_pima.peak_mb())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _compare(kexp_accs: list[list[float]], stacked: list[float] | None) -> None:
    """Whether the unstacked levers agree per fold, and where --stack differs."""
    import numpy as np

    if len(kexp_accs) > 1:
        same = all(np.allclose(a, kexp_accs[0], rtol=0, atol=1e-6) for a in kexp_accs)
        print(f"every unstacked kexp lever, the same per-fold test accuracies: "
              f"{'yes' if same else 'NO'}")
    if stacked is not None and kexp_accs:
        # vectorized --stack: a fold's numbers up to the last bits of batched matmuls
        plain = kexp_accs[0]
        differ = [i + 1 for i, (a, b) in enumerate(zip(stacked, plain, strict=True))
                  if abs(a - b) > 1e-6]
        within = abs(np.mean(stacked) - np.mean(plain)) <= np.std(plain)
        print(f"--stack vs unstacked: folds with another test accuracy: {differ or 'none'}; "
              f"mean within one std of the unstacked mean: {'yes' if within else 'NO'}")


def whole_process(folds: int, epochs: int, jobs: int, repeat: int, busy: bool) -> None:
    """``kexp cv configs/pima.yaml`` as a user runs it, ``--jobs 1`` and ``--jobs J`` in
    turn as separate processes (start-up, TensorFlow's import and exit included), with
    ``busy`` one busy-loop process beside them; prints the medians and their ratio."""
    import statistics
    import subprocess

    spin = (subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None)
    times: dict[int, list[float]] = {1: [], jobs: []}
    try:
        with tempfile.TemporaryDirectory(prefix="kexp-bench-") as runs:
            for i in range(repeat):
                for j in times:
                    t0 = time.perf_counter()
                    subprocess.run([sys.executable, "-m", "kexp", "cv", "configs/pima.yaml",
                                    "--folds", str(folds), "--epochs", str(epochs), "--jobs", str(j),
                                    "--runs-dir", str(Path(runs) / f"{i}-{j}"), "--no-plots"],
                                   cwd=ROOT, check=True, capture_output=True)
                    times[j].append(time.perf_counter() - t0)
                print(f"  repeat {i + 1}: " + "  ".join(f"--jobs {j} {t[-1]:.2f} s"
                                                        for j, t in times.items()), flush=True)
    finally:
        if spin is not None:
            spin.kill()
            spin.wait()
    one, many = statistics.median(times[1]), statistics.median(times[jobs])
    print(f"kexp cv, {folds} folds x {epochs} epochs, whole processes, median of {repeat}"
          + (", one busy-loop process beside" if busy else ""))
    print(f"--jobs 1: {one:.2f} s   --jobs {jobs}: {many:.2f} s   ratio {many / one:.3f} "
          f"(goal <= 1: never slower)")


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--small", action="store_true", help="5 folds x 30 epochs")
    ap.add_argument("--batch-size", type=int, default=10, help="the tutorial's 10 (pima.yaml says the same)")
    ap.add_argument("--spe", type=int, default=70, help="steps_per_execution for the spe lever")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--levers", default="plain,fresh,spe,jobs,stack",
                    help="comma-separated: plain, fresh, spe, jobs, stack")
    ap.add_argument("--skip-hand", action="store_true", help="do not run the hand-written loop")
    ap.add_argument("--memory", action="store_true",
                    help="peak memory of a hand-written process and of each fold worker")
    ap.add_argument("--whole-process", action="store_true",
                    help="kexp cv --jobs 1 vs --jobs J as separate processes, alternating")
    ap.add_argument("--repeat", type=int, default=5, help="--whole-process: repeats")
    ap.add_argument("--busy", action="store_true", help="--whole-process: one busy loop beside")
    return ap.parse_args()


def main() -> None:
    args = _args()
    if args.small:
        args.folds, args.epochs = 5, 30
    if args.whole_process:
        whole_process(args.folds, args.epochs, args.jobs, args.repeat, args.busy)
        return
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
        "plain": ("kexp cv, steps_per_execution=1", dict(spe=1, jobs=1)),
        "fresh": (f"kexp cv, spe={args.spe}, --fresh-models", dict(spe=args.spe, jobs=1, fresh=True)),
        "spe": (f"kexp cv, spe={args.spe} (warm model)", dict(spe=args.spe, jobs=1)),
        "jobs": (f"kexp cv, spe={args.spe}, --jobs {args.jobs}", dict(spe=args.spe, jobs=args.jobs)),
        "stack": (f"kexp cv, spe={args.spe}, --stack", dict(spe=args.spe, jobs=1, stack=True)),
    }
    peaks: list[float] = []
    kexp_accs, stacked = [], None
    for key in args.levers.split(","):
        label, kw = levers[key.strip()]
        t0 = time.perf_counter()
        acc, peak = kexp_cv(args.folds, args.epochs, memory=args.memory, **kw)
        rows.append((label, time.perf_counter() - t0, acc))
        if kw.get("stack"):
            stacked = acc
        else:
            kexp_accs.append(acc)
        peaks += peak

    print(f"\n{'':44} {'wall s':>8} {'speed-up':>9}  accuracy (mean ± std)")
    for label, secs, acc in rows:
        speed = f"{hand_t / secs:8.2f}x" if hand_t else "        -"
        print(f"{label:44} {secs:8.1f} {speed}  {np.mean(acc) * 100:.2f}% ± {np.std(acc) * 100:.2f}%"
              f" ({len(acc)} folds)")
    _compare(kexp_accs, stacked)
    if args.memory:
        hand_mb = hand_process_peak_mb()
        print(f"peak memory: hand-written process {hand_mb:.0f} MB", end="")
        if peaks:
            print(f"; fold workers {', '.join(f'{p:.0f}' for p in peaks)} MB "
                  f"({max(peaks) / hand_mb:.2f}x)")
        else:
            print(" (no fold workers: add the jobs lever)")


if __name__ == "__main__":
    main()
