"""Sanity check: ask the base model, zero-shot, for the intent and entities of a sample email.

It gets the same system prompt and chat format as fine-tuning uses.  First it answers freely (plain greedy
``model.generate``), then with the answer grammar of infer_slm.py, which makes the answer valid JSON but cannot
make it right: the gap between these answers and the gold ones is why the model is fine-tuned.

    python causal_slms/default_lm.py
    python causal_slms/default_lm.py --model pretrained/SmolLM2-135M-Instruct "Cancel friday's 3pm call"
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from causal_slms.slm import (
    DEFAULT_BASE_MODEL,
    ChatFormat,
    ModelError,
    SlmConfig,
    SlmTagger,
    build_prediction,
    load_model,
    parse_answer,
)
from small_lm.cli import HelpFormatter, exits_on

SAMPLE_EMAIL = (
    "Hi Priya, could we move our review to next friday at 3pm? "
    "If that doesn't work, send a slot to tom.b@example.com. Thanks, Tom"
)
GOLD = "intent inquiry; DATE 'next friday', TIME '3pm', EMAIL 'tom.b@example.com', NAME 'Priya', NAME 'Tom'"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    # The email is a positional argument, as in default_bert.py and the infer scripts; --text is its old spelling.
    parser.add_argument("text", nargs="?", help="the email to read (default: a built-in sample)")
    parser.add_argument("--text", dest="text_option", help=argparse.SUPPRESS)
    parser.add_argument("--model", default=DEFAULT_BASE_MODEL, help="base model: hub name or local folder")
    parser.add_argument("--max-new-tokens", type=int, default=96, help="answer length limit in model tokens")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.text and args.text_option:
        parser.error("give the email once: as an argument (or with the old --text), not both")
    args.text = args.text or args.text_option or SAMPLE_EMAIL
    return args


@exits_on(ModelError)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    model, tokenizer, folder = load_model(args.model)
    print(f"Loaded {folder} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    config = SlmConfig(max_new_tokens=args.max_new_tokens)
    chat = ChatFormat(tokenizer, config.system_prompt)
    print(f"System prompt: {config.system_prompt}\nEmail: {args.text}")
    if args.text == SAMPLE_EMAIL:
        print(f"Expected: {GOLD}")

    # 1. Free answer, as anyone would ask the chat model.
    ids, _ = chat.email_ids(args.text)
    input_ids = torch.tensor([chat.prefix + ids])
    started = time.perf_counter()
    with torch.no_grad():
        output = model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=args.max_new_tokens,
            do_sample=False,
            eos_token_id=chat.end_of_turn,
            pad_token_id=chat.end_of_turn,
        )
    answer = tokenizer.decode(output[0, input_ids.shape[1] :], skip_special_tokens=True)
    print(f"\nFree answer ({time.perf_counter() - started:.1f} s):\n{answer}")
    parsed = parse_answer(answer, config.intents, config.entity_types)
    print("Read back:", json.dumps(build_prediction(args.text, parsed, parsed.errors, []), ensure_ascii=False))

    # 2. The same model held to the answer grammar.
    started = time.perf_counter()
    tagger = SlmTagger(model, tokenizer, config)
    prediction = tagger.predict([args.text], debug=True)[0]
    print(f"\nConstrained answer ({time.perf_counter() - started:.1f} s):\n{prediction.pop('answer')}")
    print("Read back:", json.dumps(prediction, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
