# Set-up and the two entry points. Each target creates .venv when it is missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TAP    := $(VENV)/bin/tap
# torch first, pinned to the local CPU wheel; pyproject.toml itself only asks for torch>=2.4.
TORCH  ?= torch==2.13.0

# verl (the curriculum sampler's real test) pins numpy < 2: a venv of its own.
VERL_VENV ?= .venv-verl

.PHONY: demo study test test-all test-verl system-deps chromium clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: $(PY) pyproject.toml
	$(PY) -m pip install -q "$(TORCH)" -e .
	touch $@

$(VENV)/.installed-dev: $(PY) pyproject.toml
	$(PY) -m pip install -q "$(TORCH)" -e ".[dev]"
	touch $@ $(VENV)/.installed

# The first run (configs/demo.toml: 12 cohorts x 2 seeds, the headline scorers, no loop; the tiny policy ships with
# the package, so nothing pretrains). Its time on a fresh clone, set-up included: bench/results/demo.json.
demo: $(VENV)/.installed
	$(TAP) study --config configs/demo.toml --out runs/demo
	@echo "open runs/demo/report.html in a browser (one self-contained file; works offline)"

# The full default study (configs/tiny.toml: 64 cohorts x 3 seeds and the closed loop; ~20 min).
study: $(VENV)/.installed
	$(TAP) study --config configs/tiny.toml --out runs/default
	@echo "open runs/default/report.html in a browser (one self-contained file; works offline)"

# Debian packages the tests need, installed when missing (as root, or with sudo): chromium for the
# report's browser test; bubblewrap (bwrap), the code sandbox's OS jail. Without bwrap the sandbox
# keeps its fallback walls and the bubblewrap half of its tests is skipped.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	[ -z "$$missing" ] || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; }

chromium: system-deps

# The quick suite: every test not marked slow, in one process (pytest-xdist's two workers were slower than one:
# torch threads oversubscribe; bench/results/ci_fresh_clone.json). The 15 slowest are listed at the end.
test: $(VENV)/.installed-dev system-deps
	$(PY) -m pytest -m "not slow" --durations=15

# Everything: the quick suite, the slow tests (end-to-end studies, label batteries, the default world's
# policy) and the verl sampler against verl itself. CI runs this (.ci/run).
test-all: $(VENV)/.installed-dev system-deps
	$(PY) -m pytest --durations=30
	$(MAKE) test-verl

$(VERL_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VERL_VENV)
	$(VERL_VENV)/bin/python -m pip install -q --upgrade pip
	$(VERL_VENV)/bin/python -m pip install -q "$(TORCH)"
	$(VERL_VENV)/bin/python -m pip install -q -e ".[verl]" "pytest>=8" "pytest-timeout>=2.3"
	touch $@

# TAP's verl sampler driven by verl itself (RLHFDataset, its sampler hook, DataProto, balance_batch), in .venv-verl.
test-verl: $(VERL_VENV)/.installed
	$(VERL_VENV)/bin/python -m pytest -p no:cacheprovider tests/integration/test_verl_real.py

clean-venv:
	rm -rf $(VENV) $(VERL_VENV)
