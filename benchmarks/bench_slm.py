"""Emails per second: infer_slm.py's decoding against ``model.generate``, one email at a time and batched.

The fast path (``SlmTagger.predict``) sorts emails by length, runs them in batches, computes the system prompt's
keys/values once and shares them, constrains the answer to the JSON grammar and, by default, drafts tokens from
the email itself (speculative decoding: prompt lookup, checked in the same forward pass; see
causal_slms/decoding.py).  Two baselines are what anyone would write first, with the checkpoint's default
(greedy) generation config on the full prompt and the answer parsed and located the same way:

* ``model.generate`` one email at a time;
* ``model.generate`` in batches of 16 (``--baseline-batch``), left padding, emails sorted by length so that
  batches pad little, no grammar.

Everything runs in the same process on the same weights.  For every fast-path row the script reports how many
predictions (intent and entity spans) are unchanged against each baseline, the share of drafted tokens that
were accepted, the peak memory and the load average, since other jobs on the machine skew the numbers.  Each fast
path also runs without the grammar (plain greedy, like the baselines) and without drafts, which tells answers
changed by batching and rounding apart from answers the grammar overruled, and shows what the drafts are worth.
``--latency N`` also times the first N emails one at a time through the fast path (p50/p95, with and without
drafts).  ``--show-changed`` prints the answers that differ from one-by-one ``model.generate``.

    python benchmarks/bench_slm.py trained_models/slm-demo-... --dataset datasets/demo.json --limit 20
    python benchmarks/bench_slm.py trained_models/slm-demo-... --dataset emails.txt --dtypes float32 bfloat16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import torch

from causal_slms import decoding, slm
from causal_slms.decoding import AnswerGrammar
from causal_slms.slm import DTYPES, FAMILY, SlmTagger, build_prediction, parse_answer
from small_lm.cli import HelpFormatter, add_option
from small_lm.data import DatasetError, read_dataset_file
from small_lm.mail import InputError, read_messages
from taggers import LoadError, load_tagger


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


def _read_back(tagger: SlmTagger, email: str, answer: str) -> dict:
    config = tagger.config
    parsed = parse_answer(answer, config.intents, config.entity_types)
    prediction = build_prediction(email, parsed, parsed.errors, [])
    prediction["answer"] = answer
    return prediction


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
        predictions.append(_read_back(tagger, email, answer))
    return predictions


def batched_baseline(tagger: SlmTagger, emails: list[str], batch_size: int) -> list[dict]:
    """``model.generate`` on batches of ``batch_size`` prompts (sorted by length, left padding), greedy as the
    checkpoint's generation config says, no grammar; read back like ``baseline``."""
    config, chat, model = tagger.config, tagger.chat, tagger.model
    pad = tagger.tokenizer.pad_token_id if tagger.tokenizer.pad_token_id is not None else 0
    prompts = [chat.prefix + chat.email_ids(email, config.max_email_tokens)[0] for email in emails]
    answers: list[str] = [""] * len(emails)
    order = sorted(range(len(emails)), key=lambda i: -len(prompts[i]))
    for start in range(0, len(order), batch_size):
        group = order[start : start + batch_size]
        width = max(len(prompts[i]) for i in group)
        input_ids = torch.full((len(group), width), pad, dtype=torch.long)
        mask = torch.zeros((len(group), width), dtype=torch.long)
        for row, i in enumerate(group):
            input_ids[row, width - len(prompts[i]) :] = torch.tensor(prompts[i])
            mask[row, width - len(prompts[i]) :] = 1
        with torch.no_grad():
            output = model.generate(input_ids.to(model.device), attention_mask=mask.to(model.device), do_sample=False)
        for row, i in enumerate(group):
            answers[i] = tagger.tokenizer.decode(output[row, width:], skip_special_tokens=True)
    return [_read_back(tagger, email, answer) for email, answer in zip(emails, answers, strict=True)]


def explain(tagger: SlmTagger, email: str, answer: str) -> str:
    """Why the answer grammar would not let ``answer`` (a free model's) be written: the first character it
    refuses and the rule behind it, or that it takes the whole answer (then only numbers can tell the paths apart)."""
    visible = tagger.chat.email_ids(email, tagger.config.max_email_tokens)[1]  # what the baseline read
    grammar = AnswerGrammar(tagger.config.intents, tagger.config.entity_types, visible)
    state = grammar.start()
    for pos, char in enumerate(answer):
        new = grammar.feed(state, char)
        if new is None:
            where = f"refuses {char!r} at character {pos} after {answer[max(0, pos - 40) : pos]!r} ({state.mode} mode)"
            if state.mode == "after" and char == ",":
                last = state.texts[-1]
                return (
                    f"{where}: the list must end, entity text {last!r} written {state.texts.count(last)} times, "
                    f"{grammar.escaped_email.count(last)} in the email; {len(state.texts)} entities, "
                    f"limit {grammar.max_entities}"
                )
            if state.mode == "end":
                return f"{where}: the answer goes on after its closing brace"
            return where
        state = new
    if not grammar.is_final(state):
        return f"the free answer stops before the JSON is complete ({state.mode} mode)"
    return "the grammar takes the free answer whole: the paths differ by arithmetic (a near-tie), not the grammar"


