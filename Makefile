# Ferry's two commands: `make demo` (the main job end to end) and `make test`.
# Both install what they need: uv (from PyPI) and the locked dependencies.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test lint bench bench-dataplane bench-features bench-rollout install proto clean

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet uv

install: $(UV)
	$(UV) sync --locked --quiet

demo: install  ## run Ferry end to end on the local embedded platform
	$(UV) run --locked python examples/demo.py

test: install lint  ## the whole suite (unit, integration, end-to-end), on two workers
	$(UV) run --locked pytest -n 2 --dist loadgroup --durations=25

lint: install
	$(UV) run --locked ruff check .
	$(UV) run --locked lint-imports
	$(UV) run --locked mypy

bench: install  ## serving benchmark (builds MLServer's venv in .bench/ on first use); see docs/performance.md
	$(UV) run --locked python benchmarks/serving.py

bench-dataplane: install  ## a 10,000-row request taken apart inside a replica, no Ray
	$(UV) run --locked python benchmarks/dataplane_batch.py

bench-rollout: install  ## traffic transitions under load, evaluation time; see docs/performance.md
	$(UV) run --locked python benchmarks/rollout.py

bench-features: install  ## online lookups, enriched serving, point-in-time joins
	$(UV) run --locked python benchmarks/features.py

proto: install  ## regenerate the gRPC code from predict.proto
	$(UV) run --locked python -m ferry_contract.proto.generate

clean:
	rm -rf .ferry .bench .pytest_cache .ruff_cache .mypy_cache
