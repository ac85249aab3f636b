"""Sanity check before any fine-tuning: what does the base NER model find in a scheduling email?

    python classification/default_bert.py [--model dslim/distilbert-NER] ["an email ..."]

dslim/distilbert-NER knows PER/ORG/LOC/MISC, not DATE, TIME, EMAIL or intent: that gap is why
train_bert.py fine-tunes it with a second (intent) head.
"""

from __future__ import annotations

import argparse
import sys

from transformers import AutoConfig, pipeline

from classification.checkpoint import CheckpointError
from classification.encoder import DEFAULT_BASE, resolve_encoder
from small_lm.cli import HelpFormatter, exits_on

SAMPLE = (
    "Hi Maria,\n\nCould we move our sync with Kenji Watanabe to next Tuesday at 3:30pm? "
    "If that doesn't work, email me at ops@example.com.\n\nThanks,\nDavid"
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("text", nargs="?", default=SAMPLE, help="email to read (default: a built-in sample)")
    p.add_argument("--model", default=DEFAULT_BASE, help="base NER model: hub name or local folder")
    return p


@exits_on(CheckpointError)  # not a folder, not cached, hub unreachable, and no packaged fallback
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    path = resolve_encoder(args.model)
    config = AutoConfig.from_pretrained(path)
    print(f"model: {path}\nemail:\n{args.text}\n")
    if not any("TokenClassification" in a for a in config.architectures or []):
        # A bare encoder has no trained NER head; a random one would print noise, so we say so instead.
        print(f"{path} is a bare {config.model_type} encoder with no NER head: nothing to show before fine-tuning.")
        print("Fine-tune it with: python classification/train_bert.py")
        return 0
    ner = pipeline("token-classification", model=path, aggregation_strategy="simple")
    for entity in ner(args.text):
        print(f"  {entity['entity_group']:<5} {entity['word']!r:<24} score {entity['score']:.2f}")
    print(f"\nlabels this model knows: {sorted(set(config.id2label.values()))} (no DATE, TIME, EMAIL, no intent)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