def same(a: dict, b: dict) -> bool:
    spans = [[(e["type"], e["start"], e["end"]) for e in p["entities"]] for p in (a, b)]
    return a["intent"] == b["intent"] and spans[0] == spans[1]


@contextmanager
def drafting(draft_tokens: int, stats: dict):
    """``SlmTagger.predict`` with ``draft_tokens`` per step (0: none), counting steps and drafts into ``stats``."""
    plain = slm.generate

    def generate(*args, **kwargs):
        return plain(*args, **kwargs, draft_tokens=draft_tokens, stats=stats)

    slm.generate = generate
    try:
        yield
    finally:
        slm.generate = plain


class PeakMemory:
    """Peak memory of what runs inside: allocated GPU memory on CUDA, else the process's peak resident set (Linux
    ``VmHWM``, reset on entry where the kernel allows; it includes the weights)."""

    def __init__(self, device: torch.device):
        self.device, self.mib, self.what = device, float("nan"), "peak RSS"

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.what = "peak GPU memory"
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            except OSError:
                self.what = "peak RSS of the process so far"
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mib = torch.cuda.max_memory_allocated(self.device) / 2**20
            return
        try:
            status = Path("/proc/self/status").read_text()
            self.mib = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024
        except (OSError, StopIteration, ValueError):
            import resource

            self.mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, *args, device: torch.device | None = None) -> tuple[list[dict], float, float, PeakMemory]:
    """Result, wall seconds and CPU seconds of this process (all threads), and the peak memory.

    Other jobs on a shared machine stretch wall time but hardly the CPU time a computation needs, so both are
    reported; speed-ups are given for each.
    """
    with PeakMemory(device or torch.device("cpu")) as memory:
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn(*args)
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return result, wall, cpu, memory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("model", help="checkpoint folder written by causal_slms/train_slm.py")
    add_option(
        parser, "--dataset", aliases=["--data"], required=True, help="dataset file (test split is used) or emails file"
    )
    parser.add_argument("--limit", type=int, default=20, help="emails to time (default: 20)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size of the fast path (default: 16)")
    parser.add_argument(
        "--baseline-batch", type=int, default=16, help="batch size of batched model.generate (default: 16; 0: skip)"
    )
    parser.add_argument(
        "--draft-tokens",
        type=int,
        default=decoding.DRAFT_TOKENS,
        help=f"draft tokens per step of the speculative rows (default: {decoding.DRAFT_TOKENS})",
    )
    parser.add_argument(
        "--dtypes", nargs="+", choices=sorted(DTYPES), default=["float32"], help="weights for the fast path"
    )
    parser.add_argument("--latency", type=int, default=0, help="also time this many emails one at a time (p50)")
    parser.add_argument("--show-changed", action="store_true", help="print answers that differ from the baseline")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="where the model runs (default: cpu)")
    add_option(parser, "--output", aliases=["--json-out"], help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        emails = load_emails(args.dataset, args.limit)
        tagger = load_tagger(args.model, FAMILY, device=args.device)
    except (InputError, *LoadError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if not emails:
        print(f"error: no emails in {args.dataset}", file=sys.stderr)
        return 1
    device = tagger.model.device
    load_before = os.getloadavg()
    print(f"{len(emails)} emails, {torch.get_num_threads()} torch threads, load average {load_before}", file=sys.stderr)

    # Warm every path on one email (token tables, first-call allocations), then time them.
    tagger.predict(emails[:1])
    baseline(tagger, emails[:1])
    n = len(emails)
    reference, wall, cpu, memory = timed(baseline, tagger, emails, device=device)
    results: dict = {"emails": n}
    results["baseline"] = {"emails_per_s": n / wall, "seconds": wall, "cpu_seconds": cpu, "peak_mib": memory.mib}
    print(
        f"model.generate, one at a time: {n / wall:.2f} emails/s ({wall:.1f} s wall, {cpu:.1f} s CPU; "
        f"{memory.what} {memory.mib:.0f} MiB)"
    )
    references = {"one at a time": reference}
    if args.baseline_batch:
        batched_baseline(tagger, emails[:2], args.baseline_batch)
        batched, wall, cpu, memory = timed(batched_baseline, tagger, emails, args.baseline_batch, device=device)
        agree = sum(same(p, r) for p, r in zip(batched, reference, strict=True))
        results["baseline_batched"] = {
            "emails_per_s": n / wall,
            "seconds": wall,
            "cpu_seconds": cpu,
            "peak_mib": memory.mib,
            "batch_size": args.baseline_batch,
            "unchanged_vs_one_at_a_time": agree,
        }
        references["batched"] = batched
        print(
            f"model.generate, batch {args.baseline_batch}, left padding, sorted by length: {n / wall:.2f} emails/s "
            f"({wall:.1f} s wall, {cpu:.1f} s CPU; {memory.what} {memory.mib:.0f} MiB); "
            f"predictions equal to one at a time for {agree}/{n}"
        )
    for name in args.dtypes:
        tagger.model.to(DTYPES[name])
        for constrained in (True, False):
            for draft_tokens in (args.draft_tokens, 0):
                key = f"fast_{name}" + ("" if constrained else "_no_grammar") + ("" if draft_tokens else "_no_drafts")
                stats: dict = {}
                with drafting(draft_tokens, stats):
                    tagger.predict(emails[:1], batch_size=args.batch_size, constrained=constrained)  # warm
                    stats.clear()
                    predict = partial(tagger.predict, batch_size=args.batch_size, constrained=constrained, debug=True)
                    predictions, wall, cpu, memory = timed(predict, emails, device=device)
                row = {
                    "emails_per_s": n / wall,
                    "seconds": wall,
                    "cpu_seconds": cpu,
                    "peak_mib": memory.mib,
                    "batch_size": args.batch_size,
                    "draft_tokens": draft_tokens,
                    "forward_steps": stats.get("steps", 0),
                    "drafted": stats.get("drafted", 0),
                    "accepted": stats.get("accepted", 0),
                    "acceptance": stats["accepted"] / stats["drafted"] if stats.get("drafted") else None,
                }
                compared = []
                for ref_name, ref in references.items():
                    base = results["baseline" if ref_name == "one at a time" else "baseline_batched"]
                    unchanged = sum(same(p, r) for p, r in zip(predictions, ref, strict=True))
                    suffix = "" if ref_name == "one at a time" else "_batched"
                    row["unchanged" + suffix] = unchanged
                    row["speedup" + suffix] = base["seconds"] / wall
                    row["cpu_speedup" + suffix] = base["cpu_seconds"] / cpu
                    compared.append(
                        f"vs {ref_name}: {row['speedup' + suffix]:.1f}x wall, {row['cpu_speedup' + suffix]:.1f}x CPU, "
                        f"unchanged {unchanged}/{n}"
                    )
                results[key] = row
                drafts = (
                    f"drafts of up to {draft_tokens}: {row['accepted']}/{row['drafted']} accepted"
                    + (f" ({row['acceptance']:.0%})" if row["acceptance"] is not None else "")
                    + f", {row['forward_steps']} forward steps"
                    if draft_tokens
                    else "no drafts"
                )
                print(
                    f"infer_slm path ({name}, batch {args.batch_size}, shared prompt cache, "
                    f"{'grammar' if constrained else 'no grammar'}, {drafts}): "
                    f"{n / wall:.2f} emails/s ({wall:.1f} s wall, {cpu:.1f} s CPU; "
                    f"{memory.what} {memory.mib:.0f} MiB); " + "; ".join(compared)
                )
                if args.show_changed:
                    for email, p, r in zip(emails, predictions, reference, strict=True):
                        if not same(p, r):
                            answer = p["answer"] if isinstance(p["answer"], str) else " | ".join(p["answer"])
                            print(f"  changed: {email[:60]!r}\n    generate: {r['answer'][:300]!r}")
                            print(f"    ours:     {answer[:300]!r} (grammar overruled {p.get('overruled')} steps)")
                            if constrained:
                                print(f"    why: {explain(tagger, email, r['answer'])}")
        if args.latency:
            for draft_tokens in (args.draft_tokens, 0):
                latencies = []
                with drafting(draft_tokens, {}):
                    for email in emails[: args.latency]:
                        _, wall, _, _ = timed(lambda e=email: tagger.predict([e], batch_size=1), device=device)
                        latencies.append(wall)
                latencies.sort()
                key = f"latency_{name}" + ("" if draft_tokens else "_no_drafts")
                results[key] = {
                    "p50_s": statistics.median(latencies),
                    "p95_s": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
                    "emails": len(latencies),
                    "draft_tokens": draft_tokens,
                }
                print(
                    f"infer_slm path ({name}), one email at a time, {'drafts' if draft_tokens else 'no drafts'}: "
                    f"p50 {results[key]['p50_s']:.3f} s, p95 {results[key]['p95_s']:.3f} s over {len(latencies)} emails"
                )
    results["load_average"] = {"before": load_before, "after": os.getloadavg()}
    print(f"load average before {load_before}, after {results['load_average']['after']}")
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
