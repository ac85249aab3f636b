"""How joint checkpoints read real pages, arm against arm: each arm is one or more checkpoints (seeds) whose
figures are averaged, read with the BIO decoder and, with ``--argmax-too``, with each word's argmax (the decoding
of checkpoints before classification/bio_decoding.py).

    python benchmarks/bench_page.py new=trained_models/bert-a,trained_models/bert-b old=trained_models/bert-old

Per arm and decoding: NAME and EMAIL exact-span F1 on the shared real emails (``--real``); MASSIVE dev entity
micro-F1, token and exact (``--massive``); entity micro-F1 (token) on the test split of the dataset each checkpoint
was trained on; the issue's page fixture (tests/fixtures/mail/page.txt) against its expected answer; and the
entities, over all of these, that break the span contract (small_lm/io.py; it should print 0).  Each figure is the
mean over the arm's checkpoints, with the lowest and highest in brackets when there are several.
"""

from __future__ import annotations

import small_lm.runtime  # noqa: F401  (first: sets OMP_WAIT_POLICY, which must come before torch is loaded)

# isort: split
import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from classification.checkpoint import FAMILY
from classification.joint import JointTagger
from small_lm.cli import HelpFormatter
from small_lm.data import read_dataset_file, tokenize
from small_lm.mail import from_text, gold_messages, predict_messages
from small_lm.metrics import score_predictions
from taggers import load_tagger

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "tests" / "fixtures" / "mail" / "page.txt"
SHARED = Path("../shared/benchmarks")


def page_answer(tagger: JointTagger) -> tuple[int, int, int]:
    """(right, expected, wrong) entities of the tagger on the page fixture, by type and exact span."""
    text = PAGE.read_text(encoding="utf-8")
    expected, cursor = set(), 0
    for e in json.loads(PAGE.with_name("page.expected.json").read_text())["entities"]:
        start = text.index(e["text"], cursor)
        expected.add((e["type"], start, start + len(e["text"])))
        cursor = start + len(e["text"])
    (prediction,) = predict_messages(tagger, [from_text(text, {"file": str(PAGE)})])
    found = {(e["type"], e["start"], e["end"]) for e in prediction["entities"]}
    return len(found & expected), len(expected), len(found - expected)


def contract_breaks(predictions: list[dict[str, Any]]) -> int:
    """Entities that are not their slice of the text, cross a line break or stop inside a word."""
    broken = 0
    for p in predictions:
        words = tokenize(p["text"])
        starts, ends = {s for _, s, _ in words}, {e for _, _, e in words}
        for e in p["entities"]:
            text = p["text"][e["start"] : e["end"]]
            broken += text != e["text"] or "\n" in text or e["start"] not in starts or e["end"] not in ends
    return broken


def measure(
    folder: str, constrained: bool, sets: dict[str, list[dict]], batch_size: int, backend: str = "torch"
) -> dict[str, float]:
    tagger = load_tagger(folder, FAMILY, backend=backend)
    meta = tagger.meta
    if not constrained:  # the same weights read with each word's argmax
        tagger = JointTagger(tagger.model, tagger.tokenizer, meta, constrained=False)
    own = read_dataset_file(meta["dataset"])[0]["test"] if Path(meta.get("dataset") or "").is_file() else None
    row, broken = {}, 0
    for name, examples in [*sets.items(), *([("generated test", own)] if own else [])]:
        predictions = predict_messages(tagger, gold_messages(examples), batch_size=batch_size)
        metrics = score_predictions(examples, predictions, tagger.intents)
        exact, token = metrics["entities_exact"], metrics["entities"]
        if name == "real":
            row["real NAME"], row["real EMAIL"] = exact["NAME"]["f1"], exact["EMAIL"]["f1"]
        elif name == "massive":
            row["MASSIVE"], row["MASSIVE exact"] = token["micro"]["f1"], exact["micro"]["f1"]
        else:
            row["generated test"] = token["micro"]["f1"]
        broken += contract_breaks(predictions)
    right, expected, wrong = page_answer(tagger)
    row["page right"], row["page wrong"], row["contract breaks"] = right, wrong, broken
    print(f"  {folder} ({'BIO' if constrained else 'argmax'}): {json.dumps({k: round(v, 4) for k, v in row.items()})}")
    return row


def cell(values: list[float]) -> str:
    mean = statistics.mean(values)
    if all(float(v).is_integer() for v in values) and len(values) == 1:
        return f"{mean:.0f}"
    spread = f" ({min(values):.3f}-{max(values):.3f})" if len(values) > 1 else ""
    return f"{mean:.3f}{spread}" if mean <= 1 else f"{mean:.1f}{spread}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("arms", nargs="+", metavar="NAME=CKPT[,CKPT...]", help="an arm: its checkpoints (seeds)")
    p.add_argument("--real", default=str(SHARED / "real_email_names_dev.jsonl"), help="real emails (NAME, EMAIL)")
    p.add_argument("--massive", default=str(SHARED / "massive_calendar_dev.jsonl"), help="MASSIVE dev")
    p.add_argument("--argmax-too", action="store_true", help="also read each arm with per-word argmax decoding")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--backend",
        choices=["torch", "onnx", "onnx-int8"],
        default="torch",
        help="run every checkpoint on this backend (the ONNX ones need the export train_bert.py writes)",
    )
    p.add_argument("--output", type=Path, help="write the rows as JSON to this file")
    args = p.parse_args(argv)

    sets = {"real": read_dataset_file(args.real)[0]["test"], "massive": read_dataset_file(args.massive)[0]["test"]}
    rows: dict[str, dict[str, list[float]]] = {}
    for arm in args.arms:
        name, _, folders = arm.partition("=")
        for constrained in (True, False) if args.argmax_too else (True,):
            label = name + ("" if constrained else ", argmax decoding")
            for folder in folders.split(","):
                for key, value in measure(folder, constrained, sets, args.batch_size, args.backend).items():
                    rows.setdefault(label, {}).setdefault(key, []).append(value)
    columns = list(next(iter(rows.values())))
    print("\n| arm | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns))
    for label, row in rows.items():
        print(f"| {label} | " + " | ".join(cell(row[c]) for c in columns) + " |")
    if args.output:
        args.output.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
