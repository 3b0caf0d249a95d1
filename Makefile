# Two commands do all the set-up on a fresh machine (Python 3.10+ and make; no torch needed):
#   make example   grade the bundled example submission (passes, failures, hints)
#   make test      run the test suite
# Both create .venv with the CPU build of torch (constraints-cpu.txt) and the grader in it.
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

.PHONY: example test lint bench clean gpu-wheels gpu-check

$(STAMP): pyproject.toml setup.py constraints-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints-cpu.txt -e '.[test,lint]'
	touch $(STAMP)

example: $(STAMP)
	@# Exit code 1 means "some check did not pass", which is the point of the example.
	$(BIN)/grader run examples/submission; test $$? -le 1

test: $(STAMP)
	$(BIN)/python -m pytest -q

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
