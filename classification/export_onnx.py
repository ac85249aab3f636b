"""Export a joint checkpoint to ONNX for ONNX Runtime: ``model.onnx`` (fp32) and ``model.int8.onnx`` beside the
weights, and ``onnx_export.json``, the record that lets infer_bert.py, evaluate_models.py and serve.py pick int8
without being asked.  train_bert.py runs this at the end of training; run it by hand for an older checkpoint.

    python classification/export_onnx.py trained_models/bert-demo
    python classification/export_onnx.py trained_models/bert-demo --dataset datasets/demo.json   # measure on it

The graph comes from ``torch.onnx.export`` (the dynamo exporter) of the checkpoint's ``JointModel``: inputs
``input_ids``, ``attention_mask`` (and ``shape_ids`` for a model that reads word shapes), int64, batch x length;
outputs ``logits`` (the entity head, per sub-word) and ``intent_logits``.

int8 is ONNX Runtime's dynamic quantization (weights int8, activations quantized per batch as they come), with
the choices ``benchmarks/bench_bert.py`` measured (docs/speed.md): the weights of the encoder's matrix products,
per output channel (a scale per column instead of one per matrix); and in fp32 what int8 does not pay for
(``fp32_nodes`` says which and why).  The export then measures int8 against fp32 on the checkpoint's validation
split (entity F1 and intent accuracy) and records the cost; ``choose_backend`` runs int8 only within budget.
Each file records the SHA-256 of the ``model.safetensors`` it was exported from, so an export left behind by
retraining is refused rather than silently run.
"""

from __future__ import annotations

import small_lm.runtime  # noqa: F401  (first: sets OMP_WAIT_POLICY, which must come before torch is loaded)

# isort: split
import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from classification.checkpoint import WEIGHTS_FILE, CheckpointError
from classification.joint import JointTagger, load_checkpoint
from classification.onnx_backend import (
    EXPORT_RECORD,
    ONNX_FILES,
    OUTPUT_NAMES,
    SOURCE_KEY,
    input_names,
    load_onnx_checkpoint,
    weights_digest,
)
from small_lm.cli import HelpFormatter, exits_on
from small_lm.data import DatasetError, read_dataset_file
from small_lm.metrics import score_predictions

MEASURE_LIMIT = 1000  # validation examples int8 is measured on (enough to see half a point; a minute at most)


class _Heads(nn.Module):
    """The model as a function of ``(input_ids, attention_mask[, shape_ids])`` returning ``(logits,
    intent_logits)``; ``shape_ids`` for a model that reads sub-word shapes (``JointConfig.word_shapes``)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, shape_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, shape_ids=shape_ids)
        return out.logits, out.intent_logits


def _stamp(path: Path, digest: str) -> None:
    """Record the source weights' digest in the ONNX file's metadata."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    proto.metadata_props.add(key=SOURCE_KEY, value=digest)
    onnx.save(proto, str(path))


@contextlib.contextmanager
def quiet_tools() -> Iterator[None]:
    """Without the exporter's and quantizer's notes to their own developers (torchvision ops it skips, axis names it
    merges, a pre-processing hint for image models), which read like problems to someone training a model."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx._internal.exporter._registration", "root")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*LeafSpec")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def fp32_nodes(path: Path) -> dict[str, str]:
    """The nodes of the fp32 graph that int8 keeps in fp32, with why.  Only the encoder's matrix products with a
    weight matrix are quantized; of those, the ones below stay fp32 (each measured in docs/speed.md)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}
    keep = {}
    for node in graph.node:
        if node.op_type == "Gather" and node.input[0].endswith("embeddings.weight"):
            keep[node.name] = "embedding lookup: a gather does no arithmetic, so int8 would only shrink the file"
        elif node.op_type == "Gemm":  # the quantizer first rewrites a Gemm as a MatMul of this name and an Add
            keep[f"{node.name}_MatMul"] = "intent head: one small product per window, read as a probability"
        elif node.op_type == "MatMul" and getattr(producer.get(node.input[0]), "op_type", None) == "Gelu":
            keep[node.name] = (
                "feed-forward output projection: its GELU input has a few outlier channels, and one uint8 scale per "
                "batch for them leaves the rest a handful of levels"
            )
    head = producer.get(OUTPUT_NAMES[0])
    while head is not None and head.op_type != "MatMul":  # the bias Add, a Reshape: back to the product
        head = producer.get(head.input[0])
    if head is not None:
        keep[head.name] = "entity head: its logits are the tag scores the decoder compares; a small product"
    return keep


