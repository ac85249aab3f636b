"""Answers kept on disk as lines of the Batch API's output format, so one reader serves both ways of asking.

A line is ``{"custom_id": ..., "response": {"status_code": 200, "body": <chat.completion>}, "error": null}`` for
an answer, and for a request that failed either a non-200 ``response`` or an ``error`` object (``{"code":
"batch_expired", ...}``).  ``--batch`` downloads such files from OpenAI; ``--annotate`` without ``--batch``
appends one line per answer to ``<output>.answers.jsonl`` as it arrives.  Either way a rerun of the same command
reads them back and never pays for an answer twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from generation import GenerationError


def answer_line(custom_id: str, completion: dict[str, Any]) -> str:
    """One answered request as a line (with its newline)."""
    line = {"custom_id": custom_id, "response": {"status_code": 200, "body": completion}, "error": None}
    return json.dumps(line, ensure_ascii=False) + "\n"


def first_message(completion: dict[str, Any]) -> dict[str, Any]:
    """The assistant message of a chat.completion as JSON (``{}`` when there is none)."""
    choices = completion.get("choices") or [{}]
    return choices[0].get("message") or {}


def line_error(line: dict[str, Any]) -> str | None:
    """Why a line holds no answer (``"batch_expired"``, ``"HTTP 500: ..."``), or None for an answer."""
    error = line.get("error")
    if error:
        return str(error.get("code") or error.get("message") or "error") if isinstance(error, dict) else str(error)
    response = line.get("response")
    if not isinstance(response, dict) or not isinstance(response.get("body"), dict):
        return "no response"
    status = response.get("status_code")
    if status != 200:
        message = (response["body"].get("error") or {}).get("message", "") if response["body"] else ""
        return f"HTTP {status}: {message}"[:200]
    return None


def read_answer_lines(path: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """The answers (custom_id -> chat.completion body) and the failures (custom_id -> why) in a file of lines.

    A torn last line (a crash mid-write) is ignored: that answer is asked again.  Any other bad line means the
    file is not one of ours, which is said with the line number.
    """
    answers: dict[str, dict] = {}
    errors: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            custom_id = line["custom_id"]
        except (json.JSONDecodeError, KeyError, TypeError):
            if n == len(lines):
                break
            raise GenerationError(f"{path}: line {n}: not an answer line; delete the file to start over") from None
        reason = line_error(line)
        if reason is None:
            answers[custom_id] = line["response"]["body"]
            errors.pop(custom_id, None)
        elif custom_id not in answers:
            errors[custom_id] = reason
    return answers, errors


def is_retryable(reason: str) -> bool:
    """A failed line that asking again can fix: expired, rate-limited, a server error, or never run."""
    return reason in ("batch_expired", "no response", "not run") or reason.startswith(("HTTP 429", "HTTP 5"))
