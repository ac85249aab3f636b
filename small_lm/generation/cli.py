"""The command line of ``generate_dataset.py``: its flags, their checks, and ``main``.

Flag values are checked as they are parsed (argparse ``type=`` functions below), so a bad value is a one-line
``generate_dataset.py: error: argument --flag: ...`` with exit status 2; a run that fails later (the server,
the answers) exits with 1 and keeps what it had for the next run.  Flag names follow ``small_lm/cli.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import load_dotenv

from small_lm.cli import HelpFormatter, add_option
from small_lm.data import DEFAULT_ENTITY_TYPES, DEFAULT_INTENTS, DatasetError, check_split_fractions
from small_lm.generation import PROG, GenerationError
from small_lm.generation.answers import REJECTION_REASONS
from small_lm.generation.offline_backend import check_offline_entity_types, generate_offline_examples
from small_lm.generation.openai_backend import PLACEHOLDER_KEY, OpenAIOptions, Usage, generate_openai, redact
from small_lm.generation.output import check_output, default_output, safe_host, summary, write_dataset
from small_lm.generation.prompts import EMAIL_EXAMPLES_PER_REQUEST, system_prompt
from small_lm.generation.resume import Collected, partial_path
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
        "--num-examples", type=positive_int, default=50, help="examples in the dataset (default: %(default)s)"
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
        "generator": backend,
        "model": args.model if backend == "openai" else None,
        "base_url_host": safe_host(base_url) if backend == "openai" else None,
        "system_prompt": prompt,
        "seed": args.seed,
        # the shares asked for; messages of each style come out in these shares (up to chance and rejections)
        "styles": {name: round(share, 6) for name, share in args.styles.items()},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "split": args.split_fractions,
    }


def outcome_metadata(
    args: argparse.Namespace, backend: str, collected: Collected, usage: Usage, cost: float | None, seconds: float
) -> dict[str, Any]:
    """What the dataset's metadata says about how the run went."""
    return {
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "estimated_cost_usd": cost if backend == "openai" else 0.0,
        },
        "requests": {"sent": usage.requests, "retries": usage.retries, "failed": usage.failed},
        "rejected": {reason: collected.rejected[reason] for reason in REJECTION_REASONS},
        "resumed_examples": collected.resumed,
        "examples_per_request": args.examples_per_request if backend == "openai" else None,
        "elapsed_s": round(seconds, 3),
    }


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
    output = args.output or default_output(backend, args.model)
    if problem := check_output(output, args.overwrite):
        parser.error(problem)

    prompt = system_prompt(args.entity_types, args.intents)
    metadata = run_metadata(args, backend, base_url, prompt)
    usage = Usage()
    collected = Collected(partial_path(output), args.entity_types, args.intents, id_prefix=backend)
    started = time.monotonic()
    try:
        if backend == "offline":
            examples = generate_offline_examples(
                args.num_examples, args.seed, args.entity_types, args.intents, args.styles
            )
        else:
            collected.load_partial()
            if collected.resumed:
                print(f"{PROG}: resuming with {collected.resumed} examples from {collected.partial}", file=sys.stderr)
            options = openai_options(args)
            asyncio.run(generate_openai(options, collected, api_key or PLACEHOLDER_KEY, base_url, prompt, usage))
            examples = collected.examples
    except (GenerationError, DatasetError) as err:
        print(f"{PROG}: error: {redact(str(err), api_key)}", file=sys.stderr)
        if collected.examples:
            print(f"{PROG}: {resume_hint(collected, output)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; {resume_hint(collected, output)}", file=sys.stderr)
        return 130
    seconds = time.monotonic() - started
    cost = usage.cost(metadata["model"])
    metadata |= outcome_metadata(args, backend, collected, usage, cost, seconds)
    document = write_dataset(
        output,
        examples,
        num_examples=args.num_examples,
        seed=args.seed,
        split=args.split_fractions,
        entity_types=args.entity_types,
        intents=args.intents,
        metadata=metadata,
    )
    collected.partial.unlink(missing_ok=True)
    print(summary(output, document, collected.rejected, usage, cost, seconds))
    return 0
