"""The openai backend: asks a chat model (OpenAI, or any OpenAI-compatible server: vLLM, Ollama, llama.cpp) for
messages, ``concurrency`` requests in flight, each retried on 429, 5xx, timeouts and connection errors.

``Requests`` decides what to ask next: one style per request (which sets how many messages fit in the answer),
an intent mix that steers toward balance, and no more messages than are still missing at the yield answers
have had so far.  Accepted examples go to a ``Collected`` as each answer arrives.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from openai.resources.chat.completions import AsyncCompletions  # loaded now, not on the first request
from openai.types.chat import ChatCompletion
from tqdm import tqdm

from generation import PROG, GenerationError
from generation.journal import answer_line
from generation.prompts import draw_style, generation_format, intent_mix, style_per_request, user_prompt
from generation.resume import Collected
from generation.styles import Style, styles

# Local servers ignore the key, but the openai client refuses to start without one.
PLACEHOLDER_KEY = "not-needed"
# USD per million (input, output) tokens, for the cost estimate only; other models get a null cost.
PRICES_PER_MILLION = {
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o-mini": (0.15, 0.60),
}
# A run stops after this many requests in a row failed even after their retries: the server is down,
# and hammering it further only burns time.
MAX_FAILURES_IN_A_ROW = 3


class RequestFailed(Exception):
    """One request failed even after its retries; the run goes on without it."""


class FatalRequestError(Exception):
    """The server refused a request in a way that retrying cannot fix (bad key, unknown model, ...)."""


@dataclass(frozen=True)
class OpenAIOptions:
    """What a run asks for and how hard it tries; the fields are the command's flags of the same names."""

    model: str
    num_examples: int
    seed: int
    entity_types: Sequence[str]
    intents: Sequence[str]
    styles: dict[str, float]  # style name -> share of the messages
    concurrency: int
    examples_per_request: int
    max_retries: int
    retry_delay: float  # seconds before the first retry; it doubles with each
    timeout: float  # seconds to wait for one answer


# The Batch API's price: half the synchronous one, for input and output tokens alike.
BATCH_DISCOUNT = 0.5


def price(model: str | None, prompt_tokens: float, completion_tokens: float, batch: bool = False) -> float | None:
    """USD for the tokens at ``model``'s list price (None for a model not in the table)."""
    # Dated snapshots ("gpt-4.1-mini-2025-04-14") cost what their family costs.
    per_million = PRICES_PER_MILLION.get(re.sub(r"-\d{4}-\d{2}-\d{2}$", "", model or ""))
    if per_million is None:
        return None
    usd = (prompt_tokens * per_million[0] + completion_tokens * per_million[1]) / 1e6
    return round(usd * (BATCH_DISCOUNT if batch else 1.0), 6)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0  # HTTP attempts, retries included (batch lines, for --batch)
    retries: int = 0
    failed: int = 0
    batch: bool = False  # answered through the Batch API, at its price

    def cost(self, model: str | None) -> float | None:
        return price(model, self.prompt_tokens, self.completion_tokens, self.batch)

    def add(self, completion: dict[str, Any]) -> None:
        """Count the tokens of one answer (a chat.completion as JSON)."""
        usage = completion.get("usage") or {}
        self.prompt_tokens += usage.get("prompt_tokens") or 0
        self.completion_tokens += usage.get("completion_tokens") or 0


# ------------------------------------------------------------------------------------------ errors and retries


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def describe_error(err: Exception) -> str:
    if isinstance(err, openai.APITimeoutError):
        return "timed out"
    if isinstance(err, openai.APIConnectionError):
        return f"connection failed ({err.__cause__ or err})"
    return str(getattr(err, "message", None) or err)[:300]


def is_retryable(err: Exception) -> bool:
    if isinstance(err, openai.APIConnectionError):  # timeouts included
        return True
    if isinstance(err, openai.APIStatusError):
        if getattr(err, "code", None) == "insufficient_quota":  # a 429 that waiting does not fix
            return False
        return err.status_code in (408, 409, 429) or err.status_code >= 500
    return False


def fatal_message(err: Exception, model: str, host: str) -> str:
    """What a non-retryable error means for the whole run, in one line."""
    status = getattr(err, "status_code", None)
    detail = describe_error(err)
    if status == 401:
        return f"the server at {host} rejected the API key ({detail}); check OPENAI_API_KEY (environment or .env)"
    if status == 404:
        return f"model {model!r} or the endpoint was not found at {host} ({detail}); check --model and --base-url"
    if getattr(err, "code", None) == "insufficient_quota":
        return f"the account at {host} is out of quota ({detail})"
    return f"the server at {host} refused the request ({detail})"


