"""Validating a spec: :func:`load_config` and :func:`configure`, and pydantic's errors
turned into :class:`ConfigError` messages.

A message names the YAML path and line, what was expected and what was received,
and a close match for a misspelled key or name; a value that fits none of a union's
members gets one "expected A or B" at the deepest place. The layers' input-shape
arguments (:mod:`.shapes`) and functional models' graphs (:mod:`.graph`) are checked once
the schema accepts the spec. This module never imports TensorFlow.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from kexp.errors import ConfigError, ConfigErrors, did_you_mean
from kexp.spec.base import PER_NAME_TAGS, KeyedValueError
from kexp.spec.graph import analyze
from kexp.spec.load import PathT, Spec, apply_overrides
from kexp.spec.network import FunctionalModel
from kexp.spec.quoted import quoted, strings_read_as_values
from kexp.spec.schema import MAX_NAME, Config
from kexp.spec.shapes import check_layers
from kexp.spec.sources import DATA_SOURCES
from kexp.spec.steps import X_STEPS

#: pydantic's names of plain types, as it puts them in a union member's error location
_TYPE_LABELS = frozenset({"str", "int", "float", "bool", "none", "any", "bytes"})

#: what a value of the type each pydantic type error names is, in a message
_EXPECTED = {
    "string_type": "a string", "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping", "list_type": "a list",
    "none_required": "null",
}


def _is_label(part: Any) -> bool:
    """Whether a location part is the label pydantic gives a union member
    (``str``, ``dict[str,any]``, ``literal['auto']``), not a key of the spec."""
    return isinstance(part, str) and (
        part in _TYPE_LABELS or part in PER_NAME_TAGS or any(c in part for c in "[]'(,")
    )


def _clean_loc(loc: tuple[Any, ...], data: Any) -> PathT:
    """Drop pydantic's union tags and labels from an error location, keeping real YAML keys."""
    out: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif last and not _is_label(part):
            out.append(part)
        # else: a tag or label pydantic inserted (e.g. 'csv', 'one', 'dict[str,any]'); skip it
    return tuple(out)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_at(path: PathT, data: Any) -> type[BaseModel] | None:
    """The pydantic model class that validates the mapping at ``path`` (for key suggestions)."""
    model: Any = Config
    node = data
    for part in path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
        if isinstance(part, int):
            continue  # list items: the field's annotation names the item model
        if model is None or not hasattr(model, "model_fields"):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _resolve_model(field.annotation, node)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _model_classes(annotation: Any) -> list[type[BaseModel]]:
    """Every BaseModel subclass an annotation names, outermost first."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    candidates = []
    stack = list(typing.get_args(annotation))
    while stack:
        a = stack.pop(0)
        if isinstance(a, type) and issubclass(a, BaseModel):
            candidates.append(a)
        else:
            stack.extend(typing.get_args(a))
    return candidates


def _resolve_model(annotation: Any, node: Any) -> Any:
    """Best effort: find the BaseModel subclass an annotation uses for ``node``."""
    candidates = _model_classes(annotation)
    if not candidates:
        return None
    for key in ("source", "type"):
        if isinstance(node, dict) and key in node:
            for c in candidates:
                field = c.model_fields.get(key)
                if field is not None and node[key] in typing.get_args(field.annotation):
                    return c
    return candidates[0]


def _unknown_key(path: PathT, spec: Spec) -> ConfigError:
    parent = _model_at(path[:-1], spec.data)
    fields = list(parent.model_fields) if parent else []
    key = str(path[-1])
    hint = did_you_mean(key, fields)
    expected = f"one of: {', '.join(fields)}" if fields else "no such key"
    if hint is None and fields:
        hint = "Remove it or check the spelling"
    return spec.error(path, f"unknown key '{key}'; expected {expected}", hint)


def _unknown_tag(path: PathT, ctx: dict[str, Any], spec: Spec) -> ConfigError:
    """A data source, model type or step name that is not one of the choices."""
    tag = ctx.get("tag")
    expected_tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
    what = "value"
    if path[-1:] == ("data",):
        what = "data source"
    elif len(path) >= 2 and path[-2] == "x":
        what = "preprocessing step"
    if path and path[0] == "data":
        path = path + ("source",)
    elif path and path[-1] == "model":
        path = path + ("type",)
    return spec.error(
        path,
        f"unknown {what} {tag!r}; expected one of: {', '.join(expected_tags)}",
        did_you_mean(str(tag), expected_tags),
    )


def _no_tag(path: PathT, value: Any, spec: Spec) -> ConfigError | None:
    """A data source without ``source``, or a step that is not a name or ``{step: args}``."""
    if path == ("data",) and not isinstance(value, dict):
        hint = f"Write data: {{source: {value}, ...}}" if value in DATA_SOURCES else (
            "e.g. data: {source: csv, path: data.csv, target: 8}"
        )
        return spec.error(
            path,
            f"expected a mapping with a 'source' key ({', '.join(DATA_SOURCES)}) and its "
            f"options, received {_describe(value)}",
            hint,
        )
    if path and path[-1] == "data":
        return spec.error(
            path + ("source",),
            f"required key 'source' is missing; expected one of: {', '.join(DATA_SOURCES)}",
            "Add e.g. 'source: csv'",
        )
    if len(path) >= 2 and path[-2] == "x":
        return spec.error(
            path,
            f"expected a step name or {{step: arguments}}, received {_describe(value)}; "
            f"steps: {', '.join(X_STEPS)}",
        )
    if path == ("model",):
        return spec.error(
            path,
            "expected a mapping: {layers: [...]} (a stack of layers) or {type: functional, "
            f"inputs: ..., nodes: ..., outputs: ...}}, received {_describe(value)}",
            "See configs/mnist.yaml and configs/mnist_functional.yaml",
        )
    if not isinstance(value, dict):
        return spec.error(path, f"expected a mapping, received {_describe(value)}")
    return None


def _other(err: Mapping[str, Any], path: PathT, spec: Spec) -> ConfigError:
    """Pydantic's own message, as "expected ..., received ..." (validators' text as is)."""
    ctx = err.get("ctx") or {}
    value = err.get("input")
    hint = None
    if err["type"] in ("literal_error", "enum") and isinstance(value, str) and ctx.get("expected"):
        choices = [c.strip(" '") for c in str(ctx["expected"]).replace(" or ", ",").split(",")]
        hint = did_you_mean(value, [c for c in choices if c])
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    elif err["type"] in ("dict_type", "model_type", "model_attributes_type"):
        msg = f"expected a mapping, received {_describe(value)}"
    elif err["type"] == "int_parsing_size":
        msg = f"expected a whole number below 2**63, received {_describe(value)}"
    elif err["type"] in ("too_short", "string_too_short") and "min_length" in ctx:
        kind = "character" if isinstance(value, str) else "item"
        msg = f"expected at least {ctx['min_length']} {kind}(s), received {_describe(value)}"
    else:
        if msg.startswith("Input should be "):
            msg = "expected " + msg[len("Input should be "):]
        else:
            msg = f"expected {msg[0].lower() + msg[1:]}" if msg else "invalid value"
        msg += f", received {_describe(value)}"
    return spec.error(path, msg, hint)


def _real_keys(loc: tuple[Any, ...], data: Any) -> PathT:
    """The part of an error location that exists in the spec (union tags dropped)."""
    out: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            continue
        out.append(part)
    return tuple(out)


def _convert(err: Mapping[str, Any], spec: Spec) -> ConfigError:
    """One pydantic error (from ``ValidationError.errors()``) as a kexp message."""
    keyed = (err.get("ctx") or {}).get("error")
    if isinstance(keyed, KeyedValueError):
        return spec.error(_real_keys(tuple(err["loc"]), spec.data) + keyed.at, str(keyed))
    path = _clean_loc(tuple(err["loc"]), spec.data)
    etype = err["type"]
    if etype == "extra_forbidden":
        return _unknown_key(path, spec)
    if etype == "missing":
        return spec.error(path, f"required key '{path[-1]}' is missing", "Add it")
    if etype == "union_tag_invalid":
        return _unknown_tag(path, err.get("ctx") or {}, spec)
    if etype == "union_tag_not_found":
        found = _no_tag(path, err.get("input"), spec)
        if found is not None:
            return found
    return _other(err, path, spec)


def _alternatives(path: PathT, errs: Sequence[Mapping[str, Any]], spec: Spec) -> ConfigError:
    """The type errors of a union's members at one place, as one "expected A or B"."""
    wanted: list[str] = []
    for err in errs:
        if err["type"] == "literal_error":
            wanted += [c.strip() for c in str((err.get("ctx") or {}).get("expected", "")).replace(
                " or ", ",").split(",") if c.strip()]
        else:
            wanted += _EXPECTED[err["type"]].split(" or ")
    wanted = list(dict.fromkeys(wanted))
    if "a number" in wanted and "a whole number" in wanted:
        wanted.remove("a whole number")
    either = ", ".join(wanted[:-1]) + " or " + wanted[-1] if len(wanted) > 1 else wanted[0]
    value = errs[0].get("input")
    names = [w.strip("'") for w in wanted if w.startswith("'")]
    hint = did_you_mean(value, names) if isinstance(value, str) and names else None
    return spec.error(path, f"expected {either}, received {_describe(value)}", hint)


