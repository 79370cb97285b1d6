"""The control plane without a serving runtime (API only), for the control-plane benchmark:
``python benchmarks/_control_plane_app.py PORT`` with FERRY_* settings in the environment."""

from __future__ import annotations

import logging
import sys

import uvicorn

from ferry_platform import Settings
from ferry_server import create_app

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    app = create_app(Settings(), start_runtime=False)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
