"""Inference output shared by both families: how predictions look (the input side is ``small_lm.mail``).

A prediction is ``{"text", "intent", "intent_score", "entities": [{"type", "text", "start", "end", "score"}],
"source"}`` with offsets into ``text``; a score is None where the method has none; ``source`` says where the
message came from (``file``, ``index`` in an mbox or ``line`` of JSON lines, ``message_id``); ``error`` and
``warning`` appear when there is something to say.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO


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
