"""The layout rules of the kexp package, checked on its source (no TensorFlow).

No module over 400 lines, no function over 60, no private name used across modules,
and the start-up imports of the CLI and of the spec stay light.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kexp"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
Function = ast.FunctionDef | ast.AsyncFunctionDef


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    """Whether a dotted name is a module or package of kexp."""
    if name != "kexp" and not name.startswith("kexp."):
        return False
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, Function]]:
    """Every function and method under ``node``, with its qualified name."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, Function):
            name = f"{prefix}{child.name}"
            yield name, child
            yield from functions(child, f"{name}.")
        elif isinstance(child, ast.ClassDef):
            yield from functions(child, f"{prefix}{child.name}.")
        else:
            yield from functions(child, prefix)


def imported_from(node: ast.ImportFrom, path: Path) -> str:
    """The absolute module name of a ``from ... import`` statement."""
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def module_aliases(tree: ast.Module, path: Path) -> dict[str, str]:
    """Local names bound to kexp modules: ``backend`` -> ``kexp.backend``."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if is_module(alias.name):
                    local = alias.asname or alias.name.split(".")[0]
                    aliases[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom):
            source = imported_from(node, path)
            for alias in node.names:
                if is_module(f"{source}.{alias.name}"):
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
    return aliases


def dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def private_uses(path: Path) -> list[str]:
    """``path:line name`` for each private name this module takes from another kexp module."""
    tree = parse(path)
    aliases = module_aliases(tree, path)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = imported_from(node, path)
            if is_module(source):
                found += [
                    (node.lineno, f"from {source} import {alias.name}")
                    for alias in node.names
                    if is_private(alias.name)
                ]
        elif isinstance(node, ast.Attribute) and is_private(node.attr):
            chain = dotted(node.value)
            head, _, rest = (chain or "").partition(".")
            target = ".".join(filter(None, [aliases.get(head), rest]))
            if head in aliases and is_module(target):
                found.append((node.lineno, f"{chain}.{node.attr} ({target})"))
    return [f"{relative(path)}:{line} {use}" for line, use in sorted(found)]


def test_no_module_over_400_lines() -> None:
    offenders = []
    for path in modules():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            offenders.append(f"{relative(path)}: {lines} lines")
    assert not offenders, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(offenders)


def test_no_function_over_60_lines() -> None:
    offenders = []
    for path in modules():
        for name, node in functions(parse(path)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                offenders.append(f"{relative(path)}:{node.lineno} {name}, {length} lines")
    assert not offenders, (
        f"functions over {MAX_FUNCTION_LINES} lines (def to last line):\n" + "\n".join(offenders)
    )


def test_no_private_name_crosses_a_module() -> None:
    offenders = [use for path in modules() for use in private_uses(path)]
    assert not offenders, "private names used across kexp modules:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    ("module", "heavy"),
    [
        ("kexp.cli", ["pydantic", "tensorflow", "sklearn", "matplotlib"]),
        ("kexp.spec", ["tensorflow", "sklearn"]),
        # kexp run / validate: a spec mistake is reported before the data stack loads
        ("kexp.experiment", ["pandas", "tensorflow", "sklearn", "matplotlib"]),
        # kexp ls / compare / plot: tables and figures come without the training stack
        ("kexp.report", ["pydantic", "tensorflow", "sklearn", "matplotlib", "scipy"]),
    ],
)
def test_light_imports(module: str, heavy: list[str]) -> None:
    code = (
        "import json, sys\n"
        f"import {module}\n"
        f"heavy = [m for m in {heavy!r} if m in sys.modules]\n"
        "own = sorted(m for m in sys.modules if m == 'kexp' or m.startswith('kexp.'))\n"
        "print(json.dumps({'heavy': heavy, 'kexp': own}))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert not found["heavy"], (
        f"import {module} imports {', '.join(found['heavy'])}; "
        f"kexp modules it loads: {', '.join(found['kexp'])}"
    )


def test_package_names_are_not_hidden_by_their_submodules() -> None:
    """Importing ``pkg.name`` sets the attribute ``pkg.name`` to the submodule, so a package
    must not export a function or class under one of its submodules' names."""
    import importlib
    import pkgutil

    clashes = []
    for package in ("kexp.experiment", "kexp.report", "kexp.spec", "kexp.cv", "kexp.sweep",
                    "kexp.data", "kexp.model", "kexp.train", "kexp.rundir", "kexp.cli"):
        module = importlib.import_module(package)
        subs = {m.name for m in pkgutil.iter_modules(module.__path__)}
        eager = {n for n in getattr(module, "__all__", ())
                 if not isinstance(module.__dict__.get(n), type(module))}  # a submodule itself is fine
        exported = eager | set(getattr(module, "_LAZY", ()))
        clashes += [f"{package}.{name}" for name in sorted(exported & subs)]
    assert not clashes, "exported names that are also submodules: " + ", ".join(clashes)