@dataclass
class RetryPolicy:
    max_retries: int
    base_delay: float

    def delay(self, attempt: int) -> float:
        # Exponential backoff with jitter, so parallel requests that failed together do not retry together.
        return min(60.0, self.base_delay * 2**attempt) * random.uniform(0.5, 1.5)


async def create_with_retries(
    completions: AsyncCompletions, request: dict[str, Any], policy: RetryPolicy, usage: Usage
) -> ChatCompletion:
    """One chat completion, retried on 429, 5xx, timeouts and connection errors."""
    for attempt in range(policy.max_retries + 1):
        usage.requests += 1
        try:
            return await completions.create(**request)
        except openai.OpenAIError as err:
            if not is_retryable(err):
                raise FatalRequestError(err) from None
            if attempt == policy.max_retries:
                raise RequestFailed(describe_error(err)) from None
            usage.retries += 1
            await asyncio.sleep(policy.delay(attempt))
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------------------------- scheduling


def request_size(missing: int, asked_in_flight: int, per_request: int, yield_rate: float) -> int:
    """How many messages the next request asks for; 0 when the requests in flight should be enough.

    Requests in flight are expected to deliver at the rate answers have delivered so far, and the next one
    asks for a little more than is missing, so that rejections do not leave a crawling tail of requests for
    one message each.  Extras are trimmed at the end.
    """
    shortfall = missing - asked_in_flight * yield_rate
    return 0 if shortfall <= 0 else min(per_request, math.ceil(shortfall / yield_rate - 1e-9))


def chat_request(
    options: OpenAIOptions, prompt: str, schema: dict, rng: random.Random, mix: dict[str, int], style: Style
) -> dict[str, Any]:
    return {
        "model": options.model,
        "messages": [
            {"role": "system", "content": prompt},
            {"role": "user", "content": user_prompt(rng, mix, options.entity_types, style)},
        ],
        "response_format": {"type": "json_schema", "json_schema": schema},
    }


class Requests:
    """The requests in flight, what each asked for, and what to ask next."""

    def __init__(
        self, options: OpenAIOptions, collected: Collected, usage: Usage, client: openai.AsyncOpenAI, prompt: str
    ) -> None:
        self.options, self.collected, self.usage, self.prompt = options, collected, usage, prompt
        self.api_key = client.api_key  # only to blank it out of error messages that servers may echo it in
        self.completions = client.chat.completions
        self.host = str(client.base_url.host)
        self.schema = generation_format(options.entity_types, options.intents)
        self.policy = RetryPolicy(options.max_retries, options.retry_delay)
        self.in_flight: dict[asyncio.Task, Counter] = {}  # request -> how many of each intent it asked for
        self.index = collected.resumed  # numbers the requests' prompts; a resumed run asks new things
        # Enough requests for a poor model to finish (two thirds of its messages rejected), but no endless loop;
        # counted as if every request were of the style with the smallest requests, so a mix never runs short.
        missing = max(0, options.num_examples - len(collected.examples))
        smallest = min(style_per_request(styles()[name], options.examples_per_request) for name in options.styles)
        self.budget = 3 * math.ceil(missing / smallest) + options.concurrency
        self.failures_in_a_row = 0
        self.asked_answered, self.accepted_before = 0, len(collected.examples)

    def submit(self) -> bool:
        """Start requests up to ``concurrency`` unless those in flight should be enough; False when idle."""
        options = self.options
        accepted = len(self.collected.examples) - self.accepted_before
        yield_rate = max(0.25, accepted / self.asked_answered) if self.asked_answered else 1.0
        while len(self.in_flight) < options.concurrency and self.budget > 0:
            missing = options.num_examples - len(self.collected.examples)
            asked = sum(sum(mix.values()) for mix in self.in_flight.values())
            rng = random.Random(f"{options.seed}:{self.index}")  # so that a rerun asks the same things
            # The style comes first: it decides how many messages fit in the answer.
            style = draw_style(rng, options.styles, options.examples_per_request)
            k = request_size(missing, asked, style_per_request(style, options.examples_per_request), yield_rate)
            if k == 0:
                break
            have = self.collected.intent_counts() + sum(self.in_flight.values(), Counter())
            mix = intent_mix(k, options.intents, have, rng)
            request = chat_request(options, self.prompt, self.schema, rng, mix, style)
            task = asyncio.create_task(create_with_retries(self.completions, request, self.policy, self.usage))
            self.in_flight[task] = Counter(mix)
            self.index, self.budget = self.index + 1, self.budget - 1
        return bool(self.in_flight)

    def take(self, task: asyncio.Task) -> None:
        """Record a finished request: its answer's examples, or its failure."""
        asked = sum(self.in_flight.pop(task).values())
        try:
            response = task.result()
        except FatalRequestError as err:
            message = fatal_message(err.args[0], self.options.model, self.host)
            raise GenerationError(redact(message, self.api_key)) from None
        except RequestFailed as err:
            self.count_failure(redact(str(err), self.api_key))
            return
        self.failures_in_a_row = 0
        self.asked_answered += asked
        if response.usage is not None:
            self.usage.add({"usage": response.usage.model_dump()})
        self.collected.add_answer(response.choices[0].message.content if response.choices else None)

    def count_failure(self, message: str) -> None:
        """A request that failed after its retries: said, counted, and the end of the run when too many in a row."""
        retries = self.options.max_retries
        self.usage.failed += 1
        self.failures_in_a_row += 1
        tqdm.write(f"{PROG}: a request failed after {retries} retries: {message}", file=sys.stderr)
        if self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
            raise GenerationError(
                f"{self.failures_in_a_row} requests in a row failed after {retries} retries each (last: {message})"
            )

    async def cancel(self) -> None:
        for task in self.in_flight:
            task.cancel()
        await asyncio.gather(*self.in_flight, return_exceptions=True)


