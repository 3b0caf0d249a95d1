# Two commands do all the set-up on a fresh machine (Python 3.10+ and make; no torch needed):
#   make example   grade the bundled example submission (passes, failures, hints)
#   make test      run the test suite
# Both create .venv with the CPU build of torch (constraints-cpu.txt) and the grader in it.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: example test lint bench clean

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

clean:
	rm -rf $(VENV)
