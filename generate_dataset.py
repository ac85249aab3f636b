#!/usr/bin/env python
"""Generate a labelled dataset of scheduling messages (entities + intent) for the small models.

Two backends write the same dataset file (see ``small_lm/data.py`` and ``small_lm/dataset.schema.json``):

- ``openai``: asks a chat model (OpenAI, or any OpenAI-compatible server via ``--base-url``: vLLM, Ollama,
  llama.cpp) for messages with their intent and entity *strings*, using structured outputs.  Offsets and BIO
  tags are computed here, so a model never has to count characters; answers that do not line up are
  rejected and counted by reason.
- ``offline``: the template generator in ``generation/offline/``; no network, seconds for thousands.

It can also label your own messages (``--annotate inbox.mbox``: the chat model labels each one under the
guideline, the labels are aligned here) and send its requests through the OpenAI Batch API at half the price
(``--batch``); ``--mix`` combines datasets, ``--dry-run`` prices a run without sending anything.

Answers and accepted examples are kept on disk as they arrive (``<output>.partial.jsonl``,
``<output>.answers.jsonl``, ``<output>.batch/``), so an interrupted run loses nothing: run the same command again
and it only asks for what is missing.

    python generate_dataset.py --num-examples 500 --output datasets/emails.json
    python generate_dataset.py --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen2.5-7B-Instruct
    python generate_dataset.py --backend offline --num-examples 2000
    python generate_dataset.py --styles raw_email=0.6,voice=0.4   # the message styles and their shares
    python generate_dataset.py --annotate inbox.mbox --batch --mix datasets/mix-2000-seed1.json

The work is done in ``generation/`` (its ``__init__`` lists the modules).
"""

import sys
from pathlib import Path

from generation.cli import main

if __name__ == "__main__":
    # The key may live in .env beside this script; real environment variables win over it.
    sys.exit(main(env_file=Path(__file__).resolve().with_name(".env")))
