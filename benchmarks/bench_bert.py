"""Emails/second for infer_bert.py's path (torch fp32, bf16 autocast, ONNX Runtime fp32 and int8) vs transformers'
token-classification pipeline, one email at a time, on the same checkpoint in the same run, plus the entity F1 of
each row and its cost against torch fp32, and each row's peak memory.

    python benchmarks/bench_bert.py trained_models/bert-demo     # MASSIVE dev: short voice commands
    python benchmarks/bench_bert.py trained_models/bert-demo --dataset ../shared/benchmarks/real_email_names_dev.jsonl

The ONNX files are the checkpoint's export (train_bert.py writes it; made here if missing).  ``--int8-choices`` adds
a row per way of quantizing (export_onnx.quantize): per-tensor or per-channel weights, and ONNX Runtime's default
nodes (every matrix product and the embeddings) or the export's, which keep the embeddings, the feed-forward output
projections and the heads in fp32.

Each row runs in a fresh process (so its peak resident memory is its own: imports, model, activations); the
emails are the same and every row but the pipeline's reads them in batches sorted by length.  ``--limit N`` reads
only the first N emails (a quick check that everything runs; not numbers to quote).
Run it on an idle machine: with 2 cores, any other busy process distorts the timings several-fold.
"""

from __future__ import annotations

import small_lm.runtime  # noqa: F401  (first: sets OMP_WAIT_POLICY, which must come before torch is loaded)

# isort: split
import argparse
import multiprocessing
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from transformers import pipeline

from classification.checkpoint import FAMILY, JointConfig
from classification.onnx_backend import ONNX_FILES, choose_backend, physical_cores
from small_lm.cli import HelpFormatter, add_option
from small_lm.data import read_dataset_file
from small_lm.metrics import score_predictions
from taggers import load_tagger

GOAL_SPEEDUP, GOAL_F1_POINTS = 12.0, 0.3  # issue 21: >= 12x the pipeline, <= 0.3 F1 points lost
INT8 = "infer_bert path, ONNX Runtime int8"
ROWS = {  # name: (backend, bf16); None is the pipeline
    "pipeline, one email at a time": None,
    "infer_bert path, torch fp32": ("torch", False),
    "infer_bert path, torch bf16 autocast": ("torch", True),
    "infer_bert path, ONNX Runtime fp32": ("onnx", False),
    INT8: ("onnx-int8", False),
}
INT8_CHOICES = {  # name: export_onnx.quantize's keywords; the fourth, the export's own, is the INT8 row
    "  int8: per-tensor, ORT's nodes": {"per_channel": False, "keep_fp32": False},
    "  int8: per-channel, ORT's nodes": {"per_channel": True, "keep_fp32": False},
    "  int8: per-tensor, export's nodes": {"per_channel": False, "keep_fp32": True},
}


def int8_variant(model: str, choice: dict, tmp: Path) -> str:
    """A checkpoint folder whose model.int8.onnx is quantized with ``choice`` (the rest linked to ``model``'s)."""
    from classification.export_onnx import _stamp, quantize
    from classification.onnx_backend import SOURCE_KEY, read_export_record

    folder = tmp / str(len(list(tmp.iterdir())))
    folder.mkdir()
    for path in Path(model).resolve().iterdir():
        if path.is_file() and path.name != ONNX_FILES["onnx-int8"]:
            (folder / path.name).symlink_to(path)
    quantize(folder / ONNX_FILES["onnx"], folder / ONNX_FILES["onnx-int8"], **choice)
    _stamp(folder / ONNX_FILES["onnx-int8"], read_export_record(model)[SOURCE_KEY])
    return str(folder)


def pipeline_from_checkpoint(folder: str):
    """The checkpoint as it is inside HF's token-classification pipeline: ``JointModel`` is registered as a token
    classifier and its ``logits`` are the entity head's (the pipeline ignores the intent head's output)."""
    tagger = load_tagger(folder, FAMILY, backend="torch")
    return pipeline(
        "token-classification", model=tagger.model, tokenizer=tagger.tokenizer, aggregation_strategy="first", device=-1
    )


