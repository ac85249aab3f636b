"""Emails per second: infer_slm.py's decoding against ``model.generate`` one email at a time, same checkpoint.

The fast path (``SlmTagger.predict``) sorts emails by length, runs them in batches, computes the system prompt's
keys/values once and shares them, and constrains the answer to the JSON grammar.  The baseline is what anyone
would write first: ``model.generate`` with the checkpoint's default (greedy) generation config on the full prompt,
one email at a time, its answer parsed and located the same way.  Both run in the same process on the same
weights; the script reports whether the predictions (intent and entity spans) are unchanged, and the load
average, since other jobs on the machine skew the numbers.  Each fast path also runs without the grammar (plain
greedy, like the baseline), which tells answers changed by batching and bf16 rounding apart from answers the
grammar overruled.

    python benchmarks/bench_slm.py trained_models/slm-demo-... --data datasets/demo.json --limit 20
    python benchmarks/bench_slm.py trained_models/slm-demo-... --data emails.txt --dtypes float32 bfloat16
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import partial
from pathlib import Path

import torch

from causal_slms.slm import ModelError, SlmTagger, build_prediction, parse_answer
from small_lm.data import DatasetError, read_dataset_file
from small_lm.mail import InputError, read_messages

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def load_emails(path: str, limit: int) -> list[str]:
    """Texts of a dataset file's test split (or of a plain emails file), at most ``limit``."""
    if path.endswith((".json", ".jsonl")):
        try:
            splits, _ = read_dataset_file(path)
            examples = splits.get("test") or next(iter(splits.values()))
            return [x["text"] for x in examples][:limit]
        except DatasetError:
            pass  # not a dataset file: read it as emails
    return [m.view for m in read_messages([], path) if m.error is None][:limit]


def baseline(tagger: SlmTagger, emails: list[str]) -> list[dict]:
    """``model.generate`` per email with the checkpoint's generation config, read back like infer_slm does."""
    config, chat, model = tagger.config, tagger.chat, tagger.model
    predictions = []
    for email in emails:
        ids, _ = chat.email_ids(email, config.max_email_tokens)
        input_ids = torch.tensor([chat.prefix + ids], device=model.device)
        with torch.no_grad():
            output = model.generate(input_ids, attention_mask=torch.ones_like(input_ids))
        answer = tagger.tokenizer.decode(output[0, input_ids.shape[1] :], skip_special_tokens=True)
        parsed = parse_answer(answer, config.intents, config.entity_types)
        predictions.append(build_prediction(email, parsed, parsed.errors, []))
    return predictions


def same(a: dict, b: dict) -> bool:
    spans = [[(e["type"], e["start"], e["end"]) for e in p["entities"]] for p in (a, b)]
    return a["intent"] == b["intent"] and spans[0] == spans[1]


def timed(fn, *args) -> tuple[list[dict], float, float]:
    """Result, wall seconds and CPU seconds of this process (all threads).

    Other jobs on a shared machine stretch wall time but hardly the CPU time a computation needs, so both are
    reported; speed-ups are given for each.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="checkpoint folder written by causal_slms/train_slm.py")
    parser.add_argument("--data", required=True, help="dataset file (test split is used) or emails file")
    parser.add_argument("--limit", type=int, default=20, help="emails to time (default: 20)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size of the fast path (default: 16)")
    parser.add_argument(
        "--dtypes", nargs="+", choices=sorted(DTYPES), default=["float32"], help="weights for the fast path"
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="where the model runs (default: cpu)")
    parser.add_argument("--json-out", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        emails = load_emails(args.data, args.limit)
        tagger = SlmTagger.from_pretrained(args.model, device=args.device)
    except (InputError, ModelError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if not emails:
        print(f"error: no emails in {args.data}", file=sys.stderr)
        return 1
    load_before = os.getloadavg()
    print(f"{len(emails)} emails, {torch.get_num_threads()} torch threads, load average {load_before}", file=sys.stderr)

    # Warm both paths on one email (token tables, first-call allocations), then time them.
    tagger.predict(emails[:1])
    baseline(tagger, emails[:1])
    n = len(emails)
    reference, wall, cpu = timed(baseline, tagger, emails)
    results = {"emails": n, "baseline": {"emails_per_s": n / wall, "seconds": wall, "cpu_seconds": cpu}}
    print(f"model.generate, one at a time: {n / wall:.2f} emails/s ({wall:.1f} s wall, {cpu:.1f} s CPU)")
    for name, constrained in [(name, c) for name in args.dtypes for c in (True, False)]:
        tagger.model.to(DTYPES[name])
        predict = partial(tagger.predict, batch_size=args.batch_size, constrained=constrained)
        predictions, wall, cpu = timed(predict, emails)
        unchanged = sum(same(p, r) for p, r in zip(predictions, reference, strict=True))
        speedup = results["baseline"]["seconds"] / wall
        cpu_speedup = results["baseline"]["cpu_seconds"] / cpu
        results[f"fast_{name}" + ("" if constrained else "_no_grammar")] = {
            "emails_per_s": n / wall,
            "seconds": wall,
            "cpu_seconds": cpu,
            "speedup": speedup,
            "cpu_speedup": cpu_speedup,
            "unchanged": unchanged,
            "batch_size": args.batch_size,
        }
        print(
            f"infer_slm path ({name}, batch {args.batch_size}, shared prompt cache, "
            f"{'grammar' if constrained else 'no grammar'}): "
            f"{n / wall:.2f} emails/s ({wall:.1f} s wall, {cpu:.1f} s CPU): {speedup:.1f}x wall, "
            f"{cpu_speedup:.1f}x CPU; predictions unchanged for {unchanged}/{n}"
        )
    results["load_average"] = {"before": load_before, "after": os.getloadavg()}
    print(f"load average before {load_before}, after {results['load_average']['after']}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
