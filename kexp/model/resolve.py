"""Resolve names in a spec to Keras objects through Keras's own resolvers.

The core every kind shares: ``resolve`` turns a name (``adam``), a one-key mapping
with arguments (``{SGD: {momentum: 0.9}}``) or custom code
(``package.module:attribute``, imported and checked against its slot by
:mod:`kexp.model.custom` before anything calls it) into a Keras object with
the getter Keras itself uses (``keras.optimizers.get``, ...). kexp keeps no table
of Keras names. The kinds are in :mod:`kexp.model.objects` and :mod:`kexp.model.layers`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from kexp.errors import ConfigError, did_you_mean
from kexp.imports import CUSTOM_RE, Loc, add_search_path, import_object
from kexp.model import custom
from kexp.spec import named

__all__ = [
    "CUSTOM_RE", "Loc", "add_search_path", "class_for", "custom_objects_in", "first_line",
    "import_object", "keras", "kwarg_hint", "public_names", "resolve",
]


def keras() -> Any:
    from kexp.backend import keras as import_keras

    return import_keras()


def custom_objects_in(tree: Any) -> dict[str, Any]:
    """Every ``package.module:attribute`` of a resolved config, imported and checked
    against its slot like the spec's own (nothing is called).

    Used to load a saved model that refers to custom losses, metrics or layers.
    """
    return custom.objects_in(tree if isinstance(tree, dict) else {})


def public_names(module: Any) -> list[str]:
    skip = {"get", "serialize", "deserialize"}
    return [
        n
        for n in dir(module)
        if not n.startswith("_") and n not in skip and callable(getattr(module, n, None))
    ]


def class_for(module: Any, name: str) -> Any:
    """The class behind ``name`` in a Keras module: ``l1_l2`` -> L1L2,
    ``categorical_crossentropy`` -> CategoricalCrossentropy."""
    obj = getattr(module, name, None)
    if isinstance(obj, type):
        return obj
    wanted = name.replace("_", "").lower()
    for n in dir(module):
        cand = getattr(module, n)
        if isinstance(cand, type) and n.replace("_", "").lower() == wanted:
            return cand
    return None


def resolve(
    kind: str,
    module: Any,
    getter: Callable[[Any], Any],
    obj: Any,
    loc: Loc,
) -> Any:
    """Resolve a NamedObject (``name``, ``{Name: {kwargs}}``, ``{Name: value}``)."""
    name, args = named(obj)
    if args is not None and not isinstance(obj, str):
        loc = loc + (name,)
    if CUSTOM_RE.match(name):
        return custom.make(kind, name, args, loc)
    if args is None:
        try:
            return getter(name)
        except (ValueError, TypeError, KeyError):
            raise ConfigError(
                loc,
                f"unknown {kind} '{name}'",
                hint=did_you_mean(name, public_names(module))
                or f"See keras.{module.__name__.split('.')[-1]} for the names",
            ) from None
    cls = class_for(module, name)
    if cls is None:
        raise ConfigError(
            loc,
            f"unknown {kind} class '{name}'",
            hint=did_you_mean(name, [n for n in public_names(module) if n[:1].isupper()]),
        )
    try:
        return cls(**args) if isinstance(args, dict) else cls(args)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            loc,
            f"invalid arguments for {cls.__name__}: {first_line(exc)}",
            hint=kwarg_hint(cls, args),
        ) from None


def first_line(exc: BaseException) -> str:
    """The message that says what went wrong (Keras nests the real one at the end)."""
    text = str(exc).strip()
    marker = "Exception encountered: "
    if marker in text:
        text = text.rsplit(marker, 1)[1]
    lines = text.splitlines()
    return lines[0] if lines else type(exc).__name__


def _init_params(cls: type) -> list[str]:
    params: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            sig = inspect.signature(init)
        except (TypeError, ValueError):
            continue
        params += [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
            break
    return list(dict.fromkeys(params))


def kwarg_hint(cls: type, args: Any) -> str | None:
    if not isinstance(args, dict):
        return None
    known = _init_params(cls)
    for key in args:
        if key not in known:
            hint = did_you_mean(str(key), known)
            if hint:
                return f"'{key}' is not an argument of {cls.__name__}. {hint}"
            return f"'{key}' is not an argument of {cls.__name__}; it takes: {', '.join(known)}"
    return None
