"""``--annotate``: the user's own messages labelled by the chat model under the guideline, the recipe of UniNER,
GLiNER and NuNER (an LLM labels real passages, a small model learns from them).

Messages are read by ``small_lm.mail`` (mbox, .eml, a folder of them, JSON lines with "text").  What is sent, and
what the example holds, is what the models read at inference (``predict_messages``): the message without its
transport header lines, cut to ``--max-chars``.  Each request asks, with a strict json_schema, for the message's
intent and entity strings; the strings are aligned to the text here exactly as for generated examples
(``answers.check_item``), and an answer that cannot be used is rejected and counted by reason.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generation.answers import check_item, normalize
from generation.journal import first_message
from generation.prompts import annotation_schema
from small_lm.data import make_example
from small_lm.mail import InputError, read_messages, without_masked_lines

# Rejections of a labelled message, besides those of answers.REJECTION_REASONS.
REFUSED = "refused"  # the model declined (structured outputs' "refusal" instead of content)
ANNOTATION_REJECTIONS = (REFUSED,)


@dataclass(frozen=True)
class ToLabel:
    """One message to send: ``custom_id`` ties its answer to it, in any order and across runs."""

    custom_id: str
    text: str  # what is sent and what the example holds
    source: dict[str, Any]  # {"file", "index" or "line", "message_id"}: where it came from
    truncated: bool


def cut(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` characters, at the last line break (else space) before the cap."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    for sep in ("\n", " "):
        if (at := head.rfind(sep)) > max_chars // 2:
            return head[:at].rstrip()
    return head


def messages_to_label(path: str, max_chars: int, limit: int | None) -> tuple[list[ToLabel], Counter]:
    """The messages in ``path`` to send (at most ``limit``), and those skipped, by reason: ``unreadable``,
    ``empty``, ``duplicate`` (the same text as an earlier message: it would leak across the splits)."""
    try:
        messages = read_messages([], path)
    except InputError as err:
        raise InputError(f"--annotate {err}") from None
    items: list[ToLabel] = []
    skipped: Counter = Counter()
    seen: set[str] = set()
    for position, message in enumerate(messages):
        if limit is not None and len(items) >= limit:
            break
        if message.error is not None:
            skipped["unreadable"] += 1
            continue
        shown, _ = without_masked_lines(message.view)
        text = cut(shown.strip(), max_chars).strip()  # stripped, as check_item strips the text it aligns to
        if not text:
            skipped["empty"] += 1
            continue
        if normalize(text) in seen:
            skipped["duplicate"] += 1
            continue
        seen.add(normalize(text))
        # The text's hash in the id: a rerun on a changed mailbox never takes one message's answer for another.
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        items.append(ToLabel(f"msg-{position:06d}-{digest}", text, message.source, len(text) < len(shown.strip())))
    return items, skipped


def annotation_request(model: str, prompt: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    """The chat request for one message: the same body synchronously and in a batch file."""
    return {
        "model": model,
        "messages": [{"role": "system", "content": prompt}, {"role": "user", "content": text}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "message_labels", "strict": True, "schema": schema},
        },
    }


def annotation_requests(
    items: Sequence[ToLabel], model: str, prompt: str, entity_types: Sequence[str], intents: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """``(custom_id, body)`` for every message: what a run sends, or a dry run prices."""
    schema = annotation_schema(entity_types, intents)
    return [(item.custom_id, annotation_request(model, prompt, schema, item.text)) for item in items]


def label(
    item: ToLabel, completion: dict[str, Any], entity_types: Sequence[str], intents: Sequence[str]
) -> tuple[dict | None, str | None]:
    """The example for ``item`` from the model's answer (a chat.completion as JSON), else a rejection reason."""
    message = first_message(completion)
    if message.get("refusal"):
        return None, REFUSED
    try:
        answer = json.loads(message.get("content") or "")
    except json.JSONDecodeError:
        return None, "malformed_json"
    if not isinstance(answer, dict):
        return None, "schema_mismatch"
    checked, reason = check_item({**answer, "text": item.text}, entity_types, intents, seen=set())
    if checked is None:
        return None, reason
    text, intent, spans = checked
    example = make_example(f"annotated-{item.custom_id.split('-')[1]}", text, intent, spans)
    return example | {"source": item.source}, None


def label_all(
    items: Sequence[ToLabel], answers: dict[str, dict], entity_types: Sequence[str], intents: Sequence[str]
) -> tuple[list[dict], Counter]:
    """Examples from every answered message, in input order, and the rejections by reason."""
    examples, rejected = [], Counter()
    for item in items:
        if item.custom_id not in answers:
            continue
        example, reason = label(item, answers[item.custom_id], entity_types, intents)
        if example is None:
            rejected[reason] += 1
        else:
            examples.append(example)
    return examples, rejected


def journal_path(output: Path) -> Path:
    """Where ``--annotate`` without ``--batch`` keeps its answers as they arrive."""
    return output.with_name(output.name + ".answers.jsonl")
