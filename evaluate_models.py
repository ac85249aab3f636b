"""Score trained checkpoints of both families (joint BERT, causal SLM) the same way, on a dataset file or a
JSONL file of examples such as the MASSIVE benchmark, next to optional baselines.

    python evaluate_models.py trained_models/bert-demo trained_models/slm-demo \\
        --dataset ../shared/benchmarks/massive_calendar_dev.jsonl --output-dir results/massive-dev

A gold "text" may be a raw message with headers: the models read it as the infer scripts do, with transport and
MIME header lines blanked (small_lm/mail.py), and offsets still index the gold text.
Entities are scored two ways (small_lm/metrics.py), per type / micro / macro, precision, recall and F1:
  token  seqeval, IOB2, strict, on the gold example's own tokens: a predicted character span tags every gold
         token it touches, so a span that stops inside a token counts as the whole token ("today" for the gold
         token "today's" is right).  The figure the trainers select checkpoints by.
  exact  the predicted character span and type must equal the gold entity's ("today" for "today's" is wrong).
Intent: accuracy and confusion matrix over the examples whose gold intent the model knows (the rest are
counted as skipped).  SLM: share of valid answers and of strings not in the text.  Speed on this machine:
p50/p95 latency for one email, emails/second batched, size and parameters.  Writes metrics.json ("entities":
token, "entities_exact": exact), results.md, predictions-<model>.jsonl (worst first) and PNG plots into
--output-dir.
"""

from __future__ import annotations

import small_lm.runtime  # noqa: F401  (first: sets OMP_WAIT_POLICY, which must come before torch is loaded)

# isort: split
import argparse
import json
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from causal_slms.slm import FAMILY as SLM_FAMILY
from causal_slms.slm import SlmTagger
from classification.checkpoint import FAMILY as JOINT_FAMILY
from classification.onnx_backend import BACKENDS
from small_lm.cli import CliError, HelpFormatter, add_option, exits_on
from small_lm.data import DatasetError, bio_to_spans, read_dataset_file, token_offsets
from small_lm.mail import gold_messages, predict_messages, without_masked_lines
from small_lm.metrics import ScoringError, predicted_tags, score_predictions
from taggers import LoadError, family_of, load_tagger


class Tagger(Protocol):
    """What the evaluator needs from a model family (or a baseline)."""

    intents: list[str]

    def predict(self, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]: ...


@dataclass
class Candidate:
    name: str
    family: str
    tagger: Tagger
    folder: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_checkpoint(folder: Path, backend: str = "auto") -> Candidate:
    """A checkpoint of either family, loaded for inference (``taggers.load_tagger``; ``backend``: the joint
    model's, as infer_bert.py --backend).  Says on standard error which backend a joint model runs."""
    try:
        family = family_of(folder)
        tagger = load_tagger(folder, backend=backend)  # an SLM has one backend and ignores it
    except LoadError as err:
        raise CliError(str(err)) from None
    candidate = Candidate(folder.name, family, tagger, folder)
    if family == JOINT_FAMILY:
        print(f"{folder.name}: backend {tagger.backend} ({tagger.backend_reason})", file=sys.stderr)
        candidate.extra["backend"] = tagger.backend
    return candidate


