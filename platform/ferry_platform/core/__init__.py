"""The platform's shared kernel: domain types every capability may use. No vendor imports."""

from ferry_platform.core import _predlog as predlog
from ferry_platform.core._contract import breaking_changes, request_columns
from ferry_platform.core._digest import REGISTRY_ARTIFACTS, directory_digest
from ferry_platform.core._features import STALE_SUFFIX, FeatureBinding
from ferry_platform.core._files import private_dir, write_private
from ferry_platform.core._manifest import LABEL_PREFIX, ReleaseManifest
from ferry_platform.core._redact import REDACTOR, Redactor, secrets_in
from ferry_platform.core._sqlurl import with_statement_timeout
from ferry_platform.core._unavailable import unavailable

__all__ = ["LABEL_PREFIX", "REDACTOR", "REGISTRY_ARTIFACTS", "STALE_SUFFIX", "FeatureBinding",
           "Redactor",
           "ReleaseManifest", "breaking_changes", "directory_digest", "predlog", "private_dir",
           "request_columns", "secrets_in", "unavailable", "with_statement_timeout",
           "write_private"]
