"""Asking through the OpenAI Batch API (``--batch``): half the price, answers within 24 hours.

A run's requests are written as JSONL files (``custom_id``, ``method``, ``url``, ``body``: the body the
synchronous call would send, strict json_schema included), uploaded with purpose ``batch``, and run as batches
with a 24h completion window; more than ``MAX_REQUESTS`` requests or ``MAX_BYTES`` bytes make several batches.
Polling shows a progress bar; a finished batch's output and error files are downloaded next to the dataset and
matched by ``custom_id`` (their order is not the input's).

Everything lives in ``<output>.batch/``: ``state.json`` (the batches' ids and states), each part's requests
and, once downloaded, its answers.  The state is written before each step that costs money and after each that
changes it, so Ctrl-C, a crash or a reboot followed by the same command resumes polling: it never resubmits a
batch that was created (a batch created just before a crash is found again by its metadata) and never loses a
downloaded line.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import openai
from tqdm import tqdm

from generation import PROG, GenerationError
from generation.journal import read_answer_lines
from small_lm.data import write_json_atomic, write_text_atomic

ENDPOINT = "/v1/chat/completions"
# OpenAI's limits for one batch's input file.
MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1024 * 1024
FINISHED = ("completed", "expired", "failed", "cancelled")
STATE_VERSION = 1


@dataclass
class Part:
    """One batch: its requests file, and what OpenAI calls it once uploaded and created."""

    name: str  # "part-003": its files are part-003.requests.jsonl, part-003.output.jsonl, part-003.errors.jsonl
    round: int  # 0: the first requests; 1, 2, ...: later rounds (retries, top-ups)
    requests: int
    input_file_id: str | None = None
    batch_id: str | None = None
    status: str | None = None
    downloaded: bool = False
    errors: str | None = None  # why a batch failed as a whole (OpenAI's "errors"), when it did


def batch_folder(output: Path) -> Path:
    return output.with_name(output.name + ".batch")


def request_lines(requests: Sequence[tuple[str, dict]]) -> list[str]:
    return [
        json.dumps({"custom_id": cid, "method": "POST", "url": ENDPOINT, "body": body}, ensure_ascii=False) + "\n"
        for cid, body in requests
    ]


def chunks(lines: list[str]) -> list[list[str]]:
    """``lines`` cut into batches of at most ``MAX_REQUESTS`` lines and ``MAX_BYTES`` bytes."""
    out: list[list[str]] = [[]]
    size = 0
    for line in lines:
        n = len(line.encode("utf-8"))
        if out[-1] and (len(out[-1]) >= MAX_REQUESTS or size + n > MAX_BYTES):
            out.append([])
            size = 0
        out[-1].append(line)
        size += n
    return [chunk for chunk in out if chunk]


def progress(batch: Any) -> int:
    counts = batch.request_counts
    return counts.completed + counts.failed if counts else 0


class BatchRun:
    """The batches of one run, kept in ``folder``; ``add``, ``submit``, ``wait`` and ``results`` in that order,
    each safe to call again after a crash."""

    def __init__(self, folder: Path, client: openai.OpenAI, poll_interval: float) -> None:
        self.folder, self.client, self.poll_interval = folder, client, poll_interval
        self.host = str(client.base_url.host)
        self.state_path = folder / "state.json"
        self.run_id = uuid.uuid4().hex
        self.parts: list[Part] = []
        if self.state_path.exists():
            self.load()

    # ------------------------------------------------------------------------------------------------ state

    def load(self) -> None:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if state.get("version") != STATE_VERSION:
                raise ValueError(f"version {state.get('version')!r}")
            self.run_id = state["run_id"]
            self.parts = [Part(**part) for part in state["parts"]]
        except (ValueError, KeyError, TypeError) as err:
            raise GenerationError(
                f"{self.state_path}: not a batch state file of this version ({err}); move the folder away to start "
                "over (batches it names are still on your OpenAI account)"
            ) from None

    def save(self) -> None:
        state = {"version": STATE_VERSION, "run_id": self.run_id, "parts": [asdict(p) for p in self.parts]}
        write_json_atomic(self.state_path, state)

    def file(self, part: Part, kind: str) -> Path:
        return self.folder / f"{part.name}.{kind}.jsonl"

    @property
    def rounds(self) -> int:
        return 1 + max((p.round for p in self.parts), default=-1)

    # ------------------------------------------------------------------------------------------------ steps

    def add(self, requests: Sequence[tuple[str, dict]]) -> None:
        """Write ``(custom_id, body)`` requests as the next round's parts; nothing is sent yet."""
        round_ = self.rounds
        for chunk in chunks(request_lines(requests)):
            part = Part(name=f"part-{len(self.parts):03d}", round=round_, requests=len(chunk))
            write_text_atomic(self.file(part, "requests"), "".join(chunk))
            self.parts.append(part)
        self.save()

    def submit(self) -> None:
        """Upload and create every part not yet created; the state is saved after each call that succeeds."""
        for part in self.parts:
            if part.input_file_id is None:
                with self.file(part, "requests").open("rb") as f:
                    uploaded = self.call("upload requests", self.client.files.create, file=f, purpose="batch")
                part.input_file_id = uploaded.id
                self.save()
            if part.batch_id is None:
                # A crash between creating a batch and saving its id would leave a batch we pay for but do not
                # know of: look for it by the metadata it was created with before creating one.
                metadata = {"small_lm_run": self.run_id, "small_lm_part": part.name}
                batch = self.find(metadata) or self.call(
                    "create a batch",
                    self.client.batches.create,
                    input_file_id=part.input_file_id,
                    endpoint=ENDPOINT,
                    completion_window="24h",
                    metadata=metadata,
                )
                part.batch_id, part.status = batch.id, batch.status
                self.save()

    def find(self, metadata: dict[str, str]) -> Any:
        recent = self.call("list batches", self.client.batches.list, limit=100)
        return next((b for b in recent.data if (b.metadata or {}) == metadata), None)

    def wait(self) -> None:
        """Poll until every part is finished, downloading each one's files as it finishes."""
        pending = [p for p in self.parts if not p.downloaded]
        if not pending:
            return
        bar = tqdm(total=sum(p.requests for p in pending), unit="req", desc="batch")
        try:
            while True:
                done = 0
                for part in pending:
                    batch = None
                    if not part.downloaded:
                        batch = self.call("poll a batch", self.client.batches.retrieve, part.batch_id)
                        part.status = batch.status
                        if batch.status in FINISHED:
                            self.download(part, batch)
                    done += part.requests if part.downloaded else progress(batch)
                bar.n = done
                bar.set_postfix(batches=" ".join(sorted({p.status or "?" for p in pending})), refresh=True)
                if all(p.downloaded for p in pending):
                    return
                time.sleep(self.poll_interval)
        finally:
            bar.close()

    def download(self, part: Part, batch: Any) -> None:
        """Save a finished batch's output and error files, then mark the part downloaded."""
        for kind, file_id in (("output", batch.output_file_id), ("errors", batch.error_file_id)):
            text = self.call("download results", self.client.files.content, file_id).text if file_id else ""
            write_text_atomic(self.file(part, kind), text)
        if batch.status in ("failed", "cancelled"):
            reasons = [e.message or e.code for e in (batch.errors.data or [])] if batch.errors else []
            part.errors = "; ".join(str(r) for r in reasons[:3]) or batch.status
            tqdm.write(f"{PROG}: batch {part.batch_id} {batch.status}: {part.errors}", file=sys.stderr)
        part.downloaded = True
        self.save()
        # The files hold the user's messages and the answers, and both are now on disk here: they need not stay
        # in the account's storage.  A file that cannot be deleted is said, not fatal.
        for file_id in (part.input_file_id, batch.output_file_id, batch.error_file_id):
            if file_id:
                try:
                    self.client.files.delete(file_id)
                except openai.OpenAIError as err:
                    detail = getattr(err, "message", None) or str(err)
                    tqdm.write(
                        f"{PROG}: could not delete file {file_id} at {self.host}: {detail[:200]}", file=sys.stderr
                    )

    def results(self) -> tuple[dict[str, dict], dict[str, str], dict[str, int]]:
        """Answers (custom_id -> chat.completion), what still failed (custom_id -> why) and how many times each
        request was sent, over every downloaded part; a later answer fills in an earlier failure."""
        answers: dict[str, dict] = {}
        errors: dict[str, str] = {}
        attempts: dict[str, int] = {}
        for part in self.parts:
            ids = [cid for cid, _ in self.read_requests(part)]
            for cid in ids:
                attempts[cid] = attempts.get(cid, 0) + 1
            if not part.downloaded:
                continue
            got, failed = {}, {}
            for kind in ("output", "errors"):
                a, e = read_answer_lines(self.file(part, kind))
                got |= a
                failed |= e
            for cid in ids:
                if cid in got:
                    answers[cid] = got[cid]
                    errors.pop(cid, None)
                elif cid not in answers:
                    # A batch that failed as a whole (invalid input, cancelled) would fail again: not "not run".
                    errors[cid] = failed.get(cid, f"batch {part.status}: {part.errors}" if part.errors else "not run")
        return answers, errors, attempts

    def requests(self, custom_ids: set[str]) -> list[tuple[str, dict]]:
        """The bodies sent for ``custom_ids``, read back from the parts' files (to send them again)."""
        found = {cid: body for part in self.parts for cid, body in self.read_requests(part) if cid in custom_ids}
        return sorted(found.items())

    def read_requests(self, part: Part) -> list[tuple[str, dict]]:
        lines = self.file(part, "requests").read_text(encoding="utf-8").splitlines()
        return [(request["custom_id"], request["body"]) for request in map(json.loads, lines)]

    def call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        """``function(*args, **kwargs)``; an API error becomes a GenerationError that says the run can go on."""
        try:
            return function(*args, **kwargs)
        except openai.NotFoundError as err:
            raise GenerationError(
                f"cannot {what}: the server at {self.host} has no Batch API ({err.message[:200]}); run without --batch"
            ) from None
        except openai.OpenAIError as err:
            detail = getattr(err, "message", None) or str(err)
            raise GenerationError(
                f"cannot {what} at {self.host} ({detail[:200]}); the batches so far are kept in {self.folder}: "
                "run the same command again to go on"
            ) from None
