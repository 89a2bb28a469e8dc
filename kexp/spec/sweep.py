"""The ``sweep:`` section of a spec: which values of which spec paths a study tries.

``parameters`` maps a spec path, written as ``--set`` writes it
(``compile.optimizer.Adam.learning_rate``, ``model.layers.1.repeat``), to a list of
values (grid or random) or a distribution (random): ``{uniform: [low, high]}``,
``{loguniform: [low, high]}``, ``{randint: [low, high]}`` (high excluded, as
scipy.stats.randint). ``grid`` tries every combination (scikit-learn's
``ParameterGrid``), ``random`` draws ``trials`` of them (``ParameterSampler``), ``tpe``
lets Optuna's TPE sampler propose ``trials`` of them, each from the results so far.
``prune`` (random, tpe) stops trials whose metric lags the median of earlier trials at
the same epoch (Optuna's ``MedianPruner``). This module never imports TensorFlow.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from kexp.spec.base import Base, Limits

DISTRIBUTIONS = ("uniform", "loguniform", "randint")

#: an end of a ``loguniform`` range (the validator checks it, with its own message)
Positive = Annotated[float, Limits(exclusive_minimum=0)]


class Distribution(Base):
    """A range to draw from: exactly one of ``uniform``, ``loguniform``, ``randint``."""

    uniform: tuple[float, float] | None = Field(
        default=None, description="[low, high]: numbers drawn uniformly from low to high")
    loguniform: tuple[Positive, Positive] | None = Field(
        default=None,
        description="[low, high], low > 0: numbers drawn uniformly on a log scale, e.g. [1.0e-4, "
                    "1.0e-2]")
    randint: tuple[int, int] | None = Field(
        default=None, description="[low, high]: whole numbers from low to high - 1 (high excluded)")

    @model_validator(mode="after")
    def _one_range(self) -> Distribution:
        given = [name for name in DISTRIBUTIONS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"expected exactly one of {', '.join(DISTRIBUTIONS)}: [low, high], received "
                + (", ".join(given) if given else "none")
            )
        low, high = getattr(self, given[0])
        if not low < high:
            raise ValueError(f"{given[0]}: expected low < high, received [{low}, {high}]")
        if given[0] == "loguniform" and low <= 0:
            raise ValueError(f"loguniform: expected low > 0, received {low}")
        return self

    @property
    def kind(self) -> str:
        return next(name for name in DISTRIBUTIONS if getattr(self, name) is not None)

    @property
    def bounds(self) -> tuple[Any, Any]:
        return getattr(self, self.kind)


Values = Annotated[list[Any], Field(min_length=1)]


class PruneConfig(Base):
    """Stop a trial early when its metric lags the others (``sweep.prune``, random and tpe)."""

    pruner: Literal["median"] = Field(
        default="median",
        description="median: Optuna's MedianPruner stops a trial whose value at an epoch is worse "
                    "than the median of earlier trials' at that epoch")
    warmup_epochs: Annotated[int, Field(ge=0)] = Field(
        default=0, description="The first epochs of every trial, never pruned (they say little)")
    startup_trials: Annotated[int, Field(ge=0)] = Field(
        default=5, description="The trials that finish before any is pruned (they make the median)")


class SweepConfig(Base):
    """A study of many runs (``kexp sweep``): the same spec with other values at some paths."""

    method: Literal["grid", "random", "tpe"] = Field(
        default="grid",
        description="grid: every combination; random: trials random draws; tpe: Optuna's TPE "
                    "proposes trials sets, each from the results so far")
    metric: str = Field(
        default="loss",
        description="What the study optimizes: a test metric (accuracy) or a history column's last "
                    "value (val_accuracy); with cv, the fold mean")
    goal: Literal["max", "min"] | None = Field(
        default=None,
        description="max or min; null: from the metric's name (accuracy-like max, loss-like min)")
    parameters: Annotated[dict[str, Values | Distribution], Field(min_length=1)] = Field(
        description="Spec paths as --set writes them, each a list of values or a range: "
                    "{model.layers.1.repeat: [0, 1, 2], compile.optimizer.Adam.learning_rate: "
                    "{loguniform: [1.0e-4, 1.0e-2]}}")
    trials: Annotated[int, Field(gt=0)] | None = Field(
        default=None,
        description="How many parameter sets random draws or tpe proposes (grid: all of them)")
    seed: int | None = Field(
        default=None,
        description="The seed of random's draws and tpe's sampler; null: the spec's seed")
    prune: PruneConfig | None = Field(
        default=None,
        description="Stop bad trials early from each epoch's value of the metric (random, tpe), "
                    "e.g. {warmup_epochs: 3}")
    cv: Annotated[int, Field(ge=2)] | None = Field(
        default=None,
        description="Cross-validate every trial with this many folds (--cv K), then refit the best "
                    "parameters on the whole training part")

    @model_validator(mode="after")
    def _method_fits(self) -> SweepConfig:
        ranges = [path for path, value in self.parameters.items() if isinstance(value, Distribution)]
        if self.method == "grid" and ranges:
            raise ValueError(
                f"method grid needs a list of values for every parameter; {', '.join(ranges)} "
                "gives a range. Use method: random (with trials: N), or list the values"
            )
        if self.method in ("random", "tpe") and self.trials is None:
            raise ValueError(f"method {self.method} needs trials: N (how many parameter sets to try)")
        if self.prune is not None and self.cv is not None:
            raise ValueError("prune stops single runs by their epochs; it does not apply to "
                             "cross-validated trials (cv). Remove prune or cv")
        if self.method == "grid" and self.prune is not None:
            raise ValueError("prune applies to method random or tpe; a grid tries every "
                             "combination to the end. Remove prune, or use method: random")
        return self
