"""The dataset format, written once: labels, tokens, BIO tags, entity spans, loading and validation.

An example is ``{"id", "text", "tokens", "ner_tags", "intent", "entities": [{"type", "start", "end", "text"}]}``
with ``text[start:end] == entity text``, tokens appearing in order in ``text``, entity edges on token edges
and valid IOB2 tags.  A dataset file is one JSON object (see ``dataset.schema.json``) holding splits of
such examples; a JSONL file of examples (e.g. the MASSIVE benchmark) loads as a single ``test`` split.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

FORMAT_VERSION = 1
DEFAULT_ENTITY_TYPES = ("DATE", "TIME", "NAME", "EMAIL")
DEFAULT_INTENTS = ("inquiry", "cancel")
SCHEMA_PATH = Path(__file__).with_name("dataset.schema.json")

ADDRESS_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# An email address is one token; otherwise words (keeping "3:30", "12/05", "5.30pm", "v2.1" whole) and single
# punctuation marks.  Hyphens and apostrophes split so that "Jean-Luc" and "Anna's" keep entity edges on token
# edges, and so does a slash between words, so that "w/Chen" and "Ann Lee/HOU/CORP" have a name on its own.
TOKEN_RE = re.compile(ADDRESS_RE.pattern + r"|\d+(?:[:./]\d+)+\w*|\w+(?:[:.]\w+)*|\S")


class DatasetError(ValueError):
    """A dataset file or example that does not follow the format; the message names where and what."""


@dataclass(frozen=True)
class Span:
    type: str
    start: int
    end: int


def bio_labels(entity_types: Iterable[str]) -> list[str]:
    """``["O", "B-T1", "I-T1", ...]`` in the order of ``entity_types``."""
    labels = ["O"]
    for entity_type in entity_types:
        labels += [f"B-{entity_type}", f"I-{entity_type}"]
    return labels


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Split text into ``(token, start, end)`` with character offsets into ``text``."""
    return [(m.group(), m.start(), m.end()) for m in TOKEN_RE.finditer(text)]


def token_offsets(text: str, tokens: Sequence[str]) -> list[tuple[int, int]]:
    """Locate each token, in order, in ``text``; raise DatasetError if one is missing."""
    offsets, cursor = [], 0
    for i, token in enumerate(tokens):
        start = text.find(token, cursor)
        if not token or start < 0:
            raise DatasetError(f"tokens[{i}] {token!r} does not appear in text after offset {cursor}")
        offsets.append((start, start + len(token)))
        cursor = start + len(token)
    return offsets


def spans_to_bio(offsets: Sequence[tuple[int, int]], spans: Iterable[Span]) -> list[str]:
    """IOB2 tags for tokens at ``offsets``: a token inside a span gets its type, the first one B-."""
    tags = ["O"] * len(offsets)
    for span in sorted(spans, key=lambda s: s.start):
        inside = [i for i, (s, e) in enumerate(offsets) if s < span.end and e > span.start]
        for n, i in enumerate(inside):
            tags[i] = ("B-" if n == 0 else "I-") + span.type
    return tags


def bio_to_spans(offsets: Sequence[tuple[int, int]], tags: Sequence[str]) -> list[Span]:
    """Spans from BIO tags; a stray ``I-X`` (no B- before it) starts a new entity, as models produce them."""
    spans: list[Span] = []
    current: list[Any] | None = None
    for (start, end), tag in zip(offsets, tags, strict=True):
        prefix, _, entity_type = tag.partition("-")
        if prefix == "I" and current is not None and current[0] == entity_type:
            current[2] = end
            continue
        if current is not None:
            spans.append(Span(*current))
            current = None
        if prefix in ("B", "I"):
            current = [entity_type, start, end]
    if current is not None:
        spans.append(Span(*current))
    return spans


def check_iob2(tags: Sequence[str]) -> str | None:
    """None when ``tags`` is valid IOB2, else what is wrong."""
    previous = "O"
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return f"ner_tags[{i}] is {tag!r} but follows {previous!r} (IOB2 needs B-{tag[2:]} first)"
        previous = tag
    return None


