"""Emails/second for infer_bert.py's path vs transformers' token-classification pipeline, one email at a time,
on the same checkpoint in the same run, plus the F1 cost of each speed-up that changes numerics.

    python benchmarks/bench_bert.py trained_models/bert-demo --data ../shared/benchmarks/massive_calendar_dev.jsonl

Run it on an idle machine: with 2 cores, any other busy process distorts the timings several-fold.
"""

from __future__ import annotations

import small_lm.runtime  # noqa: F401  (first: sets OMP_WAIT_POLICY, which must come before torch is loaded)

# isort: split
import argparse
import os
import time

import torch
from transformers import pipeline

from classification.joint import JointTagger, load_checkpoint
from small_lm.data import read_dataset_file
from small_lm.metrics import score_predictions


def pipeline_from_checkpoint(folder: str):
    """The checkpoint as it is inside HF's token-classification pipeline: ``JointModel`` is registered as a token
    classifier and its ``logits`` are the entity head's (the pipeline ignores the intent head's output)."""
    model, tokenizer, _ = load_checkpoint(folder)
    return pipeline("token-classification", model=model, tokenizer=tokenizer, aggregation_strategy="first", device=-1)


def timed(fn, repeats: int) -> tuple[float, object]:
    fn()  # warm-up
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="checkpoint folder from classification/train_bert.py")
    p.add_argument("--data", default="../shared/benchmarks/massive_calendar_dev.jsonl")
    p.add_argument("--split", default="test")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3, help="timed runs; the best is reported")
    args = p.parse_args()

    examples = read_dataset_file(args.data)[0][args.split]
    texts = [x["text"] for x in examples]
    print(f"load average {os.getloadavg()[0]:.2f}, torch threads {torch.get_num_threads()}, {len(texts)} emails")

    ner = pipeline_from_checkpoint(args.model)
    seconds, _ = timed(lambda: [ner(t) for t in texts], args.repeats)
    baseline = len(texts) / seconds
    print(f"{'pipeline, one email at a time':<46} {baseline:8.1f} emails/s   1.00x")

    reference = None
    for bf16 in (False, True):
        tagger = JointTagger.from_pretrained(args.model, bf16=bf16)
        seconds, predictions = timed(
            lambda tagger=tagger: tagger.predict(texts, batch_size=args.batch_size), args.repeats
        )
        score = score_predictions(examples, predictions, tagger.intents)["entity_f1"]
        reference = score if reference is None else reference
        name = f"infer_bert path, batch {args.batch_size} sorted, {'bf16 autocast' if bf16 else 'fp32'}"
        print(
            f"{name:<46} {len(texts) / seconds:8.1f} emails/s {len(texts) / seconds / baseline:6.2f}x   "
            f"entity micro-F1 {score:.4f} ({100 * (score - reference):+.2f} points)"
        )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
