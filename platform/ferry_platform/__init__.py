"""Ferry's platform core: one subpackage per capability, composed by :class:`Platform`.

``registry`` (MLflow), ``packaging`` (BentoML), ``serving`` (Ray Serve), ``store`` (SQL
state), ``sandbox`` (model code away from the control plane) and ``releases`` (the
use-case layer). Importing this package, or any one subpackage, is cheap: :class:`Platform`
(which composes them all) is imported when first asked for, and the vendor libraries when
a capability is first used. Processes that need one piece (a Serve replica, a sandboxed
evaluation) load that piece only.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from ferry_platform._version import __version__

if _typing.TYPE_CHECKING:
    from ferry_platform._platform import Platform
    from ferry_platform._settings import SandboxKind, ServeMode, Settings

__all__ = ["Platform", "SandboxKind", "ServeMode", "Settings", "__version__"]

_LAZY = {"Platform": "ferry_platform._platform", "Settings": "ferry_platform._settings",
         "SandboxKind": "ferry_platform._settings", "ServeMode": "ferry_platform._settings"}


def __getattr__(name: str) -> _typing.Any:
    """``Platform`` and the settings load when first asked for: a Serve replica imports
    ``ferry_platform.serving`` without the control plane's configuration (pydantic-settings)
    or its composition."""
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ferry_platform' has no attribute {name!r}")
