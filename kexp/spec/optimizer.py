"""The optimizer's arguments whose range is known, checked with the schema (no Keras):
a learning rate is a finite number greater than 0, for every optimizer (``lr``, Keras 2's
name, too) and inside a learning-rate schedule (``initial_learning_rate``); a Keras
optimizer's decay rates, epsilon, weight decay and gradient clipping are within the range
Keras checks or documents for them (and PyTorch checks for the same optimizers).

Anything else (a schedule by custom code, a string) is left to Keras's resolvers in
:mod:`kexp.model.objects`. This module never imports TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kexp.imports import CUSTOM_RE
from kexp.spec.base import KeyedValueError, named


@dataclass(frozen=True)
class Range:
    """A finite number from ``low`` to ``high``; ``open_low``/``open_high``: the limit
    itself is outside."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False

    def holds(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return math.isfinite(value) and above and below

    def describe(self) -> str:
        """``greater than 0``, ``from 0 to 1``, ``from 0 to below 1``, ..."""
        low, high = _number(self.low), _number(self.high)
        if self.high == math.inf:
            return f"greater than {low}" if self.open_low else f"of at least {low}"
        if self.low == -math.inf:
            return f"less than {high}" if self.open_high else f"of at most {high}"
        if self.open_low:
            return f"greater than {low} and {'below' if self.open_high else 'at most'} {high}"
        return f"from {low} to {'below ' if self.open_high else ''}{high}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


POSITIVE = Range(0, open_low=True)
NON_NEGATIVE = Range(0)
NON_POSITIVE = Range(high=0)
UNIT = Range(0, 1)  # [0, 1]
DECAY = Range(0, 1, open_high=True)  # [0, 1): Adam's bias correction divides by 1 - beta**t

#: every optimizer's learning rate (``lr``: Keras 2's name, read as learning_rate)
LEARNING_RATE = {"learning_rate": POSITIVE, "lr": POSITIVE}

#: the arguments of Keras's base optimizer that every Keras optimizer takes
COMMON = {
    "weight_decay": NON_NEGATIVE,
    "clipnorm": POSITIVE,
    "clipvalue": POSITIVE,
    "global_clipnorm": POSITIVE,
    "ema_momentum": UNIT,  # Keras: "must be in the range [0, 1]"
}

_ADAM = {"beta_1": DECAY, "beta_2": DECAY, "epsilon": NON_NEGATIVE}

#: per Keras optimizer (its name in lower case, as ``keras.optimizers.get`` takes it)
OPTIMIZERS: dict[str, dict[str, Range]] = {
    "adam": _ADAM,
    "adamw": _ADAM,
    "adamax": _ADAM,
    "nadam": _ADAM,
    "lamb": _ADAM,
    "sgd": {"momentum": UNIT},  # Keras: "`momentum` must be a float between [0, 1]"
    "rmsprop": {"rho": UNIT, "momentum": NON_NEGATIVE, "epsilon": NON_NEGATIVE},
    "adadelta": {"rho": UNIT, "epsilon": NON_NEGATIVE},
    "adagrad": {"initial_accumulator_value": NON_NEGATIVE, "epsilon": NON_NEGATIVE},
    "ftrl": {  # as Keras's Ftrl checks them
        "initial_accumulator_value": NON_NEGATIVE,
        "learning_rate_power": NON_POSITIVE,
        "l1_regularization_strength": NON_NEGATIVE,
        "l2_regularization_strength": NON_NEGATIVE,
        "l2_shrinkage_regularization_strength": NON_NEGATIVE,
    },
    "lion": {"beta_1": Range(0, 1, open_low=True), "beta_2": UNIT},  # Keras checks beta_1
}

#: per Keras learning-rate schedule (``keras.optimizers.schedules``), in lower case
SCHEDULES: dict[str, dict[str, Range]] = {
    "exponentialdecay": {"initial_learning_rate": POSITIVE, "decay_steps": POSITIVE},
    "inversetimedecay": {"initial_learning_rate": POSITIVE, "decay_steps": POSITIVE},
    "polynomialdecay": {"initial_learning_rate": POSITIVE, "decay_steps": POSITIVE,
                        "end_learning_rate": NON_NEGATIVE},
    "cosinedecay": {"initial_learning_rate": POSITIVE, "decay_steps": POSITIVE,
                    "alpha": UNIT, "warmup_target": POSITIVE},
    "cosinedecayrestarts": {"initial_learning_rate": POSITIVE, "first_decay_steps": POSITIVE,
                            "alpha": UNIT},
}


def _received(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)


def _in_range(value: Any, rng: Range, at: tuple[Any, ...]) -> None:
    if value is None or isinstance(value, (str, dict, list)):
        return  # null: Keras's default; a schedule or a name: checked where it resolves
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not rng.holds(value):
        raise KeyedValueError(
            at, f"expected a finite number {rng.describe()}, received {_received(value)}")


def _check(args: dict[str, Any], ranges: dict[str, Range], at: tuple[Any, ...]) -> None:
    for key, rng in ranges.items():
        _in_range(args.get(key), rng, at + (key,))


def _schedule(value: Any, at: tuple[Any, ...]) -> None:
    """A learning-rate schedule ``{ExponentialDecay: {initial_learning_rate: ...}}``."""
    if not isinstance(value, dict) or len(value) != 1:
        return
    name, args = named(value)
    if not isinstance(name, str) or not isinstance(args, dict) or CUSTOM_RE.match(name):
        return
    _check(args, SCHEDULES.get(name.lower(), {}), at + (name,))
    if name.lower() == "piecewiseconstantdecay" and isinstance(args.get("values"), list):
        for i, rate in enumerate(args["values"]):
            _in_range(rate, POSITIVE, at + (name, "values", i))


def check_optimizer(obj: Any) -> Any:
    """``compile.optimizer`` if its known arguments are in range; else a KeyedValueError
    naming the argument (``Adam.learning_rate``), the range and the value."""
    name, args = named(obj)
    if not isinstance(args, dict):
        return obj
    custom = bool(CUSTOM_RE.match(name))
    ranges = {**LEARNING_RATE} if custom else {
        **LEARNING_RATE, **COMMON, **OPTIMIZERS.get(name.lower(), {})}
    _check(args, ranges, (name,))
    for key in LEARNING_RATE:
        _schedule(args.get(key), (name, key))
    return obj