async def generate_openai(
    options: OpenAIOptions, collected: Collected, api_key: str, base_url: str | None, prompt: str, usage: Usage
) -> None:
    """Ask for examples, ``concurrency`` requests at a time, until ``num_examples`` are accepted."""
    # Retries are ours (max_retries=0 here), so that they are counted and their delay is configurable.
    client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=options.timeout, max_retries=0)
    async with client:
        requests = Requests(options, collected, usage, client, prompt)
        bar = tqdm(
            total=options.num_examples,
            initial=min(options.num_examples, len(collected.examples)),
            unit="ex",
            desc="generating",
        )
        try:
            while requests.submit():
                done, _ = await asyncio.wait(requests.in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    requests.take(task)
                update_bar(bar, collected, usage, options.model)
        finally:
            await requests.cancel()
            bar.close()
    if len(collected.examples) < options.num_examples:
        raise GenerationError(
            f"only {len(collected.examples)} of {options.num_examples} examples after {usage.requests} requests "
            f"(rejected: {dict(collected.rejected) or 'none'})"
        )


def update_bar(bar: tqdm, collected: Collected, usage: Usage, model: str) -> None:
    bar.n = min(bar.total, len(collected.examples))
    cost = usage.cost(model)
    bar.set_postfix(
        rejected=sum(collected.rejected.values()),
        tokens=usage.prompt_tokens + usage.completion_tokens,
        cost="n/a" if cost is None else f"${cost:.4f}",
        refresh=True,
    )


# --------------------------------------------------------------------------------- a fixed list of requests


async def answer_requests(
    requests: Sequence[tuple[str, dict]],
    journal: Path,
    options: OpenAIOptions,
    client: openai.AsyncOpenAI,
    usage: Usage,
) -> dict[str, str]:
    """Send each ``(custom_id, body)`` request, ``concurrency`` at a time, appending each answer to ``journal`` as
    it arrives (``journal.answer_line``); the requests that failed after their retries (custom_id -> why)."""
    policy = RetryPolicy(options.max_retries, options.retry_delay)
    host = str(client.base_url.host)
    failures: dict[str, str] = {}
    failures_in_a_row = 0
    queue = iter(requests)
    in_flight: dict[asyncio.Task, str] = {}
    bar = tqdm(total=len(requests), unit="msg", desc="labelling")
    try:
        while True:
            while len(in_flight) < options.concurrency and (item := next(queue, None)) is not None:
                custom_id, body = item
                task = asyncio.create_task(create_with_retries(client.chat.completions, body, policy, usage))
                in_flight[task] = custom_id
            if not in_flight:
                break
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                custom_id = in_flight.pop(task)
                try:
                    completion = task.result().model_dump(mode="json")
                except FatalRequestError as err:
                    message = fatal_message(err.args[0], options.model, host)
                    raise GenerationError(redact(message, client.api_key)) from None
                except RequestFailed as err:
                    failures[custom_id] = redact(str(err), client.api_key)
                    failures_in_a_row += 1
                    if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                        raise GenerationError(
                            f"{failures_in_a_row} requests in a row failed after {options.max_retries} retries "
                            f"each (last: {failures[custom_id]})"
                        ) from None
                    continue
                failures_in_a_row = 0
                with journal.open("a", encoding="utf-8") as f:  # closed at once: a crash cannot lose the answer
                    f.write(answer_line(custom_id, completion))
                bar.update(1)
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        bar.close()
    return failures
