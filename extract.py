"""Read a whole mail archive with a trained checkpoint: one output row per message, streamed, resumable, on all
cores, or on a Ray cluster.

    python extract.py trained_models/bert-demo inbox.mbox --output results/inbox.jsonl
    python extract.py trained_models/bert-demo Maildir/ saved-mail/ export.parquet --output results/all.parquet
    python extract.py trained_models/bert-demo archive.mbox --output out.parquet --workers 8
    python extract.py trained_models/bert-demo /shared/archive.mbox --output /shared/out.parquet --ray=auto

Inputs: mbox files, Maildir folders, folders of .eml files, .eml files, JSON lines with "text" (.jsonl) and
Parquet with a "text" column, read one message at a time as the infer scripts read them (small_lm/mail.py), so
memory stays flat whatever the archive's size.  --output is JSON lines (.jsonl) or Parquet (.parquet); a row:
{"source": {"file", "index" (mbox, Parquet) | "line" (JSON lines) | "key" (Maildir), "message_id"}, "intent",
"intent_score", "entities": [{"type", "text", "start", "end", "score"}]}, "error" for a message that cannot be
read (the others go on), "warning", and with --with-text the "text" the offsets index.

Resumable: the output is committed in parts of --part-size messages in FILE.parts/ (each written whole or not at
all, with a small state.json) and joined into FILE at the end.  Stopped (Ctrl-C, kill, reboot), the same command
continues where it was: no message is lost or written twice, and the output is the one an uninterrupted run writes.
--workers N runs N processes with a model each, on one thread each; --ray runs the same per-batch function over a
Ray Data actor pool (a local Ray, or the cluster at ADDRESS; needs `pip install -e '.[ray]'`).  The joint model
runs on ONNX Runtime int8 when the checkpoint's export allows it (as infer_bert.py: train_bert.py writes it), else
on ONNX fp32 or torch; a SmolLM2 checkpoint (causal_slms/) is read the same way, more slowly.
"""

from __future__ import annotations

import small_lm.runtime  # noqa: F401  (first: sets OMP_WAIT_POLICY, which must come before torch is loaded)

# isort: split
import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from causal_slms.slm import ModelError
from classification.checkpoint import CheckpointError
from extraction.local import Tally, WorkerError, run_local
from extraction.parts import FORMATS, Parts
from extraction.readers import KINDS_HELP, InParts, all_items, open_input
from extraction.rows import ModelSpec, resolve_backend
from small_lm.cli import CliError, HelpFormatter, exits_on
from small_lm.mail import InputError