def find_entity(text: str, needle: str, taken: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """First occurrence of ``needle`` on token edges that overlaps nothing in ``taken``.

    Occurrences after the last taken span are preferred, so a repeated string maps to the occurrences in
    the order the entities were listed.
    """
    if not needle.strip():
        return None
    tokens = tokenize(text)
    token_starts, token_ends = {s for _, s, _ in tokens}, {e for _, _, e in tokens}
    cursor = max((e for _, e in taken), default=0)
    candidates = [m.start() for m in re.finditer(re.escape(needle), text)]
    for start in sorted(candidates, key=lambda s: (s < cursor, s)):
        end = start + len(needle)
        if start in token_starts and end in token_ends and all(end <= s or start >= e for s, e in taken):
            return start, end
    return None


def make_example(example_id: str, text: str, intent: str, spans: Iterable[Span]) -> dict[str, Any]:
    """Build a full example (tokens, IOB2 tags, entity list) from text and character spans."""
    spans = sorted(spans, key=lambda s: s.start)
    tokens = tokenize(text)
    offsets = [(s, e) for _, s, e in tokens]
    return {
        "id": example_id,
        "text": text,
        "tokens": [t for t, _, _ in tokens],
        "ner_tags": spans_to_bio(offsets, spans),
        "intent": intent,
        "entities": [{"type": s.type, "start": s.start, "end": s.end, "text": text[s.start : s.end]} for s in spans],
    }


def validate_example(example: Any, labels: Sequence[str], intents: Sequence[str] | None) -> None:
    """Raise DatasetError naming the field when ``example`` breaks the format."""
    if not isinstance(example, dict):
        raise DatasetError(f"expected an object, got {type(example).__name__}")
    for field, kind in (("text", str), ("tokens", list), ("ner_tags", list), ("intent", str), ("entities", list)):
        if not isinstance(example.get(field), kind):
            raise DatasetError(f"field {field!r}: expected {kind.__name__}, got {example.get(field)!r:.60}")
    text, tokens, tags = example["text"], example["tokens"], example["ner_tags"]
    if len(tokens) != len(tags):
        raise DatasetError(f"field 'ner_tags': {len(tags)} tags for {len(tokens)} tokens")
    offsets = token_offsets(text, tokens)
    for i, tag in enumerate(tags):
        if tag not in labels:
            raise DatasetError(f"field 'ner_tags[{i}]': unknown label {tag!r}; expected one of {list(labels)}")
    if problem := check_iob2(tags):
        raise DatasetError(f"field {problem}")
    if intents is not None and example["intent"] not in intents:
        raise DatasetError(f"field 'intent': unknown intent {example['intent']!r}; expected one of {list(intents)}")
    spans = []
    for i, entity in enumerate(example["entities"]):
        try:
            span = Span(entity["type"], int(entity["start"]), int(entity["end"]))
        except (KeyError, TypeError, ValueError) as err:
            raise DatasetError(f"field 'entities[{i}]': expected type, start, end, text ({err})") from None
        if text[span.start : span.end] != entity.get("text"):
            raise DatasetError(
                f"field 'entities[{i}]': text[{span.start}:{span.end}] is {text[span.start : span.end]!r}, "
                f"not {entity.get('text')!r}"
            )
        spans.append(span)
    if spans_to_bio(offsets, spans) != list(tags) or sorted(bio_to_spans(offsets, tags), key=_key) != sorted(
        spans, key=_key
    ):
        raise DatasetError("field 'entities': spans do not match ner_tags (entity edges must be token edges)")


def _key(span: Span) -> tuple[int, int, str]:
    return span.start, span.end, span.type


@dataclass
class DatasetFile:
    """What a dataset file holds besides its examples."""

    entity_types: list[str]
    labels: list[str]
    intents: list[str]
    metadata: dict[str, Any]


def read_dataset_file(path: str | Path) -> tuple[dict[str, list[dict]], DatasetFile]:
    """Read and validate a dataset JSON file or a JSONL file of examples; errors name file, example, field."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}: not UTF-8 text ({err})") from None
    if path.suffix == ".jsonl":
        splits, info = {"test": _read_jsonl(path, raw)}, None
    else:
        try:
            document = json.loads(raw)
        except json.JSONDecodeError as err:
            raise DatasetError(f"{path}: not valid JSON: {err}") from None
        if not isinstance(document, dict) or not isinstance(document.get("splits"), dict):
            raise DatasetError(f"{path}: expected an object with 'splits' (a dataset file) or a .jsonl file")
        splits = document["splits"]
        info = DatasetFile(
            entity_types=list(document.get("entity_types", DEFAULT_ENTITY_TYPES)),
            labels=list(document.get("labels", bio_labels(document.get("entity_types", DEFAULT_ENTITY_TYPES)))),
            intents=list(document.get("intents", DEFAULT_INTENTS)),
            metadata=dict(document.get("metadata", {})),
        )
    if info is None:  # JSONL: labels and intents are whatever the examples use
        examples = splits["test"]
        seen = {e.get("type") for x in examples for e in x.get("entities", []) if isinstance(e, dict)}
        entity_types = list(DEFAULT_ENTITY_TYPES) + sorted(t for t in seen if t not in DEFAULT_ENTITY_TYPES)
        intents = sorted({x.get("intent") for x in examples if isinstance(x.get("intent"), str)})
        info = DatasetFile(entity_types, bio_labels(entity_types), intents, {"source": str(path)})
    for split, examples in splits.items():
        if not isinstance(examples, list):
            raise DatasetError(f"{path}: split {split!r}: expected a list of examples")
        for i, example in enumerate(examples):
            try:
                validate_example(example, info.labels, info.intents)
            except DatasetError as err:
                where = f"line {i + 1}" if path.suffix == ".jsonl" else f"splits.{split}[{i}]"
                eid = example.get("id", "?") if isinstance(example, dict) else "?"
                raise DatasetError(f"{path}: {where} (id {eid}): {err}") from None
    return splits, info


def json_lines(raw: str, error: Callable[[int, json.JSONDecodeError], Exception]) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for each non-blank line of JSON-lines text, counting from 1; a line that is not
    JSON raises ``error(line number, the decode error)``."""
    for n, line in enumerate(raw.splitlines(), 1):
        if line.strip():
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                raise error(n, err) from None
            yield n, value


def _read_jsonl(path: Path, raw: str) -> list[dict]:
    return [
        example
        for _, example in json_lines(raw, lambda n, err: DatasetError(f"{path}: line {n}: not valid JSON: {err}"))
    ]


def to_dataset_dict(splits: dict[str, list[dict]], info: DatasetFile) -> datasets.DatasetDict:
    """A ``DatasetDict`` whose features carry the label and intent names (as in HF's run_ner.py)."""
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "text": datasets.Value("string"),
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=info.labels)),
            "intent": datasets.ClassLabel(names=info.intents),
            "entities": [
                {
                    "type": datasets.Value("string"),
                    "start": datasets.Value("int32"),
                    "end": datasets.Value("int32"),
                    "text": datasets.Value("string"),
                }
            ],
        }
    )
    columns = list(features)
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_list(
                [{c: x.get(c, str(i) if c == "id" else None) for c in columns} for i, x in enumerate(examples)],
                features=features,
            )
            for split, examples in splits.items()
        }
    )


