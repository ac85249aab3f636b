#!/usr/bin/env python
"""Generate a labelled dataset of scheduling messages (entities + intent) for the small models.

Two backends write the same dataset file (see ``small_lm/data.py`` and ``small_lm/dataset.schema.json``):

- ``openai``: asks a chat model (OpenAI, or any OpenAI-compatible server via ``--base-url``: vLLM, Ollama,
  llama.cpp) for messages with their intent and entity *strings*, using structured outputs.  Offsets and BIO
  tags are computed here, so a model never has to count characters; answers that do not line up are
  rejected and counted by reason.
- ``offline``: the template generator in ``small_lm/offline.py``; no network, seconds for thousands.

Accepted examples are appended to ``<output>.partial.jsonl`` as they arrive, so an interrupted run loses
nothing: run the same command again and it only generates what is missing.

    python generate_dataset.py --num-examples 500 --output datasets/emails.json
    python generate_dataset.py --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen2.5-7B-Instruct
    python generate_dataset.py --backend offline --num-examples 2000
    python generate_dataset.py --styles raw_email=0.6,voice=0.4   # the message styles and their shares

``--styles`` (``small_lm/data/styles.yaml``) sets the share of each message style in the dataset, for both
backends; the openai backend asks for one style per request, and fewer messages per request for the long
email styles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
from dotenv import load_dotenv
from openai.resources.chat.completions import AsyncCompletions  # loaded now, not on the first request
from openai.types.chat import ChatCompletion
from tqdm import tqdm

from small_lm.data import (
    DEFAULT_ENTITY_TYPES,
    DEFAULT_INTENTS,
    DatasetError,
    Span,
    bio_labels,
    build_document,
    find_entity,
    make_example,
    split_examples,
    validate_example,
    write_json_atomic,
)
from small_lm.guideline import ANNOTATION_GUIDELINE
from small_lm.styles import Style, default_mix, format_mix, parse_styles, styles

PROG = "generate_dataset.py"
DEFAULT_MODEL = "gpt-4.1-mini"
# Local servers ignore the key, but the openai client refuses to start without one.
PLACEHOLDER_KEY = "not-needed"
# USD per million (input, output) tokens, for the cost estimate only; other models get a null cost.
PRICES_PER_MILLION = {
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o-mini": (0.15, 0.60),
}
# Messages of an email style (header block, 100-600 words, signatures, quoted mail) run long: a request asks for at
# most this many of them, so that the answer fits a model's output limit instead of being cut off mid-JSON.
EMAIL_EXAMPLES_PER_REQUEST = 3
# A run stops after this many requests in a row failed even after their retries: the server is down,
# and hammering it further only burns time.
MAX_FAILURES_IN_A_ROW = 3
REJECTION_REASONS = (
    "malformed_json",
    "schema_mismatch",
    "unknown_intent",
    "unknown_entity_type",
    "entity_not_in_text",
    "duplicate",
)


class GenerationError(RuntimeError):
    """A run that cannot go on; the message says why and what to do."""


class RequestFailed(Exception):
    """One request failed even after its retries; the run goes on without it."""


class FatalRequestError(Exception):
    """The server refused a request in a way that retrying cannot fix (bad key, unknown model, ...)."""


# ---------------------------------------------------------------------------------------------- command line


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
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise argparse.ArgumentTypeError(f"expected three non-negative numbers summing to 1, got {value!r}")
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
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    parser.add_argument(
        "--split",
        type=split_fractions,
        default="0.8,0.1,0.1",
        help="train,validation,test fractions (default: %(default)s)",
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


# ------------------------------------------------------------------------------------------------- prompts

# The lists are packed several items to a line for reading; keep the formatter off them.
# fmt: off
SCENARIOS = [
    "a weekly team meeting", "a dentist appointment", "a client call", "a job interview",
    "a parent-teacher meeting at school", "a doctor's check-up", "a 1:1 with a manager", "a project kickoff",
    "a haircut booking", "a car service appointment", "a university office hour", "a sales demo",
    "lunch with a colleague", "a board meeting", "a physiotherapy session", "a visa appointment",
    "a tutoring lesson", "a vet appointment for a dog", "a plumber's visit", "a volunteer shift",
    "a podcast recording", "a performance review", "a flat viewing with an estate agent", "a therapy session",
    "a wedding venue tour", "a call with a supplier abroad", "a code review session", "a thesis defence rehearsal",
    "a yoga class", "a meeting with a bank adviser", "a football practice for kids", "a book club evening",
    # the business of real work email
    "a budget review with finance", "a contract negotiation with a vendor", "a site visit at a plant",
    "a conference call on a pending deal", "a regulatory filing deadline", "a training session for new hires",
    "a due-diligence meeting with outside counsel", "a customer escalation call", "a quarterly forecast meeting",
    "a recruiting lunch with a candidate", "a visiting speaker's seminar", "a systems outage post-mortem",
]
TONES = [
    "formal", "friendly", "terse", "apologetic", "urgent", "casual", "polite but firm", "cheerful", "stressed",
    "hesitant",
]
# For the short styles only: an email style's length is the 100-600 words its header block and body take.
LENGTHS = ["a few words", "one short sentence", "two or three sentences", "a short paragraph"]
DATE_FORMATS = [
    "relative words (tomorrow, next tuesday, this friday)", "month names (June 3rd, 3 June)",
    "US numeric (6/3)", "day-first numeric (03/06)", "ISO (2025-06-03)", "ordinals only (the 14th)",
    "ranges (monday to wednesday)", "weekday with date (Tue 3 Jun)",
]
TIME_FORMATS = [
    "12-hour (3pm, 3:30 PM)", "24-hour (15:30)", "words (half past two, noon, nine am)",
    "ranges (10-11am, from 2 to 4pm)", "with minutes (9:45, quarter to ten)",
]
NAME_ORIGINS = [
    "English", "Nigerian", "Indian", "Chinese", "Japanese", "Korean", "Vietnamese", "Arabic", "Turkish",
    "Persian", "Spanish", "Mexican", "Brazilian", "Polish", "Russian", "German", "French", "Italian", "Greek",
    "Swedish", "Dutch", "Irish", "Ghanaian", "Kenyan", "Ethiopian", "Filipino", "Indonesian", "Israeli",
]
# How people write each other's names at work; the guideline (system prompt) says what each one's span is.
NAME_FORMS = [
    "first names", "full names", "a surname alone (Lindqvist)", "an initial and surname (T. Lindqvist)",
    "a title and surname (Dr. Lindqvist, Ms Adeyemi)", "login handles (tlindqvist, r.adeyemi)",
    "initials as a sign-off or in a list (TL, RA)", "surname-first lists (Lindqvist, Tove; Adeyemi, Rotimi)",
]
HABITS = [
    "normal casing and punctuation", "all lowercase", "sloppy: missing punctuation and a typo or two",
    "a word in ALL CAPS for emphasis", "no greeting, straight to the point", "many exclamation marks",
    "names written in lowercase", "emoji at the end",
]
# fmt: on
# Look-alikes the model should write into messages without tagging them: the cases small models get wrong.
# The second element lists entity types under which the phrase *is* an entity, so it is not offered then.
HARD_NEGATIVES = [
    ("family words (mom, my sister, grandpa)", ()),
    ("places (Rotterdam, the main office, the client's site)", ("LOCATION", "PLACE")),
    ("event names (standup, the offsite, quarterly review)", ("EVENT",)),
    ("greetings and sign-offs (Hi team, Best regards, Cheers)", ()),
    ("assistant wake words (alexa, siri, hey google)", ()),
    ("recurring phrases (every monday, weekly, each morning)", ()),
    ("durations (for 30 minutes, an hour, two weeks, a 90-minute slot)", ("DURATION",)),
    ("a part of the day without a clock time (this morning, tonight, in the afternoon)", ()),
    ("entity-like words used otherwise (May I ask, Will you, a date with the dentist)", ()),
    ("job titles without a name (the manager, the doctor, our VP of Sales)", ()),
    # the distractors of real work email
    ("company names (Halvorsen Freight, Brightwater Energy)", ("ORG", "ORGANIZATION", "COMPANY")),
    ("organisation, department and market acronyms (HR, R&D, EMEA, the SEC, OTC)", ("ORG", "ORGANIZATION", "COMPANY")),
    ("product and project names (Project Kestrel, the Nimbus 3 router)", ("PRODUCT", "PROJECT")),
    ("stock tickers (NYSE: HVF, $BWTR)", ("ORG", "ORGANIZATION", "COMPANY", "TICKER")),
    ("room and building numbers (Bldg 7, room 3.118, suite 2250, the 14th floor)", ("LOCATION", "PLACE", "ROOM")),
    ("phone numbers and extensions (+44 20 7946 0321, (713) 555-0187, ext. 4471, x3309)", ("PHONE",)),
    ("amounts and percentages ($48,500, EUR 1.2m, 3.75%, a 12% cut)", ("MONEY", "AMOUNT", "PERCENT", "NUMBER")),
    ("version numbers (v2.3.1, release 11.4)", ("VERSION", "NUMBER")),
    ("counts and ids (14 attendees, ticket #58213, PO 4471-B, deal 0931)", ("NUMBER", "ID")),
    ("zip and postal codes (77002, 94107-1320, EC2A 4NE)", ("ZIP", "POSTCODE", "ADDRESS", "LOCATION")),
]
# In a whole email the time it was sent is always there (the Date: header, a quoted message's Sent: line or
# "On ... wrote:" line) and is the look-alike small models tag most often, so email styles always name it.
SENT_LOOKALIKE = (
    'when a message was sent: the Date: header, a quoted "Sent: Tuesday, March 4, 2025 8:17 AM" line, the date '
    'and time in an "On Tue, Mar 4, 2025 at 8:17 AM Tove Lindqvist wrote:" line (its name is still a name)'
)
NO_ENTITY_SHARE = 0.15


def system_prompt(entity_types: Sequence[str], intents: Sequence[str]) -> str:
    """The fixed instructions for a run; also saved in the dataset's metadata."""
    extra_types = [t for t in entity_types if t not in DEFAULT_ENTITY_TYPES]
    extra_intents = [i for i in intents if i not in DEFAULT_INTENTS]
    notes = ""
    if extra_types or extra_intents:
        # The guideline only defines the default labels; say which others exist and that they win.
        notes = (
            f"\nThis dataset also uses: {', '.join(extra_types + extra_intents)}. They mean what their names "
            "say; where the guideline above says something is not an entity but it fits one of these types, "
            "tag it with that type.\n"
        )
    unused = [t for t in DEFAULT_ENTITY_TYPES if t not in entity_types]
    if unused:
        notes += f"Do not tag {', '.join(unused)}: this dataset does not use those types.\n"
    return (
        "You write realistic, varied messages about scheduling (whole emails with their headers, reply and "
        "forward threads, announcements, meeting invitations, short emails, chat messages, voice-assistant "
        "commands) and annotate them, to train a small model that reads such messages.\n\n"
        f"Intents: {', '.join(intents)}. Entity types: {', '.join(entity_types)}.\n\n"
        f"{ANNOTATION_GUIDELINE}{notes}\n"
        "Rules:\n"
        "- Every message is new: vary openings, wording, names, dates and sentence structure.\n"
        "- List every entity in the order it appears, with its type and its text copied exactly from the "
        "message (same spelling, casing and spacing); list a repeated mention once per occurrence.\n"
        "- Give entity strings only: no character offsets, no BIO tags.\n"
        "- Answer with JSON that follows the given schema, nothing else.\n"
    )


