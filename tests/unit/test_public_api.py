"""The public surface of each package is its ``__all__``, and nothing is named ``platform``."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("package", ["ferry", "ferry_contract", "ferry_platform", "ferry_server",
                                     "ferry_contract.proto", "ferry_platform.core",
                                     "ferry_platform.registry", "ferry_platform.packaging",
                                     "ferry_platform.serving", "ferry_platform.store",
                                     "ferry_platform.releases", "ferry_platform.sandbox",
                                     "ferry_platform.evaluation"])
def test_all_lists_exactly_the_public_names(package: str) -> None:
    mod = importlib.import_module(package)
    exported = set(mod.__all__)
    for name in exported:  # names a package provides lazily are there once asked for
        getattr(mod, name)
    # submodules appear as attributes once imported; they are public only if exported
    public = {n for n, v in vars(mod).items()
              if not n.startswith("_") and n != "annotations"
              and not (isinstance(v, type(sys)) and n not in exported)}
    assert exported == public | ({"__version__"} & exported)


def test_stdlib_platform_is_not_shadowed() -> None:
    out = subprocess.run([sys.executable, "-c", "import platform; print(platform.__file__)"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "site-packages" not in out and str(ROOT / "platform") not in out
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_importing_the_sdk_stays_light() -> None:
    code = ("import sys, ferry; heavy = [m for m in ('ray', 'bentoml', 'mlflow', 'feast', "
            "'pulumi', 'ferry_platform') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


def test_the_api_reference_is_generated_from_the_current_openapi() -> None:
    from ferry_server.openapi import render

    stale = [str(p) for p, text in render().items() if not p.exists() or p.read_text() != text]
    assert not stale, f"regenerate with `python -m ferry_server.openapi`: {stale}"


def test_operation_ids_are_stable_function_names_and_unique() -> None:
    from ferry_server._app import openapi_spec

    ids = [op["operationId"] for methods in openapi_spec()["paths"].values()
           for op in methods.values()]
    assert len(ids) == len(set(ids))
    assert {"create_deployment", "get_job", "list_audit_events", "create_token",
            "whoami"} <= set(ids)
