"""Export a joint checkpoint to ONNX (both heads, any batch size and length) for ONNX Runtime, optionally int8.

    python classification/export_onnx.py trained_models/bert-demo            # writes model.onnx into the folder
    python classification/export_onnx.py trained_models/bert-demo --int8     # and model.int8.onnx beside it
    python classification/infer_bert.py trained_models/bert-demo --backend onnx-int8 "Lunch on Friday?"

The graph comes from ``torch.onnx.export`` (the dynamo exporter) of the checkpoint's ``JointModel``: inputs
``input_ids`` and ``attention_mask`` (int64, batch x length), outputs ``logits`` (the entity head, per sub-word)
and ``intent_logits``.  ``--int8`` quantizes the weights of its matrix products to int8 with ONNX Runtime's dynamic
quantization (activations are quantized on the fly, per batch): a smaller file and faster on CPU, at a small cost
in F1 that ``benchmarks/bench_bert.py`` measures.  Each file records the SHA-256 of the ``model.safetensors`` it
was exported from, so an export left behind by retraining is refused rather than silently run.
"""

from __future__ import annotations

import small_lm.runtime  # noqa: F401  (first: sets OMP_WAIT_POLICY, which must come before torch is loaded)

# isort: split
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from classification.checkpoint import WEIGHTS_FILE, CheckpointError
from classification.joint import load_checkpoint
from classification.onnx_backend import ONNX_FILES, OUTPUT_NAMES, SOURCE_KEY, input_names, weights_digest
from small_lm.cli import exits_on


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


def export(folder: str | Path, int8: bool = False, verbose: bool = True) -> list[Path]:
    """Write ``model.onnx`` (and ``model.int8.onnx`` with ``int8``) into the checkpoint ``folder``; the paths."""
    folder = Path(folder)
    say = print if verbose else (lambda *a, **k: None)
    model, tokenizer, _ = load_checkpoint(folder)
    digest = weights_digest(folder / WEIGHTS_FILE)
    fp32_path, int8_path = folder / ONNX_FILES["onnx"], folder / ONNX_FILES["onnx-int8"]
    sample = tokenizer(["an example email to trace", "and a second"], padding=True, return_tensors="pt")
    names = input_names(model.config)
    args = (sample["input_ids"], sample["attention_mask"], torch.ones_like(sample["input_ids"]))[: len(names)]
    # Any batch size; any length the position embeddings cover (without that bound torch.export finds the model's
    # own guard, length <= max_position_embeddings, violates the dynamic dimension and retries more slowly).
    max_positions = getattr(model.config.encoder, "max_position_embeddings", None) or 512
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=max_positions)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=folder, prefix=".onnx-export-") as tmp:
        tmp_fp32 = Path(tmp) / ONNX_FILES["onnx"]
        torch.onnx.export(
            _Heads(model).eval(),
            args,
            str(tmp_fp32),
            input_names=list(names),
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes={name: {0: batch, 1: seq} for name in names},
            dynamo=True,
            external_data=False,  # one self-contained file (a BERT-base is well under protobuf's 2 GB limit)
            verbose=False,
        )
        _stamp(tmp_fp32, digest)
        say(f"exported {fp32_path} in {time.perf_counter() - start:.0f} s")
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            tmp_int8 = Path(tmp) / ONNX_FILES["onnx-int8"]
            quantize_dynamic(tmp_fp32, tmp_int8, weight_type=QuantType.QInt8)
            _stamp(tmp_int8, digest)
        os.replace(tmp_fp32, fp32_path)  # atomic: a reader never sees half a file
        written = [fp32_path]
        if int8:
            os.replace(tmp_int8, int8_path)
            written.append(int8_path)
            say(f"quantized {int8_path} (int8 weights, dynamic activations)")
    for path in written:
        say(f"  {path.name}: {path.stat().st_size / 2**20:.1f} MiB")
    return written


@exits_on(CheckpointError)
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="checkpoint folder written by classification/train_bert.py")
    p.add_argument("--int8", action="store_true", help="also write model.int8.onnx (int8 dynamic quantization)")
    args = p.parse_args(argv)
    export(args.model, int8=args.int8)
    return 0


if __name__ == "__main__":
    sys.exit(main())
