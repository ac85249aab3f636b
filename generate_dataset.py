#!/usr/bin/env python
"""Generate a labelled dataset of scheduling messages (entities + intent) for the small models.

Two backends write the same dataset file (see ``small_lm/data.py`` and ``small_lm/dataset.schema.json``):

- ``openai``: asks a chat model (OpenAI, or any OpenAI-compatible server via ``--base-url``: vLLM, Ollama,
  llama.cpp) for messages with their intent and entity *strings*, using structured outputs.  Offsets and BIO
  tags are computed here, so a model never has to count characters; answers that do not line up are
  rejected and counted by reason.
- ``offline``: the template generator in ``small_lm/offline.py``; no network, seconds for thousands.

Accepted examples are appended to ``<output>.partial.jsonl`` as they arrive, so an interrupted run loses
nothing: run the same command again and it only generates what is missing.

    python generate_dataset.py --num-examples 500 --output datasets/emails.json
    python generate_dataset.py --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen2.5-7B-Instruct
    python generate_dataset.py --backend offline --num-examples 2000
    python generate_dataset.py --styles raw_email=0.6,voice=0.4   # the message styles and their shares

``--styles`` (``small_lm/data/styles.yaml``) sets the share of each message style in the dataset, for both
backends; the openai backend asks for one style per request, and fewer messages per request for the long
email styles.

The work is done in ``small_lm/generation/``: ``cli.py`` (these flags), ``prompts.py``, ``answers.py``,
``resume.py``, ``openai_backend.py``, ``offline_backend.py`` and ``output.py``.
"""

import sys
from pathlib import Path

from small_lm.generation.cli import main

if __name__ == "__main__":
    # The key may live in .env beside this script; real environment variables win over it.
    sys.exit(main(env_file=Path(__file__).resolve().with_name(".env")))