def default_workers() -> int:
    from classification.onnx_backend import physical_cores

    return physical_cores()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("model", help="checkpoint folder (classification/train_bert.py or causal_slms/train_slm.py)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help=KINDS_HELP)
    p.add_argument("--output", required=True, metavar="FILE", help="where the rows go: .jsonl or .parquet")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output, or a stopped run of other arguments (a stopped run of the same "
                   "arguments is always continued)")  # fmt: skip
    p.add_argument("--with-text", action="store_true", help="add each message's text (what the offsets index)")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes, each with its own model on one thread (default: one per physical core)",
    )
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run on Ray Data: --ray starts a local Ray with --workers CPUs; --ray=ADDRESS (e.g. auto, "
                   "ray://head:10001) joins that cluster, with --workers actors")  # fmt: skip
    p.add_argument(
        "--backend",
        choices=("auto", "torch", "onnx", "onnx-int8"),
        default="auto",
        help="joint model, as infer_bert.py --backend: auto is int8 when the checkpoint's export allows it",
    )
    p.add_argument("--batch-size", type=int, default=None, help="messages per model call (default: 32; SLM 16)")
    p.add_argument(
        "--max-length",
        type=int,
        default=256,
        help="joint model: sub-words per window; a longer email is read in overlapping windows",
    )
    p.add_argument(
        "--part-size",
        type=int,
        default=256,
        metavar="N",
        help="messages per committed part: what a stopped run can lose and redo",
    )
    p.add_argument("--limit", type=int, metavar="N", help="only the first N messages of the inputs")
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if Path(args.output).suffix.lower() not in FORMATS:
        parser.error(f"--output {args.output}: name a .jsonl (JSON lines) or .parquet file")
    for name in ("workers", "batch_size", "part_size", "max_length", "limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if any(Path(i).resolve() == Path(args.output).resolve() for i in args.inputs):
        parser.error(f"--output {args.output} is one of the inputs")
    return args


def model_spec(args: argparse.Namespace) -> ModelSpec:
    from causal_slms.slm import FAMILY as SLM
    from taggers import family_of

    folder = Path(args.model)
    family = family_of(folder)  # a CheckpointError naming the folder if it is neither family's
    try:
        backend, why = resolve_backend(folder, family, args.backend)
    except ValueError as err:
        raise CliError(str(err)) from None
    print(f"backend: {backend} ({why})", file=sys.stderr)
    batch_size = args.batch_size or (16 if family == SLM else 32)
    return ModelSpec(str(folder.resolve()), family, backend, args.max_length, batch_size)


def fingerprint(args: argparse.Namespace, spec: ModelSpec, inputs: list) -> dict:
    """What makes two runs the same run: a stopped run is continued only by a command with all of these equal
    (--workers, --ray and --overwrite are not among them: they change how, not what)."""
    return {
        "model": spec.folder, "family": spec.family, "backend": spec.backend, "max_length": spec.max_length,
        "batch_size": spec.batch_size, "part_size": args.part_size, "limit": args.limit, "with_text": args.with_text,
        "weights": weights_identity(Path(spec.folder)), "inputs": [found.identity() for found in inputs],
    }  # fmt: skip


def weights_identity(folder: Path) -> list:
    """The checkpoint's weight files as they are now: retrained into the same folder, it is another model."""
    files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".onnx"))
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]


@exits_on(InputError, WorkerError, CheckpointError, ModelError, OSError)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    inputs = [open_input(given) for given in args.inputs]
    spec = model_spec(args)
    parts = Parts(Path(args.output), fingerprint(args, spec, inputs))
    resumed = parts.open(args.overwrite)
    try:
        return extract(args, spec, inputs, parts, resumed)
    except KeyboardInterrupt:
        print(f"\ninterrupted: what is done is in {parts.folder}; run the same command to continue", file=sys.stderr)
        return 130


def extract(args: argparse.Namespace, spec: ModelSpec, inputs: list, parts: Parts, resumed: bool) -> int:
    total = sum(found.count() for found in inputs)
    total = min(total, args.limit) if args.limit else total
    n_parts = -(-total // args.part_size)
    done = parts.done()
    before = sum(min(args.part_size, total - i * args.part_size) for i in done if i < n_parts)
    tally = Tally(parts_before=len(done), messages_before=before)
    if resumed:
        print(f"continuing the stopped run in {parts.folder}: {len(done)} of {n_parts} parts done", file=sys.stderr)
    workers = args.workers or default_workers()
    pending = InParts(all_items(inputs, args.limit), args.part_size, done.__contains__)
    started = time.perf_counter()
    where = f"Ray ({args.ray})" if args.ray else f"{workers} worker{'s' * (workers > 1)}"
    print(f"{total:,} messages in {n_parts:,} part{'s' * (n_parts != 1)} on {where}", file=sys.stderr)
    try:
        with tqdm(total=total, initial=tally.messages_before, unit="msg", dynamic_ncols=True, disable=None) as bar:
            tally.bar = bar
            if args.ray:
                from extraction.ray_data import run_ray

                run_ray(spec, parts, pending, workers, None if args.ray == "local" else args.ray, tally)
            else:
                run_local(spec, parts, pending, workers, tally)
    finally:
        tally.save(parts)  # counters for whoever looks in the folder; the part files are what counts
    parts.finish(pending.parts)
    seconds = time.perf_counter() - started
    earlier = f" ({tally.messages_before:,} by the stopped run before)" if tally.messages_before else ""
    errors = f", {tally.errors:,} with an error" if tally.errors else ""
    print(f"{tally.messages:,} messages{errors} in {seconds:.1f} s ({tally.messages / max(seconds, 1e-9):.1f}/s)"
          f"{earlier} -> {parts.output}", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
