"""``generate_dataset.py``'s ``main``: the flags (``flags.py``) checked against each other and the environment,
then examples from the source they choose (offline templates; a chat model, synchronously or through the Batch
API; the user's own messages labelled by it), then the dataset file.

A bad flag is a one-line usage error (exit status 2); a run that fails later (the server, the answers) exits
with 1 and keeps what it had for the next run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from generation import PROG, GenerationError
from generation.annotate import (
    ANNOTATION_REJECTIONS,
    ToLabel,
    annotation_requests,
    journal_path,
    messages_to_label,
)
from generation.answers import REJECTION_REASONS
from generation.batch import batch_folder
from generation.flags import build_parser, http_url
from generation.offline_backend import check_offline_entity_types, generate_offline_examples
from generation.openai_backend import (
    PLACEHOLDER_KEY,
    OpenAIOptions,
    Usage,
    generate_openai,
    price,
    redact,
)
from generation.output import (
    check_output,
    combine,
    default_output,
    read_mix,
    safe_host,
    summary,
    write_dataset,
)
from generation.prompts import annotation_prompt, system_prompt
from generation.resume import Collected, partial_path
from generation.runs import (
    Endpoint,
    annotate_batch,
    annotate_sync,
    generate_batch,
)
from generation.sending import NotConfirmed, announce_batch, confirm_sending, dry_run
from small_lm.data import DatasetError
from small_lm.mail import InputError

# ------------------------------------------------------------------------------------------------------- main


def server_settings(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[str, str | None]:
    """The API key ("" when none) and the server's URL (None: api.openai.com), from flags and environment."""
    api_key = os.environ.get("OPENAI_API_KEY", "").strip()
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL", "").strip() or None
    if base_url and not args.base_url:  # --base-url was checked by argparse; the variable is checked here
        try:
            http_url(base_url)
        except argparse.ArgumentTypeError as err:
            parser.error(f"OPENAI_BASE_URL: {err}")
    return api_key, base_url


def choose_backend(
    parser: argparse.ArgumentParser, args: argparse.Namespace, api_key: str, base_url: str | None
) -> str:
    """``--backend``, else openai when there is a key or a server to ask, else offline; refuses what cannot run."""
    backend = args.backend
    if args.dry_run and backend != "offline":
        return "openai"  # nothing is sent: no key or server needed to count and price the requests
    needs_model = "--annotate" if args.annotate else "--batch" if args.batch else None
    if needs_model and backend == "offline":
        parser.error(f"{needs_model} needs a chat model: use --backend openai (the default with OPENAI_API_KEY)")
    if needs_model and not api_key and not base_url:
        parser.error(f"{needs_model} needs a chat model: set OPENAI_API_KEY (environment or .env) or --base-url")
    if backend is None:
        backend = "openai" if api_key or base_url else "offline"
        if backend == "offline":
            print(f"{PROG}: no OPENAI_API_KEY or --base-url: using the offline template generator", file=sys.stderr)
    if backend == "openai" and not api_key and not base_url:
        parser.error("--backend openai needs OPENAI_API_KEY (environment or .env) or --base-url for a local server")
    if backend == "offline":
        try:
            check_offline_entity_types(args.entity_types)
        except GenerationError as err:
            parser.error(str(err))
    return backend


def openai_options(args: argparse.Namespace) -> OpenAIOptions:
    # Every field of OpenAIOptions is a flag of the same name.
    return OpenAIOptions(**{f.name: getattr(args, f.name) for f in fields(OpenAIOptions)})


def run_metadata(args: argparse.Namespace, backend: str, base_url: str | None, prompt: str) -> dict[str, Any]:
    """What the dataset's metadata says about the run before it starts."""
    return {
        "generator": "openai-annotate" if args.annotate else backend,
        "model": args.model if backend == "openai" else None,
        "base_url_host": safe_host(base_url) if backend == "openai" else None,
        "system_prompt": prompt,
        "seed": args.seed,
        # the shares asked for; messages of each style come out in these shares (up to chance and rejections)
        "styles": None if args.annotate else {name: round(share, 6) for name, share in args.styles.items()},
        "batch_api": args.batch,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "split": args.split_fractions,
    }


def outcome_metadata(
    args: argparse.Namespace, backend: str, rejected: Counter, resumed: int, usage: Usage, seconds: float
) -> dict[str, Any]:
    """What the dataset's metadata says about how the run went."""
    reasons = (*REJECTION_REASONS, *ANNOTATION_REJECTIONS) if args.annotate else REJECTION_REASONS
    return {
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "estimated_cost_usd": usage.cost(args.model) if backend == "openai" else 0.0,
        },
        "requests": {"sent": usage.requests, "retries": usage.retries, "failed": usage.failed},
        "rejected": {reason: rejected[reason] for reason in reasons},
        "resumed_examples": resumed,
        "examples_per_request": args.examples_per_request if backend == "openai" and not args.annotate else None,
        "elapsed_s": round(seconds, 3),
    }


def annotation_metadata(args: argparse.Namespace, items: list[ToLabel], skipped: Counter) -> dict[str, Any]:
    return {
        "input": str(args.annotate),
        "messages": len(items),
        "skipped": dict(skipped),
        "max_chars": args.max_chars,
        "truncated": sum(item.truncated for item in items),
    }


def resume_hint(collected: Collected, output: Path) -> str:
    return (
        f"{len(collected.examples)} accepted examples are kept in {collected.partial}; "
        f"run again with --output {output} to continue"
    )


@dataclass
class Run:
    """What every way of getting examples needs: the flags, the chosen backend, the system prompt, where requests
    go (``endpoint``: server, key, options, output file, usage) and where accepted examples collect."""

    args: argparse.Namespace
    backend: str
    prompt: str
    endpoint: Endpoint
    collected: Collected


