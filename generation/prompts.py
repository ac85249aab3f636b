"""What a request asks a chat model for: the system prompt (the annotation guideline and the run's labels),
one request's user prompt, and the strict structured-output schema of the answer.

Each request draws its message style, its intent mix and a random set of scenarios, tones, date, time and name
formats and look-alikes from its own seeded ``random.Random``, so that a rerun (and a resumed run) asks the
same things and prompts vary across a run.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from generation.styles import Style, styles
from small_lm.data import DEFAULT_ENTITY_TYPES, DEFAULT_INTENTS
from small_lm.guideline import ANNOTATION_GUIDELINE

# Messages of an email style (header block, 100-600 words, signatures, quoted mail) run long: a request asks for at
# most this many of them, so that the answer fits a model's output limit instead of being cut off mid-JSON.
EMAIL_EXAMPLES_PER_REQUEST = 3


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


def label_notes(entity_types: Sequence[str], intents: Sequence[str]) -> str:
    """What the guideline does not say about a run's labels: the extra ones, and the default ones left out."""
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
    return notes


def system_prompt(entity_types: Sequence[str], intents: Sequence[str]) -> str:
    """The fixed instructions for a generation run; also saved in the dataset's metadata."""
    return (
        "You write realistic, varied messages about scheduling (whole emails with their headers, reply and "
        "forward threads, announcements, meeting invitations, short emails, chat messages, voice-assistant "
        "commands) and annotate them, to train a small model that reads such messages.\n\n"
        f"Intents: {', '.join(intents)}. Entity types: {', '.join(entity_types)}.\n\n"
        f"{ANNOTATION_GUIDELINE}{label_notes(entity_types, intents)}\n"
        "Rules:\n"
        "- Every message is new: vary openings, wording, names, dates and sentence structure.\n"
        "- List every entity in the order it appears, with its type and its text copied exactly from the "
        "message (same spelling, casing and spacing); list a repeated mention once per occurrence.\n"
        "- Give entity strings only: no character offsets, no BIO tags.\n"
        "- Answer with JSON that follows the given schema, nothing else.\n"
    )


def annotation_prompt(entity_types: Sequence[str], intents: Sequence[str]) -> str:
    """The fixed instructions for labelling the user's own messages (``--annotate``); each request's user
    message is one message to label, as it is, and nothing else."""
    return (
        "You annotate real messages (whole emails with their headers, replies, forwards, chat messages) to train "
        "a small model that reads such messages. The user sends one message; label it, do not answer it.\n\n"
        f"Intents: {', '.join(intents)}. Entity types: {', '.join(entity_types)}.\n\n"
        f"{ANNOTATION_GUIDELINE}{label_notes(entity_types, intents)}\n"
        "Rules:\n"
        "- Give the intent of the message as a whole; when none fits well, the closest one.\n"
        "- List every entity in the order it appears, with its type and its text copied exactly from the "
        "message (same spelling, casing and spacing); list a repeated mention once per occurrence.\n"
        "- Tag entities everywhere in the message: headers, body, signatures and quoted messages alike, except "
        "what the guideline says is not an entity.\n"
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


def entity_list_schema(entity_types: Sequence[str]) -> dict[str, Any]:
    entity = {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "text"],
        "properties": {"type": {"type": "string", "enum": list(entity_types)}, "text": {"type": "string"}},
    }
    return {"type": "array", "items": entity}


def response_schema(entity_types: Sequence[str], intents: Sequence[str]) -> dict[str, Any]:
    """Strict structured-output schema of a generation answer: every property required, no extra properties,
    enums for labels."""
    example = {
        "type": "object",
        "additionalProperties": False,
        "required": ["text", "intent", "entities"],
        "properties": {
            "text": {"type": "string"},
            "intent": {"type": "string", "enum": list(intents)},
            "entities": entity_list_schema(entity_types),
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["examples"],
        "properties": {"examples": {"type": "array", "items": example}},
    }


def generation_format(entity_types: Sequence[str], intents: Sequence[str]) -> dict[str, Any]:
    """The ``json_schema`` of a generation request's ``response_format``."""
    return {"name": "scheduling_messages", "strict": True, "schema": response_schema(entity_types, intents)}


def annotation_schema(entity_types: Sequence[str], intents: Sequence[str]) -> dict[str, Any]:
    """Strict structured-output schema of one message's labels (``--annotate``): its intent and entity strings."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["intent", "entities"],
        "properties": {
            "intent": {"type": "string", "enum": list(intents)},
            "entities": entity_list_schema(entity_types),
        },
    }


def intent_mix(k: int, intents: Sequence[str], have: Counter, rng: random.Random) -> dict[str, int]:
    """Split ``k`` requested messages among intents, each to whichever intent is furthest behind."""
    counts, mix = Counter(have), {intent: 0 for intent in intents}
    for _ in range(k):
        intent = min(intents, key=lambda i: (counts[i], rng.random()))
        counts[intent] += 1
        mix[intent] += 1
    return mix
