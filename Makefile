# Two commands do all the set-up on a fresh machine (Python 3.10+ and make; no torch needed):
#   make example     grade the bundled example submission (passes, failures, hints)
#   make test        run the test suite, in parallel (pytest-xdist); CI runs this
# Both create .venv with the CPU build of torch (constraints-cpu.txt) and the grader in it.
# While editing:
#   make test-fast   the tests not marked slow, in parallel: under a minute on 2 cores, every
#                    test module still represented (tests/conftest.py says what "slow" means)
#   make lint        ruff check, ruff format --check and mypy; CI runs this before the tests
# One file or test, serially: .venv/bin/python -m pytest tests/test_wire.py -k EXPR
#
# On a GPU machine without network (torch with CUDA, pytest, pluggy, safetensors, click there):
#   make gpu-wheels  (where there is network) download the other wheels into $(GPU_WHEELS)
#   make gpu-check   install from them, run the CUDA checks and tests (5 minutes at most), log in
#                    gpu-check-log/; without CUDA it says so and exits 0 (tools/gpu_check.py)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

GPU_WHEELS ?= .gpu-wheels
GPU_PYTHON_VERSION ?= 3.12
GPU_PLATFORMS := manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 any

# pytest-xdist: one worker per core (measured on 2 cores: a third worker cost more CPU than the
# waits it overlapped saved). loadgroup: the tests of one xdist_group (a module or fixture with
# graders of its own) stay on one worker, so that those start once; the others go one by one to
# whichever worker is free. WORKERS=n overrides.
WORKERS ?= $(shell getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
XDIST   := -n $(WORKERS) --dist loadgroup

.PHONY: example test test-fast lint bench clean gpu-wheels gpu-check

$(STAMP): pyproject.toml setup.py constraints-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints-cpu.txt -e '.[test,lint]'
	touch $(STAMP)

example: $(STAMP)
	@# Exit code 1 means "some check did not pass", which is the point of the example.
	$(BIN)/grader run examples/submission; test $$? -le 1

test: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

gpu-wheels:
	$(PYTHON) -m pip download --only-binary=:all: --implementation cp --python-version $(GPU_PYTHON_VERSION) \
		$(addprefix --platform ,$(GPU_PLATFORMS)) -d $(GPU_WHEELS) -r tools/gpu-requirements.txt

gpu-check:
	$(PYTHON) tools/gpu_check.py --wheels $(GPU_WHEELS)

clean:
	rm -rf $(VENV)
