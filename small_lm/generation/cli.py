"""The command line of ``generate_dataset.py``: its flags, their checks, and ``main``.

Flag values are checked as they are parsed (argparse ``type=`` functions below), so a bad value is a one-line
``generate_dataset.py: error: argument --flag: ...`` with exit status 2; a run that fails later (the server,
the answers) exits with 1 and keeps what it had for the next run.  Flag names follow ``small_lm/cli.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import load_dotenv

from small_lm.cli import HelpFormatter, add_option
from small_lm.data import DEFAULT_ENTITY_TYPES, DEFAULT_INTENTS, DatasetError, check_split_fractions
from small_lm.generation import PROG, GenerationError
from small_lm.generation.annotate import (
    ANNOTATION_REJECTIONS,
    ToLabel,
    annotation_request,
    journal_path,
    messages_to_label,
)
from small_lm.generation.answers import REJECTION_REASONS
from small_lm.generation.batch import batch_folder
from small_lm.generation.offline_backend import check_offline_entity_types, generate_offline_examples
from small_lm.generation.openai_backend import (
    PLACEHOLDER_KEY,
    OpenAIOptions,
    Usage,
    generate_openai,
    price,
    redact,
)
from small_lm.generation.output import (
    check_output,
    combine,
    default_output,
    read_mix,
    safe_host,
    summary,
    write_dataset,
)
from small_lm.generation.prompts import EMAIL_EXAMPLES_PER_REQUEST, annotation_prompt, annotation_schema, system_prompt
from small_lm.generation.resume import Collected, partial_path
from small_lm.generation.runs import annotate_batch, annotate_sync, generate_batch
from small_lm.mail import InputError
from small_lm.styles import Style, default_mix, format_mix, parse_styles, styles

DEFAULT_MODEL = "gpt-4.1-mini"


# ------------------------------------------------------------------------------------------------ flag values


def comma_list(value: str) -> list[str]:
    items = list(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, got nothing")
    return items


def entity_type_list(value: str) -> list[str]:
    types = [t.upper() for t in comma_list(value)]
    for t in types:
        if not re.fullmatch(r"[A-Z][A-Z_]*", t):
            raise argparse.ArgumentTypeError(f"entity type {t!r}: use letters and underscores, e.g. DATE,LOCATION")
    return types


def split_fractions(value: str) -> list[float]:
    try:
        fractions = [float(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three numbers like 0.8,0.1,0.1, got {value!r}") from None
    try:
        check_split_fractions(fractions)  # the check split_examples makes, here as a usage error
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return fractions


def whole_number(value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {value!r}")
    return number


def positive_int(value: str) -> int:
    return whole_number(value, 1)


def non_negative_int(value: str) -> int:
    return whole_number(value, 0)


def non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 <= number < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value!r}")
    return number


def positive_float(value: str) -> float:
    number = non_negative_float(value)
    if number == 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value!r}")
    return number


def http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected a URL like http://127.0.0.1:8000/v1, got {value!r}")
    return value


def style_mix(value: str) -> dict[str, float]:
    try:
        return parse_styles(value)
    except ValueError as err:  # names the unknown style or the bad weight; argparse adds "argument --styles"
        raise argparse.ArgumentTypeError(str(err)) from None


def short_description(style: Style, width: int = 70) -> str:
    """A style's description cut to one help line: the part before the first colon (every description opens
    with what the message is, then its details), else the first ``width`` characters."""
    head = style.description.split(":", 1)[0].strip()
    if len(head) > width:
        head = head[: width - 3].rsplit(" ", 1)[0] + "..."
    return head + (" [headers]" if style.email else "")


def styles_epilog() -> str:
    known = styles()
    width = max(map(len, known))
    lines = [f"  {name:<{width}}  {short_description(style)}" for name, style in known.items()]
    return (
        "message styles (--styles; full descriptions in small_lm/data/styles.yaml; [headers]: a whole email\n"
        f"with its header block, at most {EMAIL_EXAMPLES_PER_REQUEST} to a request):\n"
        + "\n".join(lines)
        # on a line of its own: argparse would break the long mix mid-word inside the option's help
        + f"\ndefault --styles {format_mix(default_mix())}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Generate a labelled dataset of scheduling messages (entities as BIO tags + intent).",
        epilog=styles_epilog(),
        # keeps the epilog's one line per style; option help is still wrapped as usual
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--backend",
        choices=["openai", "offline"],
        default=None,
        help="where examples come from (default: openai when OPENAI_API_KEY or a base URL is set, else offline)",
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help="chat model name (openai backend; default: %(default)s)")
    parser.add_argument(
        "--base-url",
        type=http_url,
        default=None,
        help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 for vLLM (default: $OPENAI_BASE_URL, "
        "else api.openai.com); without OPENAI_API_KEY a placeholder key is sent",
    )
    parser.add_argument(
        "--num-examples",
        type=positive_int,
        default=None,
        help="examples in the dataset (default: 50); with --annotate, the most messages to label (default: all)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for prompts, shuffling and the offline generator (default: %(default)s)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        default=None,
        help="dataset file to write (default: a new datasets/<backend>-<model>-<timestamp>.json)",
    )
    parser.add_argument(
        "--entity-types",
        type=entity_type_list,
        default=",".join(DEFAULT_ENTITY_TYPES),
        help="comma-separated entity types, more than the defaults allowed, e.g. ...,LOCATION (default: %(default)s)",
    )
    parser.add_argument(
        "--intents",
        type=comma_list,
        default=",".join(DEFAULT_INTENTS),
        help="comma-separated intents, e.g. inquiry,cancel,reschedule (default: %(default)s)",
    )
    parser.add_argument(
        "--styles",
        type=style_mix,
        # A string, so that argparse parses it like a user's value: the weights are normalised the same way.
        default=format_mix(default_mix()),
        help="message styles of the dataset and their shares, e.g. voice,raw_email (equal shares) or "
        "voice=0.3,raw_email=0.7; both backends (default: the mix shown at the end)",
    )
    add_option(
        parser,
        "--split-fractions",
        aliases=["--split"],  # the old spelling; --split names one split in evaluate_models.py
        type=split_fractions,
        default="0.8,0.1,0.1",
        metavar="TRAIN,VALIDATION,TEST",
        help="fractions of the examples in each split (default: %(default)s)",
    )
    parser.add_argument(
        "--concurrency", type=positive_int, default=4, help="requests in flight at once (default: %(default)s)"
    )
    parser.add_argument(
        "--examples-per-request",
        type=positive_int,
        default=8,
        help=f"messages asked for per request; at most {EMAIL_EXAMPLES_PER_REQUEST} for email styles, whose "
        "messages are long (default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument(
        "--max-retries",
        type=non_negative_int,
        default=5,
        help="retries per request on 429, 5xx, timeouts, connection errors (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout", type=positive_float, default=120.0, help="seconds to wait for one answer (default: %(default)s)"
    )
    parser.add_argument(
        "--retry-delay",
        type=non_negative_float,
        default=1.0,
        help="first backoff delay in seconds, doubling with each retry, with random jitter (default: %(default)s)",
    )
    own = parser.add_argument_group(
        "labelling your own messages (openai backend)",
        "Each message is sent, with the annotation guideline, to the chat model, which answers with its intent and "
        "entity strings (strict structured outputs); the strings are aligned here and answers that do not line up "
        "are rejected and counted. Nothing from the messages is printed or logged.",
    )
    own.add_argument(
        "--annotate",
        metavar="PATH",
        help="label these messages instead of generating new ones: an mbox, an .eml file, a folder of .eml files, "
        "or JSON lines with a 'text' field",
    )
    own.add_argument(
        "--max-chars",
        type=positive_int,
        default=4000,
        help="send at most this many characters of each message (cut at a line break); the example holds what was "
        "sent (default: %(default)s)",
    )
    own.add_argument("--yes", action="store_true", help="send without asking for confirmation first")
    parser.add_argument(
        "--mix",
        type=Path,
        nargs="+",
        metavar="FILE",
        default=[],
        help="datasets (same --entity-types and --intents) to combine with this run's examples in --output, with "
        "fresh splits; the metadata records each source's share",
    )
    bulk = parser.add_argument_group(
        "the OpenAI Batch API",
        "Half the price; answers within 24 hours. The batches' ids and state are kept in <output>.batch/: after "
        "Ctrl-C, a crash or a reboot, the same command resumes polling and never pays for a request twice.",
    )
    bulk.add_argument("--batch", action="store_true", help="generate or --annotate through the Batch API")
    bulk.add_argument(
        "--poll-interval",
        type=positive_float,
        default=60.0,
        help="seconds between two looks at the batches (default: %(default)s)",
    )
    return parser


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


def estimate_line(model: str, requests: Sequence[tuple[str, dict]]) -> str:
    """A rough cost estimate for ``requests``, synchronously and through the Batch API."""
    chars = sum(len(json.dumps(body)) for _, body in requests)
    # Roughly four characters a token. An answer is about 20 tokens plus one per 40 characters of a message
    # labelled, or about 200 tokens per message written (the default mix: short messages and whole emails).
    completion = sum(
        200 * int(cid.rsplit("-n", 1)[1]) if cid.startswith("gen-") else 20 + len(body["messages"][-1]["content"]) / 40
        for cid, body in requests
    )
    sync, batch = price(model, chars / 4, completion), price(model, chars / 4, completion, batch=True)
    if sync is None:
        return f"no price is known for model {model!r}"
    return f"estimated cost ~${sync:,.4f}, or ~${batch:,.4f} through the Batch API (--batch; a rough estimate)"


def confirm_sending(args: argparse.Namespace, host: str, requests: Sequence[tuple[str, dict]]) -> None:
    """Say how much of the user's mail goes where, and ask unless --yes; raises NotConfirmed when not to send."""
    chars = sum(len(body["messages"][-1]["content"]) for _, body in requests)
    via = " through the Batch API" if args.batch else ""
    print(
        f"{PROG}: {len(requests)} messages ({chars:,} characters, each at most --max-chars {args.max_chars}) will be "
        f"sent to {host} (model {args.model}){via} to be labelled; {estimate_line(args.model, requests)}",
        file=sys.stderr,
    )
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise NotConfirmed("nothing was sent: pass --yes to send them without being asked")
    if input("Send them? [y/N] ").strip().lower() not in ("y", "yes"):
        raise NotConfirmed("nothing was sent")