def load_dataset_file(path: str | Path) -> datasets.DatasetDict:
    """Load a dataset file (or JSONL of examples) as a validated ``DatasetDict``.

    Label names: ``dsd[split].features["ner_tags"].feature.names``; intents: ``features["intent"].names``;
    the file's metadata is in ``dsd[split].info.description`` as JSON.
    """
    splits, info = read_dataset_file(path)
    dsd = to_dataset_dict(splits, info)
    for dataset in dsd.values():
        dataset.info.description = json.dumps(info.metadata)
    return dsd


def dataset_counts(splits: dict[str, list[dict]]) -> dict[str, Any]:
    """Counts per split, intent and entity type, for the dataset's metadata."""
    all_examples = [x for examples in splits.values() for x in examples]
    return {
        "splits": {name: len(examples) for name, examples in splits.items()},
        "intents": dict(Counter(x["intent"] for x in all_examples)),
        "entities": dict(Counter(e["type"] for x in all_examples for e in x["entities"])),
        "without_entities": sum(not x["entities"] for x in all_examples),
    }


def check_split_fractions(fractions: Sequence[float]) -> None:
    """Raise ValueError unless ``fractions`` are three finite, non-negative train/validation/test shares summing
    to 1; the one check behind both ``split_examples`` and ``generate_dataset.py --split``."""
    # isfinite first: NaN fails every comparison, so "0.8,0.2,nan" would otherwise pass the sum test.
    valid = all(math.isfinite(f) and f >= 0 for f in fractions) and abs(sum(fractions) - 1) <= 1e-6
    if len(fractions) != 3 or not valid:
        got = ",".join(str(f) for f in fractions)
        raise ValueError(f"expected three non-negative numbers summing to 1, got {got}")


def split_examples(examples: Sequence[dict], fractions: Sequence[float]) -> dict[str, list[dict]]:
    """Split in order into train/validation/test by ``fractions`` (already shuffled by the caller)."""
    check_split_fractions(fractions)
    n = len(examples)
    n_train = round(n * fractions[0])
    n_val = round(n * fractions[1])
    return {
        "train": list(examples[:n_train]),
        "validation": list(examples[n_train : n_train + n_val]),
        "test": list(examples[n_train + n_val :]),
    }


def build_document(
    splits: dict[str, list[dict]], entity_types: Sequence[str], intents: Sequence[str], metadata: dict[str, Any]
) -> dict[str, Any]:
    """The dataset file's JSON object, with counts and format version filled in."""
    return {
        "metadata": {**metadata, "counts": dataset_counts(splits), "format_version": FORMAT_VERSION},
        "entity_types": list(entity_types),
        "labels": bio_labels(entity_types),
        "intents": list(intents),
        "splits": splits,
    }


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path`` and rename it over, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; a dataset is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """``obj`` as JSON (one space of indent), written with ``write_text_atomic``."""
    # Encoded before the temp file exists: an object that is not JSON leaves nothing behind.
    write_text_atomic(path, json.dumps(obj, ensure_ascii=False, indent=1))
