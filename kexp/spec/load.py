"""Read a YAML spec safely, keep where every key came from, apply ``--set`` overrides.

Only ``yaml.SafeLoader`` is used: tags such as ``!!python/object`` are refused.
A spec over :data:`MAX_SPEC_BYTES`, or one whose aliases expand to more than
:data:`MAX_VALUES` values ("billion laughs"), is refused before it is built.
``1e-3`` is a number, as in YAML 1.2 (PyYAML alone reads it as a string).
Each value's path (``("model", "layers", 0, "Dense")``) maps to its line, so
later errors can say ``model.layers[0].Dense (line 7): ...``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kexp.errors import ConfigError, format_path

PathT = tuple[Any, ...]

#: the largest spec file read (bytes)
MAX_SPEC_BYTES = 1_000_000
#: the most values (keys, items, scalars) a spec may hold once its aliases are expanded
MAX_VALUES = 100_000


@dataclass
class Spec:
    """A spec as given: its data, where each path came from, and its text."""

    data: dict[str, Any]
    lines: dict[PathT, int] = field(default_factory=dict)
    overrides: dict[PathT, str] = field(default_factory=dict)
    path: Path | None = None
    text: str = ""

    def locate(self, path: PathT) -> tuple[int | None, str | None]:
        """The line (or ``--set`` origin) of ``path`` or of its closest parent."""
        for n in range(len(path), -1, -1):
            sub = tuple(path[:n])
            if sub in self.overrides:
                return None, self.overrides[sub]
            if sub in self.lines:
                return self.lines[sub], None
        return None, None

    def error(self, path: PathT, message: str, hint: str | None = None) -> ConfigError:
        line, origin = self.locate(path)
        return ConfigError(format_path(path), message, line=line, hint=hint, origin=origin)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` and ``1e20`` as numbers (YAML 1.2)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def expanded_size(root: yaml.Node, limit: int = MAX_VALUES) -> int:
    """How many values ``root`` holds with every alias expanded (counted up to ``limit + 1``).

    Each node is counted once and an alias reuses its anchor's count, so a "billion
    laughs" spec costs as little to measure as its text is long. An alias inside
    its own anchor raises ConfigError.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            sizes[key] = min(limit + 1, 1 + sum(sizes[id(c)] for c in _children(node)))
        elif key in open_nodes:
            raise ConfigError(
                "", "a YAML alias refers to the mapping or list it is inside (an endless value)",
                line=node.start_mark.line + 1, hint="Remove the alias (*name) or its anchor (&name)",
            )
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node))
    return sizes[id(root)]


def _check_size(node: yaml.Node, where: str) -> None:
    if expanded_size(node) > MAX_VALUES:
        raise ConfigError(
            "",
            f"{where} holds more than {MAX_VALUES:,} values once its YAML aliases (*name) are "
            "expanded",
            line=node.start_mark.line + 1,
            hint="A spec names its data, it does not hold it: put large values in a data file, "
            "and use fewer aliases",
        )


