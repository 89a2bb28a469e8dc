"""Layers by class name through ``keras.layers.deserialize``; their initializer,
regularizer, constraint and activation arguments resolved by name too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kexp import backend
from kexp.errors import ConfigError, did_you_mean
from kexp.model import custom
from kexp.model.objects import activation, constraint, initializer, regularizer
from kexp.model.resolve import CUSTOM_RE, Loc, first_line, keras, kwarg_hint
from kexp.spec import named


def layer_names() -> list[str]:
    k = keras()
    return [
        n
        for n in dir(k.layers)
        if isinstance(getattr(k.layers, n), type) and issubclass(getattr(k.layers, n), k.layers.Layer)
    ]


_SUFFIX_RESOLVERS: dict[str, Callable[[Any, Loc], Any]] = {
    "_initializer": initializer,
    "_regularizer": regularizer,
    "_constraint": constraint,
}


def layer_kwargs(kwargs: dict[str, Any], loc: Loc) -> dict[str, Any]:
    """Resolve initializer/regularizer/constraint/activation arguments of a layer."""
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        kloc = loc + (key,)
        if value is None or not isinstance(key, str):
            out[key] = value
            continue
        for suffix, fn in _SUFFIX_RESOLVERS.items():
            if key.endswith(suffix) and isinstance(value, (str, dict)):
                value = fn(value, kloc)
                break
        else:
            if key in ("activation", "recurrent_activation") and isinstance(value, (str, dict)):
                value = activation(value, kloc)
            elif key in ("layer", "backward_layer") and isinstance(value, dict) and len(value) == 1:
                # wrappers (Bidirectional, TimeDistributed) take a layer's config
                value = keras().layers.serialize(layer(value, kloc))
        out[key] = value
    return out


def _positional(k: Any, name: str, value: Any, loc: Loc) -> dict[str, Any]:
    """``{MaxPooling2D: 3}``: the value of the layer's first argument, as Keras's
    ``MaxPooling2D(3)`` takes it (``Dense: 64`` is ``units: 64``, ``Dropout: 0.5`` is
    ``rate: 0.5``)."""
    import inspect

    cls = getattr(k.layers, name, None)
    params = []
    if isinstance(cls, type):
        params = [p for p in inspect.signature(cls).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not params or isinstance(value, bool) or not isinstance(value, (int, float, str, list)):
        example = f"{{{name}: {{{params[0].name}: ...}}}}" if params else f"{{{name}: {{...}}}}"
        raise ConfigError(loc + (name,), f"expected a mapping of keyword arguments, received "
                          f"{value!r}", hint=f"e.g. {example}")
    return {params[0].name: value}


def layer(obj: Any, loc: Loc) -> Any:
    """Build one layer from ``{ClassName: {kwargs}}`` via ``keras.layers.deserialize``."""
    k = keras()
    name, args = named(obj)
    if args is not None and not isinstance(args, dict):
        args = _positional(k, name, args, loc)
    lloc = loc + (name,) if isinstance(obj, dict) else loc
    if CUSTOM_RE.match(name):
        cls = custom.load("layer", name, lloc, with_args=args is not None)
        return custom.instantiate("layer", name, cls, layer_kwargs(args or {}, lloc), lloc)
    if name == "Lambda":
        raise ConfigError(
            lloc,
            "kexp builds no Lambda layer: its function would be code in the spec, and Keras "
            "refuses to load a saved Lambda in safe mode",
            hint="Write a keras.layers.Layer subclass and name it as package.module:Class",
        )
    cls = getattr(k.layers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, k.layers.Layer)):
        raise ConfigError(lloc, f"unknown layer '{name}'", hint=did_you_mean(name, layer_names()))
    kwargs = layer_kwargs(args or {}, lloc)
    backend.needs_tensorflow(cls)
    try:
        try:
            return k.layers.deserialize(
                {"module": "keras.layers", "class_name": name, "config": kwargs,
                 "registered_name": None}
            )
        except KeyError:
            # a from_config that reads a key of the full saved config (Rescaling's offset):
            # the class made from the arguments given, as Keras's constructor takes them
            return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            lloc, f"invalid arguments for {name}: {first_line(exc)}", hint=kwarg_hint(cls, args or {})
        ) from None
