"""Compile a model with the spec's loss, optimizer and metrics, per output where given.

``compile.loss: {out1: binary_crossentropy, out2: mse}`` gives each output of a
functional model its loss; a plain ``loss: mse`` applies to every output. Keras names
the results after the outputs (``out1_loss``, ``val_out2_mae``) when there are several,
so history.csv and metrics.json carry them. A Sequential spec has one output and refuses
settings given per output name.
"""

from __future__ import annotations

from typing import Any

from kexp.errors import ConfigError, did_you_mean
from kexp.model import objects
from kexp.spec import CompileConfig, single_key
from kexp.train import feed


def compile_model(model: Any, cfg: CompileConfig, outputs: list[str], notes: list[str], *,
                  per_name: bool = True) -> None:
    """Compile ``model`` (outputs named ``outputs``) as the spec says.

    ``per_name``: the spec may give losses, loss weights and metrics per output name (a
    functional model); otherwise such settings are refused.
    """
    if not per_name:
        check_single(cfg)
    args = compile_args(cfg, outputs, notes, per_name=per_name)
    model.compile(
        loss=args["loss"],
        optimizer=objects.optimizer(cfg.optimizer, ("compile", "optimizer"), notes),
        metrics=args["metrics"],
        loss_weights=args["loss_weights"],
        steps_per_execution=feed.per_call(cfg.steps_per_execution),
        jit_compile=cfg.jit_compile,
    )


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
    cfg: CompileConfig, outputs: list[str], notes: list[str], *, per_name: bool = True
) -> dict[str, Any]:
    """``loss``, ``metrics`` and ``loss_weights`` for ``model.compile``.

    With several outputs each is a dict keyed by output name; with one, the values of
    that output (which per-output settings may still name).
    """
    names = outputs if per_name else []
    loss = _losses(cfg, outputs, names, notes)
    metrics = _metrics(cfg, outputs, names, notes)
    weights = _weights(cfg, outputs, names)
    if len(outputs) > 1:
        return {"loss": loss, "metrics": metrics, "loss_weights": weights}
    only = outputs[0]
    return {
        "loss": loss[only],
        "metrics": metrics[only],
        "loss_weights": None if weights is None else [weights[only]],
    }


def _losses(cfg: CompileConfig, outputs: list[str], names: list[str], notes: list[str]) -> dict[str, Any]:
    loc = ("compile", "loss")
    losses = per_output(cfg.loss, names, loc)
    if losses is None:
        return {o: objects.loss(cfg.loss, loc, notes) for o in outputs}
    missing = [o for o in outputs if o not in losses]
    if missing:
        raise ConfigError(
            loc,
            f"no loss for output(s) {', '.join(missing)}; every output needs one",
            hint=f"Add {', '.join(f'{m}: <loss>' for m in missing)}, or give one loss for all",
        )
    return {o: objects.loss(_named_object(v, loc + (o,)), loc + (o,), notes) for o, v in losses.items()}


def _metrics(cfg: CompileConfig, outputs: list[str], names: list[str],
             notes: list[str]) -> dict[str, list[Any]]:
    loc = ("compile", "metrics")
    metrics: dict[str, list[Any]] = {o: [] for o in outputs}
    if isinstance(cfg.metrics, dict):
        for o, items in (per_output(cfg.metrics, names, loc) or {}).items():
            items = items if isinstance(items, list) else [items]
            metrics[o] = [objects.metric(m, loc + (o, i), notes) for i, m in enumerate(items)]
        return metrics
    for o in outputs:
        metrics[o] = [objects.metric(m, loc + (i,), notes) for i, m in enumerate(cfg.metrics)]
    return metrics


def _weights(cfg: CompileConfig, outputs: list[str], names: list[str]) -> dict[str, float] | None:
    loc = ("compile", "loss_weights")
    if isinstance(cfg.loss_weights, list):
        if len(cfg.loss_weights) != len(outputs):
            raise ConfigError(
                loc,
                f"expected one weight per output ({len(outputs)}: {', '.join(outputs)}), "
                f"received {len(cfg.loss_weights)}",
                hint="Or name them: loss_weights: {" + ", ".join(f"{o}: 1.0" for o in outputs) + "}",
            )
        return dict(zip(outputs, cfg.loss_weights, strict=True))
    if isinstance(cfg.loss_weights, dict):
        given = per_output(cfg.loss_weights, names, loc) or {}
        return {o: float(given.get(o, 1.0)) for o in outputs}
    return None


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
