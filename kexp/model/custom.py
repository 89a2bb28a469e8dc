"""Custom code named in a spec as ``package.module:attribute``: imported, then checked
against the slot it fills before anything calls it.

Importing a module runs its top level (so a spec names code its user trusts); nothing
from a spec is ever ``eval``ed. What the import gives must then be what the slot
accepts: a plain Python function (a loss, a metric or an activation; never called
here) or a subclass of the slot's Keras base class. Only such classes are called, with
the spec's arguments. Built-ins, functions of Python's standard library and anything
that is not callable are refused, naming the YAML key and what the slot accepts.
:mod:`kexp.model.keep` keeps a copy of the modules with the run.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from kexp.backend import keras
from kexp.errors import ConfigError, exception_line
from kexp.imports import CUSTOM_RE, Loc, import_object

#: slot -> the Keras base class (as ``module.Class`` of ``keras``) its classes subclass
BASES = {
    "loss": "losses.Loss",
    "metric": "metrics.Metric",
    "activation": "layers.Layer",
    "layer": "layers.Layer",
    "optimizer": "optimizers.Optimizer",
    "initializer": "initializers.Initializer",
    "regularizer": "regularizers.Regularizer",
    "constraint": "constraints.Constraint",
    "callback": "callbacks.Callback",
    "learning-rate schedule": "optimizers.schedules.LearningRateSchedule",
}
#: the slot of a Python data set (data.object): a PyDataset subclass or a generator function
DATA_SET = "data set"
#: slots that also take a plain Python function, with the arguments Keras calls it with
FUNCTIONS = {"loss": ("y_true", "y_pred"), "metric": ("y_true", "y_pred"), "activation": ("x",)}


def base_class(kind: str) -> type:
    """The Keras class a custom class in slot ``kind`` must subclass."""
    obj: Any = keras()
    for part in BASES[kind].split("."):
        obj = getattr(obj, part)
    return obj


def accepts(kind: str) -> str:
    """What slot ``kind`` takes, in words: ``a Python function f(y_true, y_pred) or ...``."""
    cls = f"a subclass of keras.{BASES[kind]}"
    if kind in FUNCTIONS:
        return f"a Python function f({', '.join(FUNCTIONS[kind])}) or {cls}"
    return cls


def is_stdlib(obj: Any) -> bool:
    """Whether ``obj`` is defined in Python's standard library (or is a built-in)."""
    module = getattr(obj, "__module__", None) or ""
    top = module.split(".")[0]
    return top in sys.stdlib_module_names or top == "builtins"


def what_it_is(obj: Any) -> str:
    """``obj`` described for an error message."""
    qual = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"
    if inspect.isbuiltin(obj):
        return f"a built-in ({qual})"
    if isinstance(obj, type):
        return f"the class {qual}"
    if inspect.isfunction(obj):
        return f"a function of Python's standard library ({qual})" if is_stdlib(obj) else f"the function {qual}"
    kind = type(obj).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    if callable(obj):
        return f"{article} {kind} object, not a class or function"
    return f"not callable ({article} {kind})"


def check(kind: str, obj: Any, name: str, loc: Loc, *, with_args: bool) -> None:
    """Refuse ``obj`` (imported from ``name``) unless slot ``kind`` accepts it."""
    if isinstance(obj, type) and issubclass(obj, base_class(kind)):
        return
    if kind in FUNCTIONS and inspect.isfunction(obj) and not is_stdlib(obj):
        if with_args:
            raise ConfigError(
                loc,
                f"'{name}' is a function, so it takes no arguments here; a custom {kind} with "
                f"arguments must be a subclass of keras.{BASES[kind]}",
                hint=f"Write '{name}' alone, or make it a class",
            )
        params = FUNCTIONS[kind]
        try:
            inspect.signature(obj).bind(*params)
        except TypeError:
            raise ConfigError(
                loc,
                f"custom {kind} '{name}' takes {inspect.signature(obj)}; Keras calls it as "
                f"f({', '.join(params)})",
            ) from None
        except ValueError:
            pass  # no signature to check
        return
    if not callable(obj):
        hint = "Name a function or class of your own, not a value"
    elif inspect.isbuiltin(obj) or is_stdlib(obj):
        hint = "kexp never calls built-ins or the standard library from a spec; name your own code"
    elif isinstance(obj, type) or inspect.isfunction(obj):
        hint = f"Write it as a subclass of keras.{BASES[kind]}"
    else:
        hint = "Name its class instead, with the arguments in the spec"
    raise ConfigError(
        loc, f"'{name}' is {what_it_is(obj)}; a custom {kind} must be {accepts(kind)}", hint=hint
    )


def load(kind: str, name: str, loc: Loc, *, with_args: bool = False) -> Any:
    """Import ``name`` and check it against slot ``kind``; nothing is called."""
    obj = import_object(name, loc)
    check(kind, obj, name, loc, with_args=with_args)
    return obj


