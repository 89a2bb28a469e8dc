"""How long a mistake that needs no data takes to be reported, next to importing Keras.

Runs every case of the bad-input table (``tests/test_bad_input.py``) whose error needs
no data (a misspelled name, a bad argument, a schema or YAML mistake, a missing file),
plus a misspelled layer and loss in ``configs/mnist.yaml`` (whose data would be
downloaded), as ``kexp validate`` in a real process. A case the schema check reports
never imports Keras; every other one is paired with a bare ``python -c "import keras"``
timed just before it. Also a few commands whose mistake needs neither the spec's data
nor Keras (a missing data file, a runs folder or output that cannot be written, a folder
that is not a run folder). Prints each case's latency next to its pair, then the median
and worst ratio and difference. The goals: an error found before Keras is imported in
well under a second (at most 1 s), every other error within the time of importing Keras
plus one second. The whole table runs twice, on the idle machine and beside busy loops
(``--busy``, default 2: as many as a 2-core machine has cores). A benchmark, not a
test: numbers depend on the machine and its load.

    python bench/error_latency.py               # every case once, idle then beside 2 busy loops
    python bench/error_latency.py --repeat 3    # best of 3 for each case
    python bench/error_latency.py --busy 0      # idle only
    python bench/error_latency.py -k layer      # only the cases whose id contains 'layer'
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Cases of the table whose error comes from the data (its shape, labels, columns).
NEEDS_DATA = {
    "target-out-of-range", "input-shape-mismatch", "label-count-mismatch", "flatten-missing",
    "conv-on-flat-input", "class-weight-unknown-class", "validation-split-no-training-rows",
    "validation-split-no-validation-rows", "class-weight-class-not-in-labels",
    "custom-loss-not-a-loss",
}
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}


def workdir(base: Path) -> None:
    """The test suite's tiny data sets and examples, in ``base``."""
    import numpy as np

    from tests.conftest import MNIST, PIMA

    data = base / "datasets"
    data.mkdir()
    (data / "pima.csv").write_text("\n".join(PIMA.read_text().splitlines()[:120]) + "\n")
    with np.load(MNIST) as npz:
        np.savez(data / "digits.npz", **{k: npz[k][:300] for k in ("x_train", "y_train")},
                 **{k: npz[k][:100] for k in ("x_test", "y_test")})
    shutil.copytree(ROOT / "examples", base / "examples")


def cases() -> list[tuple[str, str, list[str], list[str]]]:
    """(id, spec text, extra arguments, parts of the message) of each case."""
    from tests.test_bad_input import CASES

    mnist = (ROOT / "configs" / "mnist.yaml").read_text()
    extra = [
        ("mnist-unknown-layer", mnist.replace("- Dense: {units: 256", "- Dens: {units: 256", 1), [],
         ["unknown layer 'Dens'"]),
        ("mnist-unknown-loss", mnist.replace("loss: categorical_crossentropy", "loss: categorical_crosentropy"),
         [], ["unknown loss"]),
    ]
    return [c for c in CASES if c[0] not in NEEDS_DATA] + extra


def commands(base: Path) -> list[tuple[str, list[str], list[str]]]:
    """(id, kexp arguments, parts of the message) of mistakes in what a command is given,
    found before anything is loaded."""
    spec = base / "pima-ok.yaml"
    from tests.conftest import PIMA_SPEC

    spec.write_text(PIMA_SPEC)
    (base / "a-file").write_text("")
    return [
        ("run-missing-data-file", ["run", str(base / "missing-data.yaml")], ["data file not found"]),
        ("run-runs-dir-is-a-file", ["run", str(spec), "--runs-dir", str(base / "a-file" / "runs")],
         ["is a file, not a folder"]),
        ("plot-not-a-run-folder", ["plot", str(base / "datasets")], ["not a run folder"]),
        ("predict-not-a-run-folder", ["predict", str(base / "datasets"), str(base / "datasets" / "pima.csv")],
         ["is this a completed kexp run folder?"]),
    ]


def kexp_command() -> list[str]:
    script = Path(sys.executable).parent / "kexp"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "kexp"]


