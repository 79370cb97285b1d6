"""Sandbox capability: untrusted code (a registered model's) run away from the control plane.

Model code — unpickling, ``load_model``, ``predict`` — never runs in the control-plane
process: a :class:`Sandbox` runs it in a fresh process with an allowlisted environment
(no database URL, token or cloud credential), a memory cap, a time limit and a JSON-only
answer. :class:`RaySandbox` starts that process on a Ray worker (the platform's default);
:class:`ProcessSandbox` as a child of the caller (local platforms).
"""

from ferry_platform.sandbox._interface import (
    Sandbox,
    SandboxCrashed,
    SandboxError,
    SandboxOutOfMemory,
    SandboxTimeout,
    TargetFailed,
)
from ferry_platform.sandbox._launch import secret_looking
from ferry_platform.sandbox._process import ProcessSandbox
from ferry_platform.sandbox._ray import RaySandbox

__all__ = [
    "ProcessSandbox",
    "RaySandbox",
    "Sandbox",
    "SandboxCrashed",
    "SandboxError",
    "SandboxOutOfMemory",
    "SandboxTimeout",
    "TargetFailed",
    "secret_looking",
]