def get_examples(run: Run, items: list[ToLabel]) -> tuple[list[dict], Counter]:
    """This run's examples and its rejections by reason, from whichever source the flags chose."""
    args, collected, endpoint = run.args, run.collected, run.endpoint
    if args.annotate:
        requests = annotation_requests(items, args.model, run.prompt, args.entity_types, args.intents)
        confirm = partial(confirm_sending, args, safe_host(endpoint.base_url))
        return (annotate_batch if args.batch else annotate_sync)(endpoint, items, requests, confirm)
    if run.backend == "offline":
        examples = generate_offline_examples(args.num_examples, args.seed, args.entity_types, args.intents, args.styles)
        return examples, collected.rejected
    if args.batch:
        generate_batch(endpoint, run.prompt, collected, partial(announce_batch, args))
        return collected.examples, collected.rejected
    collected.load_partial()
    if collected.resumed:
        print(f"{PROG}: resuming with {collected.resumed} examples from {collected.partial}", file=sys.stderr)
    asyncio.run(
        generate_openai(endpoint.options, collected, endpoint.api_key, endpoint.base_url, run.prompt, endpoint.usage)
    )
    return collected.examples, collected.rejected


def main(argv: Sequence[str] | None = None, env_file: Path | None = None) -> int:
    """Run the command; the exit status.  ``env_file``: a .env file whose variables fill in unset ones."""
    if env_file is not None:
        load_dotenv(env_file)  # real environment variables win over it
    parser = build_parser()
    args = parser.parse_args(argv)
    api_key, base_url = server_settings(parser, args)
    backend = choose_backend(parser, args, api_key, base_url)
    if args.dry_run and backend == "offline":
        parser.error("--dry-run prices what the openai backend would send; the offline backend sends nothing")
    output = args.output or default_output(backend, args.model, annotate=bool(args.annotate))
    if problem := check_output(output, args.overwrite):
        parser.error(problem)
    items: list[ToLabel] = []
    skipped: Counter = Counter()
    try:  # before anything is sent: a --mix file with other labels would waste the run
        mixed = read_mix(args.mix, args.entity_types, args.intents)
        if args.annotate:
            items, skipped = messages_to_label(args.annotate, args.max_chars, args.num_examples)
    except (DatasetError, InputError) as err:
        parser.error(str(err))
    if args.annotate and not items:
        parser.error(f"--annotate {args.annotate}: no message to label ({dict(skipped) or 'the input is empty'})")
    args.num_examples = args.num_examples or 50

    prompt = (annotation_prompt if args.annotate else system_prompt)(args.entity_types, args.intents)
    # A --batch generation keeps no partial file: its batch folder keeps the answers themselves.
    partial_file = None if args.batch else partial_path(output)
    collected = Collected(partial_file, args.entity_types, args.intents, id_prefix=backend)
    options = openai_options(args)
    endpoint = Endpoint(options, api_key or PLACEHOLDER_KEY, base_url, output, args.poll_interval, Usage())
    run = Run(args, backend, prompt, endpoint, collected)
    if args.dry_run:
        dry_run(args, safe_host(base_url), options, prompt, items)
        return 0
    metadata = run_metadata(args, backend, base_url, prompt)
    if args.annotate:
        metadata["annotated"] = annotation_metadata(args, items, skipped)
    started = time.monotonic()
    try:
        examples, rejected = get_examples(run, items)
    except NotConfirmed as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    except (GenerationError, DatasetError) as err:
        print(f"{PROG}: error: {redact(str(err), api_key)}", file=sys.stderr)
        if collected.examples and collected.partial is not None:
            print(f"{PROG}: {resume_hint(collected, output)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        kept = "run the same command again to go on" if args.annotate or args.batch else resume_hint(collected, output)
        print(f"\n{PROG}: interrupted; {kept}", file=sys.stderr)
        return 130
    if args.annotate and not examples:
        print(f"{PROG}: error: no answer could be used (rejected: {dict(rejected) or 'none'})", file=sys.stderr)
        return 1
    seconds = time.monotonic() - started
    metadata |= outcome_metadata(args, backend, rejected, collected.resumed, endpoint.usage, seconds)
    write_output(run, examples, rejected, mixed, metadata, seconds)
    return 0


def write_output(
    run: Run, examples: list[dict], rejected: Counter, mixed: list, metadata: dict[str, Any], seconds: float
) -> None:
    """The dataset (with the --mix datasets, if any), the work files removed, and the summary printed."""
    args, usage, output = run.args, run.endpoint.usage, run.endpoint.output
    count = len(examples) if args.annotate else args.num_examples
    mix = None
    if mixed:
        examples, mix = combine(examples[:count], "this run", mixed)
        count = len(examples)
    document = write_dataset(
        output,
        examples,
        num_examples=count,
        seed=args.seed,
        split=args.split_fractions,
        entity_types=args.entity_types,
        intents=args.intents,
        metadata=metadata,
        mix=mix,
    )
    remove_work_files(output)
    cost = usage.cost(args.model) if run.backend == "openai" else None
    sync_cost = price(args.model, usage.prompt_tokens, usage.completion_tokens) if usage.batch else None
    print(summary(output, document, rejected, usage, cost, seconds, sync_cost))


def remove_work_files(output: Path) -> None:
    """The run's answers and batch files, now in the dataset: they hold the user's messages, so they go."""
    partial_path(output).unlink(missing_ok=True)
    journal_path(output).unlink(missing_ok=True)
    shutil.rmtree(batch_folder(output), ignore_errors=True)
