"""The platform's shared kernel: domain types every capability may use. No vendor imports."""

from ferry_platform.core._digest import REGISTRY_ARTIFACTS, directory_digest
from ferry_platform.core._features import FeatureBinding
from ferry_platform.core._manifest import LABEL_PREFIX, ReleaseManifest

__all__ = ["LABEL_PREFIX", "REGISTRY_ARTIFACTS", "FeatureBinding", "ReleaseManifest",
           "directory_digest"]
