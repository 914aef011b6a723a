# The two-command quick start: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test setup init lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	# torch==2.13.0 is pinned in pyproject.toml with the rest, so pip takes the CPU build.
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(VENV)/bin/petition models install --target models
	touch $(STAMP)

setup: $(STAMP)

init: setup
	$(VENV)/bin/petition init --demo

run: init
	@$(PY) -m server.banner --host $(HOST) --port $(PORT)
	$(VENV)/bin/petition serve --host $(HOST) --port $(PORT)

lint: setup
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q
	cd channels/wechat/miniprogram && npm ci --no-audit --no-fund --loglevel=error && npm test

clean:
	rm -rf $(VENV) var .pytest_cache
