# The two commands: `make demo` (the assistant in the terminal on demo data) and `make test`.
# Both create .venv and install the project on first use; only Python 3.11 or 3.12 is needed
# (the OCR engine, rapidocr-onnxruntime, is not built for 3.13 yet).
SUPPORTED := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))
# the first Python 3.11 or 3.12 on PATH (python3 may be another); `make PYTHON=/path/to/python3.12 …` to choose
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c '$(SUPPORTED)' 2>/dev/null && { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# A .venv made with an older Python (or whose Python is gone) is made again.
ifneq ($(wildcard $(VENV)),)
ifneq ($(shell $(BIN)/python -c '$(SUPPORTED)' >/dev/null 2>&1 && echo ok),ok)
$(info $(VENV) was made with an unsupported or missing Python; making it again with $(PYTHON))
$(shell rm -rf $(VENV))
endif
endif

.PHONY: demo test lint bench load flows clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or 3.12 is needed: install python3.11 (or 3.12), or run make PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -c '$(SUPPORTED)' || { echo "$(PYTHON) is not Python 3.11 or 3.12: run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python bot.py chat --demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy

test: lint
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
