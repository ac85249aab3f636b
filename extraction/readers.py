"""The inputs of an extraction, read one message at a time so that memory stays flat whatever their size.

Each input yields items ``(source, kind, payload)`` in a fixed order; a worker turns an item into a
``small_lm.mail.Message`` (``rows.to_message``).  Kinds: ``raw`` (the bytes of one RFC 5322 message), ``jsonl``
(the bytes of one JSON line), ``text`` (a text from a Parquet column, or None) and ``error`` (why the message
cannot be read).  A payload may be a function that reads it: it is called only for a part still to be done, so a
resumed run does not read again what is already in the output.
"""

from __future__ import annotations

import hashlib
import mailbox
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from small_lm.mail import InputError

Item = tuple[dict[str, Any], str, Any]
KINDS_HELP = "an mbox, a Maildir folder, a folder of .eml files, an .eml file, JSON lines (.jsonl) or Parquet"
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


def split_mbox(path: Path) -> Iterator[bytes]:
    """The bytes of each message of an mbox file, in order, with ``mailbox.mbox``'s rule for where one ends.

    ``mailbox.mbox`` first builds a table of every message's offsets, which grows with the archive; this reads
    line by line and holds one message at a time.  As there, a message starts at each line beginning "From "
    (that line itself is not part of it) and ends before the blank line that precedes the next one."""
    with open(path, "rb") as f:
        lines: list[bytes] | None = None  # None: before the first "From " line (mailbox.mbox skips that text)
        for line in f:
            if line.startswith(b"From "):
                if lines is not None:
                    yield _mbox_message(lines)
                lines = []
            elif lines is not None:
                lines.append(line)
        if lines is not None:
            yield _mbox_message(lines)


def _mbox_message(lines: list[bytes]) -> bytes:
    if lines and lines[-1] == b"\n":  # the separating blank line belongs to the mbox format, not to the message
        lines.pop()
    return b"".join(lines)


def _file_identity(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _names_digest(names: list[str]) -> str:
    return hashlib.sha256("\n".join(names).encode("utf-8", "surrogateescape")).hexdigest()


@dataclass
class Input:
    """One input path and how it is read.  ``identity`` tells a resumed run whether it is still the same input."""

    path: Path
    kind: str  # mbox, maildir, eml-folder, eml, jsonl, parquet
    _keys: list[str] | None = field(default=None, repr=False)  # Maildir keys or .eml names, sorted, listed once

    @property
    def name(self) -> str:
        return str(self.path)

    def keys(self) -> list[str]:
        if self._keys is None:
            if self.kind == "maildir":
                self._keys = sorted(self._maildir().keys())
            else:
                self._keys = sorted(p.name for p in self.path.iterdir() if p.suffix.lower() == ".eml" and p.is_file())
        return self._keys

    def _maildir(self) -> mailbox.Maildir:
        return mailbox.Maildir(self.path, factory=None, create=False)

    def identity(self) -> dict[str, Any]:
        if self.kind in ("maildir", "eml-folder"):  # a folder: what is in it, by name
            return {"path": str(self.path.resolve()), "kind": self.kind, "names": _names_digest(self.keys())}
        return {"path": str(self.path.resolve()), "kind": self.kind, **_file_identity(self.path)}

    def count(self) -> int:
        """How many items ``items`` yields (read through once, without keeping anything)."""
        if self.kind in ("maildir", "eml-folder"):
            return len(self.keys())
        if self.kind == "eml" or self.path.stat().st_size == 0:
            return 1
        if self.kind == "parquet":
            return self._parquet().metadata.num_rows
        with open(self.path, "rb") as f:
            if self.kind == "mbox":
                return sum(1 for line in f if line.startswith(b"From "))
            return sum(1 for line in f if line.strip())

    def items(self) -> Iterator[Item]:
        if self.kind != "maildir" and self.path.is_file() and self.path.stat().st_size == 0:
            yield {"file": self.name}, "error", "empty input: nothing to read"
            return
        if self.kind == "mbox":
            for index, raw in enumerate(split_mbox(self.path)):
                yield {"file": self.name, "index": index}, "raw", raw
        elif self.kind == "maildir":
            box = self._maildir()
            for key in self.keys():
                yield {"file": self.name, "key": key}, "raw", partial(box.get_bytes, key)
        elif self.kind == "eml-folder":
            for name in self.keys():
                yield {"file": str(self.path / name)}, "raw", (self.path / name).read_bytes
        elif self.kind == "eml":
            yield {"file": self.name}, "raw", self.path.read_bytes
        elif self.kind == "jsonl":
            with open(self.path, "rb") as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        yield {"file": self.name, "line": n}, "jsonl", line
        else:
            yield from self._parquet_items()

    def _parquet(self) -> Any:
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)
        except Exception as err:  # pyarrow's own error types: an unreadable file is the user's input, not a bug
            raise InputError(f"{self.path}: not a readable Parquet file ({err})") from None

    def _parquet_items(self) -> Iterator[Item]:
        index = 0
        for batch in self._parquet().iter_batches(batch_size=1024, columns=["text"]):
            for text in batch.column(0).to_pylist():
                yield {"file": self.name, "index": index}, "text", text
                index += 1


