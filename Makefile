# Two commands on a fresh clone (Python 3.10+):
#   make demo   set up .venv if needed, run the main job on the offline demo data, write report/
#   make test   set up .venv if needed, run the test suite (what CI runs)
#   make test-repro  the slow reproducibility checks: the CI regression under every CPU kernel path this
#               machine has, and bit-identical results across backends (CI runs it after make test)
# Set-up is idempotent: a second call reinstalls nothing unless pyproject.toml, this file or the torch
# choice changed. GPU users pick their torch build without editing files, e.g.
#   make test TORCH_INDEX_URL=<the PyTorch wheel index for your CUDA version>
# (the pins stay the known-good pair; override TORCH_PINS only if that pair has no build for your CUDA).
# On Python 3.11 the other direct dependencies are held at the versions the tests last passed with
# (constraints-py311.txt); CONSTRAINTS= turns that off, and other Pythons get the newest compatible ones.

PYTHON ?= python3
VENV ?= .venv
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
TORCH_INDEX_URL ?=
PYTEST_ARGS ?=
DEMO_OUT ?= runs
REPORT_OUT ?= report

PY_MINOR := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
CONSTRAINTS ?= $(if $(filter 3.11,$(PY_MINOR)),constraints-py311.txt,)

BIN := $(VENV)/bin
STAMP := $(VENV)/.biqa-installed
# What the stamp certifies: if the torch choice changed since the last install, install again.
INSTALL_SPEC := $(TORCH_PINS) $(TORCH_INDEX_URL) $(CONSTRAINTS)
ifneq ($(strip $(shell cat $(STAMP) 2>/dev/null)),$(strip $(INSTALL_SPEC)))
  $(shell rm -f $(STAMP))
endif

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test test-repro clean-venv

setup: $(STAMP)

# torch first: this pair is the one whose torch and torchvision import together here; setuptools<81
# keeps pkg_resources, which pyiqa's CLIP metrics import.
$(STAMP): pyproject.toml Makefile $(CONSTRAINTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH_PINS) $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(BIN)/python -m pip install -q -e ".[all]" "setuptools<81" $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	@echo "$(INSTALL_SPEC)" > $@

demo: $(STAMP)
	$(BIN)/python -m bench run --protocol cross --method mpiqe --data demo --out $(DEMO_OUT)
	$(BIN)/python -m bench report --runs $(DEMO_OUT) --format md,png --out $(REPORT_OUT)
	@echo "report: $(REPORT_OUT)/report.md  (demo data is synthetic and not human-rated)"

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-repro: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests/test_run_regression_kernels.py tests/test_run_numerics.py $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
