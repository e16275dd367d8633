# Two entry points for a fresh clone: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SYSTEM_BINARIES := mosquitto mosquitto_pub influxd chromium
# chromium: the dashboard's browser tests (Playwright drives it); the font draws the Chinese names
SYSTEM_PACKAGES := mosquitto mosquitto-clients influxdb chromium fonts-wqy-microhei

.PHONY: demo test lint typecheck imports pytest bench soak system-deps clean

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

# Every benchmark of bench/, each against a baseline measured in the same run; writes the table
# to bench/results.md (benchmark | ours | baseline | ratio | target | met?). About 10 minutes.
bench: $(STAMP) system-deps
	PATH="/usr/sbin:$$PATH" $(BIN)/python bench/run_all.py

# Not in CI: 30 minutes at 2,000 msg/s through `telemetry serve`, RSS growth (target <= 10 %).
# SOAK_MINUTES=3 make soak for a short check.
SOAK_MINUTES ?= 30
soak: $(STAMP) system-deps
	PATH="/usr/sbin:$$PATH" $(BIN)/python bench/soak.py --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache data
