"""Every matching module declares ``__all__``, and every name in it exists and is documented."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import matching

MODULES = sorted(m.name for m in pkgutil.iter_modules(matching.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_module_declares_all_and_documents_it(name: str) -> None:
    module = importlib.import_module(f"matching.{name}")
    assert module.__doc__, name
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"matching.{name} has no __all__"
    for item in exported:
        obj = getattr(module, item)
        if callable(obj):
            assert obj.__doc__, f"matching.{name}.{item} has no docstring"


@pytest.mark.parametrize("name", MODULES)
def test_module_stays_a_pure_library(name: str) -> None:
    tree = ast.parse(Path(matching.__path__[0], f"{name}.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & {"psycopg", "fastapi", "directory", "importers"}, name
