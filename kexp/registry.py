"""Resolve names in a spec to Keras objects through Keras's own resolvers.

Layers go through ``keras.layers.deserialize``; losses, metrics, optimizers,
initializers, regularizers, constraints and activations through their
``keras.<module>.get``. kexp keeps no table of Keras names: only a short list of
Keras 2 spellings that Keras 3 renamed or silently ignores, each applied with a
note. Custom code is named explicitly as ``package.module:attribute`` and
imported; nothing is evaluated.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kexp.config import named
from kexp.errors import ConfigError, did_you_mean

Loc = tuple[Any, ...]
CUSTOM_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

#: Keras 2 loss names that Keras 3 no longer resolves -> Keras 3 name.
LEGACY_LOSSES = {
    "logcosh": "log_cosh",
    "kullback_leibler_divergence": "kl_divergence",
    "cosine_proximity": "cosine_similarity",
}
#: Metric strings that ``model.compile`` understands itself (it picks the right
#: accuracy or crossentropy for the loss and output shape).
COMPILE_METRIC_STRINGS = {"accuracy", "acc", "crossentropy", "ce"}
#: Callbacks kexp adds itself, or that are Keras internals.
RESERVED_CALLBACKS = {"Callback", "CallbackList", "History", "ProgbarLogger", "CSVLogger"}

_search_paths: list[str] = []


def keras() -> Any:
    from kexp.tf import keras as import_keras

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


def _public_names(module: Any) -> list[str]:
    skip = {"get", "serialize", "deserialize"}
    return [
        n
        for n in dir(module)
        if not n.startswith("_") and n not in skip and callable(getattr(module, n, None))
    ]


def _class_for(module: Any, name: str) -> Any:
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
                hint=did_you_mean(name, _public_names(module))
                or f"See keras.{module.__name__.split('.')[-1]} for the names",
            ) from None
    cls = _class_for(module, name)
    if cls is None:
        raise ConfigError(
            loc,
            f"unknown {kind} class '{name}'",
            hint=did_you_mean(name, [n for n in _public_names(module) if n[:1].isupper()]),
        )
    try:
        return cls(**args) if isinstance(args, dict) else cls(args)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            loc,
            f"invalid arguments for {cls.__name__}: {_first_line(exc)}",
            hint=_kwarg_hint(cls, args),
        ) from None


def _first_line(exc: BaseException) -> str:
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


def _kwarg_hint(cls: type, args: Any) -> str | None:
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


# ------------------------------------------------------------------------------ kinds


def initializer(obj: Any, loc: Loc) -> Any:
    k = keras()
    return resolve("initializer", k.initializers, k.initializers.get, obj, loc)


def regularizer(obj: Any, loc: Loc) -> Any:
    k = keras()
    return resolve("regularizer", k.regularizers, k.regularizers.get, obj, loc)


def constraint(obj: Any, loc: Loc) -> Any:
    k = keras()
    return resolve("constraint", k.constraints, k.constraints.get, obj, loc)


def activation(obj: Any, loc: Loc) -> Any:
    k = keras()
    if isinstance(obj, str) and not CUSTOM_RE.match(obj):
        resolve("activation", k.activations, k.activations.get, obj, loc)
        return obj  # keep the name: it serializes into model.keras as is
    return resolve("activation", k.activations, k.activations.get, obj, loc)


def loss(obj: Any, loc: Loc, notes: list[str]) -> Any:
    k = keras()
    name, args = named(obj)
    if name in LEGACY_LOSSES:
        new = LEGACY_LOSSES[name]
        notes.append(f"{_fmt(loc)}: Keras 2 loss '{name}' is '{new}' in Keras 3; used '{new}'")
        obj = new if args is None else {new: args}
    return resolve("loss", k.losses, k.losses.get, obj, loc)


def metric(obj: Any, loc: Loc, notes: list[str]) -> Any:
    k = keras()
    name, args = named(obj)
    if args is None and name in COMPILE_METRIC_STRINGS:
        return name
    if args is None and not CUSTOM_RE.match(name) and name not in LEGACY_LOSSES:
        try:
            k.metrics.get(name)
        except ValueError:
            raise ConfigError(
                loc,
                f"unknown metric '{name}'",
                hint=did_you_mean(name, [*_public_names(k.metrics), *COMPILE_METRIC_STRINGS]),
            ) from None
        return name  # compile() names the history columns after the string given
    if name in LEGACY_LOSSES:
        new = LEGACY_LOSSES[name]
        notes.append(f"{_fmt(loc)}: Keras 2 metric '{name}' is '{new}' in Keras 3; used '{new}'")
        obj = new if args is None else {new: args}
    return resolve("metric", k.metrics, k.metrics.get, obj, loc)


def lr_schedule(obj: Any, loc: Loc) -> Any:
    k = keras()
    sched = k.optimizers.schedules

    def getter(name: str) -> Any:
        raise ValueError(name)  # schedules need arguments

    return resolve("learning-rate schedule", sched, getter, obj, loc)


def optimizer(obj: Any, loc: Loc, notes: list[str]) -> Any:
    """Resolve an optimizer, translating Keras 2's ``lr`` and ``decay`` exactly."""
    k = keras()
    name, args = named(obj)
    if args is None or CUSTOM_RE.match(name):
        return resolve("optimizer", k.optimizers, k.optimizers.get, obj, loc)
    if not isinstance(args, dict):
        raise ConfigError(
            loc + (name,), f"expected a mapping of arguments, received {args!r}",
            hint=f"e.g. {{{name}: {{learning_rate: 0.01}}}}",
        )
    args = dict(args)
    aloc = loc + (name,)
    cls = _class_for(k.optimizers, name)
    if "lr" in args:
        if "learning_rate" in args:
            raise ConfigError(aloc + ("lr",), "give learning_rate or lr (Keras 2), not both")
        args["learning_rate"] = args.pop("lr")
        notes.append(f"{_fmt(aloc + ('lr',))}: Keras 2 'lr' is 'learning_rate' in Keras 3; used it")
    if isinstance(args.get("learning_rate"), (dict, str)) and not isinstance(
        args.get("learning_rate"), bool
    ):
        args["learning_rate"] = lr_schedule(args["learning_rate"], aloc + ("learning_rate",))
    decay = args.pop("decay", None)
    if decay:
        if cls is None:
            raise ConfigError(aloc, f"unknown optimizer class '{name}'")
        lr = args.get("learning_rate")
        if lr is None:
            lr = inspect.signature(cls).parameters["learning_rate"].default
        if not isinstance(lr, (int, float)):
            raise ConfigError(
                aloc + ("decay",), "decay needs a constant learning_rate, not a schedule"
            )
        args["learning_rate"] = k.optimizers.schedules.InverseTimeDecay(
            initial_learning_rate=float(lr), decay_steps=1, decay_rate=float(decay)
        )
        notes.append(
            f"{_fmt(aloc + ('decay',))}: Keras 3 ignores 'decay'; applied Keras 2's "
            f"lr / (1 + {decay} * iterations) as InverseTimeDecay({lr}, decay_steps=1, "
            f"decay_rate={decay})"
        )
    return resolve("optimizer", k.optimizers, k.optimizers.get, {name: args}, loc)


