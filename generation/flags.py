"""The flags of ``generate_dataset.py``, declared once, and their values' checks.

Flag values are checked as they are parsed (argparse ``type=`` functions below), so a bad value is a one-line
``generate_dataset.py: error: argument --flag: ...`` with exit status 2.  Flag names follow ``small_lm/cli.py``.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from urllib.parse import urlsplit

from generation import PROG
from generation.prompts import EMAIL_EXAMPLES_PER_REQUEST
from generation.styles import Style, default_mix, format_mix, parse_styles, styles
from small_lm.cli import HelpFormatter, add_option
from small_lm.data import DEFAULT_ENTITY_TYPES, DEFAULT_INTENTS, check_split_fractions

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
        "message styles (--styles; full descriptions in generation/data/styles.yaml; [headers]: a whole email\n"
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
        "Each message is sent, with the annotation guideline, to the chat model, which answers with its intent\n"
        "and entity strings (strict structured outputs); the strings are aligned here and answers that do not\n"
        "line up are rejected and counted. Nothing from the messages is printed or logged.",
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
        "--dry-run",
        action="store_true",
        help="say how many requests a run would send and what they would cost, synchronously and with --batch; "
        "send nothing (no key needed)",
    )
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
        "Half the price; answers within 24 hours. The batches' ids and state are kept in <output>.batch/:\n"
        "after Ctrl-C, a crash or a reboot, the same command resumes polling and never pays twice.",
    )
    bulk.add_argument("--batch", action="store_true", help="generate or --annotate through the Batch API")
    bulk.add_argument(
        "--poll-interval",
        type=positive_float,
        default=60.0,
        help="seconds between two looks at the batches (default: %(default)s)",
    )
    return parser
