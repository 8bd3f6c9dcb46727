"""The import layering of src/sagepipe (docs/architecture.md): a module may import its own
layer and any lower one, never a higher one.

Every module is parsed with `ast`, so every import counts: `import x` and `from x import y`,
relative imports, and imports inside functions or `if TYPE_CHECKING:` blocks. Imports of
anything outside sagepipe (the standard library, botocore, ...) are not checked here."""

from __future__ import annotations

import ast
from pathlib import Path

# Top-level module or package -> its level; higher levels sit above lower ones.
LAYERS = {
    "cli": 6, "server": 6, "app": 6, "retry_cli": 6, "logs_cli": 6, "extension_client": 6,  # entry points
    "gateway": 5,
    "providers": 4,
    "engine": 3,
    "runners": 2,
    "domain": 1, "protocol": 1,
    "store": 0, "objectstore": 0,  # the database; the S3-compatible object store
}  # fmt: skip
# Same level, yet independent: neither may import the other.
APART = {
    ("domain", "protocol"),
    ("protocol", "domain"),
    ("store", "objectstore"),
    ("objectstore", "store"),
}
# Importable by every module; they themselves import only each other (and the stdlib).
BASE = {"__init__", "errors", "config"}
# Entry points may import one another (cli starts server and retry_cli).
ENTRY_POINTS = {"cli", "server", "app", "retry_cli", "logs_cli", "extension_client"}

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "sagepipe"


def component_of(relpath: str) -> str:
    """`engine/driver.py` -> `engine`; `app.py` -> `app`; `__init__.py` -> `__init__`."""
    return relpath.split("/", 1)[0].removesuffix(".py")


def _imported(relpath: str, tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, dotted module shown, component) for every import of a sagepipe module."""
    package = ["sagepipe", *relpath.removesuffix(".py").split("/")][:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "sagepipe":
                    found.append((node.lineno, alias.name, _component(parts, None)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                parts = base + (node.module.split(".") if node.module else [])
            else:
                parts = (node.module or "").split(".")
            if parts[0] != "sagepipe":
                continue
            for alias in node.names:
                shown = ".".join(parts if len(parts) > 1 else [*parts, alias.name])
                found.append((node.lineno, shown, _component(parts, alias.name)))
    return sorted(set(found))


def _component(parts: list[str], name: str | None) -> str:
    """The layer component an import reaches: the part after `sagepipe`, or for
    `from sagepipe import name` the name (a submodule) or the package's __init__ (anything
    else, such as __version__)."""
    if len(parts) > 1:
        return parts[1]
    if name is not None and (name in LAYERS or name in BASE):
        return name
    return "__init__"


def _rule(importer: str, imported: str) -> str | None:
    """Why `importer` may not import `imported`, or None when it may."""
    if importer == imported or (imported in BASE and importer in BASE):
        return None
    if importer in BASE:
        return f"{importer} may import only {', '.join(sorted(BASE))} and the standard library"
    if imported in BASE:
        return None
    if imported not in LAYERS:
        return f"sagepipe.{imported} has no layer in LAYERS (tests/unit/test_layering.py)"
    if (importer, imported) in APART:
        return f"{importer} may not import {imported} (same level, kept independent)"
    if importer in ENTRY_POINTS and imported in ENTRY_POINTS:
        return None
    if LAYERS[imported] > LAYERS[importer]:
        return f"{importer} may not import {imported}"
    return None


def check_source(relpath: str, source: str) -> list[str]:
    """The layering violations of one module, given its path under src/sagepipe."""
    importer = component_of(relpath)
    problems = []
    for line, shown, imported in _imported(relpath, ast.parse(source, relpath)):
        why = _rule(importer, imported)
        if why is not None:
            problems.append(f"{relpath} imports {shown}: {why} (line {line})")
    return problems


def modules() -> list[str]:
    return sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    assert modules(), f"no modules found under {PACKAGE}"
    unplaced = sorted(
        {component_of(m) for m in modules()} - LAYERS.keys() - BASE,
    )
    assert not unplaced, f"add these to LAYERS or BASE: {', '.join(unplaced)}"


def test_no_module_imports_a_higher_layer():
    problems = []
    for relpath in modules():
        problems += check_source(relpath, (PACKAGE / relpath).read_text(encoding="utf-8"))
    assert not problems, "import layering violated:\n" + "\n".join(problems)


def test_the_checker_catches_violations():
    source = """
from typing import TYPE_CHECKING

import sagepipe.gateway.http
from sagepipe.domain import readiness
from sagepipe.errors import ValidationError
from sagepipe import __version__
from ..providers.selective import selection

if TYPE_CHECKING:
    from sagepipe.providers.selective import selection

def late():
    from sagepipe import app
"""
    assert check_source("engine/driver.py", source) == [
        "engine/driver.py imports sagepipe.gateway.http: engine may not import gateway (line 4)",
        "engine/driver.py imports sagepipe.providers.selective: "
        "engine may not import providers (line 8)",
        "engine/driver.py imports sagepipe.providers.selective: "
        "engine may not import providers (line 11)",
        "engine/driver.py imports sagepipe.app: engine may not import app (line 14)",
    ]


def test_the_checker_keeps_same_level_and_base_modules_apart():
    assert check_source("domain/arns.py", "from sagepipe.protocol.model import operation") == [
        "domain/arns.py imports sagepipe.protocol.model: "
        "domain may not import protocol (same level, kept independent) (line 1)"
    ]
    assert check_source("errors.py", "import sagepipe.store.db") == [
        "errors.py imports sagepipe.store.db: "
        "errors may import only __init__, config, errors and the standard library (line 1)"
    ]
    assert check_source("cli.py", "from sagepipe.app import build\nimport sagepipe.store") == []
    assert check_source("store/db.py", "from . import queries\nfrom .queries import Q") == []
