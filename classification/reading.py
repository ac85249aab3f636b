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


def special_tokens_around(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after a sequence (BERT: [CLS] and [SEP])."""
    plain = tokenizer(["x"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    wrapped = tokenizer(["x"], is_split_into_words=True)["input_ids"]
    at = next(i for i in range(len(wrapped)) if wrapped[i : i + len(plain)] == plain)
    return wrapped[:at], wrapped[at + len(plain) :]


def encode_windows(
    tokenizer: Any, batch: Sequence[Sequence[str]], max_length: int, markers: Sequence[str] | None = None
) -> list[Window]:
    """Each list of words in ``batch`` (page words, with ``markers`` for a line break and a tab) as sub-word windows
    of at most ``max_length`` with the tokenizer's special tokens.  A longer one becomes overlapping windows: each
    ends at a line break where one falls in its last half, else at a word's edge, and the next begins about a
    quarter of a window back, at the start of a line where one falls in the window's last half, else of a word."""
    batch = [list(words) or [""] for words in batch]  # an empty text still gets an intent; it has no entities
    # verbose=False: a whole email is longer than the model reads at once, which is what the windows are for.
    enc = tokenizer(
        batch, is_split_into_words=True, add_special_tokens=False, return_offsets_mapping=True, verbose=False
    )
    before, after = special_tokens_around(tokenizer)
    room = max(2, max_length - len(before) - len(after))
    line_marker, special = (markers or [None])[0], set(markers or ())
    windows = []
    for source, words in enumerate(batch):
        ids, word_ids, offsets = enc["input_ids"][source], enc.word_ids(source), enc["offset_mapping"][source]
        first = [word_id is not None and start == 0 for word_id, (start, _) in zip(word_ids, offsets, strict=True)]
        shapes = [
            SHAPE_IDS["special"] if words[w] in special else shape_of(words[w][a:b])
            for w, (a, b) in zip(word_ids, offsets, strict=True)
        ]
        edges = [i for i in range(1, len(ids)) if first[i]]  # where a window may end or the next begin
        lines = {i for i in edges if words[word_ids[i - 1]] == line_marker}
        start = 0
        while True:
            end = len(ids)
            if end - start > room:
                inside = [i for i in edges if start + room // 2 < i <= start + room]
                end = max([i for i in inside if i in lines] or inside or [start + room])
            window = slice(start, end)
            windows.append(
                Window(
                    source,
                    before + ids[window] + after,
                    [None] * len(before) + word_ids[window] + [None] * len(after),
                    [False] * len(before) + first[window] + [False] * len(after),
                    [SHAPE_IDS["special"]] * len(before) + shapes[window] + [SHAPE_IDS["special"]] * len(after),
                )
            )
            if end >= len(ids):
                break
            # The next window repeats about a quarter of this one: from the line start nearest to that point
            # within the last half, else from the first word edge in the last quarter.
            quarter = end - room // 4
            back_lines = [i for i in lines if end - room // 2 <= i < end]
            back_words = [i for i in edges if quarter <= i < end]
            nearest = min(back_lines, key=lambda i: abs(i - quarter)) if back_lines else None
            start = max(start + 1, nearest if nearest is not None else min(back_words or [quarter]))
    return windows


def length_buckets(
    lengths: Sequence[int], batch_size: int, ratio: float = 2.0, floor: int = 32
) -> list[tuple[int, int]]:
    """``(start, end)`` slices of ``lengths`` (sorted, ascending) into batches of at most ``batch_size`` whose longest
    is at most ``ratio`` times their shortest (lengths under ``floor`` count as ``floor``).  A batch pads every row
    to its longest, so a fixed count of rows would pad a run of voice commands to a work email's 256 sub-words
    where the two meet: for 26 commands and 6 emails, 1.9 s of CPU in one call against 0.45 s in buckets."""
    slices, start = [], 0
    for i in range(1, len(lengths) + 1):
        if i == len(lengths) or i - start == batch_size or lengths[i] > ratio * max(lengths[start], floor):
            slices.append((start, i))
            start = i
    return slices


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
