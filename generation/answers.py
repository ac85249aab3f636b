"""Checking a chat model's answer: its JSON shape, its labels, duplicates, and its entity strings.

The model gives entity *strings*, never offsets: each is located in the message with ``find_entity`` (in
the listed order for repeats, on token edges only), so that the BIO tags built from the spans say exactly
what the model meant.  A message that cannot be used is rejected with one of ``REJECTION_REASONS``, which the
dataset's metadata counts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from small_lm.data import Span, find_entity

REJECTION_REASONS = (
    "malformed_json",
    "schema_mismatch",
    "unknown_intent",
    "unknown_entity_type",
    "entity_not_in_text",
    "duplicate",
)
# An accepted message: its text (stripped), intent and entity spans.
Checked = tuple[str, str, list[Span]]


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
) -> tuple[Checked | None, str | None]:
    """``(text, intent, spans)`` for a usable item, else ``(None, reason)``; ``seen`` holds accepted texts
    (``normalize``d)."""
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