def instantiate(kind: str, name: str, obj: Any, args: Any, loc: Loc) -> Any:
    """A checked custom class called with the spec's arguments; a function as it is."""
    if not isinstance(obj, type):
        return obj
    try:
        if args is None:
            return obj()
        return obj(**args) if isinstance(args, dict) else obj(args)
    except Exception as exc:
        raise ConfigError(loc, f"custom {kind} '{name}' failed: {exception_line(exc)}") from None


def make(kind: str, name: str, args: Any, loc: Loc) -> Any:
    """Import, check and (a class) instantiate the custom ``name`` for slot ``kind``."""
    obj = load(kind, name, loc, with_args=args is not None)
    return instantiate(kind, name, obj, args, loc)


# ------------------------------------------------------------- custom code in a config

#: layer arguments that hold another layer's config (wrappers)
LAYER_ARGS = ("layer", "backward_layer")
#: keys of a functional node besides its layer
NODE_KEYS = ("inputs", "layer", "call")


def argument_kind(key: Any) -> str | None:
    """The slot a layer argument fills: ``kernel_initializer`` -> initializer."""
    if not isinstance(key, str):
        return None
    if key in ("activation", "recurrent_activation"):
        return "activation"
    for kind in ("initializer", "regularizer", "constraint"):
        if key.endswith(f"_{kind}"):
            return kind
    return None


def _named(value: Any, loc: Loc, kind: str, found: list[tuple[str, str, Loc]]) -> None:
    """Custom names in a name, ``{Name: args}``, a list of them or a mapping per output."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            _named(item, loc + (i,), kind, found)
    elif isinstance(value, str):
        if CUSTOM_RE.match(value):
            found.append((kind, value, loc))
    elif isinstance(value, dict):
        for key, args in value.items():
            if isinstance(key, str) and CUSTOM_RE.match(key):
                found.append((kind, key, loc + (key,)))
            elif kind == "optimizer" and isinstance(args, dict) and "learning_rate" in args:
                _named(args["learning_rate"], loc + (key, "learning_rate"),
                       "learning-rate schedule", found)
            elif kind in ("loss", "metric") and isinstance(args, (str, list)):
                _named(args, loc + (key,), kind, found)  # per output name


def _layer(entry: Any, loc: Loc, found: list[tuple[str, str, Loc]]) -> None:
    if isinstance(entry, str):
        name, args = entry, None
    elif isinstance(entry, dict) and len(entry) == 1:
        name, args = next(iter(entry.items()))
        loc = loc + (name,)
    else:
        return
    if isinstance(name, str) and CUSTOM_RE.match(name):
        found.append(("layer", name, loc))
    for key, value in (args.items() if isinstance(args, dict) else ()):
        if key in LAYER_ARGS:
            _layer(value, loc + (key,), found)
        elif (kind := argument_kind(key)) is not None:
            _named(value, loc + (key,), kind, found)


def references(tree: dict[str, Any]) -> list[tuple[str, str, Loc]]:
    """Every ``package.module:attribute`` of a (resolved) config: (slot, name, YAML path)."""
    found: list[tuple[str, str, Loc]] = []
    model = m if isinstance(m := tree.get("model"), dict) else {}
    layers = model.get("layers")
    for i, entry in enumerate(layers if isinstance(layers, list) else []):
        _layer(entry, ("model", "layers", i), found)
    nodes = model.get("nodes")
    for node, entry in (nodes.items() if isinstance(nodes, dict) else ()):
        if isinstance(entry, dict):
            _layer({k: v for k, v in entry.items() if k not in NODE_KEYS}, ("model", "nodes", node), found)
    comp = c if isinstance(c := tree.get("compile"), dict) else {}
    for key, kind in (("loss", "loss"), ("metrics", "metric"), ("optimizer", "optimizer")):
        _named(comp.get(key), ("compile", key), kind, found)
    fit = f if isinstance(f := tree.get("fit"), dict) else {}
    _named(fit.get("callbacks"), ("fit", "callbacks"), "callback", found)
    data = d if isinstance(d := tree.get("data"), dict) else {}
    if data.get("source") == "python" and isinstance(data.get("object"), str):
        # checked where it is loaded (kexp.data.python); copied with the run like the rest
        found.append((DATA_SET, data["object"], ("data", "object")))
    return found


def objects_in(tree: dict[str, Any]) -> dict[str, Any]:
    """Every custom object of a resolved config, imported and checked (not called), by
    name: the ``custom_objects`` that load a saved model."""
    found: dict[str, Any] = {}
    for kind, name, loc in references(tree):
        if kind == DATA_SET:
            continue  # no part of a saved model
        obj = load(kind, name, loc)
        found[getattr(obj, "__name__", name.split(":")[1])] = obj
    return found
