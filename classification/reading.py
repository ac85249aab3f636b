"""How the joint model reads a text as a page: the words, marker words where the lines break, sub-word windows,
and the shape of each sub-word's characters.  Training (``train_bert.prepare``) and inference (``JointTagger``)
both read through here, so the model sees at inference exactly what it was trained on.

- **Layout.**  A BERT tokenizer drops ``\\n`` and ``\\t`` with the other white space, so an attendee list one name
  a line reads as one long run of names.  A marker word stands in each gap between words that holds a line break
  (two for a blank line) or a tab: a vocabulary's reserved ``[unused0]``/``[unused1]`` slots where it has them
  (one token each, no new embedding rows), else added tokens (new rows, which start untrained).
- **Case.**  An uncased encoder reads "Will" and "will", "GRACE PARK" and "grace park" alike.  Each sub-word gets
  the shape of the characters it came from (``SHAPES``: lower / Title / UPPER / mixed / digits / ...), which the
  model adds to its input embeddings (``JointModel.shape_embeddings``).  A cased encoder needs none.
- **Sub-word labels.**  A word's label is read from all of its sub-words, not only the first: an address is one
  word whose first sub-word may be a first name ("grace" in grace.park@corp.example).  Training gives the word's
  label to its first sub-word and the matching inside label (or O) to the rest (``subword_labels="all"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LINE_BREAK, TAB = "\n", "\t"
RESERVED_SLOTS = ("[unused0]", "[unused1]")  # BERT vocabularies (uncased and cased) keep these free
ADDED_MARKERS = ("[LINE]", "[TAB]")  # for a vocabulary without reserved slots: new tokens, new embedding rows

SHAPES = ("special", "lower", "title", "upper", "mixed", "digits", "alphanumeric", "other")
SHAPE_IDS = {name: i for i, name in enumerate(SHAPES)}


def layout_markers(tokenizer: Any) -> tuple[list[str], bool]:
    """The marker tokens for a line break and a tab in ``tokenizer``'s vocabulary, registered as special tokens
    so they stay whole, and whether they are new (the model's embeddings must then grow to ``len(tokenizer)``)."""
    vocab = tokenizer.get_vocab()
    markers = list(RESERVED_SLOTS) if all(slot in vocab for slot in RESERVED_SLOTS) else list(ADDED_MARKERS)
    added = tokenizer.add_special_tokens({"extra_special_tokens": markers}, replace_extra_special_tokens=False)
    return markers, added > 0


def page_words(
    text: str, offsets: Sequence[tuple[int, int]], markers: Sequence[str] | None
) -> tuple[list[str], list[int | None]]:
    """The words at ``offsets`` with a marker word in each gap that holds a line break (at most two: a blank
    line) or a tab, and for each word its index in ``offsets`` (None for a marker).  No markers: the words."""
    words = [text[s:e] for s, e in offsets]
    if not markers:
        return words, list(range(len(words)))
    line, tab = markers
    out, index = [], []
    for i, (start, _) in enumerate(offsets):
        if i:
            gap = text[offsets[i - 1][1] : start]
            breaks = min(gap.count(LINE_BREAK), 2)
            extra = [line] * breaks + ([tab] if TAB in gap.rpartition(LINE_BREAK)[2] else [])
            out += extra
            index += [None] * len(extra)
        out.append(words[i])
        index.append(i)
    return out, index


def line_starts(text: str, offsets: Sequence[tuple[int, int]]) -> list[bool]:
    """For each word, whether a line break stands between it and the word before (the first word: True)."""
    return [i == 0 or LINE_BREAK in text[offsets[i - 1][1] : s] for i, (s, _) in enumerate(offsets)]


def shape_of(piece: str) -> int:
    """The shape id of a sub-word's characters (``SHAPES``)."""
    letters = [c for c in piece if c.isalpha()]
    has_digit = any(c.isdigit() for c in piece)
    if not piece:
        return SHAPE_IDS["special"]
    if not letters:
        return SHAPE_IDS["digits" if has_digit else "other"]
    if has_digit:
        return SHAPE_IDS["alphanumeric"]
    if all(c.islower() for c in letters):
        return SHAPE_IDS["lower"]
    if all(c.isupper() for c in letters):
        return SHAPE_IDS["upper" if len(letters) > 1 else "title"]
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return SHAPE_IDS["title"]
    return SHAPE_IDS["mixed"]


@dataclass
class Window:
    """One window of sub-words: ``word_ids`` index the page words (None for [CLS], [SEP], padding),
    ``first`` marks the sub-word that begins its word, ``shape_ids`` the characters' shapes."""

    source: int  # which text (or example) of the batch it came from
    input_ids: list[int]
    word_ids: list[int | None]
    first: list[bool]
    shape_ids: list[int]


def encode_windows(
    tokenizer: Any, batch: Sequence[Sequence[str]], max_length: int, special: Sequence[str] = ()
) -> list[Window]:
    """Each list of words in ``batch`` as sub-word windows of at most ``max_length``; a longer one becomes
    overlapping windows that repeat a quarter of the window (the tokenizer's ``return_overflowing_tokens``).
    Words in ``special`` (the layout markers) get the shape "special"."""
    batch = [list(words) or [""] for words in batch]  # an empty text still gets an intent; it has no entities
    enc = tokenizer(
        batch,
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        stride=max_length // 4,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    special = set(special)
    windows = []
    for i, source in enumerate(enc["overflow_to_sample_mapping"]):
        words, word_ids = batch[source], enc.word_ids(i)
        first, shapes = [], []
        for word_id, (start, end) in zip(word_ids, enc["offset_mapping"][i], strict=True):
            # start == 0: the word's first sub-word (a window may begin with the rest of a word).
            first.append(word_id is not None and start == 0)
            word = words[word_id] if word_id is not None else ""
            shapes.append(SHAPE_IDS["special"] if word in special else shape_of(word[start:end]))
        windows.append(Window(source, enc["input_ids"][i], word_ids, first, shapes))
    return windows


def inside_label_ids(labels: Sequence[str]) -> list[int]:
    """For each label id, the label a word's later sub-words carry: I-X for B-X and I-X, O for O."""
    index = {label: i for i, label in enumerate(labels)}
    return [index[f"I-{label[2:]}"] if label != "O" else index["O"] for label in labels]


def window_labels(window: Window, word_labels: Sequence[int | None], inside: Sequence[int] | None) -> list[int]:
    """Training labels of a window's sub-words: the word's label on its first sub-word; on the others the inside
    label (``inside``, from ``inside_label_ids``) or, with ``inside`` None, -100 (not trained, the old way).
    Marker words (label None) and special tokens are -100."""
    out = []
    for word_id, first in zip(window.word_ids, window.first, strict=True):
        label = word_labels[word_id] if word_id is not None else None
        if label is None or (not first and inside is None):
            out.append(-100)
        else:
            out.append(label if first else inside[label])
    return out