class SpacyBaseline:
    """A spaCy pipeline, zero-shot: PERSON -> NAME, DATE, TIME, and email-like tokens -> EMAIL; no intent."""

    EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
    TYPES = {"PERSON": "NAME", "DATE": "DATE", "TIME": "TIME"}

    def __init__(self, name: str):
        import spacy

        self.nlp = spacy.load(name)
        self.intents: list[str] = []

    def predict(self, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
        out = []
        for text, doc in zip(texts, self.nlp.pipe(texts, batch_size=batch_size), strict=True):
            spans = [(self.TYPES[e.label_], e.start_char, e.end_char) for e in doc.ents if e.label_ in self.TYPES]
            spans += [("EMAIL", m.start(), m.end()) for m in self.EMAIL_RE.finditer(text)]
            entities = [{"type": t, "text": text[s:e], "start": s, "end": e, "score": None} for t, s, e in spans]
            out.append({"text": text, "intent": None, "intent_score": None, "entities": entities})
        return out


def score(candidate: Candidate, examples: list[dict], batch_size: int) -> tuple[dict[str, Any], list[dict]]:
    """Predict every example once (batched) and score entities, intents and, for SLMs, answer validity."""
    messages = gold_messages(examples)
    predictions = []
    for start in tqdm(range(0, len(messages), batch_size), desc=f"{candidate.name}: predicting", unit="batch"):
        predictions += predict_messages(candidate.tagger, messages[start : start + batch_size], batch_size=batch_size)
    gold_tags = [x["ner_tags"] for x in examples]
    pred_tags = predicted_tags(examples, predictions)
    scores = score_predictions(examples, predictions, candidate.tagger.intents, tags=pred_tags)
    metrics: dict[str, Any] = {
        "family": candidate.family,
        "entities": scores["entities"],  # token figure
        "entities_exact": scores["entities_exact"],  # exact character spans
        "intent": scores["intent"],
    }
    if candidate.family == SLM_FAMILY:
        metrics["answers"] = {
            "valid": sum(not p.get("error") for p in predictions) / len(predictions),
            "strings_not_in_text": sum(p.get("dropped", 0) for p in predictions),
            "entities_predicted": sum(len(p["entities"]) for p in predictions),
        }
    rows = [error_row(x, p, g, t) for x, p, g, t in zip(examples, predictions, gold_tags, pred_tags, strict=True)]
    rows.sort(key=lambda r: -r["errors"])
    return metrics, rows


def error_row(example: dict, prediction: dict, gold_tags: list[str], pred_tags: list[str]) -> dict[str, Any]:
    """Gold vs predicted for one example, compared on the gold tokens as seqeval does, worst first by errors."""
    offsets = token_offsets(example["text"], example["tokens"])
    gold = {(s.type, s.start, s.end) for s in bio_to_spans(offsets, gold_tags)}
    pred = {(s.type, s.start, s.end) for s in bio_to_spans(offsets, pred_tags)}
    intent_wrong = prediction["intent"] is not None and prediction["intent"] != example["intent"]
    text = example["text"]
    return {
        "id": example.get("id"),
        "text": text,
        "errors": len(gold ^ pred) + int(intent_wrong),
        "gold_intent": example["intent"],
        "predicted_intent": prediction["intent"],
        "gold_entities": [f"{text[s:e]} ({t})" for t, s, e in sorted(gold, key=lambda g: g[1])],
        "predicted_entities": [f"{e['text']} ({e['type']})" for e in prediction["entities"]],
        "missed": sorted(f"{text[s:e]} ({t})" for t, s, e in gold - pred),
        "spurious": sorted(f"{text[s:e]} ({t})" for t, s, e in pred - gold),
        **({"error": prediction["error"]} if prediction.get("error") else {}),
    }


def measure_speed(candidate: Candidate, texts: list[str], batch_size: int, n_single: int) -> dict[str, Any]:
    """p50/p95 latency of one email at a time, batched throughput, and the model's size."""
    candidate.tagger.predict(texts[:2], batch_size=2)  # warm-up: first calls allocate and pick kernels
    latencies = []
    for text in tqdm(texts[:n_single], desc=f"{candidate.name}: latency", unit="email"):
        start = time.perf_counter()
        candidate.tagger.predict([text], batch_size=1)
        latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    candidate.tagger.predict(texts, batch_size=batch_size)
    batched = len(texts) / (time.perf_counter() - start)
    latencies.sort()
    speed = {
        "latency_p50_ms": 1000 * statistics.median(latencies),
        "latency_p95_ms": 1000 * latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
        "emails_per_second_batched": batched,
        "batch_size": batch_size,
        "load_average": os.getloadavg()[0],
    }
    model = getattr(candidate.tagger, "model", None)
    if model is not None:
        speed["parameters"] = sum(p.numel() for p in model.parameters())
    if candidate.folder is not None:
        speed["size_mb"] = sum(f.stat().st_size for f in candidate.folder.glob("*.safetensors")) / 1e6
    return speed


ENTITY_NOTE = (
    "Entities are scored two ways. **token**: seqeval (IOB2, strict) on the gold example's own tokens, where a "
    "predicted span counts for every gold token it touches, so a span that stops inside a token is forgiven "
    '("today" for the gold token "today\'s" is right); the figure the trainers select checkpoints by. **exact**: '
    "the predicted character span and type must equal the gold entity's. Per-type cells: token / exact F1."
)


def markdown_table(results: dict[str, dict[str, Any]], data: str) -> str:
    types = sorted({t for r in results.values() for t in r["entities"] if t not in ("micro", "macro", "weighted")})
    header = [
        "model",
        "family",
        "entity P",
        "entity R",
        "entity micro-F1 (token)",
        "exact P",
        "exact R",
        "exact micro-F1",
        "macro-F1 (token)",
        *[f"F1 {t}" for t in types],
        "intent acc",
        "intent n",
        "valid answers",
        "p50 ms",
        "emails/s",
    ]
    lines = [f"Data: `{data}`", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in results.items():
        e, x, i, s = r["entities"], r["entities_exact"], r["intent"], r.get("speed", {})
        cells = [
            name,
            r["family"],
            f"{e['micro']['precision']:.3f}",
            f"{e['micro']['recall']:.3f}",
            f"**{e['micro']['f1']:.3f}**",
            f"{x['micro']['precision']:.3f}",
            f"{x['micro']['recall']:.3f}",
            f"**{x['micro']['f1']:.3f}**",
            f"{e['macro']['f1']:.3f}",
            *[f"{e[t]['f1']:.3f} / {x.get(t, {}).get('f1', 0.0):.3f}" if t in e else "-" for t in types],
            f"{i['accuracy']:.3f}" if i["accuracy"] is not None else "-",
            str(i["evaluated"]),
            f"{r['answers']['valid']:.3f}" if "answers" in r else "-",
            f"{s['latency_p50_ms']:.1f}" if s else "-",
            f"{s['emails_per_second_batched']:.0f}" if s else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", ENTITY_NOTE]
    skipped = {n: r["intent"]["skipped"] for n, r in results.items() if r["intent"]["skipped"]}
    if skipped:
        lines += [
            "",
            "Intent accuracy skips examples whose gold intent the model does not know: "
            + "; ".join(f"{n}: {s}" for n, s in skipped.items()),
        ]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, dict[str, Any]], out: Path) -> list[Path]:
    """Per-type F1 by model, intent confusion matrices, and F1 vs latency, as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    names = list(results)
    types = sorted({t for r in results.values() for t in r["entities"] if t not in ("micro", "macro", "weighted")})
    fig, ax = plt.subplots(figsize=(1.8 + 1.4 * len(types + ["micro"]), 3.6))
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        values = [results[name]["entities"].get(t, {}).get("f1", 0.0) for t in types + ["micro"]]
        ax.bar([i + k * width for i in range(len(values))], values, width, label=name)
    ax.set_xticks([i + width * (len(names) - 1) / 2 for i in range(len(types) + 1)], types + ["micro"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1")
    ax.set_title("Entity F1 by type")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "entity_f1.png", dpi=120)
    written.append(out / "entity_f1.png")
    plt.close(fig)

    with_intents = [n for n in names if results[n]["intent"]["evaluated"]]
    if with_intents:
        fig, axes = plt.subplots(1, len(with_intents), figsize=(3.6 * len(with_intents), 3.4), squeeze=False)
        for ax, name in zip(axes[0], with_intents, strict=True):
            confusion = results[name]["intent"]["confusion"]
            rows, cols = list(confusion), list(next(iter(confusion.values())))
            matrix = [[confusion[r][c] for c in cols] for r in rows]
            ax.imshow(matrix, cmap="Blues")
            for i, row in enumerate(matrix):
                for j, v in enumerate(row):
                    ax.text(j, i, str(v), ha="center", va="center")
            ax.set_xticks(range(len(cols)), cols, rotation=30)
            ax.set_yticks(range(len(rows)), rows)
            ax.set_xlabel("predicted")
            ax.set_ylabel("gold")
            ax.set_title(name, fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "intent_confusion.png", dpi=120)
        written.append(out / "intent_confusion.png")
        plt.close(fig)

    timed = [n for n in names if "speed" in results[n]]
    if timed:
        fig, ax = plt.subplots(figsize=(5, 3.6))
        for name in timed:
            x, y = results[name]["speed"]["latency_p50_ms"], results[name]["entities"]["micro"]["f1"]
            ax.scatter(x, y)
            ax.annotate(name, (x, y), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("p50 latency, one email (ms, log)")
        ax.set_ylabel("entity micro-F1")
        ax.set_ylim(0, 1)
        ax.set_title("F1 vs latency")
        fig.tight_layout()
        fig.savefig(out / "f1_vs_latency.png", dpi=120)
        written.append(out / "f1_vs_latency.png")
        plt.close(fig)
    return written


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("models", nargs="*", type=Path, help="checkpoint folders (either family)")
    add_option(
        p,
        "--dataset",
        aliases=["--data"],
        metavar="FILE",
        required=True,
        help="gold examples: a dataset file from datasets/ or a JSONL file of examples",
    )
    p.add_argument("--split", default="test", help="split of a dataset file (a JSONL file is one 'test' split)")
    add_option(
        p,
        "--output-dir",
        aliases=["--out"],
        metavar="DIR",
        type=Path,
        help="output folder (default: results/<FILE's name>)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="emails per inference batch")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="joint models, as infer_bert.py --backend: auto is int8 where the checkpoint's export allows it",
    )
    p.add_argument("--limit", type=int, help="score only the first N examples")
    p.add_argument("--no-speed", action="store_true", help="skip the latency and throughput measurements")
    p.add_argument("--latency-emails", type=int, default=50, help="emails timed one at a time for p50/p95")
    p.add_argument("--baseline-spacy", metavar="NAME", help="add a zero-shot spaCy pipeline, e.g. en_core_web_sm")
    p.add_argument(
        "--baseline-zero-shot-slm",
        metavar="MODEL",
        help="add an untrained causal LM, zero-shot, e.g. HuggingFaceTB/SmolLM2-135M-Instruct",
    )
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def evaluate(argv: list[str] | None = None) -> dict[str, Any]:
    """Score the models; their metrics by name.  Runtime errors raise (``main`` reports them)."""
    args = parse_args(argv)
    splits, info = read_dataset_file(args.dataset)
    if args.split not in splits:
        raise CliError(f"{args.dataset} has no split {args.split!r}; it has {sorted(splits)}")
    examples = splits[args.split][: args.limit]
    if not examples:  # seqeval cannot score nothing; say so before any model loads
        raise CliError(f"{args.dataset}: no examples to score in split {args.split!r} (an empty file?)")
    out = args.output_dir or Path("results") / Path(args.dataset).stem

    candidates = [load_checkpoint(folder, args.backend) for folder in args.models]
    if args.baseline_spacy:
        candidates.append(
            Candidate(f"spacy:{args.baseline_spacy}", "spacy (zero-shot)", SpacyBaseline(args.baseline_spacy))
        )
    if args.baseline_zero_shot_slm:
        # The baseline answers the same task as the trained models: their intents when there are any.
        intents = candidates[0].tagger.intents if candidates else info.intents
        tagger = SlmTagger.zero_shot(args.baseline_zero_shot_slm, info.entity_types, list(intents))
        candidates.append(Candidate(f"zero-shot:{Path(args.baseline_zero_shot_slm).name}", SLM_FAMILY, tagger))
    if not candidates:
        raise CliError("name at least one model folder or baseline")
    out.mkdir(parents=True, exist_ok=True)

    results: dict[str, dict[str, Any]] = {}
    for candidate in candidates:
        unknown = sorted(set(info.entity_types) - set(getattr(candidate.tagger, "entity_types", info.entity_types)))
        if unknown:  # scored all the same: the model simply never finds them, which the table should show
            print(
                f"warning: {candidate.name} was not trained on entity types {unknown} that {args.dataset} holds; "
                "they count as missed",
                file=sys.stderr,
            )
        metrics, rows = score(candidate, examples, args.batch_size)
        metrics.update(candidate.extra)  # how it ran: the joint model's backend
        if not args.no_speed:
            metrics["speed"] = measure_speed(
                candidate,
                [without_masked_lines(m.view)[0] for m in gold_messages(examples)],  # what the model reads
                args.batch_size,
                args.latency_emails,
            )
        results[candidate.name] = metrics
        safe = re.sub(r"[^\w.-]+", "_", candidate.name)
        with open(out / f"predictions-{safe}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)

    table = markdown_table(results, args.dataset)
    (out / "metrics.json").write_text(
        json.dumps({"data": args.dataset, "split": args.split, "examples": len(examples), "models": results}, indent=1)
    )
    (out / "results.md").write_text(table)
    plots = plot(results, out)
    print(table)
    print(f"wrote {out}/metrics.json, results.md, predictions-*.jsonl, {', '.join(p.name for p in plots)}")
    return results


@exits_on(DatasetError, *LoadError, ScoringError)
def main(argv: list[str] | None = None) -> int:
    evaluate(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
