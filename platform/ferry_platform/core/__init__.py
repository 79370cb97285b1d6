"""The platform's shared kernel: domain types every capability may use. No vendor imports."""

from ferry_platform.core._digest import directory_digest
from ferry_platform.core._features import FeatureBinding
from ferry_platform.core._manifest import LABEL_PREFIX, ReleaseManifest
from ferry_platform.core._redact import REDACTOR, Redactor, secrets_in
from ferry_platform.core._unavailable import unavailable

__all__ = ["LABEL_PREFIX", "REDACTOR", "FeatureBinding", "Redactor", "ReleaseManifest",
           "directory_digest", "secrets_in", "unavailable"]
