"""What a run says before it sends anything: how many messages go where and what the requests would cost,
synchronously and through the Batch API; and, for the user's own messages, the question it asks first."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence

from generation import PROG
from generation.annotate import ToLabel, annotation_requests
from generation.openai_backend import OpenAIOptions, price
from generation.runs import OVERSHOOT, asked_by, plan_requests


def estimate_line(model: str, requests: Sequence[tuple[str, dict]], use_batch: bool) -> str:
    """A rough cost estimate for ``requests``, synchronously and through the Batch API."""
    # About four characters a token.  Answers: in our generated data the labels' JSON is about as long as the
    # message they label, and the default mix's messages with their labels average about 650 characters.
    prompt = sum(len(json.dumps(body)) for _, body in requests) / 4
    completion = sum(
        165 * asked_by(cid) if cid.startswith("gen-") else 10 + len(body["messages"][-1]["content"]) / 4
        for cid, body in requests
    )
    sync, batch = price(model, prompt, completion), price(model, prompt, completion, batch=True)
    if sync is None:
        return f"no price is known for model {model!r}"
    if use_batch:
        return f"estimated cost ~${batch:,.4f} through the Batch API (~${sync:,.4f} synchronously; a rough estimate)"
    return f"estimated cost ~${sync:,.4f}, or ~${batch:,.4f} through the Batch API (--batch; a rough estimate)"


def dry_run(args: argparse.Namespace, host: str, options: OpenAIOptions, prompt: str, items: list[ToLabel]) -> None:
    """Say what a run would send and cost, sending nothing."""
    if args.annotate:
        requests = annotation_requests(items, args.model, prompt, args.entity_types, args.intents)
        what = f"{len(items)} messages ({sum(len(item.text) for item in items):,} characters) to label"
    else:  # the requests a --batch run would send first; a synchronous run sends about as many
        requests = plan_requests(options, prompt, 0, math.ceil(args.num_examples * OVERSHOOT), Counter())
        what = f"{len(requests)} requests for {args.num_examples} examples (and {OVERSHOOT - 1:.0%} to spare)"
    print(
        f"{PROG}: dry run, nothing sent: {what} for {host} (model {args.model}); "
        f"{estimate_line(args.model, requests, args.batch)}"
    )


def confirm_sending(args: argparse.Namespace, host: str, requests: Sequence[tuple[str, dict]]) -> None:
    """Say how much of the user's mail goes where, and ask unless --yes; raises NotConfirmed when not to send."""
    chars = sum(len(body["messages"][-1]["content"]) for _, body in requests)
    via = " through the Batch API" if args.batch else ""
    print(
        f"{PROG}: {len(requests)} messages ({chars:,} characters, each at most --max-chars {args.max_chars}) will be "
        f"sent to {host} (model {args.model}){via} to be labelled; {estimate_line(args.model, requests, args.batch)}",
        file=sys.stderr,
    )
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise NotConfirmed("nothing was sent: pass --yes to send them without being asked")
    if input("Send them? [y/N] ").strip().lower() not in ("y", "yes"):
        raise NotConfirmed("nothing was sent")


def announce_batch(args: argparse.Namespace, requests: Sequence[tuple[str, dict]]) -> None:
    print(
        f"{PROG}: {len(requests)} requests in a new batch; {estimate_line(args.model, requests, args.batch)}",
        file=sys.stderr,
    )


class NotConfirmed(Exception):
    """The user did not agree to send their messages."""
