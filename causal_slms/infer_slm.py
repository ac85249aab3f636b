"""Read scheduling emails with a checkpoint of train_slm.py: intent and entities, in the shared prediction format.

    python causal_slms/infer_slm.py trained_models/slm-demo-... "Can we meet tomorrow at 3pm?"
    python causal_slms/infer_slm.py trained_models/slm-demo-... --file inbox.mbox --json
    cat emails.jsonl | python causal_slms/infer_slm.py trained_models/slm-demo-... --json

Input: emails as arguments, else --file (an mbox file, an .eml file, a folder of .eml files, JSON lines with a
"text" field, or a text file holding one message, raw with headers or not; --split-blank-lines for several short
emails separated by blank lines; "-" for standard input), else standard input.  Transport and MIME header lines
are never shown to the model (see small_lm/mail.py).  Output: one prediction per email, ``{"text", "intent",
"intent_score", "entities": [{"type", "text", "start", "end", "score"}]}`` (readable, or JSON lines with --json),
plus ``"source"`` (file, mbox index or JSON line, Message-ID), ``"error"`` when the message cannot be read or
the answer was cut off, and ``"warning"`` when an entity string was dropped or the reader had something to
say (a charset, a skipped attachment).

Every answer is valid JSON of that shape: decoding is held to a grammar that only lets the model write the
answer's JSON skeleton, the checkpoint's intents and entity types, and well-formed JSON strings (see
causal_slms/decoding.py); entity strings are then located in the original email with ``find_entity`` (a repeated
string maps to its occurrences in order) and a string that is not in the email on word edges is dropped and
named in the "warning", never invented.  An email longer than --max-length (default 1024) is read whole, in
windows of that many tokens overlapping by a quarter; their answers are merged (offsets into the whole email, an
entity seen in two windows kept once, the first window's intent).
"""

from __future__ import annotations

import argparse
import sys
import time

from causal_slms.slm import DTYPES, FAMILY
from small_lm.cli import HelpFormatter, add_option, exits_on
from small_lm.io import print_predictions
from small_lm.mail import InputError, add_input_arguments, predict_messages, read_messages
from taggers import LoadError, load_tagger


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    add_input_arguments(parser, "causal_slms/train_slm.py")
    parser.add_argument("--batch-size", type=int, default=16, help="emails per generation batch")
    add_option(
        parser,
        "--max-length",
        aliases=["--max-email-tokens"],
        type=int,
        metavar="N",
        help="model tokens of email in one window (the prompt and answer come on top): a longer email is read "
        "whole in overlapping windows (default: the checkpoint's, 1024)",
    )
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="weights in memory")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda if there is a GPU, else cpu)")
    parser.add_argument("--debug", action="store_true", help="add the raw answer and grammar corrections")
    return parser


@exits_on(InputError, *LoadError)
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    messages = read_messages(args.texts, args.file, args.split_blank_lines)
    started = time.perf_counter()
    tagger = load_tagger(args.model, FAMILY, dtype=args.dtype, device=args.device)
    loaded = time.perf_counter()
    if args.max_length:
        tagger.config.max_email_tokens = args.max_length
    predictions = predict_messages(
        tagger, messages, batch_size=args.batch_size, progress=sys.stderr.isatty(), debug=args.debug
    )
    print_predictions(predictions, as_json=args.json)
    for p in predictions:
        for kind in ("error", "warning"):
            if p.get(kind):
                print(f"{kind}: {p['source']}: {p[kind]}", file=sys.stderr)
    seconds = time.perf_counter() - loaded
    print(
        f"{len(messages)} emails in {seconds:.1f} s ({len(messages) / max(seconds, 1e-9):.1f}/s; "
        f"model loaded in {loaded - started:.1f} s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