def _walk(node: yaml.Node, path: PathT, lines: dict[PathT, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag.endswith(":int"):
                key = int(key)
            if key in seen:
                raise ConfigError(
                    format_path(path + (key,)),
                    f"key given twice (first on line {seen[key]})",
                    line=key_node.start_mark.line + 1,
                    hint="Remove one of them",
                )
            seen[key] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines)


def _too_large(size: int, where: str) -> ConfigError:
    return ConfigError(
        "",
        f"the spec {where} is {size:,} bytes; expected at most {MAX_SPEC_BYTES:,}",
        hint="A spec names its data, it does not hold it: put large values in a data file "
        "(data.path)",
    )


def parse_spec(text: str, path: Path | None = None) -> Spec:
    """Parse spec text. Raises ConfigError for YAML errors, unsafe tags, empty, too large
    or too deeply nested specs, and aliases that expand beyond :data:`MAX_VALUES`."""
    where = str(path) if path else "(spec)"
    if len(text) > MAX_SPEC_BYTES:
        raise _too_large(len(text.encode("utf-8", "replace")), where)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError("", f"the spec {where} is empty", hint="Start from configs/mnist.yaml")
        _check_size(node, f"the spec {where}")
        lines: dict[PathT, int] = {}
        _walk(node, (), lines)
        data = loader.construct_document(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        tag = getattr(exc, "problem", "") or ""
        raise ConfigError(
            "",
            f"unsupported YAML tag ({tag.strip()})",
            line=mark.line + 1 if mark else None,
            hint="kexp reads plain YAML only (yaml.safe_load); name custom code as "
            "'package.module:attribute' instead of a !!python tag",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        col = f", column {mark.column + 1}" if mark else ""
        raise ConfigError(
            "",
            f"invalid YAML{col}: {problem}",
            line=mark.line + 1 if mark else None,
            hint="Check the indentation and the ':' after each key",
        ) from None
    except RecursionError:
        raise ConfigError(
            "", f"the spec {where} is nested too deeply (mappings and lists inside each other)",
            hint="Keep the spec's structure flat: a spec names its data, it does not hold it",
        ) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(
            "",
            f"expected a mapping of keys (name, data, model, ...) at the top of {where}, "
            f"received {type(data).__name__}",
            line=1,
        )
    return Spec(data=data, lines=lines, path=path, text=text)


def load_spec(path: str | Path) -> Spec:
    """Read and parse a spec file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("", f"spec file not found: {p}", hint="Check the path")
    try:
        size = p.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise _too_large(size, str(p))
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"cannot read spec file {p}: {exc}") from None
    return parse_spec(text, p)


def parse_override(item: str) -> tuple[PathT, Any]:
    """``"compile.optimizer.SGD.momentum=0.5"`` -> path tuple and YAML-typed value."""
    if "=" not in item:
        raise ConfigError(
            "", f"--set expects KEY=VALUE, received {item!r}", hint="e.g. --set fit.epochs=3"
        )
    key, raw = item.split("=", 1)
    parts: list[Any] = []
    for part in key.strip().split("."):
        if not part:
            raise ConfigError("", f"--set key {key!r} has an empty part", origin=f"--set {item}")
        parts.append(int(part) if part.lstrip("-").isdigit() else part)
    return tuple(parts), _value(raw, item)


def _value(raw: str, item: str) -> Any:
    """An override's value read as YAML (a plain string when it is not valid YAML)."""
    if not raw.strip():
        return None
    loader = _Loader(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, "the value")
        return loader.construct_document(node)
    except ConfigError as exc:
        raise ConfigError("", exc.message, hint=exc.hint, origin=f"--set {item}") from None
    except (yaml.YAMLError, RecursionError):
        return raw
    finally:
        loader.dispose()


def option_items(name: str | None = None, seed: int | None = None, epochs: int | None = None,
                 backend: str | None = None) -> list[tuple[str, str]]:
    """The ``(override, origin)`` pairs of the options ``--name``, ``--seed``, ``--epochs``
    and ``--backend`` that were given (a name is a string, as given: ``--name 007``)."""
    items = []
    if name is not None:
        items.append((f"name={json.dumps(name)}", f"--name {name}"))
    if seed is not None:
        items.append((f"seed={seed}", f"--seed {seed}"))
    if epochs is not None:
        items.append((f"fit.epochs={epochs}", f"--epochs {epochs}"))
    if backend is not None:
        items.append((f"backend={backend}", f"--backend {backend}"))
    return items


def wanted_backend(spec: Spec, items: Sequence[str | tuple[str, str]]) -> str | None:
    """The spec's ``backend`` with the overrides applied, as written (None: not given, or
    not a name: the validation reports it): what a command selects before its workers
    start, before the spec is validated."""
    value = apply_overrides(spec, items).data.get("backend")
    return value if isinstance(value, str) else None


def apply_overrides(spec: Spec, items: Sequence[str | tuple[str, str]]) -> Spec:
    """Return a new Spec with ``--set`` overrides applied.

    Missing mapping keys are created (the schema then rejects unknown ones with a
    "did you mean"); a list index must exist.
    """
    data = copy.deepcopy(spec.data)
    overrides = dict(spec.overrides)
    for entry in items:
        # an entry is "a.b=c" (from --set) or ("a.b=c", "--epochs 3") naming its option
        item, origin = entry if isinstance(entry, tuple) else (entry, f"--set {entry}")
        path, value = parse_override(item)
        target: Any = data
        for i, part in enumerate(path[:-1]):
            nxt = path[i + 1]
            if isinstance(target, list):
                if not isinstance(part, int) or not -len(target) <= part < len(target):
                    raise ConfigError(
                        format_path(path[: i + 1]),
                        f"no list item {part} (the list has {len(target)})",
                        origin=origin,
                    )
            elif isinstance(target, dict):
                if part not in target or not isinstance(target[part], (dict, list)):
                    target[part] = [] if isinstance(nxt, int) else {}
            else:
                raise ConfigError(
                    format_path(path[:i]),
                    f"cannot set a key inside a {type(target).__name__}",
                    origin=origin,
                )
            target = target[part]
        last = path[-1]
        if isinstance(target, list):
            if not isinstance(last, int) or not -len(target) <= last < len(target):
                raise ConfigError(
                    format_path(path), f"no list item {last} (the list has {len(target)})",
                    origin=origin,
                )
        elif not isinstance(target, dict):
            raise ConfigError(
                format_path(path[:-1]), f"cannot set a key inside a {type(target).__name__}",
                origin=origin,
            )
        target[last] = value
        overrides[path] = origin
    return Spec(data=data, lines=spec.lines, overrides=overrides, path=spec.path, text=spec.text)
