"""Where an extraction's output goes while it runs, and how a stopped run continues.

Beside ``--output FILE`` a folder ``FILE.parts/`` holds ``state.json`` (the run's arguments, so that only the same
command continues it, and counters) and one file per finished part, ``part-00000012.jsonl`` (or ``.parquet``).
Each part is written to a temp file, flushed and renamed into place, so a part file is there whole or not at all:
after Ctrl-C, a kill or a reboot, the same command skips the parts that exist and does the others.  Once all are
there they are joined, in order, into a temp file renamed to ``FILE``, and the folder is removed.  A lock held
while a run works refuses a second run on the same output.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from extraction.rows import parquet_schema, write_rows
from small_lm.cli import CliError
from small_lm.data import write_json_atomic

FORMATS = {".jsonl": "jsonl", ".parquet": "parquet"}
STATE_FILE = "state.json"


def part_name(index: int, fmt: str) -> str:
    return f"part-{index:08d}.{fmt}"


def commit_part(folder: str | Path, index: int, rows: list[dict[str, Any]], fmt: str, with_text: bool) -> None:
    """Part ``index`` written whole or not at all (temp file, flushed, renamed); a part written again (by a worker
    still finishing after its run was stopped) is replaced by the same rows."""
    folder = Path(folder)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{part_name(index, fmt)}.", suffix=".tmp")
    os.close(fd)
    try:
        write_rows(Path(tmp), rows, fmt, with_text)
        os.replace(tmp, folder / part_name(index, fmt))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Parts:
    """The parts folder of one output."""

    def __init__(self, output: Path, fingerprint: dict[str, Any]):
        self.output = output
        self.fmt = FORMATS[output.suffix.lower()]
        self.with_text = bool(fingerprint.get("with_text"))
        self.folder = output.with_name(output.name + ".parts")
        self.fingerprint = fingerprint
        self._lock: Any = None

    def open(self, overwrite: bool) -> bool:
        """Take the folder for this run; True when it continues a stopped run of the same arguments.  Without
        ``overwrite`` an existing output, or a stopped run of other arguments, is a ``CliError``."""
        if self.output.is_dir():
            raise CliError(f"--output {self.output} is a directory")
        resumed = False
        if self.folder.is_dir():
            self._take_lock()
            state = self.read_state()
            if state.get("fingerprint") == self.fingerprint:
                resumed = True
            elif overwrite:
                self._release_lock()
                shutil.rmtree(self.folder)
            else:
                differ = sorted(k for k in {**self.fingerprint, **state.get("fingerprint", {})}
                                if self.fingerprint.get(k) != state.get("fingerprint", {}).get(k))  # fmt: skip
                raise CliError(
                    f"{self.folder} holds a stopped run with other arguments (they differ in: {', '.join(differ)}); "
                    "run that command again to finish it, or pass --overwrite to start this one afresh"
                )
        elif self.output.exists() and not overwrite:
            raise CliError(f"{self.output} already exists; pass --overwrite to replace it or choose another --output")
        if not resumed:
            try:
                self.folder.mkdir(parents=True)
            except OSError as err:
                raise CliError(f"cannot create {self.folder} (--output {self.output}): {err.strerror}") from None
            self._take_lock()
            self.write_state(parts_done=0, messages_done=0)
        for stray in self.folder.glob(".part-*.tmp"):  # a part that was being written when the run stopped
            stray.unlink(missing_ok=True)
        return resumed

    def _take_lock(self) -> None:
        self._lock = open(self.folder / "lock", "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CliError(f"another extract.py is writing {self.output} (it holds {self.folder}/lock)") from None

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def read_state(self) -> dict[str, Any]:
        import json

        try:
            return json.loads((self.folder / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # no state: a folder of another tool, or one stopped before its first write
            return {}

    def write_state(self, **counters: Any) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json_atomic(self.folder / STATE_FILE, {"fingerprint": self.fingerprint, **counters, "updated": now})

    def done(self) -> set[int]:
        """The parts already written (their files exist: a part file is only ever there whole)."""
        suffix = f".{self.fmt}"
        return {int(p.name[5 : -len(suffix)]) for p in self.folder.glob(f"part-*{suffix}")}

    def commit(self, index: int, rows: list[dict[str, Any]]) -> None:
        commit_part(self.folder, index, rows, self.fmt, self.with_text)

    def finish(self, parts: int) -> None:
        """Join parts ``0 .. parts-1`` in order into the output (a temp file renamed over it), then remove the
        folder.  Stopped in between, the same command joins them again: the result is the same file."""
        missing = sorted(set(range(parts)) - self.done())
        if missing:  # a part file deleted by hand, or a bug: never write an output with a hole in it
            raise CliError(f"{self.folder}: parts {missing[:5]} are missing; run the same command again")
        paths = [self.folder / part_name(i, self.fmt) for i in range(parts)]
        fd, tmp = tempfile.mkstemp(dir=self.output.parent, prefix=f".{self.output.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                if self.fmt == "jsonl":
                    for path in paths:
                        with open(path, "rb") as f:
                            shutil.copyfileobj(f, out)
                else:
                    self._join_parquet(paths, out)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.output)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._release_lock()
        shutil.rmtree(self.folder)

    def _join_parquet(self, paths: list[Path], out: Any) -> None:
        import pyarrow.parquet as pq

        with pq.ParquetWriter(out, parquet_schema(self.with_text)) as writer:
            for path in paths:  # one part in memory at a time
                writer.write_table(pq.read_table(path))
