"""Helpers for the infrastructure tests: run the Pulumi program under mocks, and break it on
purpose. A *mutation* is a careless edit to the program (a flag flipped, a resource left out, a
scope widened), applied by wrapping a resource class the components construct, so each policy
test can show it fails on a broken variant."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"


def dev_config(**changes: Any):  # type: ignore[no-untyped-def]
    """The repository's dev stack config, with ``changes`` (camelCase keys, as in the stack file)."""
    import yaml

    from ferry_infra import StackConfig

    values = yaml.safe_load((INFRA / "Pulumi.dev.yaml").read_text())["config"]
    values.update({f"ferry:{k}": v for k, v in changes.items()})
    return StackConfig.from_mapping("dev", values)


def override(mp: pytest.MonkeyPatch, module: Any, cls: str, **changes: Any) -> None:
    """Construct ``module.cls`` with some keyword arguments replaced (a value, or a function of
    the old value)."""
    real = getattr(module, cls)

    def make(resource_name: str, *args: Any, **kwargs: Any) -> Any:
        for k, v in changes.items():
            kwargs[k] = v(kwargs.get(k)) if callable(v) else v
        return real(resource_name, *args, **kwargs)

    mp.setattr(module, cls, make)


def drop(mp: pytest.MonkeyPatch, module: Any, cls: str) -> None:
    """Never construct ``module.cls`` (the resource is left out of the program)."""
    mp.setattr(module, cls, lambda *a, **k: None)


def edit_json(fn: Callable[[dict], dict]) -> Callable[[Any], Any]:
    """For a JSON policy input (an Output[str] or str): apply ``fn`` to the parsed document."""

    def apply(old: Any) -> Any:
        return pulumi.Output.from_input(old).apply(lambda s: json.dumps(fn(json.loads(s))))

    return apply


@dataclass(frozen=True)
class Mutation:
    id: str
    policy: str  # the policy that must catch it
    apply: Callable[[pytest.MonkeyPatch], None]
    culprit: str  # a substring of the resource the violation must name
