# Quick start: `make benchmark` runs the main job, `make test` runs the tests.
# Each does its own set-up: Python packages, the PostgreSQL extension, the embedded server, stats_tiny.
PYTHON ?= python3
STAMP := .pilotscope/installed.stamp

.PHONY: setup compose-validator browser test benchmark perf quality server-stop

$(STAMP): pyproject.toml
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e .
	@mkdir -p $(dir $@) && touch $@

setup: $(STAMP)
	$(PYTHON) -m pilotscope.cli db start
	$(PYTHON) -m pilotscope.cli db load stats_tiny

# docker-compose.yml is validated by a test; Docker itself never runs here.
compose-validator:
	@command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; } || \
	  echo "note: install docker-compose (or the docker compose plugin) for the compose-file test"

# The MLflow UI is tested in headless Chromium through Selenium (a Python dependency); the browser and its
# driver come from Debian.
browser:
	@{ command -v chromium >/dev/null || command -v chromium-browser >/dev/null; } && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "note: install chromium and chromium-driver (apt-get install chromium chromium-driver) for the MLflow UI browser test"

test: setup compose-validator browser
	$(PYTHON) -m pytest -n auto -m "not serial" tests
	$(PYTHON) -m pytest -m serial tests

benchmark: setup
	$(PYTHON) -m pytest benchmarks --db stats_tiny

perf: setup
	$(PYTHON) -m pytest benchmarks -m perf -s

# Quality on stats_approx (a data directory must hold it): every algorithm on the fast workload and on a
# held-out generated one, tracked like any benchmark; Baseline (paired with raw psycopg2, so it measures the
# harness, not a plan) only on the first. See the README for the time it takes.
# A query that times out fails its module but not the other run: both always run, then the exit status says.
quality: setup
	$(PYTHON) -m pilotscope.cli db load stats_approx
	status=0; \
	$(PYTHON) -m pytest benchmarks --db stats_approx --workload fast --query-timeout 60 || status=$$?; \
	$(PYTHON) -m pytest benchmarks --db stats_approx --workload generated:1 --query-timeout 60 -k "not baseline" || status=$$?; \
	exit $$status

server-stop:
	$(PYTHON) -m pilotscope.cli db stop
