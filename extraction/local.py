"""Run an extraction on this machine: in this process (``--workers 1``), or in ``--workers N`` processes, each
with its own model on one thread, fed parts by this process, which reads the inputs and shows the progress.

A worker writes the parts it does itself (only counts and errors come back), and this process keeps at most two
parts per worker in flight, so memory stays flat: the inputs are read as fast as the workers take them.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from extraction.parts import Parts, commit_part
from extraction.readers import Item
from extraction.rows import ModelSpec, extract_items, load_tagger

SHOWN_ERRORS = 20  # messages named on standard error; the rest are counted (every one has its row)


class WorkerError(Exception):
    """A worker could not load the model: the message says why (it reaches the user as one ``error:`` line)."""


@dataclass
class Tally:
    """What a run did, for its progress bar and its last line."""

    parts: int = 0  # done by this run
    messages: int = 0
    errors: int = 0
    parts_before: int = 0  # done by the stopped runs this one continues
    messages_before: int = 0
    bar: Any = None
    shown: list[str] = field(default_factory=list)

    def add(self, count: int, errors: list[tuple[dict, str]]) -> None:
        self.parts += 1
        self.messages += count
        self.errors += len(errors)
        for source, error in errors:
            if len(self.shown) < SHOWN_ERRORS:
                self.shown.append(f"error: {source}: {error}")
                tqdm.write(self.shown[-1], file=sys.stderr)
        if self.bar is not None:
            self.bar.update(count)

    def save(self, parts: Parts) -> None:
        parts.write_state(parts_done=self.parts_before + self.parts, messages_done=self.messages_before + self.messages)


def row_errors(rows: list[dict[str, Any]]) -> list[tuple[dict, str]]:
    return [(row["source"], row["error"]) for row in rows if row.get("error")]


# --- In each worker process -------------------------------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _die_with_parent() -> None:
    """Linux: this worker is killed when the run that started it is (kill -9 included), so that no orphan goes on
    writing parts while the next run does the same ones."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: an orphan finishes its part, which the next run rewrites alike
        pass


def init_worker(spec: ModelSpec, folder: str, fmt: str, with_text: bool) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it lets running parts finish
    _worker.update(spec=spec, folder=folder, fmt=fmt, with_text=with_text)
    try:
        _worker["tagger"] = load_tagger(spec, threads=1)
    except Exception as err:  # reported by the first part this worker is given
        _worker["error"] = str(err)


def run_part(index: int, items: list[Item]) -> tuple[int, list[tuple[dict, str]]]:
    if "error" in _worker:
        raise WorkerError(_worker["error"])
    spec = _worker["spec"]
    rows = extract_items(_worker["tagger"], items, spec.batch_size, _worker["with_text"])
    commit_part(_worker["folder"], index, rows, _worker["fmt"], _worker["with_text"])
    return len(rows), row_errors(rows)


# --- In the process that runs the extraction --------------------------------------------------------------------------


def run_local(
    spec: ModelSpec, parts: Parts, pending: Iterable[tuple[int, list[Item]]], workers: int, tally: Tally
) -> None:
    """Every pending part extracted and committed; ``tally`` counts them as they finish."""
    if workers == 1:
        tagger = load_tagger(spec, threads=1)
        for index, items in pending:
            rows = extract_items(tagger, items, spec.batch_size, parts.with_text)
            parts.commit(index, rows)
            tally.add(len(rows), row_errors(rows))
            tally.save(parts)
        return
    # spawn, not fork: a forked copy of a process that has started threads (torch's, tqdm's) can deadlock.
    context = multiprocessing.get_context("spawn")
    initargs = (spec, str(parts.folder), parts.fmt, parts.with_text)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker, initargs=initargs)
    running: set[Future] = set()
    try:
        for index, items in pending:
            running.add(pool.submit(run_part, index, items))
            if len(running) >= 2 * workers:
                running = _collect(running, parts, tally)
        while running:
            running = _collect(running, parts, tally)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # the parts already running are finished and kept
        raise
    pool.shutdown()


def _collect(running: set[Future], parts: Parts, tally: Tally) -> set[Future]:
    finished, running = wait(running, return_when=FIRST_COMPLETED)
    for future in finished:
        count, errors = future.result()  # a WorkerError (the model would not load) stops the run here
        tally.add(count, errors)
    tally.save(parts)
    return running