def timed(fn, repeats: int) -> tuple[float, object]:
    fn()  # warm-up
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_rss_mib() -> float:
    """This process's peak resident memory.  VmHWM, not ``ru_maxrss``: Linux carries ``ru_maxrss`` over an exec,
    so a spawned child would report its parent's peak at fork time if that was higher."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024  # kB
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def run_row(row: tuple[str, bool] | None, model: str, texts: list[str], batch_size: int, repeats: int) -> dict:
    """One row, in its own process: best time of ``repeats`` runs after a warm-up, the predictions, peak memory."""
    if row is None:
        ner = pipeline_from_checkpoint(model)
        seconds, groups = timed(lambda: [ner(t) for t in texts], repeats)
        # the pipeline's entity groups in the shared format (it has no intent head)
        predictions = [
            {"intent": None, "entities": [{"type": g["entity_group"], "start": g["start"], "end": g["end"]} for g in e]}
            for e in groups
        ]
    else:
        backend, bf16 = row
        tagger = load_tagger(model, FAMILY, bf16=bf16, backend=backend)
        seconds, predictions = timed(lambda: tagger.predict(texts, batch_size=batch_size), repeats)
    return {"seconds": seconds, "predictions": predictions, "peak_mib": peak_rss_mib()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("model", help="checkpoint folder from classification/train_bert.py")
    add_option(p, "--dataset", aliases=["--data"], default="../shared/benchmarks/massive_calendar_dev.jsonl",
               help="dataset file or JSON lines of gold examples (default: %(default)s)")  # fmt: skip
    p.add_argument("--split", default="test")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3, help="timed runs; the best is reported")
    p.add_argument("--limit", type=int, help="only the first N emails (a quick check, not numbers to quote)")
    p.add_argument("--int8-choices", action="store_true", help="add a row per way of quantizing (see above)")
    args = p.parse_args(argv)

    examples = read_dataset_file(args.dataset)[0][args.split][: args.limit]
    texts = [x["text"] for x in examples]
    intents = JointConfig.from_pretrained(args.model).intents
    backend, why = choose_backend(args.model)
    if backend == "torch":  # no export of these weights
        from classification.export_onnx import export

        print(f"{args.model}: {why}: exporting (export_onnx.py)")
        export(args.model)
    rows = {name: (row, args.model) for name, row in ROWS.items()}
    tmp = tempfile.TemporaryDirectory(prefix="bench-int8-")
    if args.int8_choices:
        for name, choice in INT8_CHOICES.items():
            rows[name] = (("onnx-int8", False), int8_variant(args.model, choice, Path(tmp.name)))
    print(
        f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
        f"ONNX Runtime threads {physical_cores()}, {len(texts)} emails, best of {args.repeats}"
    )
    print(f"{'':<38} {'emails/s':>9} {'speed-up':>8} {'entity F1':>9} {'vs fp32':>8} {'peak RSS':>9} {'load':>5}")

    results, baseline, reference = {}, None, None
    spawn = multiprocessing.get_context("spawn")  # a fresh process per row: its peak memory is its own
    for name, (row, folder) in rows.items():
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            out = pool.submit(run_row, row, folder, texts, args.batch_size, args.repeats).result()
        rate = len(texts) / out["seconds"]
        f1 = score_predictions(examples, out["predictions"], intents)["entity_f1"]
        baseline = rate if baseline is None else baseline
        if row == ("torch", False):
            reference = f1
        delta = f"{100 * (f1 - reference):+7.2f}p" if reference is not None else ""
        results[name] = (rate / baseline, f1)
        print(
            f"{name:<38} {rate:9.1f} {rate / baseline:7.2f}x {f1:9.4f} {delta:>8} {out['peak_mib']:6.0f} MiB "
            f"{os.getloadavg()[0]:5.2f}",
            flush=True,
        )
    tmp.cleanup()
    speedup, f1 = results[INT8]
    lost = 100 * (reference - f1)
    verdict = "met" if speedup >= GOAL_SPEEDUP and lost <= GOAL_F1_POINTS else "not met"
    print(
        f"goal (>= {GOAL_SPEEDUP:.0f}x the pipeline, <= {GOAL_F1_POINTS} F1 points lost): ONNX int8 {speedup:.1f}x, "
        f"{lost:.2f} F1 points lost: {verdict}{' (--limit: not a measurement)' if args.limit else ''}"
    )
    print(f"load average {os.getloadavg()[0]:.2f} (an idle machine reads near 0; a busy one distorts the timings)")


if __name__ == "__main__":
    main()
