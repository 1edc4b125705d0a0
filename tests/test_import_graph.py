"""Production code never imports the test kit: no module of ``hubs/`` outside ``hubs/testing`` imports ``hubs.testing``.

Every import statement of every production module is read (module level and
inside functions, absolute and relative), so the whole import graph that
starts in ``hubs/`` is covered without importing anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HUBS = Path(__file__).resolve().parent.parent / "hubs"
FORBIDDEN = "hubs.testing"


def module_name(path: Path) -> str:
    """``hubs/web/site.py`` -> ``hubs.web.site``; a package's ``__init__.py`` -> the package."""
    parts = list(path.relative_to(HUBS.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Every module an import statement (or ``import_module``/``__import__`` of a literal) in ``source`` names.

    ``from a import b`` yields ``a`` and ``a.b`` (b may be a module); relative
    imports are resolved against ``module``.
    """
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__"))
                   or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"))):
            found.append((node.lineno, node.args[0].value))
    return found


def is_forbidden(name: str) -> bool:
    return name == FORBIDDEN or name.startswith(FORBIDDEN + ".")


@pytest.mark.parametrize(("source", "module", "names"), [
    ("import hubs.testing.store", "hubs.web.site", ["hubs.testing.store"]),
    ("from hubs.testing import harness", "hubs.web.site", ["hubs.testing", "hubs.testing.harness"]),
    ("from hubs import testing", "hubs.service", ["hubs", "hubs.testing"]),
    ("def f():\n    from ..testing.store import FakeStore", "hubs.web.site",
     ["hubs.testing.store", "hubs.testing.store.FakeStore"]),
    ("from . import testing", "hubs.service", ["hubs", "hubs.testing"]),
    ("from .store import X", "hubs.db", ["hubs.db.store", "hubs.db.store.X"]),
    ("import importlib\nimportlib.import_module('hubs.testing.harness')", "hubs.demo.feed",
     ["importlib", "hubs.testing.harness"]),
    ("x = 'hubs.testing is only named in text'", "hubs.service", []),
])
def test_the_import_reader_resolves_every_form_of_import(source, module, names):
    """Absolute, from-, relative (inside a function too) and import_module imports are all read and resolved."""
    is_package = module == "hubs.db"
    assert [name for _, name in imported_modules(source, module, is_package)] == names


@pytest.mark.parametrize(("name", "forbidden"), [
    ("hubs.testing", True), ("hubs.testing.harness", True), ("hubs.testing_tools", False), ("hubs.test", False),
    ("tests.hubproc", False),
])
def test_only_the_test_kit_and_its_modules_are_forbidden(name, forbidden):
    """``hubs.testing`` and what is under it; not a module that merely starts with the same letters."""
    assert is_forbidden(name) is forbidden


def test_no_production_module_imports_hubs_testing():
    """Walk every module of hubs/ except hubs/testing: none imports hubs.testing, directly or by a relative import."""
    offenders = []
    production = [p for p in sorted(HUBS.rglob("*.py")) if (HUBS / "testing") not in p.parents]
    for path in production:
        module = module_name(path)
        for line, name in imported_modules(path.read_text(), module, path.name == "__init__.py"):
            if is_forbidden(name):
                offenders.append(f"{path.relative_to(HUBS.parent)}:{line} imports {name}")
    assert len(production) > 50, "the walk found the production modules"
    assert offenders == []
