# Set-up and entry points. Idempotent: a second run only does what is missing.
#   make demo   set up, then run the pipeline on the embedded demo corpus and print the results
#   make test   set up, then run unit and end-to-end tests
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# The visual stage's MediaPipe worker runs in its own environment (numpy 1.26; README "Two environments").
VISUAL_VENV := .venv-visual
export PATH := $(BIN):$(PATH)
# Debian packages the pipeline calls (media decoding, demo speech synthesis, pitch glides).
APT_PACKAGES := ffmpeg espeak-ng sox
# Extra Debian packages only the tests use (a throw-away local SLURM cluster; a headless browser for the report).
TEST_APT_PACKAGES := slurm-wlm munge chromium
DEMO_TARGET ?= results/cmbert_demo.json results/lfbert_demo.json
# Word-level features of every set in config acoustic.feature_sets (covarep_like, egemaps) and
# visual.feature_sets (facial_like), the MMSA / MAG-BERT exports (work/demo/exports/), and the HTML
# report of the demo results.
DEMO_EXTRA_TARGETS ?= work/demo/words.done work/demo/exports.done results/report_demo.html
# Throw-away virtualenvs of peer frameworks (MMSA) that the peer tests load our exports with.
PEER_VENVS := .venv-peers
CORES ?= all

.PHONY: setup system-deps test-system-deps peer-venvs demo test lint clean-demo

system-deps:
	@bash scripts/ensure-apt-packages.sh $(APT_PACKAGES)

test-system-deps:
	@bash scripts/ensure-apt-packages.sh $(TEST_APT_PACKAGES)

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements.lock
	$(VENV)/bin/python -m pip install -q --no-deps -e .
	touch $@

$(VISUAL_VENV)/.installed: envs/visual.lock
	test -x $(VISUAL_VENV)/bin/python || $(PYTHON) -m venv $(VISUAL_VENV)
	$(VISUAL_VENV)/bin/python -m pip install -q --upgrade pip
	$(VISUAL_VENV)/bin/python -m pip install -q -r envs/visual.lock
	touch $@

setup: system-deps $(VENV)/.installed $(VISUAL_VENV)/.installed

peer-venvs:
	@PYTHON=$(PYTHON) bash scripts/peer-venvs.sh $(PEER_VENVS)

demo: setup
	$(BIN)/snakemake --cores $(CORES) $(DEMO_TARGET) $(DEMO_EXTRA_TARGETS)
	$(BIN)/msaflow show $(DEMO_TARGET)
	@echo "report: $(CURDIR)/results/report_demo.html"

# One apt call for both package lists (two would contend for dpkg's lock), then the three Python
# environments side by side: they are independent and mostly waiting on unpacking wheels.
test:
	@bash scripts/ensure-apt-packages.sh $(APT_PACKAGES) $(TEST_APT_PACKAGES)
	$(MAKE) -j3 --no-print-directory $(VENV)/.installed $(VISUAL_VENV)/.installed peer-venvs
	$(BIN)/pytest -m "e2e or not e2e"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

clean-demo:
	rm -rf work/demo results/*_demo.json
