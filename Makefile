# Each target creates .venv and installs what it needs; nothing else is assumed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-quick clean browser gateway echarts

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The demo needs only what the bot runs on (not the test and lint tools).
RUN_STAMP := $(VENV)/.installed-run
$(RUN_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

demo: $(RUN_STAMP) echarts
	$(BIN)/villagebot demo

# Browser tests and screenshots drive Debian's Chromium; CJK fonts so Chinese renders.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-cjk; \
	fi

# Apache ECharts for the dashboard, from the npm registry (exact version, nothing vendored
# is committed); without it the dashboard shows its tables and no charts.
ECHARTS := bot/web/vendor/echarts.min.js
$(ECHARTS): web/echarts/package.json web/echarts/package-lock.json
	@command -v npm >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm)
	cd web/echarts && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(@D) && cp web/echarts/node_modules/echarts/dist/echarts.min.js $@

echarts: $(ECHARTS)

# The Wechaty puppet-service gateway the WeChat tests run on loopback (exact versions).
GATEWAY := tests/gateway
$(GATEWAY)/node_modules/.package-lock.json: $(GATEWAY)/package.json $(GATEWAY)/package-lock.json
	@command -v npm >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm)
	cd $(GATEWAY) && npm ci --no-audit --no-fund --loglevel=error

gateway: $(GATEWAY)/node_modules/.package-lock.json

test: $(STAMP) browser gateway echarts
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy bot
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy bot

# The goals P1-P6 as ratios to baselines measured in the same run (asyncpg, aiosqlite).
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench
	$(BIN)/villagebot capacity --groups 3010 --accounts 6 --shared 0.2

bench-quick: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
