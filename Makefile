# Set-up and the two entry points. Each target creates .venv when it is missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TAP    := $(VENV)/bin/tap
# torch first, pinned to the local CPU wheel; pyproject.toml itself only asks for torch>=2.4.
TORCH  ?= torch==2.13.0

.PHONY: demo test clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: $(PY) pyproject.toml
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(PY) pyproject.toml
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(TAP) world build --config configs/tiny.toml --out runs/demo
	$(TAP) rollout runs/demo/cohorts.parquet --config configs/tiny.toml --max-cohorts 16 --show 3
	@echo "demo run folder: runs/demo (config.toml, items.parquet, cohorts.parquet, rollouts.parquet)"

test: $(VENV)/.installed-dev
	$(PY) -m pytest

clean-venv:
	rm -rf $(VENV)
