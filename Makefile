# Two entry points for a fresh clone: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SYSTEM_BINARIES := mosquitto mosquitto_pub influxd
SYSTEM_PACKAGES := mosquitto mosquitto-clients influxdb

.PHONY: demo test lint typecheck imports pytest bench system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/telemetry demo

# Installs the servers the integration tests start, when they are missing.
system-deps:
	@missing=""; for b in $(SYSTEM_BINARIES); do \
	  command -v $$b >/dev/null 2>&1 || [ -x /usr/sbin/$$b ] || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing Debian packages $(SYSTEM_PACKAGES) (missing:$$missing)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	  else \
	    echo "missing:$$missing. Install them with: sudo apt-get install $(SYSTEM_PACKAGES)"; exit 2; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP) system-deps
	PATH="/usr/sbin:$$PATH" $(BIN)/pytest

test: lint typecheck imports pytest

bench: $(STAMP) system-deps
	PATH="/usr/sbin:$$PATH" $(BIN)/python bench/ingest.py
	PATH="/usr/sbin:$$PATH" $(BIN)/python bench/ingest.py --qos 1 --messages 50000
	PATH="/usr/sbin:$$PATH" $(BIN)/python bench/ingest.py --store influxdb1
	PATH="/usr/sbin:$$PATH" $(BIN)/python bench/flood_latency.py
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/compliance.py
	$(BIN)/python bench/mission_planning.py
	$(BIN)/python bench/store.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache data