def _messages(raw: Sequence[Mapping[str, Any]], spec: Spec) -> list[ConfigError]:
    """pydantic's errors as kexp messages: one per place and text; where a value
    matches none of a union's members, one "expected A or B" at the deepest place."""
    items: list[tuple[PathT, bool, Mapping[str, Any]]] = []
    for err in raw:
        loc = tuple(err["loc"])
        path = _clean_loc(loc, spec.data)
        alternative = bool(loc) and _is_label(loc[-1]) and (
            err["type"] in _EXPECTED or err["type"] == "literal_error")
        items.append((path, alternative, err))
    further = {path for path, alternative, _ in items if not alternative}
    unions: dict[PathT, list[Mapping[str, Any]]] = {}
    for path, alternative, err in items:
        if alternative:
            unions.setdefault(path, []).append(err)
    out: dict[str, ConfigError] = {}
    for path, alternative, err in items:
        if not alternative:
            error = _convert(err, spec)
        elif any(q[: len(path)] == path for q in further) or any(
                len(q) > len(path) and q[: len(path)] == path for q in unions):
            continue  # another member of the union got further: its error says more
        else:
            error = _alternatives(path, unions[path], spec)
        out.setdefault(str(error), error)
    return list(out.values())


def _default_name(spec: Spec) -> str:
    """The spec file's name as ``name`` when the spec gives none (``my spec.yaml`` ->
    ``my-spec``), cut to what a name may be."""
    stem = spec.path.stem if spec.path is not None else ""
    name = "".join(c if c.isascii() and (c.isalnum() or c in "_.+-") else "-" for c in stem)
    name = name[:MAX_NAME]
    return name if name.strip(".") else "experiment"


