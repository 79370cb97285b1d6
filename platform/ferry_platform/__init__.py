"""Ferry's platform core: one subpackage per capability, composed by :class:`Platform`.

``registry`` (MLflow), ``packaging`` (BentoML), ``serving`` (Ray Serve), ``store`` (SQL
state) and ``releases`` (the use-case layer). Importing this package is cheap; the vendor
libraries are imported when a capability is first used.
"""

from ferry_platform._platform import Platform
from ferry_platform._settings import ServeMode, Settings
from ferry_platform._version import __version__

__all__ = ["Platform", "ServeMode", "Settings", "__version__"]
