# Each target creates .venv and installs what it needs; nothing else is assumed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean browser

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/villagebot demo

# Browser tests and screenshots drive Debian's Chromium; CJK fonts so Chinese renders.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-cjk; \
	fi

test: $(STAMP) browser
	$(BIN)/ruff check bot handlers schedules tests bench
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check bot handlers schedules tests bench
	$(BIN)/mypy bot handlers schedules

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
