"""Resolve names in a spec to Keras objects through Keras's own resolvers.

The core every kind shares: ``resolve`` turns a name (``adam``), a one-key mapping
with arguments (``{SGD: {momentum: 0.9}}``) or custom code
(``package.module:attribute``, imported, never evaluated) into a Keras object with
the getter Keras itself uses (``keras.optimizers.get``, ...). kexp keeps no table
of Keras names. The kinds are in :mod:`kexp.model.objects` and :mod:`kexp.model.layers`.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kexp.errors import ConfigError, did_you_mean
from kexp.spec import named

Loc = tuple[Any, ...]
CUSTOM_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

_search_paths: list[str] = []


def keras() -> Any:
    from kexp.backend import keras as import_keras

    return import_keras()


def add_search_path(path: str | Path) -> None:
    """Let ``package.module:attribute`` names resolve relative to ``path`` too."""
    p = str(Path(path).resolve())
    if p not in sys.path:
        sys.path.insert(0, p)
        _search_paths.append(p)


def import_object(name: str, loc: Loc) -> Any:
    """Import ``package.module:attribute`` (never eval)."""
    if not CUSTOM_RE.match(name):
        raise ConfigError(
            loc, f"custom code must be named 'package.module:attribute', received {name!r}"
        )
    module_name, attr = name.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            loc,
            f"cannot import module '{module_name}' ({exc})",
            hint="Run kexp from the folder that holds the package, or install it",
        ) from None
    except Exception as exc:  # the user's module failed while importing
        raise ConfigError(loc, f"importing '{module_name}' failed: {type(exc).__name__}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = [n for n in dir(obj) if not n.startswith("_")]
            raise ConfigError(
                loc,
                f"module '{module_name}' has no attribute '{attr}'",
                hint=did_you_mean(part, public),
            )
        obj = getattr(obj, part)
    return obj


def custom_objects_in(tree: Any) -> dict[str, Any]:
    """Import every ``package.module:attribute`` string in a resolved config.

    Used to load a saved model that refers to custom losses, metrics or layers.
    """
    found: dict[str, Any] = {}

    def walk(node: Any, loc: Loc) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(k, str) and CUSTOM_RE.match(k):
                    obj = import_object(k, loc + (k,))
                    found[getattr(obj, "__name__", k.split(":")[1])] = obj
                walk(v, loc + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, loc + (i,))
        elif isinstance(node, str) and CUSTOM_RE.match(node):
            obj = import_object(node, loc)
            found[getattr(obj, "__name__", node.split(":")[1])] = obj

    walk(tree, ())
    return found


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
    *,
    instantiate_custom: bool = True,
) -> Any:
    """Resolve a NamedObject (``name``, ``{Name: {kwargs}}``, ``{Name: value}``)."""
    name, args = named(obj)
    if args is not None and not isinstance(obj, str):
        loc = loc + (name,)
    if CUSTOM_RE.match(name):
        target = import_object(name, loc)
        if args is None:
            return target
        try:
            return target(**args) if isinstance(args, dict) else target(args)
        except Exception as exc:
            raise ConfigError(loc, f"calling custom {kind} '{name}' failed: {exc}") from None
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
    text = text.splitlines()
    return text[0] if text else type(exc).__name__


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
