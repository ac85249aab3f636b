"""Inference output shared by both families: how predictions look (the input side is ``small_lm.mail``).

A prediction is ``{"text", "intent", "intent_score", "entities": [{"type", "text", "start", "end", "score"}],
"source"}`` with offsets into ``text``; a score is None where the method has none; ``source`` says where the
message came from (``file``, ``index`` in an mbox or ``line`` of JSON lines, ``message_id``); ``error`` and
``warning`` appear when there is something to say.

The span contract, kept for every model and backend by ``keep_span_contract`` (``small_lm.mail.predict_messages``
applies it to every prediction): an entity's ``text`` is ``text[start:end]``, it lies within one line, and it
starts and ends on word edges (the tokens of ``small_lm.data.tokenize``).
"""

from __future__ import annotations

import bisect
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from small_lm.data import tokenize


def keep_span_contract(text: str, entities: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``entities`` of a prediction on ``text`` under the span contract.  An entity that crosses a line break is
    cut there into one entity per line (each with the score of the whole); an edge inside a word moves out to the
    word's edge; white space at the ends is left out; a piece with no word in it is dropped, and so is a repeat."""
    if not entities:
        return []
    tokens = tokenize(text)
    starts, ends = [s for _, s, _ in tokens], [e for _, _, e in tokens]
    out, seen = [], set()
    for entity in entities:
        start, end = max(0, int(entity["start"])), min(len(text), int(entity["end"]))
        while start < end:
            line_end = text.find("\n", start, end)
            piece_end = end if line_end < 0 else line_end
            first = bisect.bisect_right(ends, start)  # the first word that ends after the piece starts
            last = bisect.bisect_left(starts, piece_end) - 1  # the last word that starts before it ends
            if first <= last:
                span = (entity["type"], starts[first], ends[last])  # a word never holds a line break
                if span not in seen:
                    seen.add(span)
                    out.append({**entity, "text": text[span[1] : span[2]], "start": span[1], "end": span[2]})
            start = piece_end + 1
    return out


def format_prediction(prediction: dict[str, Any]) -> str:
    """A readable view of one prediction."""
    score = prediction.get("intent_score")
    source = prediction.get("source") or {}
    from_file = not str(source.get("file", "<")).startswith("<")  # not an argument or standard input
    lines = ["# " + ", ".join(f"{k} {v}" for k, v in source.items())] if from_file else []
    lines += [prediction["text"].strip(), f"  intent: {prediction['intent']}" + (f" ({score:.2f})" if score else "")]
    for entity in prediction["entities"]:
        s = entity.get("score")
        lines.append(
            f"  {entity['type']:<6} {entity['text']!r} [{entity['start']}:{entity['end']}]" + (f" {s:.2f}" if s else "")
        )
    if not prediction["entities"]:
        lines.append("  (no entities)")
    if prediction.get("error"):
        lines.append(f"  error: {prediction['error']}")
    if prediction.get("warning"):
        lines.append(f"  warning: {prediction['warning']}")
    return "\n".join(lines)


def print_predictions(predictions: Sequence[dict[str, Any]], as_json: bool, out: TextIO | None = None) -> None:
    """One JSON object per line with ``as_json``, else the readable view with a blank line between emails."""
    out = out or sys.stdout
    for prediction in predictions:
        print(json.dumps(prediction, ensure_ascii=False) if as_json else format_prediction(prediction) + "\n", file=out)