def timed(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done


def import_keras(cwd: Path) -> float:
    seconds, done = timed([sys.executable, "-c", "import keras"], cwd)
    if done.returncode != 0:
        sys.exit(f"python -c 'import keras' failed:\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case (the best counts)")
    parser.add_argument("-k", dest="select", default="", help="only cases whose id contains this")
    parser.add_argument("--busy", type=int, default=2,
                        help="busy loops beside the second pass (0: the idle pass only)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="kexp-latency-"))
    try:
        workdir(base)
        (base / "missing-data.yaml").write_text(
            __import__("tests.conftest", fromlist=["PIMA_SPEC"]).PIMA_SPEC.replace(
                "datasets/pima.csv", "datasets/nope.csv"))
        selected = [c for c in cases() if args.select in c[0]]
        plain = [c for c in commands(base) if args.select in c[0]]
        for loops in ([0, args.busy] if args.busy > 0 else [0]):
            print(f"\n== {'idle' if not loops else f'beside {loops} busy loops'}")
            with busy(loops):
                run_all(base, selected, plain, max(1, args.repeat))
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def busy(loops: int) -> Iterator[None]:
    """``loops`` processes spinning for as long as the block runs."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(loops)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def stage(spec: Path, extra: list[str]) -> str:
    """``spec`` when the checks before Keras report the case (the schema, the data files the
    spec names: Keras is never imported), else ``keras``."""
    from kexp.errors import KexpError
    from kexp.experiment import check_inputs
    from kexp.spec import configure, load_spec

    overrides = [a for a in extra if a != "--set"]
    try:
        parsed = load_spec(spec)
        check_inputs(parsed, configure(parsed, overrides), overrides, None)
    except KexpError:
        return "spec"
    return "keras"


def run_all(base: Path, selected: list[tuple[str, str, list[str], list[str]]],
            plain: list[tuple[str, list[str], list[str]]], repeat: int) -> None:
    """Each case, best of ``repeat``; a case that imports Keras is paired with a bare
    ``import keras`` timed just before it (best of ``repeat`` too), so that both see the
    same load on the machine."""
    rows: list[tuple[str, str, float, float, str]] = []
    for case_id, text, extra, expected in selected:
        spec = base / f"{case_id}.yaml"
        spec.write_text(text)
        kind = stage(spec, extra)
        best, keras, verdict = float("inf"), float("inf"), "ok"
        for _ in range(repeat):
            if kind == "keras":
                keras = min(keras, import_keras(base))
            seconds, done = timed([*kexp_command(), "validate", str(spec), *extra], base)
            best = min(best, seconds)
            output = done.stdout + done.stderr
            if done.returncode != 2 or "Traceback" in output or not all(e in output for e in expected):
                verdict = f"WRONG (exit {done.returncode}): {output.strip().splitlines()[-1:]}"
        rows.append((case_id, kind, best, keras, verdict))
    for case_id, argv, expected in plain:
        best, verdict = float("inf"), "ok"
        for _ in range(repeat):
            seconds, done = timed([*kexp_command(), *argv], base)
            best = min(best, seconds)
            output = done.stdout + done.stderr
            if done.returncode != 2 or "Traceback" in output or not all(e in output for e in expected):
                verdict = f"WRONG (exit {done.returncode}): {output.strip().splitlines()[-1:]}"
        rows.append((case_id, "input", best, float("nan"), verdict))
    report(rows)


def report(rows: list[tuple[str, str, float, float, str]]) -> None:
    print(f"{'case':32} {'stage':>5} {'kexp validate':>13} {'import keras':>13} {'ratio':>6} {'diff':>7}")
    for case_id, kind, seconds, keras, verdict in rows:
        pair = (f"{keras:12.2f}s {seconds / keras:6.2f} {seconds - keras:+6.2f}s" if kind == "keras"
                else f"{'':13} {'':6} {'':7}")
        print(f"{case_id:32} {kind:>5} {seconds:12.2f}s {pair}" + ("" if verdict == "ok" else f"  {verdict}"))
    spec = [(c, s) for c, kind, s, _, _ in rows if kind in ("spec", "input")]
    named = [(c, s, k) for c, kind, s, k, _ in rows if kind == "keras"]
    if spec:
        slow = [c for c, s in spec if s > 1.0]
        print(f"\n{len(spec)} cases reported before Keras is imported (the schema, the files a "
              f"command is given): median {statistics.median(s for _, s in spec):.2f} s, worst "
              f"{max(s for _, s in spec):.2f} s; goal (at most 1 s): "
              f"{'met' if not slow else 'missed by ' + ', '.join(slow)}")
    if named:
        ratios = [s / k for _, s, k in named]
        diffs = [s - k for _, s, k in named]
        worst = max(named, key=lambda r: r[1] - r[2])[0]
        print(f"{len(named)} cases past the schema check (Keras imported), against a bare import "
              f"keras timed just before each (median {statistics.median(k for _, _, k in named):.2f} s): "
              f"ratio median {statistics.median(ratios):.2f}, worst {max(ratios):.2f}; difference "
              f"median {statistics.median(diffs):+.2f} s, worst {max(diffs):+.2f} s ({worst})")
        over = [c for (c, _, _), d in zip(named, diffs, strict=True) if d > 1.0]
        print(f"goal (within import keras + 1 s): {'met' if not over else 'missed by ' + ', '.join(over)}")
    wrong = [r[0] for r in rows if r[4] != "ok"]
    if wrong:
        print(f"wrong message or exit code: {', '.join(wrong)}")


if __name__ == "__main__":
    main()
