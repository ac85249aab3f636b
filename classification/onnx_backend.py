"""ONNX Runtime in place of the torch model inside ``JointTagger``: same inputs, same ``logits`` and
``intent_logits``, read from the ``model.onnx`` / ``model.int8.onnx`` that ``classification/export_onnx.py`` (and
``train_bert.py`` at the end of training) writes into a checkpoint folder, and which backend runs by default.

    tagger = JointTagger.from_pretrained("trained_models/bert-demo")                      # auto: see choose_backend
    tagger = JointTagger.from_pretrained("trained_models/bert-demo", backend="onnx-int8")

Nothing here imports onnxruntime until a session is made, so the torch path does not need it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer

from classification.checkpoint import (
    FAMILY,
    WEIGHTS_FILE,
    CheckpointError,
    JointConfig,
    JointOutput,
    check_not_old_format,
    checkpoint_meta,
    is_joint_checkpoint,
)

BACKENDS = ("auto", "torch", "onnx", "onnx-int8")  # auto: choose_backend
ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}
# Written by the export beside the ONNX files: the weights they came from, the nodes int8 keeps in fp32 and why,
# and what int8 cost against fp32 on the checkpoint's validation split.
EXPORT_RECORD = "onnx_export.json"
# auto runs int8 only if it lost at most this many points of entity F1 and of intent accuracy against fp32 on the
# validation split (one example of 600 is 0.17 points): beyond it, the ONNX fp32 file, which costs nothing.
INT8_BUDGET_POINTS = 0.5
INPUT_NAMES = ("input_ids", "attention_mask", "shape_ids")  # shape_ids: for a model that reads sub-word shapes
OUTPUT_NAMES = ("logits", "intent_logits")
SOURCE_KEY = "small_lm.source_weights_sha256"  # ONNX metadata: the digest of the model.safetensors exported
EXPORT_COMMAND = "python classification/export_onnx.py"


def input_names(config: JointConfig) -> tuple[str, ...]:
    """The ONNX inputs of a checkpoint with this config."""
    return INPUT_NAMES if config.word_shapes else INPUT_NAMES[:2]


def export_command(folder: str | Path) -> str:
    return f"{EXPORT_COMMAND} {folder}"


def weights_digest(path: Path) -> str:
    """SHA-256 of a weights file (a MiniLM's 90 MB hash in about a tenth of a second).  Remembered per file
    version (inode, size, modification time), since choosing a backend and loading its export both check it."""
    stat = Path(path).stat()
    return _digest(str(Path(path).resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _digest(path: str, inode: int, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on (hyper-threads of one core count once)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(), (topology / "core_id").read_text()))
        except OSError:
            cores.add(("cpu", str(cpu)))  # no topology (some containers): count the CPU itself
    return max(1, len(cores))


def session_options(threads: int | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # One thread per physical core: the work is matrix products, and two hyper-threads of one core share its
    # vector units, so a second thread per core adds synchronisation and little compute (ORT's own default is
    # the same count, but it does not see the CPUs this process is restricted to, which sched_getaffinity does).
    options.intra_op_num_threads = threads or physical_cores()
    # The graph is one chain of operators: running independent branches in parallel buys nothing here.
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    # Idle threads wait rather than spin, as torch's OpenMP threads do (small_lm/runtime.py sets
    # OMP_WAIT_POLICY=PASSIVE): on a 2-core machine shared with another busy process, spinning workers cost
    # several-fold; OMP_WAIT_POLICY=ACTIVE in the environment turns spinning back on for an idle machine.
    spin = os.environ.get("OMP_WAIT_POLICY", "PASSIVE").upper() == "ACTIVE"
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return options


def onnx_path(folder: str | Path, backend: str) -> Path:
    if backend not in ONNX_FILES:
        raise ValueError(f"unknown ONNX backend {backend!r}; one of {', '.join(ONNX_FILES)}")
    return Path(folder) / ONNX_FILES[backend]


class OnnxJointModel:
    """Called like ``JointModel`` (``input_ids``, ``attention_mask`` as torch tensors), returns a ``JointOutput``
    with ``logits`` and ``intent_logits`` as float32 torch tensors."""

    def __init__(self, path: str | Path, expected_inputs: tuple[str, ...], threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        self.session = ort.InferenceSession(
            str(self.path), sess_options=session_options(threads), providers=["CPUExecutionProvider"]
        )
        self.inputs = tuple(i.name for i in self.session.get_inputs())
        if set(self.inputs) != set(expected_inputs):
            raise CheckpointError(f"{self.path}: inputs {self.inputs}, expected {expected_inputs}; export it again")

    @property
    def source_digest(self) -> str | None:
        return self.session.get_modelmeta().custom_metadata_map.get(SOURCE_KEY)

    def __call__(self, **inputs: torch.Tensor) -> JointOutput:
        feed = {name: np.ascontiguousarray(inputs[name].numpy(), dtype=np.int64) for name in self.inputs}
        logits, intent_logits = self.session.run(list(OUTPUT_NAMES), feed)
        return JointOutput(logits=torch.from_numpy(logits), intent_logits=torch.from_numpy(intent_logits))


def load_onnx_checkpoint(
    folder: str | Path, backend: str = "onnx", threads: int | None = None
) -> tuple[OnnxJointModel, Any, dict[str, Any]]:
    """What ``load_checkpoint`` returns, with an ONNX Runtime session in place of the torch model: the config and
    tokenizer come from the folder, the weights from its ONNX file.  ``CheckpointError`` naming the export command
    when the file is missing or was exported from other weights than the folder's."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such folder (expected a checkpoint written by train_bert.py)")
    check_not_old_format(folder)
    if not is_joint_checkpoint(folder):
        raise CheckpointError(f"{folder}: not a joint-BERT checkpoint (expected config.json of model type {FAMILY!r})")
    path = onnx_path(folder, backend)
    if not path.is_file():
        raise CheckpointError(
            f"{path}: no such file; the {backend} backend runs the checkpoint's ONNX export: "
            f"`{export_command(folder)}` writes it"
        )
    try:
        config = JointConfig.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{folder}: cannot load the config or tokenizer: {err}") from None
    try:
        model = OnnxJointModel(path, input_names(config), threads=threads)
    except CheckpointError:
        raise
    except Exception as err:  # onnxruntime raises its own exception types for unreadable files
        advice = f"`{export_command(folder)}` writes it again"
        raise CheckpointError(f"{path}: cannot load it ({err}); {advice}") from None
    weights = folder / WEIGHTS_FILE
    if weights.is_file() and model.source_digest not in (None, weights_digest(weights)):
        raise CheckpointError(
            f"{path} was exported from other weights than {weights} (retrained since?); "
            f"`{export_command(folder)}` exports it again"
        )
    return model, tokenizer, checkpoint_meta(config)


def read_export_record(folder: str | Path) -> dict[str, Any] | None:
    """The folder's export record (``EXPORT_RECORD``), or None if it has none or it cannot be read."""
    try:
        return json.loads((Path(folder) / EXPORT_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def int8_cost(record: dict[str, Any]) -> float | None:
    """The larger of int8's two losses in points (entity F1, intent accuracy) against fp32, as the export measured
    it; None if it was not measured."""
    cost = record.get("int8_cost_points")
    return None if not cost else max(cost["entity_f1"], cost["intent_accuracy"])


def choose_backend(folder: str | Path, requested: str = "auto", bf16: bool = False) -> tuple[str, str]:
    """The backend to run a joint checkpoint on, and why.  Anything but ``auto`` is taken as asked (loading then
    refuses a missing or stale export).  ``auto``: int8 when the folder's export is of its current weights and int8
    cost at most ``INT8_BUDGET_POINTS`` on validation; else the ONNX fp32 export; else torch, saying how to get
    the export.  A stale export (the weights changed since) is never run: auto says so and runs torch."""
    if requested not in BACKENDS:
        raise ValueError(f"unknown backend {requested!r}; one of {', '.join(BACKENDS)}")
    if requested != "auto":
        return requested, "asked for"
    if bf16:
        return "torch", "bf16 autocast is a torch setting"
    folder = Path(folder)
    record, weights = read_export_record(folder), folder / WEIGHTS_FILE
    files = {b: folder / name for b, name in ONNX_FILES.items() if (folder / name).is_file()}
    if not files or record is None:
        return "torch", f"no ONNX export with its {EXPORT_RECORD} in the folder; `{export_command(folder)}` writes it"
    if not weights.is_file() or record.get(SOURCE_KEY) != weights_digest(weights):
        return "torch", (
            f"the ONNX export in the folder is of other weights than {WEIGHTS_FILE} (retrained since?), so it is not "
            f"run; `{export_command(folder)}` exports it again"
        )
    cost, budget = int8_cost(record), INT8_BUDGET_POINTS
    if cost is not None:
        f1, intent = (round(record["int8_cost_points"][k], 2) + 0.0 for k in ("entity_f1", "intent_accuracy"))
        lost = f"int8 lost {f1:.2f} points of entity F1 and {intent:.2f} of intent accuracy against fp32 on validation"
    if "onnx-int8" in files and cost is not None and cost <= budget:
        return "onnx-int8", f"{lost}, within the budget of {budget}"
    if "onnx" in files:
        return "onnx", f"ONNX fp32: {lost}, over the budget of {budget}" if cost is not None else (
            "ONNX fp32: int8's cost was not measured (`export_onnx.py --dataset` measures it)"
        )
    return "torch", f"no {ONNX_FILES['onnx']} in the folder; `{export_command(folder)}` writes it"