def style_per_request(style: Style, per_request: int) -> int:
    """The most messages one request asks for in ``style``."""
    return min(per_request, EMAIL_EXAMPLES_PER_REQUEST) if style.email else per_request


def request_weights(mix: dict[str, float], per_request: int) -> dict[str, float]:
    """How often each style is drawn for a request, so that *messages* come out in the ``mix`` shares.

    An email style's request asks for fewer messages; drawing styles by the mix itself would leave email
    under-represented in the dataset (0.5/0.5 with 8 and 3 per request would give 73 % short messages),
    so each style is drawn in proportion to its share divided by its request size.
    """
    known = styles()
    return {name: share / style_per_request(known[name], per_request) for name, share in mix.items()}


def draw_style(rng: random.Random, mix: dict[str, float], per_request: int) -> Style:
    weights = request_weights(mix, per_request)
    [name] = rng.choices(list(weights), weights=list(weights.values()))
    return styles()[name]


def user_prompt(rng: random.Random, mix: dict[str, int], entity_types: Sequence[str], style: Style) -> str:
    """One request's instructions: an intent mix, one message style, and a random draw of scenario, tone,
    formats, names and look-alikes."""
    total = sum(mix.values())
    counts = ", ".join(f'{n} with intent "{intent}"' for intent, n in mix.items() if n)
    no_entities = int(total * NO_ENTITY_SHARE + rng.random())  # rounds up with the right probability
    negatives = [text for text, types in HARD_NEGATIVES if not set(types) & set(entity_types)]
    lines = [f"Write {total} messages: {counts}."]
    if style.email:
        # A header block holds display names and addresses: with NAME or EMAIL in use, no email is entity-free.
        if {"NAME", "EMAIL"} & set(entity_types):
            no_entities = 0
        lines += [
            f"Every message is this style: {style.description}.",
            "Write each one whole, exactly as a mail program saves it, with real line breaks: first the header "
            'block (From: and To: lines with display names and addresses, such as "From: Rotimi Adeyemi '
            '<radeyemi@kelderwick.example>", often a Cc: line with several people, a Subject: line, a Date: line '
            "with the day, time and zone it was sent), then a blank line and the body.",
            "Each message is 100 to 600 words, header included, with the signatures and quoted earlier messages "
            "that the style describes.",
            "Tag names, addresses, dates and times in headers, signatures and quoted messages like any others, "
            "except the date and time that say when a message was sent.",
        ]
        look_alikes = [SENT_LOOKALIKE, *rng.sample(negatives, min(4, len(negatives)))]
    else:
        shortest, longest = sorted(rng.sample(range(len(LENGTHS)), 2))
        lines += [
            f"Every message is this style: {style.description}.",
            f"Length: {LENGTHS[shortest]} to {LENGTHS[longest]}, as far as the style allows.",
        ]
        look_alikes = rng.sample(negatives, min(2, len(negatives)))
    lines += [
        f"Scenarios: {'; '.join(rng.sample(SCENARIOS, min(total, 3)))}.",
        f"Tone: {' or '.join(rng.sample(TONES, 2))}.",
        f"Write dates as {' or '.join(rng.sample(DATE_FORMATS, 2))}.",
        f"Write times as {' or '.join(rng.sample(TIME_FORMATS, 2))}.",
        f"People's names: {', '.join(rng.sample(NAME_ORIGINS, 3))} names, written as people write them at work: "
        f"{'; '.join(rng.sample(NAME_FORMS, 3))}.",
        f"Habits: {'; '.join(rng.sample(HABITS, 2))}.",
        f"Mention, without tagging them: {'; '.join(look_alikes)}.",
    ]
    if total >= 2 * len(entity_types) / 3:  # not in a small top-up request, where it would crowd the rest out
        lines.append(f"Across the messages use each entity type at least once: {', '.join(entity_types)}.")
    if no_entities:
        lines.append(f"{no_entities} of the messages must have no entities at all (still about scheduling).")
    return "\n".join(lines)


