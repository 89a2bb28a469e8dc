"""Whether a finished CV folder still holds the folds its ``summary.json`` is over.

``kexp cv`` writes ``summary.json`` (each metric's mean over the completed folds) once; a
fold folder deleted (or its ``metrics.json``) since leaves that mean over folds that are no
longer there. :func:`fold_coverage` says which are gone and takes the mean over the folds
left, so ``kexp ls``, ``compare`` and ``plot`` can say ``4/5 folds`` and point to
``kexp cv --resume``, which trains such a fold again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kexp.rundir.files import json_object

__all__ = ["FoldCoverage", "fold_coverage", "fold_number"]


@dataclass(frozen=True)
class FoldCoverage:
    """The folds a CV folder's ``summary.json`` is over, and which of them the folder still
    holds: a fold folder deleted (or its ``metrics.json``) since the summary was written
    leaves the summary's means over folds that are no longer there."""

    planned: int
    """The folds the CV planned (``summary.json``'s ``folds``)."""
    summarized: tuple[int, ...]
    """The folds the summary's means are over (every planned fold but the failed ones)."""
    problems: dict[int, str]
    """Fold -> what is wrong with its folder (``fold 3's folder is missing``)."""
    means: dict[str, float]
    """Each metric's mean over the folds that are still there (when a fold is not)."""

    @property
    def kept(self) -> tuple[int, ...]:
        """The summarized folds whose folders still hold a completed fold."""
        return tuple(f for f in self.summarized if f not in self.problems)

    @property
    def whole(self) -> bool:
        return not self.problems

    def progress(self) -> str:
        """``4/5 folds``: the folds a mean is over, of those planned."""
        return f"{len(self.kept)}/{self.planned} folds"


    def note(self, run_id: str, path: Path) -> str:
        """``<id>: fold 3's folder is missing: the mean is over 4 of 5 folds; run `kexp cv
        --resume <path>` to retrain it``."""
        kept, what = len(self.kept), "; ".join(self.problems.values())
        mean = (f"the mean is over {kept} of {self.planned} folds" if kept
                else f"no fold of {self.planned} is left to take a mean over")
        again = "it" if len(self.problems) == 1 else "them"
        return f"{run_id}: {what}: {mean}; run `kexp cv --resume {path}` to retrain {again}"


def fold_number(path: Path) -> int | None:
    """``fold-03`` -> 3; None for another name."""
    digits = path.name.removeprefix("fold-")
    return int(digits) if digits.isdigit() and digits != path.name else None


def fold_coverage(summary: dict[str, Any], fold_dirs: Iterable[Path]) -> FoldCoverage | None:
    """The coverage of the CV whose ``summary.json`` is ``summary`` and whose fold folders
    are ``fold_dirs``: every planned fold but the failed ones must be a folder with its
    ``metrics.json`` (only names are looked at, unless one is not there: then the folds
    left are read for their means). None when ``summary`` does not say how many folds."""
    planned, failed = summary.get("folds"), summary.get("failed")
    if not isinstance(planned, int) or isinstance(planned, bool) or planned < 1:
        return None
    failed_folds = set(failed) if isinstance(failed, list) else set()
    summarized = tuple(f for f in range(1, planned + 1) if f not in failed_folds)
    folders = {n: p for p in fold_dirs if (n := fold_number(p)) is not None}
    problems: dict[int, str] = {}
    for fold in summarized:
        folder = folders.get(fold)
        if folder is None:
            problems[fold] = f"fold {fold}'s folder is missing"
        elif not (folder / "metrics.json").is_file():
            problems[fold] = f"fold {fold}'s metrics.json is missing"
    if not problems:
        return FoldCoverage(planned, summarized, {}, {})
    means = _fold_means(folders, summarized, problems)
    return FoldCoverage(planned, summarized, problems, means)


def _fold_means(folders: dict[int, Path], summarized: Sequence[int],
                problems: dict[int, str]) -> dict[str, float]:
    """Each metric's mean over the summarized folds without a problem; a fold whose
    ``metrics.json`` cannot be read joins ``problems``."""
    values: dict[str, list[float]] = {}
    for fold in summarized:
        if fold in problems:
            continue
        data, problem = json_object(folders[fold] / "metrics.json")
        metrics = data.get("metrics")
        if problem or not isinstance(metrics, dict):
            problems[fold] = f"fold {fold}'s metrics.json: {problem or 'no metrics in it'}"
            continue
        for name, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values.setdefault(str(name), []).append(float(value))
    return {name: sum(v) / len(v) for name, v in values.items()}
