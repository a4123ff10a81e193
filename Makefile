# The two commands: `make demo` (the assistant in the terminal on demo data) and `make test`.
# Both create .venv and install the project on first use; only Python 3.11+ is needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench load flows clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python bot.py chat --demo

test: $(STAMP)
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/python bench/import_invoices.py
	$(BIN)/python bench/broadcast.py
	$(BIN)/python bench/core_step.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/handoff_burst.py

load: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/python bench/load.py

flows: $(STAMP)
	$(BIN)/python bot.py flows

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache
