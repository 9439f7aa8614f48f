# Quick start: `make benchmark` runs the main job, `make test` runs the tests.
# Each does its own set-up: Python packages, the PostgreSQL extension, the embedded server, stats_tiny.
PYTHON ?= python3
STAMP := .pilotscope/installed.stamp

.PHONY: setup test benchmark server-stop

$(STAMP): pyproject.toml
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e .
	@mkdir -p $(dir $@) && touch $@

setup: $(STAMP)
	$(PYTHON) -m pilotscope.cli db start
	$(PYTHON) -m pilotscope.cli db load stats_tiny

test: setup
	$(PYTHON) -m pytest -n auto tests

benchmark: setup
	$(PYTHON) -m pytest benchmarks

server-stop:
	$(PYTHON) -m pilotscope.cli db stop