def open_input(given: str) -> Input:
    """The input at ``given``, its kind found from what it is (folder layout, suffix, first bytes); ``InputError``
    naming the file and what was expected when it cannot be read."""
    path = Path(given)
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            return Input(path, "maildir")
        found = Input(path, "eml-folder")
        if not found.keys():
            raise InputError(f"{path}: a folder with neither Maildir subfolders (cur, new) nor .eml files")
        return found
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder")
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({err.strerror})") from None
    suffix = path.suffix.lower()
    if suffix == ".parquet" or head.startswith(b"PAR1"):
        found = Input(path, "parquet")
        schema = found._parquet().schema_arrow
        if "text" not in schema.names:
            raise InputError(f"{path}: no 'text' column (its columns: {', '.join(schema.names) or 'none'})")
        if str(schema.field("text").type) not in ("string", "large_string"):
            raise InputError(f"{path}: the 'text' column holds {schema.field('text').type}, not strings")
        return found
    if suffix == ".eml":
        return Input(path, "eml")
    if suffix == ".mbox" or head.startswith(b"From "):
        return Input(path, "mbox")
    first = next((line for line in head.splitlines() if line.strip()), b"")
    if suffix in JSONL_SUFFIXES or first.lstrip().startswith(b"{"):
        if head.strip() and not first.lstrip().startswith(b"{"):
            raise InputError(f'{path}: not JSON lines: its first line is not an object (expected {{"text": ...}})')
        return Input(path, "jsonl")
    raise InputError(f"{path}: not an input extract.py reads (expected {KINDS_HELP})")


def materialize(item: Item) -> Item:
    """The item with its payload read, if it is read lazily; a file that cannot be read becomes an ``error``."""
    source, kind, payload = item
    if not callable(payload):
        return item
    try:
        return source, kind, payload()
    except (OSError, KeyError) as err:  # gone since it was listed, or unreadable: this message only
        return source, "error", f"cannot read it ({getattr(err, 'strerror', None) or err})"


def limited(items: Iterator[Item], limit: int | None) -> Iterator[Item]:
    for n, item in enumerate(items):
        if limit is not None and n >= limit:
            return
        yield item


def all_items(inputs: list[Input], limit: int | None = None) -> Iterator[Item]:
    """Every input's items, input after input, the first ``limit`` only if given."""
    return limited((item for found in inputs for item in found.items()), limit)


class InParts:
    """``(part number, items)`` for each part of ``part_size`` consecutive items that ``skip`` does not skip; the
    items of skipped parts are never read.  Once iterated, ``parts`` is how many parts the inputs made (what the
    output is joined from; ``Input.count`` only sizes the progress bar)."""

    def __init__(self, items: Iterator[Item], part_size: int, skip: Callable[[int], bool]):
        self.items, self.part_size, self.skip = items, part_size, skip
        self.parts = 0

    def __iter__(self) -> Iterator[tuple[int, list[Item]]]:
        batch: list[Item] = []
        for item in self.items:
            batch.append(item)
            if len(batch) == self.part_size:
                yield from self._part(batch)
                batch = []
        if batch:
            yield from self._part(batch)

    def _part(self, batch: list[Item]) -> Iterator[tuple[int, list[Item]]]:
        index = self.parts
        self.parts += 1
        if not self.skip(index):
            yield index, [materialize(i) for i in batch]
