"""Synthetic dataset generation, behind ``generate_dataset.py``.

- ``prompts``: what a request asks a chat model for: the system prompts (generating; labelling the user's own
  messages), one request's user prompt (style, intent mix, scenario, formats, look-alikes) and the strict
  response schemas.
- ``answers``: checking a model's answer: JSON shape, labels, duplicates, and entity strings aligned to
  character spans on token edges; each rejection has a reason.
- ``resume``: the accepted examples of a run, appended to ``<output>.partial.jsonl`` as they arrive and read
  back by the next run.
- ``openai_backend``: the request scheduler (``--concurrency`` requests in flight) with retries, usage and
  prices; also the sender of a fixed list of requests.
- ``annotate``: ``--annotate``: the user's messages read, cut to ``--max-chars``, sent one to a request and
  their answers aligned.
- ``batch``: the OpenAI Batch API: request files, upload, batches, polling, downloads, resumable state.
- ``journal``: answers kept on disk in the Batch API's output format, read back by a rerun.
- ``runs``: ``--annotate`` (synchronous or ``--batch``) and generation with ``--batch``.
- ``sending``: what a run says before it sends anything (counts, host, cost estimate) and its question.
- ``offline``: the template generator, a package of data and engine; ``offline_backend``: its examples, checked
  like any other source's.
- ``output``: the finished dataset file (shuffle, split, ``--mix``, atomic write) and the run's summary.
- ``flags``: the command's flags; ``cli``: its ``main``.
"""

from __future__ import annotations

PROG = "generate_dataset.py"  # how messages name the command, wherever they are written from


class GenerationError(RuntimeError):
    """A run that cannot go on; the message says why and what to do."""