def announce_batch(args: argparse.Namespace, requests: Sequence[tuple[str, dict]]) -> None:
    print(f"{PROG}: {len(requests)} requests in a new batch; {estimate_line(args.model, requests)}", file=sys.stderr)


class NotConfirmed(Exception):
    """The user did not agree to send their messages."""


def resume_hint(collected: Collected, output: Path) -> str:
    return (
        f"{len(collected.examples)} accepted examples are kept in {collected.partial}; "
        f"run again with --output {output} to continue"
    )


def main(argv: Sequence[str] | None = None, env_file: Path | None = None) -> int:
    """Run the command; the exit status.  ``env_file``: a .env file whose variables fill in unset ones."""
    if env_file is not None:
        load_dotenv(env_file)  # real environment variables win over it
    parser = build_parser()
    args = parser.parse_args(argv)
    api_key, base_url = server_settings(parser, args)
    backend = choose_backend(parser, args, api_key, base_url)
    output = args.output or default_output(backend, args.model, annotate=bool(args.annotate))
    if problem := check_output(output, args.overwrite):
        parser.error(problem)
    try:  # before anything is sent: a --mix file with other labels would waste the run
        mixed = read_mix(args.mix, args.entity_types, args.intents)
        items, skipped = (
            messages_to_label(args.annotate, args.max_chars, args.num_examples) if args.annotate else ([], Counter())
        )
    except (DatasetError, InputError) as err:
        parser.error(str(err))
    if args.annotate and not items:
        parser.error(f"--annotate {args.annotate}: no message to label ({dict(skipped) or 'the input is empty'})")
    args.num_examples = args.num_examples or 50

    prompt = (annotation_prompt if args.annotate else system_prompt)(args.entity_types, args.intents)
    metadata = run_metadata(args, backend, base_url, prompt)
    usage = Usage()
    collected = Collected(partial_path(output), args.entity_types, args.intents, id_prefix=backend)
    options = openai_options(args)
    key = api_key or PLACEHOLDER_KEY
    host = safe_host(base_url)
    started = time.monotonic()
    try:
        if args.annotate:
            schema = annotation_schema(args.entity_types, args.intents)
            requests = [(item.custom_id, annotation_request(args.model, prompt, schema, item.text)) for item in items]
            confirm = partial(confirm_sending, args, host)
            if args.batch:
                examples, rejected = annotate_batch(
                    items, requests, output, options, key, base_url, args.poll_interval, usage, confirm
                )
            else:
                examples, rejected = annotate_sync(items, requests, output, options, key, base_url, usage, confirm)
            metadata["annotated"] = annotation_metadata(args, items, skipped)
        elif backend == "offline":
            examples = generate_offline_examples(
                args.num_examples, args.seed, args.entity_types, args.intents, args.styles
            )
            rejected = collected.rejected
        elif args.batch:
            collected.partial = None  # the batch folder keeps the answers themselves
            announce = partial(announce_batch, args)
            generate_batch(options, output, prompt, key, base_url, args.poll_interval, usage, collected, announce)
            examples, rejected = collected.examples, collected.rejected
        else:
            collected.load_partial()
            if collected.resumed:
                print(f"{PROG}: resuming with {collected.resumed} examples from {collected.partial}", file=sys.stderr)
            asyncio.run(generate_openai(options, collected, key, base_url, prompt, usage))
            examples, rejected = collected.examples, collected.rejected
    except NotConfirmed as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    except (GenerationError, DatasetError) as err:
        print(f"{PROG}: error: {redact(str(err), api_key)}", file=sys.stderr)
        if collected.examples and collected.partial is not None:
            print(f"{PROG}: {resume_hint(collected, output)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        kept = (
            resume_hint(collected, output)
            if not (args.annotate or args.batch)
            else "run the same command again to go on"
        )
        print(f"\n{PROG}: interrupted; {kept}", file=sys.stderr)
        return 130
    seconds = time.monotonic() - started
    metadata |= outcome_metadata(args, backend, rejected, collected.resumed, usage, seconds)
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
    print(summary(output, document, rejected, usage, usage.cost(args.model) if backend == "openai" else None, seconds))
    return 0


def remove_work_files(output: Path) -> None:
    """The run's answers and batch files, now in the dataset: they hold the user's messages, so they go."""
    partial_path(output).unlink(missing_ok=True)
    journal_path(output).unlink(missing_ok=True)
    shutil.rmtree(batch_folder(output), ignore_errors=True)