def response_schema(entity_types: Sequence[str], intents: Sequence[str]) -> dict[str, Any]:
    """Strict structured-output schema: every property required, no extra properties, enums for labels."""
    entity = {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "text"],
        "properties": {"type": {"type": "string", "enum": list(entity_types)}, "text": {"type": "string"}},
    }
    example = {
        "type": "object",
        "additionalProperties": False,
        "required": ["text", "intent", "entities"],
        "properties": {
            "text": {"type": "string"},
            "intent": {"type": "string", "enum": list(intents)},
            "entities": {"type": "array", "items": entity},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["examples"],
        "properties": {"examples": {"type": "array", "items": example}},
    }


# ------------------------------------------------------------------------------------------ checking answers


def normalize(text: str) -> str:
    """Duplicate key: case and whitespace do not make a message new."""
    return " ".join(text.lower().split())


def well_formed(item: Any) -> bool:
    """The shape of one message in an answer.  Labels are checked one by one afterwards, so that an unknown
    intent or type is counted as such (a server without strict structured outputs may not enforce enums)."""
    return (
        isinstance(item, dict)
        and isinstance(item.get("text"), str)
        and item["text"].strip() != ""
        and isinstance(item.get("intent"), str)
        and isinstance(item.get("entities"), list)
        and all(isinstance(e, dict) and isinstance(e.get("type"), str) for e in item["entities"])
        and all(isinstance(e.get("text"), str) for e in item["entities"])
    )


def parse_answer(content: str | None) -> tuple[list[Any], str | None]:
    """The answer's example items, or a rejection reason for the whole answer."""
    try:
        answer = json.loads(content or "")
    except json.JSONDecodeError:
        return [], "malformed_json"
    if not isinstance(answer, dict) or not isinstance(answer.get("examples"), list):
        return [], "schema_mismatch"
    return answer["examples"], None


def check_item(
    item: Any, entity_types: Sequence[str], intents: Sequence[str], seen: set[str]
) -> tuple[Any, str | None]:
    """``(text, intent, spans)`` for a usable item, else ``(None, reason)``; ``seen`` holds accepted texts.

    Entity strings are located with ``find_entity``: in the listed order for repeats, on token edges only,
    so the BIO tags built from the spans say exactly what the model meant.
    """
    if not well_formed(item):
        return None, "schema_mismatch"
    text = item["text"].strip()
    if normalize(text) in seen:
        return None, "duplicate"
    if item["intent"] not in intents:
        return None, "unknown_intent"
    if any(entity["type"] not in entity_types for entity in item["entities"]):
        return None, "unknown_entity_type"
    spans: list[Span] = []
    for entity in item["entities"]:
        found = find_entity(text, entity["text"].strip(), [(s.start, s.end) for s in spans])
        if found is None:
            return None, "entity_not_in_text"
        spans.append(Span(entity["type"], *found))
    return (text, item["intent"], spans), None


# ------------------------------------------------------------------------------------ accepted examples (state)


def partial_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial.jsonl")


@dataclass
class Collected:
    """Accepted examples (each also a line of the partial file) and the rejections, by reason."""

    partial: Path
    entity_types: list[str]
    intents: list[str]
    id_prefix: str
    examples: list[dict] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    rejected: Counter = field(default_factory=Counter)
    resumed: int = 0

    def load_partial(self) -> None:
        """Read back a previous run's accepted examples; a half-written last line (a crash) is dropped."""
        if not self.partial.exists():
            return
        lines = self.partial.read_text(encoding="utf-8").splitlines()
        labels = bio_labels(self.entity_types)
        clean = True
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except json.JSONDecodeError:
                if n == len(lines):
                    clean = False
                    break
                raise DatasetError(f"{self.partial}: line {n}: not valid JSON; delete the file to start over") from None
            try:
                validate_example(example, labels, self.intents)
            except DatasetError as err:
                raise DatasetError(
                    f"{self.partial}: line {n}: {err} (made with other --entity-types/--intents? "
                    "delete the file to start over)"
                ) from None
            self.examples.append(example)
            self.seen.add(normalize(example["text"]))
        if not clean:  # rewrite without the torn line, so appends start on a fresh line
            write_lines(self.partial, [json.dumps(x, ensure_ascii=False) for x in self.examples])
        self.resumed = len(self.examples)

    def add_answer(self, content: str | None) -> None:
        """Check an answer's items; append the accepted ones to the partial file at once."""
        items, reason = parse_answer(content)
        if reason:
            self.rejected[reason] += 1
        accepted = []
        for item in items:
            checked, reason = check_item(item, self.entity_types, self.intents, self.seen)
            if checked is None:
                self.rejected[reason] += 1
                continue
            text, intent, spans = checked
            example = make_example(f"{self.id_prefix}-{len(self.examples):06d}", text, intent, spans)
            self.examples.append(example)
            self.seen.add(normalize(text))
            accepted.append(json.dumps(example, ensure_ascii=False))
        if accepted:  # closing flushes to the OS: a crash or kill of this process cannot lose them then
            with self.partial.open("a", encoding="utf-8") as f:
                f.write("\n".join(accepted) + "\n")

    def intent_counts(self) -> Counter:
        return Counter(x["intent"] for x in self.examples)


def write_lines(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(tmp, path)


def intent_mix(k: int, intents: Sequence[str], have: Counter, rng: random.Random) -> dict[str, int]:
    """Split ``k`` requested messages among intents, each to whichever intent is furthest behind."""
    counts, mix = Counter(have), {intent: 0 for intent in intents}
    for _ in range(k):
        intent = min(intents, key=lambda i: (counts[i], rng.random()))
        counts[intent] += 1
        mix[intent] += 1
    return mix


# --------------------------------------------------------------------------------------------- openai backend


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0  # HTTP attempts, retries included
    retries: int = 0
    failed: int = 0

    def cost(self, model: str | None) -> float | None:
        # Dated snapshots ("gpt-4.1-mini-2025-04-14") cost what their family costs.
        price = PRICES_PER_MILLION.get(re.sub(r"-\d{4}-\d{2}-\d{2}$", "", model or ""))
        if price is None:
            return None
        return round((self.prompt_tokens * price[0] + self.completion_tokens * price[1]) / 1e6, 6)


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


def request_size(missing: int, asked_in_flight: int, per_request: int, yield_rate: float) -> int:
    """How many messages the next request asks for; 0 when the requests in flight should be enough.

    Requests in flight are expected to deliver at the rate answers have delivered so far, and the next one
    asks for a little more than is missing, so that rejections do not leave a crawling tail of requests for
    one message each.  Extras are trimmed at the end.
    """
    shortfall = missing - asked_in_flight * yield_rate
    return 0 if shortfall <= 0 else min(per_request, math.ceil(shortfall / yield_rate - 1e-9))


def chat_request(
    args: argparse.Namespace, prompt: str, schema: dict, rng: random.Random, mix: dict, style: Style
) -> dict:
    return {
        "model": args.model,
        "messages": [
            {"role": "system", "content": prompt},
            {"role": "user", "content": user_prompt(rng, mix, args.entity_types, style)},
        ],
        "response_format": {"type": "json_schema", "json_schema": schema},
    }


class Requests:
    """The requests in flight, what each asked for, and what to ask next."""

    def __init__(
        self, args: argparse.Namespace, collected: Collected, usage: Usage, client: openai.AsyncOpenAI, prompt: str
    ) -> None:
        self.args, self.collected, self.usage, self.prompt = args, collected, usage, prompt
        self.api_key = client.api_key  # only to blank it out of error messages that servers may echo it in
        self.completions = client.chat.completions
        self.host = str(client.base_url.host)
        self.schema = {
            "name": "scheduling_messages",
            "strict": True,
            "schema": response_schema(args.entity_types, args.intents),
        }
        self.policy = RetryPolicy(args.max_retries, args.retry_delay)
        self.in_flight: dict[asyncio.Task, Counter] = {}  # request -> how many of each intent it asked for
        self.index = collected.resumed  # numbers the requests' prompts; a resumed run asks new things
        # Enough requests for a poor model to finish (two thirds of its messages rejected), but no endless loop;
        # counted as if every request were of the style with the smallest requests, so a mix never runs short.
        missing = max(0, args.num_examples - len(collected.examples))
        smallest = min(style_per_request(styles()[name], args.examples_per_request) for name in args.styles)
        self.budget = 3 * math.ceil(missing / smallest) + args.concurrency
        self.failures_in_a_row = 0
        self.asked_answered, self.accepted_before = 0, len(collected.examples)

    def submit(self) -> bool:
        """Start requests up to ``--concurrency`` unless those in flight should be enough; False when idle."""
        accepted = len(self.collected.examples) - self.accepted_before
        yield_rate = max(0.25, accepted / self.asked_answered) if self.asked_answered else 1.0
        while len(self.in_flight) < self.args.concurrency and self.budget > 0:
            missing = self.args.num_examples - len(self.collected.examples)
            asked = sum(sum(mix.values()) for mix in self.in_flight.values())
            rng = random.Random(f"{self.args.seed}:{self.index}")  # so that a rerun asks the same things
            # The style comes first: it decides how many messages fit in the answer.
            style = draw_style(rng, self.args.styles, self.args.examples_per_request)
            k = request_size(missing, asked, style_per_request(style, self.args.examples_per_request), yield_rate)
            if k == 0:
                break
            have = self.collected.intent_counts() + sum(self.in_flight.values(), Counter())
            mix = intent_mix(k, self.args.intents, have, rng)
            request = chat_request(self.args, self.prompt, self.schema, rng, mix, style)
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
            message = fatal_message(err.args[0], self.args.model, self.host)
            raise GenerationError(redact(message, self.api_key)) from None
        except RequestFailed as err:
            self.usage.failed += 1
            self.failures_in_a_row += 1
            message = redact(str(err), self.api_key)
            tqdm.write(f"{PROG}: a request failed after {self.args.max_retries} retries: {message}", file=sys.stderr)
            if self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                raise GenerationError(
                    f"{self.failures_in_a_row} requests in a row failed after {self.args.max_retries} retries "
                    f"each (last: {message})"
                ) from None
            return
        self.failures_in_a_row = 0
        self.asked_answered += asked
        if response.usage is not None:
            self.usage.prompt_tokens += response.usage.prompt_tokens or 0
            self.usage.completion_tokens += response.usage.completion_tokens or 0
        self.collected.add_answer(response.choices[0].message.content if response.choices else None)

    async def cancel(self) -> None:
        for task in self.in_flight:
            task.cancel()
        await asyncio.gather(*self.in_flight, return_exceptions=True)


async def generate_openai(
    args: argparse.Namespace, collected: Collected, api_key: str, base_url: str | None, prompt: str, usage: Usage
) -> None:
    """Ask for examples, ``--concurrency`` requests at a time, until ``--num-examples`` are accepted."""
    # Retries are ours (max_retries=0 here), so that they are counted and their delay is configurable.
    async with openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=args.timeout, max_retries=0) as client:
        requests = Requests(args, collected, usage, client, prompt)
        bar = tqdm(
            total=args.num_examples,
            initial=min(args.num_examples, len(collected.examples)),
            unit="ex",
            desc="generating",
        )
        try:
            while requests.submit():
                done, _ = await asyncio.wait(requests.in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    requests.take(task)
                update_bar(bar, collected, usage, args.model)
        finally:
            await requests.cancel()
            bar.close()
    if len(collected.examples) < args.num_examples:
        raise GenerationError(
            f"only {len(collected.examples)} of {args.num_examples} examples after {usage.requests} requests "
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


# -------------------------------------------------------------------------------------------- offline backend


def generate_offline_examples(args: argparse.Namespace) -> list[dict]:
    """The template generator's examples, checked against the format like any other source."""
    try:
        from small_lm.offline import generate_offline
    except ImportError as err:
        raise GenerationError(f"the offline backend is not available ({err})") from None
    try:
        examples = generate_offline(
            args.num_examples, args.seed, list(args.entity_types), list(args.intents), styles=args.styles
        )
    except (ValueError, RuntimeError) as err:
        raise GenerationError(f"offline generator: {err}") from None
    labels = bio_labels(args.entity_types)
    for i, example in enumerate(examples):
        try:
            validate_example(example, labels, args.intents)
        except DatasetError as err:
            raise GenerationError(f"offline generator: example {i}: {err}") from None
    if len(examples) < args.num_examples:
        raise GenerationError(f"offline generator returned {len(examples)} of {args.num_examples} examples")
    return examples


# ------------------------------------------------------------------------------------------------------ main


def default_output(backend: str, model: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = "offline" if backend == "offline" else f"openai-{re.sub(r'[^A-Za-z0-9._-]+', '_', model)}"
    return Path("datasets") / f"{name}-{stamp}.json"


def check_output(output: Path, overwrite: bool) -> str | None:
    """Why ``output`` cannot be written, or None."""
    if output.is_dir():
        return f"--output {output} is a directory"
    if output.exists() and not overwrite:
        return f"{output} already exists; pass --overwrite to replace it or choose another --output"
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"cannot create the folder for --output {output}: {err.strerror}"
    if not os.access(output.parent, os.W_OK):
        return f"cannot write to {output.parent} (--output {output})"
    return None


def safe_host(base_url: str | None) -> str:
    """Host and port of the server, without any user:password part, for the metadata."""
    if not base_url:
        return "api.openai.com"
    parts = urlsplit(base_url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def finish(args: argparse.Namespace, output: Path, examples: list[dict], metadata: dict[str, Any]) -> dict:
    """Exactly N examples, shuffled with the seed, split and written atomically."""
    examples = list(examples[: args.num_examples])
    random.Random(args.seed).shuffle(examples)
    splits = split_examples(examples, args.split)
    document = build_document(splits, args.entity_types, args.intents, metadata)
    write_json_atomic(output, document)
    return document


def summary(output: Path, document: dict, rejected: Counter, usage: Usage, cost: float | None, seconds: float) -> str:
    counts = document["metadata"]["counts"]
    splits = ", ".join(f"{name} {n}" for name, n in counts["splits"].items())
    intents = ", ".join(f"{name} {n}" for name, n in counts["intents"].items())
    lines = [f"wrote {output}: {sum(counts['splits'].values())} examples ({splits}; {intents}) in {seconds:.1f}s"]
    if usage.requests:
        reasons = ", ".join(f"{reason} {n}" for reason, n in rejected.most_common())
        lines.append(
            f"  {usage.requests} requests ({usage.retries} retries, {usage.failed} failed); "
            f"rejected {sum(rejected.values())}{f' ({reasons})' if reasons else ''}; "
            f"{usage.prompt_tokens + usage.completion_tokens} tokens" + ("" if cost is None else f", ~${cost:.4f}")
        )
    return "\n".join(lines)


def resume_hint(collected: Collected, output: Path) -> str:
    return (
        f"{len(collected.examples)} accepted examples are kept in {collected.partial}; "
        f"run again with --output {output} to continue"
    )


def main(argv: Sequence[str] | None = None) -> int:
    # The key may live in .env beside this script; real environment variables win over it.
    load_dotenv(Path(__file__).resolve().with_name(".env"))
    parser = build_parser()
    args = parser.parse_args(argv)
    api_key = os.environ.get("OPENAI_API_KEY", "").strip()
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL", "").strip() or None
    if base_url and not args.base_url:
        try:
            http_url(base_url)
        except argparse.ArgumentTypeError as err:
            parser.error(f"OPENAI_BASE_URL: {err}")
    backend = args.backend
    if backend is None:
        backend = "openai" if api_key or base_url else "offline"
        if backend == "offline":
            print(f"{PROG}: no OPENAI_API_KEY or --base-url: using the offline template generator", file=sys.stderr)
    if backend == "openai" and not api_key and not base_url:
        parser.error("--backend openai needs OPENAI_API_KEY (environment or .env) or --base-url for a local server")
    output = args.output or default_output(backend, args.model)
    if problem := check_output(output, args.overwrite):
        parser.error(problem)

    prompt = system_prompt(args.entity_types, args.intents)
    metadata: dict[str, Any] = {
        "generator": backend,
        "model": args.model if backend == "openai" else None,
        "base_url_host": safe_host(base_url) if backend == "openai" else None,
        "system_prompt": prompt,
        "seed": args.seed,
        # the shares asked for; messages of each style come out in these shares (up to chance and rejections)
        "styles": {name: round(share, 6) for name, share in args.styles.items()},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "split": args.split,
    }
    usage = Usage()
    collected = Collected(partial_path(output), args.entity_types, args.intents, id_prefix=backend)
    started = time.monotonic()
    try:
        if backend == "offline":
            examples = generate_offline_examples(args)
        else:
            collected.load_partial()
            if collected.resumed:
                print(f"{PROG}: resuming with {collected.resumed} examples from {collected.partial}", file=sys.stderr)
            asyncio.run(generate_openai(args, collected, api_key or PLACEHOLDER_KEY, base_url, prompt, usage))
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
    metadata |= {
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
    document = finish(args, output, examples, metadata)
    collected.partial.unlink(missing_ok=True)
    print(summary(output, document, collected.rejected, usage, cost, seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
