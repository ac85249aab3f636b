"""The per-batch function of an extraction and the rows it makes, the same for every runner (one process,
``--workers``, Ray Data): raw items in, one output row per item out.

A row: ``{"source": {"file", "index" | "line" | "key", "message_id"}, "intent", "intent_score", "entities":
[{"type", "text", "start", "end", "score"}]}``, plus ``"error"`` when that message could not be read or run,
``"warning"`` when the reader or the model had something to say, and ``"text"`` (what the offsets index) with
``--with-text``.  Predictions come from ``small_lm.mail.predict_messages``, as in the infer scripts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extraction.readers import Item
from small_lm.mail import Message, from_bytes, from_text, predict_messages

ENTITY_KEYS = ("type", "text", "start", "end", "score")
SOURCE_KEYS = ("file", "index", "line", "key", "message_id")


@dataclass(frozen=True)
class ModelSpec:
    """What each worker loads: a checkpoint folder, its family, and how to run it."""

    folder: str
    family: str  # taggers.JOINT or taggers.SLM
    backend: str  # torch, onnx or onnx-int8 (the joint model); torch (the SLM)
    max_length: int = 256  # joint model: sub-words per window
    batch_size: int = 32


def resolve_backend(folder: Path, family: str, given: str) -> tuple[str, str]:
    """The backend to run and why: the joint model's as ``classification.onnx_backend.choose_backend`` picks it
    (``auto``: int8 where the checkpoint's export allows it), checked here once rather than by every worker."""
    from taggers import JOINT

    if family != JOINT:
        if given not in ("auto", "torch"):
            raise ValueError(f"--backend {given} is for the joint model; {folder} is a SmolLM2 checkpoint (torch)")
        return "torch", "a SmolLM2 checkpoint runs on torch"
    from classification.onnx_backend import ONNX_FILES, choose_backend, export_command

    backend, why = choose_backend(folder, given)
    if backend in ONNX_FILES and not (folder / ONNX_FILES[backend]).is_file():
        raise ValueError(f"{folder / ONNX_FILES[backend]}: no such file; `{export_command(folder)}` writes it")
    return backend, why


def load_tagger(spec: ModelSpec, threads: int = 1) -> Any:
    """The checkpoint's tagger on ``threads`` threads (each worker has its own model and one thread: processes
    scale across cores without the threads of one model contending with another's)."""
    import torch
    from transformers.utils import logging as hf_logging

    from taggers import load_tagger as load_checkpoint

    torch.set_num_threads(threads)
    hf_logging.disable_progress_bar()  # one progress bar on the screen: the run's, not each worker's loading
    if spec.backend == "torch":
        return load_checkpoint(spec.folder, spec.family, max_length=spec.max_length)
    from classification.joint import JointTagger
    from classification.onnx_backend import load_onnx_checkpoint

    # JointTagger.from_pretrained gives ONNX Runtime one thread per core; a worker wants ``threads``.
    return JointTagger(*load_onnx_checkpoint(spec.folder, spec.backend, threads=threads), max_length=spec.max_length)


def to_message(item: Item) -> Message:
    """The message an item holds; one that cannot be read gets ``error`` (it never raises)."""
    source, kind, payload = item
    try:
        if kind == "raw":
            return from_bytes(payload, source)
        if kind == "jsonl":
            try:
                record = json.loads(payload.decode("utf-8"))
            except UnicodeDecodeError as err:
                return Message("", "", source, error=f"not UTF-8 text (byte {err.start}: {err.reason})")
            except json.JSONDecodeError as err:
                return Message("", "", source, error=f"not valid JSON ({err.msg}, column {err.colno})")
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                return Message("", "", source, error="expected an object with a string field 'text'")
            return from_text(record["text"], source)
        if kind == "text":
            if not isinstance(payload, str):
                return Message("", "", source, error="no text: the 'text' value is null")
            return from_text(payload, source)
        return Message("", "", source, error=str(payload))
    except Exception as err:  # a message the reader chokes on must not take its part down with it
        return Message("", "", source, error=f"cannot read it ({type(err).__name__}: {err})")


def to_row(prediction: dict[str, Any], with_text: bool) -> dict[str, Any]:
    row = {
        "source": prediction["source"],
        "intent": prediction.get("intent"),
        "intent_score": prediction.get("intent_score"),
        "entities": [{k: e.get(k) for k in ENTITY_KEYS} for e in prediction.get("entities") or []],
    }
    for key in ("error", "warning"):
        if prediction.get(key):
            row[key] = prediction[key]
    if with_text:
        row["text"] = prediction["text"]
    return row


def extract_items(tagger: Any, items: list[Item], batch_size: int, with_text: bool = False) -> list[dict[str, Any]]:
    """The per-batch function: one row per item, in order.  If the model fails on the batch, each message is run
    on its own, so that only the one it fails on gets an ``error``."""
    messages = [to_message(item) for item in items]
    try:
        predictions = predict_messages(tagger, messages, batch_size=batch_size)
    except Exception:  # which message broke it is found below, and named in its row
        predictions = [_predict_alone(tagger, m, batch_size) for m in messages]
    if delay := float(os.environ.get("SMALL_LM_TEST_PART_DELAY", "0")):  # tests: a run slow enough to kill mid-way
        import time

        time.sleep(delay)
    return [to_row(p, with_text) for p in predictions]


def _predict_alone(tagger: Any, message: Message, batch_size: int) -> dict[str, Any]:
    try:
        return predict_messages(tagger, [message], batch_size=batch_size)[0]
    except Exception as err:  # this message's row says what happened
        reason = f"the model failed on this message ({type(err).__name__}: {err})"
        return {"text": message.text, "intent": None, "intent_score": None, "entities": [], "error": reason,
                "source": message.source}  # fmt: skip


def parquet_schema(with_text: bool) -> Any:
    import pyarrow as pa

    entity = pa.struct([("type", pa.string()), ("text", pa.string()), ("start", pa.int64()), ("end", pa.int64()),
                        ("score", pa.float64())])  # fmt: skip
    source = pa.struct([(k, pa.int64() if k in ("index", "line") else pa.string()) for k in SOURCE_KEYS])
    fields = [("source", source), ("intent", pa.string()), ("intent_score", pa.float64()),
              ("entities", pa.list_(entity)), ("error", pa.string()), ("warning", pa.string())]  # fmt: skip
    return pa.schema(fields + ([("text", pa.string())] if with_text else []))


def write_rows(path: Path, rows: list[dict[str, Any]], fmt: str, with_text: bool) -> None:
    """``rows`` into ``path`` as JSON lines or Parquet, flushed to disk (the caller renames it into place)."""
    if fmt == "jsonl":
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            f.flush()
            os.fsync(f.fileno())
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows, schema=parquet_schema(with_text)), path)
    with open(path, "rb") as f:
        os.fsync(f.fileno())
