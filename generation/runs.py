"""The runs that ask a fixed list of questions: labelling the user's messages (``--annotate``), synchronously or
through the Batch API, and generating through the Batch API (``--batch``).

Each returns its examples and the rejections by reason, and counts tokens and failures in a ``Usage``.  Answers
are kept on disk as they come (``journal``), so a rerun of the same command picks up where a run stopped.
"""

from __future__ import annotations

import asyncio
import math
import random
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import openai
from tqdm import tqdm

from generation import PROG, GenerationError
from generation.annotate import ToLabel, journal_path, label_all
from generation.batch import BatchRun, batch_folder
from generation.journal import first_message, is_retryable, read_answer_lines
from generation.openai_backend import OpenAIOptions, Usage, answer_requests, chat_request
from generation.prompts import draw_style, generation_format, intent_mix, style_per_request
from generation.resume import Collected

# Rounds of batches: the first, then up to two more for the requests that expired or failed (--annotate) or
# for the examples still missing after rejections (generation).
MAX_ROUNDS = 3
# A generation round asks for this much more than is missing, so that rejections rarely need another round.
OVERSHOOT = 1.15

Confirm = Callable[[Sequence[tuple[str, dict]]], None]  # shown the requests about to be sent; raises to stop


def tokens_of(answers: dict[str, dict], usage: Usage) -> None:
    """Set ``usage``'s tokens to those of ``answers``: a resumed run's dataset cost what all its answers cost."""
    usage.prompt_tokens = usage.completion_tokens = 0
    for completion in answers.values():
        usage.add(completion)


@dataclass
class Endpoint:
    """Where a run's requests go and how: the server and key, the run's options, and where its files live."""

    options: OpenAIOptions
    api_key: str
    base_url: str | None
    output: Path  # the dataset file; the run's answers and batches are kept beside it
    poll_interval: float  # seconds between two looks at the batches
    usage: Usage  # the run's requests, retries, failures and tokens

    def batch_run(self) -> BatchRun:
        # The SDK retries file and batch calls itself (429, 5xx, connection errors); --max-retries says how often.
        client = openai.OpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=self.options.timeout,
            max_retries=self.options.max_retries,
        )
        return BatchRun(batch_folder(self.output), client, self.poll_interval)


# ------------------------------------------------------------------------------------------------- --annotate


def annotate_sync(
    endpoint: Endpoint, items: Sequence[ToLabel], requests: list[tuple[str, dict]], confirm: Confirm
) -> tuple[list[dict], Counter]:
    """Label ``items``, ``concurrency`` requests at a time; answers already in the journal are not asked again."""
    options, usage = endpoint.options, endpoint.usage
    journal = journal_path(endpoint.output)
    answered = read_answer_lines(journal)[0] if journal.exists() else {}
    if answered:
        print(f"{PROG}: resuming with {len(answered)} answers from {journal}", file=sys.stderr)
    to_send = [(cid, body) for cid, body in requests if cid not in answered]
    if to_send:
        confirm(to_send)

    async def run() -> dict[str, str]:
        client = openai.AsyncOpenAI(
            api_key=endpoint.api_key, base_url=endpoint.base_url, timeout=options.timeout, max_retries=0
        )
        async with client:
            return await answer_requests(to_send, journal, options, client, usage)

    failures = asyncio.run(run()) if to_send else {}
    usage.failed = len(failures)
    answered = read_answer_lines(journal)[0] if journal.exists() else {}
    tokens_of(answered, usage)
    return label_all(items, answered, options.entity_types, options.intents)


