"""Dynamic batching: one worker per model, which owns it.

Requests put their texts on the worker's queue and wait on one future per text.  The worker takes up to
``max_batch_size`` texts at a time and runs them through ``predict_messages`` on its own thread (loading and
warm-up ran on that thread too, so one model is never used from two threads at once), one call per batch: the joint
model packs the windows of all of a call's texts into batches of similar length itself (``length_buckets`` in
classification/reading.py), so voice commands and work emails from different requests share calls without
padding each other.  While a call runs, new texts queue up and form the next batch, so under load batches fill by
themselves; an idle worker waits at most ``max_wait_s`` for company before it runs a lone text, which keeps one
request's cost near one forward pass.

The queue is a deque rather than ``asyncio.Queue`` so that a request that gives up (timeout, client gone) can take
its texts back out and free their places at once, instead of leaving dead entries that count against the limit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from serving.config import WARMUP_TEXT
from serving.metrics import Metrics
from small_lm.mail import from_text, predict_messages

log = logging.getLogger("serving")
# One model loads at a time: transformers' loading is not thread-safe (two models loading at once on two worker
# threads can find each other's weights still on the meta device), and the memory peak stays one model's.
LOADING = threading.Lock()


class QueueFull(Exception):
    """The model's queue has no room for a request's texts: shed the load (503) instead of queueing forever."""


@dataclass(eq=False)
class Job:
    text: str
    source: dict[str, Any]
    future: asyncio.Future


def failed_prediction(text: str, source: dict[str, Any], err: BaseException) -> dict[str, Any]:
    """The result of a text the model failed on: the shape ``predict_messages`` gives an unreadable message."""
    reason = f"{type(err).__name__}: {err}"[:300]
    return {"text": text, "intent": None, "intent_score": None, "entities": [],
            "error": f"the model failed on this text ({reason})", "source": source}  # fmt: skip


class ModelWorker:
    def __init__(
        self,
        name: str,
        load: Callable[[], Any],
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_queue: int,
        metrics: Metrics,
        on_load_error: Callable[[str, str], None] | None = None,
    ) -> None:
        self.name, self._load_tagger = name, load
        self.max_batch_size, self.max_wait_s, self.max_queue = max_batch_size, max_wait_s, max_queue
        self.metrics, self.on_load_error = metrics, on_load_error
        self.tagger: Any = None
        self.ready = False
        self.load_error: str | None = None
        self._jobs: deque[Job] = deque()
        self._running = 0  # texts in the model call under way
        self._draining = False
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"model-{name}")
        metrics.queue_depth.labels(name).set_function(lambda: len(self._jobs))
        metrics.model_ready.labels(name).set(0)

    # --- what request handlers call (all on the event loop) --------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._jobs)

    def submit(self, texts: list[str], sources: list[dict[str, Any]]) -> list[asyncio.Future]:
        """Queue the texts of one request, all or none; raises QueueFull when they do not fit."""
        if len(self._jobs) + len(texts) > self.max_queue:
            raise QueueFull(f"model {self.name!r} has {len(self._jobs)} texts waiting (limit {self.max_queue})")
        loop = asyncio.get_running_loop()
        jobs = [Job(text, source, loop.create_future()) for text, source in zip(texts, sources, strict=True)]
        self._jobs.extend(jobs)
        self._wake()
        return [job.future for job in jobs]

    def withdraw(self, futures: list[asyncio.Future]) -> None:
        """Take a request's texts that have not started back off the queue (frees their places) and cancel them;
        texts already in a model call finish and their results are dropped."""
        gone = {id(f) for f in futures}
        self._jobs = deque(job for job in self._jobs if id(job.future) not in gone)
        for future in futures:
            future.cancel()

    def begin_drain(self) -> None:
        """Stop waiting for company: from now on every queued text runs as soon as the model is free."""
        self._draining = True
        self._wake()

    async def drain(self) -> None:
        """Return once nothing is queued or running."""
        self.begin_drain()
        while self._jobs or self._running:
            await asyncio.sleep(0.02)

    # --- the worker ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._task = asyncio.create_task(self._serve(), name=f"worker-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # A model call still running (graceful-shutdown timeout) is left to finish on its thread; nobody waits.
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            await loop.run_in_executor(self._executor, self._load)
        except Exception as err:
            self.load_error = f"{type(err).__name__}: {err}"
            log.error("model %r failed to load: %s", self.name, self.load_error)
            if self.on_load_error:
                self.on_load_error(self.name, self.load_error)
            return
        self.ready = True
        self.metrics.model_ready.labels(self.name).set(1)
        backend = getattr(self.tagger, "backend", None)
        on = f" on {backend} ({self.tagger.backend_reason})" if backend else ""
        log.info("model %r ready%s, loaded and warmed up in %.1f s", self.name, on, time.perf_counter() - started)
        while True:
            batch = await self._next_batch()
            if not batch:  # every text withdrawn while we waited
                continue
            self._running = len(batch)
            started = time.perf_counter()
            items = [(job.text, job.source) for job in batch]
            try:
                results = await loop.run_in_executor(self._executor, self._predict, items)
            except Exception as err:  # _predict catches the model's errors; this is the executor failing
                results = [failed_prediction(text, source, err) for text, source in items]
            finally:
                self._running = 0
            self.metrics.batch_size.labels(self.name).observe(len(batch))
            self.metrics.batch_seconds.labels(self.name).observe(time.perf_counter() - started)
            self.metrics.texts.labels(self.name).inc(len(batch))
            self.metrics.text_errors.labels(self.name).inc(sum(1 for r in results if r.get("error")))
            for job, result in zip(batch, results, strict=True):
                if not job.future.done():  # its request may have given up meanwhile
                    job.future.set_result(result)

    async def _next_batch(self) -> list[Job]:
        assert self._wakeup is not None
        while not self._jobs:
            self._wakeup.clear()
            await self._wakeup.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while len(self._jobs) < self.max_batch_size and not self._draining:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except asyncio.TimeoutError:
                break
        return [self._jobs.popleft() for _ in range(min(len(self._jobs), self.max_batch_size))]

    # --- on the model's thread -------------------------------------------------------------------------------------

    def _load(self) -> None:
        with LOADING:
            tagger = self._load_tagger()
        predict_messages(tagger, [from_text(WARMUP_TEXT, {})], batch_size=self.max_batch_size)
        self.tagger = tagger

    def _predict(self, items: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Predictions for texts run in one call.  If the call fails, each text is run alone, so a text that breaks
        the model gets its own error and its neighbours their answers."""
        try:
            messages = [from_text(text, source) for text, source in items]
            return predict_messages(self.tagger, messages, batch_size=self.max_batch_size)
        except Exception as err:
            if len(items) == 1:
                # The type only: an exception's message may quote the text, and texts are never logged.
                log.warning("model %r failed on one text (%s)", self.name, type(err).__name__)
                return [failed_prediction(*items[0], err)]
            return [self._predict([item])[0] for item in items]
