# Ferry's two commands: `make demo` (the main job end to end) and `make test`.
# Both install what they need: uv (from PyPI) and the locked dependencies.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
# each phase prints its wall time (`[time] mypy 41.2 s`): where CI's minutes go
TIMED := $(CURDIR)/.ci/timed

.PHONY: demo test lint lint-checks bench bench-deploy bench-dataplane bench-features bench-rollout bench-portal install browser proto clean

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet uv

PORTAL_FRONTEND := services/ferry_server/portal/frontend

install: $(UV)  ## the locked Python deps, and the portal's locked front-end packages (npm ci)
	$(TIMED) uv-sync $(UV) sync --locked --quiet
	@if [ ! -f $(PORTAL_FRONTEND)/node_modules/.package-lock.json ] || \
	    [ $(PORTAL_FRONTEND)/package-lock.json -nt $(PORTAL_FRONTEND)/node_modules/.package-lock.json ]; then \
	  if ! command -v npm >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null); fi; \
	  if command -v npm >/dev/null; then \
	    npm ci --prefix $(PORTAL_FRONTEND) --no-audit --no-fund --loglevel=error; \
	  else echo "warning: no npm, so the portal's front-end packages are not installed (/portal answers 503; the API works): apt-get install npm, then make install"; fi; \
	fi

demo: install  ## run Ferry end to end on the local embedded platform
	$(UV) run --locked python examples/demo.py

browser:  ## Debian's chromium for the portal's browser tests (installed when missing and root)
	@command -v chromium >/dev/null || command -v /usr/bin/chromium >/dev/null || \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	  else echo "the portal's browser tests need Debian's chromium: sudo apt-get install chromium"; fi

test: install  ## the whole suite (unit, integration, end-to-end) on two workers; its slowest tests last
	@$(MAKE) --no-print-directory -j2 lint-checks browser  # independent: chromium's apt-get beside the type check
	$(TIMED) pytest $(UV) run --locked pytest -n 2 --dist loadgroup --durations=25

lint: install
	@$(MAKE) --no-print-directory lint-checks

lint-checks:  ## ruff, import contracts, mypy (its cache: MYPY_CACHE_DIR, default .mypy_cache)
	$(TIMED) ruff $(UV) run --locked ruff check .
	$(TIMED) lint-imports $(UV) run --locked lint-imports
	$(TIMED) mypy $(UV) run --locked mypy

bench: install  ## serving benchmark (builds MLServer's venv in .bench/ on first use); see docs/performance.md
	$(UV) run --locked python benchmarks/serving.py

bench-dataplane: install  ## a 10,000-row request taken apart inside a replica, no Ray
	$(UV) run --locked python benchmarks/dataplane_batch.py

bench-deploy: install  ## deploy, unchanged redeploy, canary start under load, with their phases
	$(UV) run --locked python benchmarks/deploy.py

bench-rollout: install  ## traffic transitions under load, evaluation time; see docs/performance.md
	$(UV) run --locked python benchmarks/rollout.py

bench-portal: install browser  ## portal pages with 10,000 versions; first contentful paint
	$(UV) run --locked python benchmarks/portal.py

bench-features: install  ## online lookups, enriched serving, point-in-time joins
	$(UV) run --locked python benchmarks/features.py

proto: install  ## regenerate the gRPC code from predict.proto
	$(UV) run --locked python -m ferry_contract.proto.generate

clean:
	rm -rf .ferry .bench .pytest_cache .ruff_cache .mypy_cache
