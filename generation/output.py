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

from generation.answers import normalize
from small_lm.data import DatasetError, build_document, read_dataset_file, split_examples, write_json_atomic

if TYPE_CHECKING:  # only a type here; importing it would load the openai client
    from generation.openai_backend import Usage


def default_output(backend: str, model: str, annotate: bool = False) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = "offline" if backend == "offline" else f"openai-{re.sub(r'[^A-Za-z0-9._-]+', '_', model)}"
    return Path("datasets") / f"{'annotated-' if annotate else ''}{name}-{stamp}.json"


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
    mix: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Exactly ``num_examples`` examples, shuffled with the seed, split and written atomically; the document.
    ``mix``: ``combine``'s record of a mixed dataset, completed here with each split's count per source."""
    # Extras beyond num_examples (from requests that were in flight at the end) are the last accepted: trimmed.
    examples = list(examples[:num_examples])
    random.Random(seed).shuffle(examples)
    splits = split_examples(examples, split)
    if mix is not None:
        mix = mix | {"splits": mix_counts(splits)}
        splits = {name: [{k: v for k, v in x.items() if k != "mix_source"} for x in xs] for name, xs in splits.items()}
        metadata = metadata | {"mix": mix}
    document = build_document(splits, entity_types, intents, metadata)
    write_json_atomic(output, document)
    return document


def summary(
    output: Path,
    document: dict,
    rejected: Counter,
    usage: Usage,
    cost: float | None,
    seconds: float,
    sync_cost: float | None = None,
) -> str:
    """What a finished run says: the file, its counts, and for the openai backend its requests and cost
    (``sync_cost``: what a batch run's tokens would have cost synchronously)."""
    counts = document["metadata"]["counts"]
    splits = ", ".join(f"{name} {n}" for name, n in counts["splits"].items())
    intents = ", ".join(f"{name} {n}" for name, n in counts["intents"].items())
    lines = [f"wrote {output}: {sum(counts['splits'].values())} examples ({splits}; {intents}) in {seconds:.1f}s"]
    if usage.requests:
        reasons = ", ".join(f"{reason} {n}" for reason, n in rejected.most_common())
        lines.append(
            f"  {usage.requests} requests ({usage.retries} retries, {usage.failed} failed); "
            f"rejected {sum(rejected.values())}{f' ({reasons})' if reasons else ''}; "
            f"{usage.prompt_tokens + usage.completion_tokens} tokens"
            + ("" if cost is None else f", ~${cost:.4f}")
            + (f" at the Batch API's price (~${sync_cost:.4f} synchronously)" if sync_cost is not None else "")
        )
    return "\n".join(lines)


def read_mix(
    paths: Sequence[Path], entity_types: Sequence[str], intents: Sequence[str]
) -> list[tuple[Path, list[dict]]]:
    """The examples of each ``--mix`` dataset (all its splits), refused unless it has this run's labels: a dataset
    without a type would teach the model that such entities are not there."""
    mixed = []
    for path in paths:
        splits, info = read_dataset_file(path)
        if list(info.entity_types) != list(entity_types) or sorted(info.intents) != sorted(intents):
            raise DatasetError(
                f"--mix {path}: its labels (entity types {','.join(info.entity_types)}; intents "
                f"{','.join(info.intents)}) differ from this run's ({','.join(entity_types)}; {','.join(intents)}); "
                "pass the same --entity-types and --intents"
            )
        mixed.append((path, [x for examples in splits.values() for x in examples]))
    return mixed


def combine(own: Sequence[dict], own_name: str, mixed: Sequence[tuple[Path, list[dict]]]) -> tuple[list[dict], dict]:
    """This run's examples and the ``--mix`` datasets' in one list, with the metadata that records where they came
    from.  An example whose text another one already has is dropped (it would leak across the fresh splits);
    mixed-in ids get their file's name in front, so ids stay unique."""
    seen: set[str] = set()
    combined: list[dict] = []
    sources = []
    for name, examples, prefix in [(own_name, own, ""), *((str(p), xs, f"{p.stem}/") for p, xs in mixed)]:
        kept = 0
        for example in examples:
            if normalize(example["text"]) in seen:
                continue
            seen.add(normalize(example["text"]))
            combined.append(example | {"id": prefix + str(example["id"])} | {"mix_source": name})
            kept += 1
        sources.append({"source": name, "examples": kept, "duplicates_dropped": len(examples) - kept})
    for source in sources:
        source["share"] = round(source["examples"] / max(1, len(combined)), 6)
    return combined, {"sources": sources}


def mix_counts(splits: dict[str, list[dict]]) -> dict[str, dict[str, int]]:
    """How many examples of each source every split holds (the fresh splits are drawn from the mixed list)."""
    return {split: dict(Counter(x["mix_source"] for x in examples)) for split, examples in splits.items()}
