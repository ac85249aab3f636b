"""One loader for the checkpoints of both families: which family a folder holds (read from its config files) and
its tagger, loaded as the family's infer script loads it.  The infer scripts, the evaluator, the server, the
extractor and the benchmarks load every checkpoint through here.

    from taggers import load_tagger
    tagger = load_tagger("trained_models/bert-demo")                       # a JointTagger
    tagger = load_tagger("trained_models/slm-demo", dtype="bfloat16")      # an SlmTagger
    predictions = tagger.predict(["Can we meet Friday at 3pm? - Ana"])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from causal_slms.slm import DTYPES, ModelError, SlmTagger, is_slm_checkpoint
from causal_slms.slm import FAMILY as SLM
from classification.checkpoint import FAMILY as JOINT
from classification.checkpoint import CheckpointError, is_joint_checkpoint, is_old_format_checkpoint
from classification.joint import JointTagger

FAMILIES = (JOINT, SLM)
SCRIPTS = {JOINT: "classification/infer_bert.py", SLM: "causal_slms/infer_slm.py"}
LoadError = (CheckpointError, ModelError)  # what a checkpoint that cannot be loaded raises, either family


def family_of(folder: str | Path) -> str:
    """The family of the checkpoint in ``folder``; a ``CheckpointError`` naming the folder if it holds neither."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such folder (expected a checkpoint of train_bert.py or train_slm.py)")
    if is_joint_checkpoint(folder) or is_old_format_checkpoint(folder):  # the old format: loading names the converter
        return JOINT
    if is_slm_checkpoint(folder):
        return SLM
    raise CheckpointError(
        f"{folder}: not a checkpoint of either family (a joint model's config.json of model type {JOINT!r}, or "
        f"small_lm.json of family {SLM!r} with config.json and safetensors weights)"
    )


def load_tagger(
    folder: str | Path,
    family: str | None = None,
    *,
    backend: str = "auto",
    bf16: bool = False,
    max_length: int = 256,
    dtype: str = "float32",
    device: str | None = None,
) -> Any:
    """The tagger of the checkpoint in ``folder``.  ``family``: the one the caller reads (an error naming the other
    family's script if the folder holds the other one); None takes either.  ``backend`` (``auto``: the
    fastest the folder allows, see ``classification.onnx_backend.choose_backend``), ``bf16`` and ``max_length`` are
    the joint model's (infer_bert.py's flags), ``dtype`` and ``device`` the SLM's."""
    found = family_of(folder)
    if family is not None and found != family:
        raise CheckpointError(f"{folder} is a {found} checkpoint: read it with {SCRIPTS[found]}")
    if found == JOINT:
        return JointTagger.from_pretrained(folder, max_length=max_length, bf16=bf16, backend=backend)
    return SlmTagger.from_pretrained(folder, dtype=DTYPES[dtype], device=device)