def quantize(fp32_path: Path, int8_path: Path, per_channel: bool = True, keep_fp32: bool = True) -> dict[str, str]:
    """Write the int8 model of ``fp32_path`` to ``int8_path``; the nodes kept fp32 and why.  The defaults are the
    export's; ``benchmarks/bench_bert.py --int8-choices`` measures each choice against the alternative."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep = fp32_nodes(fp32_path) if keep_fp32 else {}
    quantize_dynamic(
        fp32_path,
        int8_path,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"] if keep_fp32 else None,  # None: ORT's choice, embeddings (Gather) too
        per_channel=per_channel,
        nodes_to_exclude=list(keep),
        # This CPU class has VNNI (int8 dot products without overflow), so the full 8 bits; reduce_range is for
        # older CPUs, whose 16-bit accumulation of two int8 products can saturate.
        reduce_range=False,
    )
    return keep


def measure_int8(folder: Path, dataset: Path) -> dict:
    """Entity F1 and intent accuracy of the ONNX fp32 and int8 files on the dataset's validation split (test if it
    has none, as a JSON-lines file of gold examples), read as infer_bert.py reads; and int8's cost in points."""
    splits = read_dataset_file(dataset)[0]
    split = "validation" if splits.get("validation") else "test"
    examples = splits[split][:MEASURE_LIMIT]
    texts, scores = [x["text"] for x in examples], {}
    for backend in ONNX_FILES:
        tagger = JointTagger(*load_onnx_checkpoint(folder, backend))
        metrics = score_predictions(examples, tagger.predict(texts), tagger.intents)
        scores[backend] = {"entity_f1": metrics["entity_f1"], "intent_accuracy": metrics["intent_accuracy"]}
    cost = {k: round(100 * (scores["onnx"][k] - scores["onnx-int8"][k]), 3) for k in scores["onnx"]}
    return {"measured_on": f"{dataset} ({split}, {len(examples)} examples)", "scores": scores, "int8_cost_points": cost}


def export(folder: str | Path, dataset: str | Path | None = None, verbose: bool = True) -> list[Path]:
    """Write ``model.onnx``, ``model.int8.onnx`` and their record into the checkpoint ``folder``; the paths.
    int8 is measured on ``dataset`` (default: the one the checkpoint was trained on, if it is there)."""
    folder = Path(folder)
    say = print if verbose else (lambda *a, **k: None)
    model, tokenizer, meta = load_checkpoint(folder)
    # Eager attention: the graph of torch's SDPA guards fully masked rows with IsNaN and Where over every
    # batch x heads x length x length score, which took a quarter of ONNX Runtime's time on 256-token windows;
    # the eager graph adds the mask and takes the softmax (same logits within 1e-4; 1.6x faster there).
    model.encoder.set_attn_implementation("eager")
    digest = weights_digest(folder / WEIGHTS_FILE)
    if dataset:
        dataset = Path(dataset)
        if not dataset.is_file():
            raise DatasetError(f"{dataset}: no such file (the dataset to measure int8 on)")
    else:  # the one it was trained on, if it is still where training read it
        trained_on = Path(meta.get("dataset") or "")
        dataset = trained_on if meta.get("dataset") and trained_on.is_file() else None
    paths = {backend: folder / name for backend, name in ONNX_FILES.items()}
    sample = tokenizer(["an example email to trace", "and a second"], padding=True, return_tensors="pt")
    names = input_names(model.config)
    args = (sample["input_ids"], sample["attention_mask"], torch.ones_like(sample["input_ids"]))[: len(names)]
    # Any batch size; any length the position embeddings cover (without that bound torch.export finds the model's
    # own guard, length <= max_position_embeddings, violates the dynamic dimension and retries more slowly).
    max_positions = getattr(model.config.encoder, "max_position_embeddings", None) or 512
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=max_positions)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=folder, prefix=".onnx-export-") as tmp:
        staged = {backend: Path(tmp) / name for backend, name in ONNX_FILES.items()}
        with quiet_tools():
            torch.onnx.export(
                _Heads(model).eval(),
                args,
                str(staged["onnx"]),
                input_names=list(names),
                output_names=list(OUTPUT_NAMES),
                dynamic_shapes={name: {0: batch, 1: seq} for name in names},
                dynamo=True,
                external_data=False,  # one self-contained file (a BERT-base is well under protobuf's 2 GB limit)
                verbose=False,
            )
            kept = quantize(staged["onnx"], staged["onnx-int8"])
        for path in staged.values():
            _stamp(path, digest)
        say(f"exported {paths['onnx'].name} and {paths['onnx-int8'].name} in {time.perf_counter() - start:.0f} s")
        record = {SOURCE_KEY: digest, "int8_kept_fp32": kept, "int8_cost_points": None}
        # Old files out first, then the new ones in (each rename atomic: a reader never sees half a file), the
        # record last: until it names these weights, auto runs none of the files.
        (folder / EXPORT_RECORD).unlink(missing_ok=True)
        for backend, path in staged.items():
            os.replace(path, paths[backend])
        if dataset is not None:
            say(f"measuring int8 against fp32 on {dataset} ...")
            record.update(measure_int8(folder, dataset))
            say(f"  int8 cost in points (entity F1, intent accuracy): {record['int8_cost_points']}")
        else:
            say("int8 not measured (no dataset: pass --dataset); infer_bert.py will run the fp32 file by default")
        record_tmp = Path(tmp) / EXPORT_RECORD
        record_tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        os.replace(record_tmp, folder / EXPORT_RECORD)
    for path in paths.values():
        say(f"  {path.name}: {path.stat().st_size / 2**20:.1f} MiB")
    return [*paths.values(), folder / EXPORT_RECORD]


@exits_on(CheckpointError, DatasetError)
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("model", help="checkpoint folder written by classification/train_bert.py")
    p.add_argument(
        "--dataset",
        help="dataset whose validation split measures int8 against fp32 (default: the one the checkpoint was trained "
        "on, if it is still there)",
    )
    args = p.parse_args(argv)
    export(args.model, dataset=args.dataset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
