"""What per-epoch checkpoints cost: ``kexp run`` of a spec (default ``configs/mnist.yaml``)
with its checkpoints (the default, ``fit.checkpoint: {every_epochs: 1, keep: 2}``) and with
``fit.checkpoint: false``, in one process (TensorFlow imported once; one warm-up run of
each first, not counted), alternating, ``--repeat`` times each.

Prints the median wall time of each, their ratio, and the time spent writing the
checkpoints (``kexp.train.checkpoint.save``, timed inside the checkpointed runs) as a share
of those runs' wall time. The goal: at most 5 % of the run's wall time.

    python bench/checkpoint.py                    # configs/mnist.yaml, 5 of each
    python bench/checkpoint.py --repeat 9
    python bench/checkpoint.py --spec configs/pima.yaml
    python bench/checkpoint.py --whole-process    # `python -m kexp run` processes, alternating

``--whole-process`` times what a user waits for: ``python -m kexp run SPEC`` with and
without ``--set fit.checkpoint=false`` as separate processes (imports included),
alternating, medians of ``--repeat``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=ROOT / "configs" / "mnist.yaml")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--whole-process", action="store_true")
    args = parser.parse_args()
    if args.whole_process:
        whole_process(args.spec, args.repeat)
        return

    from kexp import experiment
    from kexp.spec import load_spec
    from kexp.train import checkpoint

    saving: list[float] = []
    real_save = checkpoint.save

    def timed_save(*a, **k):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            return real_save(*a, **k)
        finally:
            saving.append(time.perf_counter() - t0)

    checkpoint.save = timed_save  # the saver callback calls it through the module

    def run(overrides: list[str], runs: Path) -> tuple[float, int]:
        spec = load_spec(args.spec)
        t0 = time.perf_counter()
        result = experiment.run(spec, experiment.Options(overrides=overrides, runs_dir=runs,
                                                         verbose=0))
        return time.perf_counter() - t0, len((result.run_dir / "history.csv").read_text()
                                             .splitlines()) - 1

    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        run([], runs)  # warm-up: the data read, the functions traced once
        run(["fit.checkpoint=false"], runs)
        with_ckpt, without, shares, epochs = [], [], [], 0
        for _ in range(args.repeat):
            saving.clear()
            wall, epochs = run([], runs)
            with_ckpt.append(wall)
            shares.append(sum(saving) / wall)
            saves = len(saving)
            wall, _ = run(["fit.checkpoint=false"], runs)
            without.append(wall)
    on, off = statistics.median(with_ckpt), statistics.median(without)
    share = statistics.median(shares)
    print(f"spec: {args.spec.relative_to(ROOT) if args.spec.is_relative_to(ROOT) else args.spec}, "
          f"{epochs} epochs, {saves} checkpoints a run, {args.repeat} runs of each (medians)")
    print(f"with checkpoints:    {on:.3f} s   (runs: {', '.join(f'{w:.2f}' for w in with_ckpt)})")
    print(f"fit.checkpoint=false: {off:.3f} s   (runs: {', '.join(f'{w:.2f}' for w in without)})")
    print(f"ratio with/without: {on / off:.3f}")
    print(f"writing checkpoints: {share * 100:.2f} % of the run's wall time "
          f"({'met' if share <= 0.05 else 'NOT met'}: goal at most 5 %)")


def whole_process(spec: Path, repeat: int) -> None:
    import subprocess

    times: dict[str, list[float]] = {"with checkpoints": [], "fit.checkpoint=false": []}
    with tempfile.TemporaryDirectory() as runs:
        for _ in range(repeat):
            for label, extra in (("with checkpoints", []),
                                 ("fit.checkpoint=false", ["--set", "fit.checkpoint=false"])):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "kexp", "run", str(spec), "--runs-dir", runs,
                                *extra], check=True, capture_output=True, cwd=ROOT)
                times[label].append(time.perf_counter() - t0)
    on, off = (statistics.median(v) for v in times.values())
    print(f"whole process, {spec.name}, median of {repeat} alternating")
    for label, values in times.items():
        print(f"{label:21} {statistics.median(values):.3f} s   "
              f"(runs: {', '.join(f'{w:.2f}' for w in values)})")
    print(f"ratio with/without: {on / off:.3f} ({'met' if on / off <= 1.05 else 'NOT met'}: "
          "goal at most 5 % of the wall time)")


if __name__ == "__main__":
    main()