def annotate_batch(
    endpoint: Endpoint, items: Sequence[ToLabel], requests: list[tuple[str, dict]], confirm: Confirm
) -> tuple[list[dict], Counter]:
    """Label ``items`` through the Batch API; lines that expired or failed go again in a new batch."""
    options, usage = endpoint.options, endpoint.usage
    run = endpoint.batch_run()
    if run.parts:
        print(f"{PROG}: resuming the batches in {run.folder}", file=sys.stderr)
    else:
        confirm(requests)
        run.add(requests)
    while True:
        run.submit()
        run.wait()
        answers, errors, attempts = run.results()
        retry = {cid for cid, why in errors.items() if is_retryable(why)}
        if not retry or run.rounds >= MAX_ROUNDS:
            break
        tqdm.write(
            f"{PROG}: {len(retry)} requests failed ({reasons(errors, retry)}); sending them again in a new batch",
            file=sys.stderr,
        )
        run.add(run.requests(retry))
    if errors:
        tqdm.write(f"{PROG}: {len(errors)} messages got no answer: {reasons(errors, set(errors))}", file=sys.stderr)
    usage.batch, usage.requests, usage.failed = True, sum(attempts.values()), len(errors)
    tokens_of(answers, usage)
    return label_all(items, answers, options.entity_types, options.intents)


def reasons(errors: dict[str, str], ids: set[str]) -> str:
    counts = Counter(errors[cid] for cid in ids)
    return ", ".join(f"{why} ({n})" if n > 1 else why for why, n in counts.most_common(3))


# ------------------------------------------------------------------------------------------ generate --batch


def plan_requests(
    options: OpenAIOptions, prompt: str, round_: int, wanted: int, have: Counter
) -> list[tuple[str, dict]]:
    """Requests for ``wanted`` more messages, in styles drawn as for synchronous runs; each custom_id says how
    many messages its request asks for ("gen-r0-00012-n8")."""
    schema = generation_format(options.entity_types, options.intents)
    planned, asked, requests = Counter(have), 0, []
    while asked < wanted:
        rng = random.Random(f"{options.seed}:batch{round_}:{len(requests)}")  # a rerun plans the same requests
        style = draw_style(rng, options.styles, options.examples_per_request)
        k = min(style_per_request(style, options.examples_per_request), wanted - asked)
        mix = intent_mix(k, options.intents, planned, rng)
        planned.update(mix)
        requests.append(
            (f"gen-r{round_}-{len(requests):05d}-n{k}", chat_request(options, prompt, schema, rng, mix, style))
        )
        asked += k
    return requests


def asked_by(custom_id: str) -> int:
    return int(custom_id.rsplit("-n", 1)[1])


def generate_batch(endpoint: Endpoint, prompt: str, collected: Collected, announce: Confirm) -> None:
    """Generate ``num_examples`` examples through the Batch API into ``collected``: one round of batches, and a
    smaller one for what rejections and failed lines left missing."""
    options, usage = endpoint.options, endpoint.usage
    run = endpoint.batch_run()
    if run.parts:
        print(f"{PROG}: resuming the batches in {run.folder}", file=sys.stderr)
    answers: dict[str, dict] = {}
    errors: dict[str, str] = {}
    while True:
        if run.parts:
            run.submit()
            run.wait()
            answers, errors, _ = run.results()
        # The examples follow from the answers alone, in a fixed order: a resumed run rebuilds the same ones.
        collected.examples.clear()
        collected.seen.clear()
        collected.rejected.clear()
        for cid in sorted(answers):
            collected.add_answer(first_message(answers[cid]).get("content"))
        missing = options.num_examples - len(collected.examples)
        if missing <= 0:
            break
        if run.rounds >= MAX_ROUNDS:
            raise GenerationError(
                f"only {len(collected.examples)} of {options.num_examples} examples after {run.rounds} rounds of "
                f"batches (rejected: {dict(collected.rejected) or 'none'}; failed lines: {len(errors)})"
            )
        asked = sum(asked_by(cid) for cid in answers)
        yield_rate = max(0.25, len(collected.examples) / asked) if asked else 1.0
        wanted = math.ceil(missing * OVERSHOOT / yield_rate)
        requests = plan_requests(options, prompt, run.rounds, wanted, collected.intent_counts())
        announce(requests)
        run.add(requests)
    usage.batch, usage.requests, usage.failed = True, len(answers) + len(errors), len(errors)
    tokens_of(answers, usage)
