"""Inference input and output shared by both families: where emails come from and how predictions look.

A prediction is ``{"text", "intent", "intent_score", "entities": [{"type", "text", "start", "end", "score"}]}``
with offsets into the original text; a score is None where the method has none.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO


class InputError(ValueError):
    """Input emails that cannot be read; the message names the file and line."""


def parse_emails(raw: str, source: str) -> list[str]:
    """Emails from text: JSON lines with a "text" field, or plain text with emails separated by blank lines."""
    lines = [line for line in raw.splitlines() if line.strip()]
    if lines and all(line.lstrip().startswith("{") for line in lines):
        emails = []
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{source}: line {n}: not valid JSON ({err.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise InputError(f"{source}: line {n}: expected an object with a string field 'text'")
            emails.append(record["text"])
        return emails
    blocks, current = [], []
    for line in raw.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


def read_emails(texts: Sequence[str], file: str | None, stdin: TextIO | None = None) -> list[str]:
    """Emails from command-line arguments, else ``file`` ("-" for stdin), else standard input."""
    stdin = stdin or sys.stdin
    if texts:
        return list(texts)
    if file and file != "-":
        path = Path(file)
        try:
            raw = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise InputError(f"{file}: no such file") from None
        except UnicodeDecodeError as err:
            raise InputError(f"{file}: not UTF-8 text (byte {err.start}: {err.reason})") from None
        return parse_emails(raw, file)
    if stdin.isatty():
        print("Reading emails from standard input (blank line between emails, Ctrl-D to finish)...", file=sys.stderr)
    try:
        raw = stdin.read()
    except UnicodeDecodeError as err:
        raise InputError(f"standard input: not UTF-8 text ({err.reason})") from None
    return parse_emails(raw, "standard input")


def format_prediction(prediction: dict[str, Any]) -> str:
    """A readable view of one prediction."""
    score = prediction.get("intent_score")
    lines = [prediction["text"].strip(), f"  intent: {prediction['intent']}" + (f" ({score:.2f})" if score else "")]
    for entity in prediction["entities"]:
        s = entity.get("score")
        lines.append(
            f"  {entity['type']:<6} {entity['text']!r} [{entity['start']}:{entity['end']}]" + (f" {s:.2f}" if s else "")
        )
    if not prediction["entities"]:
        lines.append("  (no entities)")
    if prediction.get("error"):
        lines.append(f"  error: {prediction['error']}")
    return "\n".join(lines)


def print_predictions(predictions: Sequence[dict[str, Any]], as_json: bool, out: TextIO | None = None) -> None:
    """One JSON object per line with ``as_json``, else the readable view with a blank line between emails."""
    out = out or sys.stdout
    for prediction in predictions:
        print(json.dumps(prediction, ensure_ascii=False) if as_json else format_prediction(prediction) + "\n", file=out)
