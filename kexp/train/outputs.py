"""Per-output settings of a model with named outputs: losses, loss weights, metrics,
and the per-output columns of ``predictions.csv``.

``compile.loss: {out1: binary_crossentropy, out2: mse}`` gives each output its loss;
a plain ``loss: mse`` applies to every output. Keras names the results after the
outputs (``out1_loss``, ``val_out2_mae``), so history.csv and metrics.json carry them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kexp.errors import ConfigError, did_you_mean
from kexp.model import objects
from kexp.spec import CompileConfig, single_key


def per_output(value: Any, outputs: list[str], loc: tuple) -> dict[str, Any] | None:
    """``{output: value}`` when ``value`` is given per output name, else None.

    A mapping is per output when it has several keys, or one key that names an output
    (``{out1: mse}``); ``{Huber: {delta: 2}}`` is one loss for every output.
    """
    if not isinstance(value, dict) or not value:
        return None
    if len(value) == 1 and next(iter(value)) not in outputs:
        return None
    for key in value:
        if key not in outputs:
            raise ConfigError(
                loc + (key,),
                f"'{key}' is not an output of the model (outputs: {', '.join(outputs)})",
                hint=did_you_mean(str(key), outputs) or "Name the model's outputs (model.outputs)",
            )
    return dict(value)


def _named_object(value: Any, loc: tuple) -> Any:
    try:
        return single_key(value)
    except ValueError as exc:
        raise ConfigError(loc, str(exc)) from None


def compile_args(
    cfg: CompileConfig, outputs: list[str], named: bool, notes: list[str]
) -> dict[str, Any]:
    """``loss``, ``metrics`` and ``loss_weights`` for ``model.compile`` of a functional model.

    With ``named`` (dict outputs) each is a dict keyed by output name; otherwise the
    model has one output and per-output values name that output.
    """
    loc = ("compile", "loss")
    losses = per_output(cfg.loss, outputs, loc)
    if losses is not None:
        missing = [o for o in outputs if o not in losses]
        if missing:
            raise ConfigError(
                loc,
                f"no loss for output(s) {', '.join(missing)}; every output needs one",
                hint=f"Add {', '.join(f'{m}: <loss>' for m in missing)}, or give one loss for all",
            )
        loss: dict[str, Any] = {
            o: objects.loss(_named_object(v, loc + (o,)), loc + (o,), notes) for o, v in losses.items()
        }
    else:
        loss = {o: objects.loss(cfg.loss, loc, notes) for o in outputs}

    mloc = ("compile", "metrics")
    metrics: dict[str, list[Any]] = {o: [] for o in outputs}
    if isinstance(cfg.metrics, dict):
        per = per_output(cfg.metrics, outputs, mloc) or {}
        for o, items in per.items():
            items = items if isinstance(items, list) else [items]
            metrics[o] = [objects.metric(m, mloc + (o, i), notes) for i, m in enumerate(items)]
    else:
        for o in outputs:
            metrics[o] = [objects.metric(m, mloc + (i,), notes) for i, m in enumerate(cfg.metrics)]

    wloc = ("compile", "loss_weights")
    weights: dict[str, float] | None = None
    if isinstance(cfg.loss_weights, list):
        if len(cfg.loss_weights) != len(outputs):
            raise ConfigError(
                wloc,
                f"expected one weight per output ({len(outputs)}: {', '.join(outputs)}), "
                f"received {len(cfg.loss_weights)}",
                hint="Or name them: loss_weights: {" + ", ".join(f"{o}: 1.0" for o in outputs) + "}",
            )
        weights = dict(zip(outputs, cfg.loss_weights, strict=True))
    elif isinstance(cfg.loss_weights, dict):
        given = per_output(cfg.loss_weights, outputs, wloc) or {}
        weights = {o: float(given.get(o, 1.0)) for o in outputs}

    if named:
        return {"loss": loss, "metrics": metrics, "loss_weights": weights}
    only = outputs[0]
    return {
        "loss": loss[only],
        "metrics": metrics[only],
        "loss_weights": None if weights is None else [weights[only]],
    }


def check_single(cfg: CompileConfig) -> None:
    """A Sequential model has one output: refuse settings given per output name."""
    if isinstance(cfg.metrics, dict):
        raise ConfigError(
            ("compile", "metrics"),
            "metrics per output name need a functional model with named outputs",
            hint="Give a list, e.g. metrics: [accuracy]",
        )
    if isinstance(cfg.loss, dict) and len(cfg.loss) != 1:
        raise ConfigError(
            ("compile", "loss"),
            "a loss per output name needs a functional model with named outputs",
            hint="Give one loss, e.g. loss: binary_crossentropy",
        )
    if isinstance(cfg.loss_weights, dict) or (
        isinstance(cfg.loss_weights, list) and len(cfg.loss_weights) != 1
    ):
        raise ConfigError(
            ("compile", "loss_weights"),
            "loss weights per output need a functional model with several outputs",
            hint="Remove loss_weights",
        )


def loss_of(cfg: CompileConfig, output: str, outputs: list[str]) -> Any:
    """The loss (as written in the spec) of one output."""
    losses = per_output(cfg.loss, outputs, ("compile", "loss"))
    return losses[output] if losses is not None else cfg.loss


def predictions_frame(
    proba: dict[str, Any],
    y_raw: dict[str, Any] | None,
    classes: dict[str, Any],
    binary: dict[str, bool],
    frame_of: Any,
) -> pd.DataFrame:
    """Per-output columns ``<output>.y_true``, ``<output>.y_pred``, ``<output>.prob_<c>``."""
    parts = []
    for out, p in proba.items():
        frame = frame_of(np.asarray(p), None if y_raw is None else y_raw.get(out), classes.get(out), binary[out])
        parts.append(frame.add_prefix(f"{out}."))
    return pd.concat(parts, axis=1)