def callback(obj: Any, loc: Loc, run_dir: Path | None) -> Any:
    """A ``keras.callbacks`` class by name; relative paths land in the run folder."""
    k = keras()
    name, args = named(obj)
    args = dict(args or {}) if not isinstance(obj, str) else {}
    cloc = loc + (name,) if not isinstance(obj, str) else loc
    if CUSTOM_RE.match(name):
        return resolve("callback", k.callbacks, lambda n: None, obj, loc)
    cls = getattr(k.callbacks, name, None)
    names = [
        n
        for n in dir(k.callbacks)
        if isinstance(getattr(k.callbacks, n), type)
        and issubclass(getattr(k.callbacks, n), k.callbacks.Callback)
        and n not in RESERVED_CALLBACKS
    ]
    if name in RESERVED_CALLBACKS:
        raise ConfigError(
            cloc, f"callback '{name}' is added by kexp itself (history.csv, progress)",
            hint="Remove it",
        )
    if not (isinstance(cls, type) and issubclass(cls, k.callbacks.Callback)):
        raise ConfigError(cloc, f"unknown callback '{name}'", hint=did_you_mean(name, names))
    if name == "TensorBoard" and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(
            cloc,
            "the TensorBoard callback needs the tensorboard package, which is not installed",
            hint="pip install 'kexp[tensorboard]' (or pip install tensorboard), or remove the callback",
        )
    defaults = {
        "ModelCheckpoint": ("filepath", "checkpoint.keras"),
        "TensorBoard": ("log_dir", "tensorboard"),
        "BackupAndRestore": ("backup_dir", "backup"),
    }
    if name in defaults:
        key, default = defaults[name]
        value = Path(args.get(key, default))
        if run_dir is not None and not value.is_absolute():
            value = run_dir / value
        args[key] = str(value)
    try:
        return cls(**args)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            cloc, f"invalid arguments for {name}: {_first_line(exc)}", hint=_kwarg_hint(cls, args)
        ) from None


# ---------------------------------------------------------------------------- layers


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
    out = {}
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


def layer(obj: Any, loc: Loc) -> Any:
    """Build one layer from ``{ClassName: {kwargs}}`` via ``keras.layers.deserialize``."""
    k = keras()
    name, args = named(obj)
    if args is not None and not isinstance(args, dict):
        raise ConfigError(
            loc + (name,),
            f"expected a mapping of keyword arguments, received {args!r}",
            hint=f"e.g. {{{name}: {{units: 64}}}}",
        )
    lloc = loc + (name,) if isinstance(obj, dict) else loc
    if CUSTOM_RE.match(name):
        cls = import_object(name, lloc)
        try:
            return cls(**layer_kwargs(args or {}, lloc))
        except Exception as exc:
            raise ConfigError(lloc, f"custom layer '{name}' failed: {_first_line(exc)}") from None
    cls = getattr(k.layers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, k.layers.Layer)):
        raise ConfigError(lloc, f"unknown layer '{name}'", hint=did_you_mean(name, layer_names()))
    kwargs = layer_kwargs(args or {}, lloc)
    try:
        return k.layers.deserialize(
            {"module": "keras.layers", "class_name": name, "config": kwargs, "registered_name": None}
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            lloc, f"invalid arguments for {name}: {_first_line(exc)}", hint=_kwarg_hint(cls, args or {})
        ) from None


def _fmt(loc: Loc) -> str:
    from kexp.errors import format_path

    return format_path(loc)
