"""The lexicon: every word list, template, format table, weight and rate of the offline generator, read from the
YAML files of ``data/`` and checked once against ``data/schema.yaml``.

A value is addressed ``"file.key"`` (``"words.events"``, ``"formats.date.kinds"``): a file's nested mappings are
flattened into dotted keys.  The schema names the kind of every key; a key it does not name, or one it names and
the file lacks, is an error, as is an entry of the wrong shape (the message names the file, the key and the entry):

- ``list``: words or templates, as strings (or whole numbers) or ``[text, weight]`` pairs; drawn uniformly by
  position when the weights are equal, else by weight.  Each string is parsed as a template: an unknown
  ``{slot}`` is an error when the file is loaded;
- ``weighted``: the same, always drawn by weight (one ``random()`` a draw);
- ``formats``: the same, of ``str.format`` strings over named fields (``"{Month} {nth}"``), not templates;
- ``plain``: strings without weights (merged into pools, sampled without repeats, or looked up by position);
- ``pairs``: plain strings ``"first, second"``;
- ``rate``: a probability; ``format``: one ``str.format`` string;
- ``bands``: ``[label, bound]`` pairs with increasing bounds, the last 1: one ``random()`` picks the first label
  whose bound is above it;
- ``number``: how to make a number: ``fields`` drawn in order, then a ``form`` or one of the ``forms``
  (``numbers.py``);
- ``slot``: a template slot that draws from a list or makes a number: the key of either, or ``[key, entity
  type]`` for a value tagged with that type when it is requested.  The slots a template may name are these
  (``slots.yaml``: ``draw``) and those of the code.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, wraps
from pathlib import Path
from typing import Any

import yaml

DATA_DIR = Path(__file__).with_name("data")
SCHEMA_FILE = DATA_DIR / "schema.yaml"
WEIGHTED = ("list", "weighted", "formats")  # the kinds whose entries may carry weights
KINDS = (*WEIGHTED, "plain", "pairs", "rate", "format", "bands", "number", "slot")

_PART_RE = re.compile(r"\[([^\]]*)\]|\{(\w+)(?::([^}]*))?\}")


class DataFileError(ValueError):
    """A data file that does not have the expected shape; the message names the file, the key and the entry."""


@dataclass(frozen=True)
class Words:
    """One list of the lexicon, ready to draw from with Ctx.draw."""

    texts: tuple[Any, ...]
    weights: tuple[float, ...]
    cum_weights: tuple[float, ...] | None  # None: drawn uniformly by position
    by_weight: bool  # drawn by weight even when the weights are equal (a "weighted" list)

    @classmethod
    def of(cls, texts: Sequence[Any], weights: Sequence[float], by_weight: bool = False) -> Words:
        uniform = len(set(weights)) <= 1 and not by_weight
        cum = None if uniform else tuple(itertools.accumulate(weights))
        return cls(tuple(texts), tuple(weights), cum, by_weight)


@cache
def parse(template: str) -> tuple[tuple[str, Any, Any], ...]:
    """A template as parts: ("text", s, None), ("alt", options, None) or ("slot", name, fallback)."""
    parts, pos = [], 0
    for m in _PART_RE.finditer(template):
        if m.start() > pos:
            parts.append(("text", template[pos : m.start()], None))
        if m.group(1) is not None:
            parts.append(("alt", tuple(m.group(1).split("|")), None))
        else:
            parts.append(("slot", m.group(2), m.group(3)))
        pos = m.end()
    if pos < len(template):
        parts.append(("text", template[pos:], None))
    return tuple(parts)


def load_file(path: Path) -> dict[str, Any]:
    """A data file as a flat mapping of dotted keys to lists, numbers and strings (a mapping with ``fields``, a
    ``number`` maker, is kept whole)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise DataFileError(f"{path.name}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise DataFileError(f"{path.name}: expected a mapping of list names to lists")
    out: dict[str, Any] = {}

    def walk(prefix: str, value: dict) -> None:
        for key, sub in value.items():
            if not isinstance(key, str):
                raise DataFileError(f"{path.name}: {prefix}{key!r}: a key must be a string")
            if isinstance(sub, dict) and "fields" not in sub:
                walk(f"{prefix}{key}.", sub)
            else:
                out[prefix + key] = sub

    walk("", raw)
    return out


def _entries(where: str, entries: Any, weights: bool) -> tuple[tuple[Any, ...], tuple[float, ...]]:
    """A list of strings (equal weights) or, where ``weights``, of [text, weight] pairs, checked."""
    if not isinstance(entries, list) or not entries:
        raise DataFileError(f"{where}: expected a non-empty list")
    texts, out = [], []
    for i, entry in enumerate(entries):
        text, weight = entry if isinstance(entry, list) and len(entry) == 2 and weights else (entry, 1.0)
        if isinstance(text, bool) or not isinstance(text, str | int) or isinstance(weight, bool):
            text = None
        if text is None or not isinstance(weight, int | float) or weight <= 0:
            wanted = "a string or [text, weight > 0]" if weights else "a string (this list takes no weights)"
            raise DataFileError(f"{where}[{i}]: expected {wanted}, got {entry!r}")
        texts.append(text)
        out.append(float(weight))
    return tuple(texts), tuple(out)


def _checked(where: str, kind: str, value: Any, slots: Collection[str]) -> Any:
    """One value of the kind the schema gives it, as the engine uses it: lists as Words, bands as pairs, slots as
    (key, entity type or None)."""
    if kind in (*WEIGHTED, "plain", "pairs"):
        texts, weights = _entries(where, value, weights=kind in WEIGHTED)
        for i, text in enumerate(texts):
            if kind == "pairs" and text.count(", ") != 1:
                raise DataFileError(f'{where}[{i}]: expected "first, second", got {text!r}')
            for part, name, _ in parse(text) if isinstance(text, str) and kind != "formats" else ():
                if part == "slot" and name not in slots:
                    raise DataFileError(f"{where}[{i}]: unknown slot {name!r} in template {text!r}")
        return Words.of(texts, weights, by_weight=kind == "weighted")
    if kind == "bands":
        pairs = [tuple(p) for p in value if isinstance(p, list) and len(p) == 2] if isinstance(value, list) else []
        bounds = [bound for _, bound in pairs]
        if not pairs or len(pairs) != len(value) or bounds != sorted(bounds) or bounds[-1] != 1:
            raise DataFileError(f"{where}: expected [label, bound] pairs with increasing bounds up to 1")
        return tuple(pairs)
    if kind == "slot":
        pair = [value, None] if isinstance(value, str) else value
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise DataFileError(f"{where}: expected a key or [key, entity type], got {value!r}")
        return tuple(pair)
    ok = {
        "rate": isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1,
        "format": isinstance(value, str),
        "number": isinstance(value, dict) and set(value) <= {"fields", "form", "forms"} and len(value) <= 2,
    }[kind]
    if not ok:
        raise DataFileError(f"{where}: expected a {kind}, got {value!r}")
    return value


def _memo(method: Callable) -> Callable:
    """A Lexicon method whose results are kept by its arguments: the lexicon never changes."""

    @wraps(method)
    def memo(self: Lexicon, *args: str) -> Any:
        if (method.__name__, *args) not in self.made:
            self.made[(method.__name__, *args)] = method(self, *args)
        return self.made[(method.__name__, *args)]

    return memo


@dataclass(frozen=True, eq=False)
class Lexicon:
    """Every value of the data files by its dotted key ("words.events"), and lists made from them."""

    values: dict[str, Any]
    made: dict[tuple, Any] = field(default_factory=dict)

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @_memo
    def keys(self, prefix: str) -> tuple[str, ...]:
        """The keys below ``prefix`` ("words.handmade_first_names" -> ("zh", "ko", ...)), in file order."""
        return tuple(k[len(prefix) + 1 :] for k in self.values if k.startswith(prefix + "."))

    @_memo
    def joined(self, *keys: str) -> Words:
        """The lists ``keys`` as one list, by their weights."""
        lists = [self.values[key] for key in keys]
        by_weight = any(w.by_weight for w in lists)
        return Words.of([t for w in lists for t in w.texts], [x for w in lists for x in w.weights], by_weight)

    @_memo
    def spoken(self, key: str) -> Words:
        """The list ``key`` less what nobody says to an assistant ("1:1", "invoice #4471")."""
        words = self.values[key]
        kept = [(t, w) for t, w in zip(words.texts, words.weights, strict=True) if not re.search(r"[\d#:%]", t)]
        if not kept:
            raise DataFileError(f"{key}: no entry without a digit, '#', ':' or '%' for voice commands")
        return Words.of([t for t, _ in kept], [w for _, w in kept], words.by_weight)

    @_memo
    def for_intent(self, table: str, generic: str, intent: str) -> Words:
        """The list of the per-intent ``table`` for ``intent``; for an intent with none of its own, the ``generic``
        one with <intent> replaced by the intent's words ("confirm_booking" -> "confirm booking")."""
        if f"{table}.{intent}" in self.values:
            return self.values[f"{table}.{intent}"]
        word = intent.replace("_", " ").replace("-", " ").strip().lower() or "handle"
        words = self.values[generic]
        return replace(words, texts=tuple(t.replace("<intent>", word) for t in words.texts))


def load_lexicon(data_dir: Path, code_slots: Collection[str]) -> Lexicon:
    """Every data file named in the schema, checked; ``code_slots`` and the slots of ``slots.yaml`` are the slot
    names templates may use."""
    schema = yaml.safe_load((data_dir / SCHEMA_FILE.name).read_text(encoding="utf-8"))
    files = {name: load_file(data_dir / f"{name}.yaml") for name in schema}
    slots = {*code_slots, *(key.removeprefix("draw.") for key in files.get("slots", {}) if key.startswith("draw."))}
    values: dict[str, Any] = {}
    for name, kinds in schema.items():
        declared = {key: kind for kind, keys in kinds.items() for key in keys.split()}
        if odd := sorted(set(declared.values()) - set(KINDS)):
            raise DataFileError(f"{SCHEMA_FILE.name}: {name}: unknown kinds {odd}")
        data, path = files[name], f"{name}.yaml"
        if missing := sorted(k for k in declared if "*" not in k and k not in data):
            raise DataFileError(f"{path}: missing lists {missing}")
        for key, value in data.items():
            kind = declared.get(key) or ("." in key and declared.get(key.rsplit(".", 1)[0] + ".*"))
            if not kind:
                raise DataFileError(f"{path}: {key}: not in {SCHEMA_FILE.name}")
            values[f"{name}.{key}"] = _checked(f"{path}: {key}", kind, value, slots)
    for key, value in values.items():
        if key.startswith("slots.draw.") and value[0] not in values:
            raise DataFileError(f"slots.yaml: {key.removeprefix('slots.')}: no list or number {value[0]!r}")
    return Lexicon(values)