def _validate(spec: Spec, keep: Callable[[PathT, str], bool] = lambda path, kind: True) -> Config:
    """The spec as a Config, or ConfigError(s) for the problems ``keep(path, kind)`` keeps
    (``kind``: pydantic's error type, ``"check"`` for the checks after the schema)."""
    data = dict(spec.data)
    if "name" not in data and spec.path is not None:
        data["name"] = _default_name(spec)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raw = [e for e in exc.errors(include_url=False) if keep(_error_path(e, spec), e["type"])]
        errs = _messages(raw, spec)
        if not errs:
            raise _Dropped() from None
        if len(errs) == 1:
            raise errs[0] from None
        raise ConfigErrors(errs) from None
    try:
        check_layers(cfg.model)
        if isinstance(cfg.model, FunctionalModel):
            analyze(cfg.model)
    except ConfigError as exc:
        if not keep(exc.loc or (), "check"):
            raise _Dropped() from None
        raise exc.located(*spec.locate(exc.loc or ())) from None
    read = [(path, text) for path, text in strings_read_as_values(spec.data, cfg) if keep(path, "string")]
    if read:
        errs = [spec.error(path, *quoted(text, value)) for path, (text, value) in read]
        raise errs[0] if len(errs) == 1 else ConfigErrors(errs)
    return cfg


def _error_path(err: Mapping[str, Any], spec: Spec) -> PathT:
    """Where a pydantic error is, as its message names it."""
    keyed = (err.get("ctx") or {}).get("error")
    if isinstance(keyed, KeyedValueError):
        return _real_keys(tuple(err["loc"]), spec.data) + keyed.at
    return _clean_loc(tuple(err["loc"]), spec.data)


class _Dropped(Exception):
    """Every problem :func:`_validate` found was one its ``keep`` leaves out."""


def load_config(spec: Spec) -> Config:
    """Validate a spec into a Config, or raise ConfigError(s) naming the YAML paths."""
    return _validate(spec)


def _related(a: PathT, b: PathT) -> bool:
    """One path is the other or inside it."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def check_as_written(spec: Spec, overrides: Sequence[Any]) -> None:
    """Validate the spec file as written, before ``overrides`` change it: a value the file
    gets wrong is reported even where an override replaces it (``fit.epochs: ten`` with
    ``--epochs 1``). Left to the check after the overrides: a key the file leaves out
    that an override gives, and the checks of a whole mapping (two keys that do not go
    together) inside which an override sets something."""
    if not overrides:
        return
    given = [path for path in apply_overrides(spec, overrides).overrides if path not in spec.overrides]

    def keep(path: PathT, kind: str) -> bool:
        if kind in ("missing", "union_tag_not_found") and any(_related(path, o) for o in given):
            return False  # an override gives what the file leaves out
        return not any(len(path) < len(o) and o[: len(path)] == path for o in given)

    try:
        _validate(spec, keep)
    except _Dropped:
        pass


def configure(spec: Spec, overrides: list[Any]) -> Config:
    """Validate the spec as written (:func:`check_as_written`), then with ``--set``
    overrides applied (no TensorFlow, no scikit-learn)."""
    check_as_written(spec, overrides)
    return load_config(apply_overrides(spec, overrides))
