"""The CLI package's two rules, so nouns can be added in parallel: every noun module is
registered in ``ferry.cli``, and no command builds a client but through the one seam."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import ferry.cli as cli

PACKAGE = Path(cli.__file__).parent
NOUN_MODULES = sorted(p.stem for p in PACKAGE.glob("_*.py")
                      if p.stem not in ("__init__", "__main__", "_common"))


def test_every_noun_module_is_registered() -> None:
    registered = {id(noun) for noun in cli.NOUNS}
    missing = [m for m in NOUN_MODULES
               if id(importlib.import_module(f"ferry.cli.{m}").app) not in registered]
    assert NOUN_MODULES and missing == []


def test_only_the_seam_builds_a_client() -> None:
    def builds_a_client(node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        f = node.func
        return (isinstance(f, ast.Name) and f.id == "Client") or \
            (isinstance(f, ast.Attribute) and f.attr == "Client")

    offenders = [f"{p.name}:{node.lineno}" for p in PACKAGE.glob("*.py") if p.stem != "_common"
                 for node in ast.walk(ast.parse(p.read_text())) if builds_a_client(node)]
    assert offenders == []
