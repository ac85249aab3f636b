"""Synthetic dataset generation, behind ``generate_dataset.py``.

- ``prompts``: what a request asks a chat model for: the system prompt, one request's user prompt (style,
  intent mix, scenario, formats, look-alikes) and the strict response schema.
- ``answers``: checking a model's answer: JSON shape, labels, duplicates, and entity strings aligned to
  character spans on token edges; each rejection has a reason.
- ``resume``: the accepted examples of a run, appended to ``<output>.partial.jsonl`` as they arrive and read
  back by the next run.
- ``openai_backend``: the request scheduler (``--concurrency`` requests in flight) with retries and usage.
- ``offline_backend``: the template generator of ``small_lm/offline.py``, checked like any other source.
- ``output``: the finished dataset file (shuffle, split, atomic write) and the run's summary.
- ``cli``: the command line of ``generate_dataset.py``.
"""

from __future__ import annotations

PROG = "generate_dataset.py"  # how messages name the command, wherever they are written from


class GenerationError(RuntimeError):
    """A run that cannot go on; the message says why and what to do."""
