"""Where a run's dataset goes, the finished file (shuffled, split, written atomically) and the run's summary."""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from small_lm.data import build_document, split_examples, write_json_atomic

if TYPE_CHECKING:  # only a type here; importing it would load the openai client
    from small_lm.generation.openai_backend import Usage


def default_output(backend: str, model: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = "offline" if backend == "offline" else f"openai-{re.sub(r'[^A-Za-z0-9._-]+', '_', model)}"
    return Path("datasets") / f"{name}-{stamp}.json"


def check_output(output: Path, overwrite: bool) -> str | None:
    """Why ``output`` cannot be written, or None."""
    if output.is_dir():
        return f"--output {output} is a directory"
    if output.exists() and not overwrite:
        return f"{output} already exists; pass --overwrite to replace it or choose another --output"
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"cannot create the folder for --output {output}: {err.strerror}"
    if not os.access(output.parent, os.W_OK):
        return f"cannot write to {output.parent} (--output {output})"
    return None


def safe_host(base_url: str | None) -> str:
    """Host and port of the server, without any user:password part, for the metadata."""
    if not base_url:
        return "api.openai.com"
    parts = urlsplit(base_url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def write_dataset(
    output: Path,
    examples: Sequence[dict],
    *,
    num_examples: int,
    seed: int,
    split: Sequence[float],
    entity_types: Sequence[str],
    intents: Sequence[str],
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """Exactly ``num_examples`` examples, shuffled with the seed, split and written atomically; the document."""
    # Extras beyond num_examples (from requests that were in flight at the end) are the last accepted: trimmed.
    examples = list(examples[:num_examples])
    random.Random(seed).shuffle(examples)
    document = build_document(split_examples(examples, split), entity_types, intents, metadata)
    write_json_atomic(output, document)
    return document


def summary(output: Path, document: dict, rejected: Counter, usage: Usage, cost: float | None, seconds: float) -> str:
    """What a finished run says: the file, its counts, and for the openai backend its requests and cost."""
    counts = document["metadata"]["counts"]
    splits = ", ".join(f"{name} {n}" for name, n in counts["splits"].items())
    intents = ", ".join(f"{name} {n}" for name, n in counts["intents"].items())
    lines = [f"wrote {output}: {sum(counts['splits'].values())} examples ({splits}; {intents}) in {seconds:.1f}s"]
    if usage.requests:
        reasons = ", ".join(f"{reason} {n}" for reason, n in rejected.most_common())
        lines.append(
            f"  {usage.requests} requests ({usage.retries} retries, {usage.failed} failed); "
            f"rejected {sum(rejected.values())}{f' ({reasons})' if reasons else ''}; "
            f"{usage.prompt_tokens + usage.completion_tokens} tokens" + ("" if cost is None else f", ~${cost:.4f}")
        )
    return "\n".join(lines)
