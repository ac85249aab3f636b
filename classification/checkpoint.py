"""What a joint checkpoint is, apart from the model code: its files and constants, its config (``JointConfig``:
the encoder's own config, the BIO labels, the intents, how it reads a page), its outputs (``JointOutput``), the
errors, and the checks that tell whether a folder is one, an old one (refused with the converter's name) or a
damaged one.  ``joint.py`` (the model and the tagger) and ``onnx_backend.py`` both build on this module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from transformers import AutoConfig, PretrainedConfig
from transformers.configuration_utils import SubConfigSpec
from transformers.utils import ModelOutput

FAMILY = "joint-bert"  # the family's one spelling: JointConfig.model_type, small_lm.json, the evaluator's tables
MARKER_FILE = "small_lm.json"  # {"family": ...}: how a folder says which small_lm family it belongs to
WEIGHTS_FILE = "model.safetensors"
CONVERTER = "classification/convert_checkpoint.py"


class CheckpointError(ValueError):
    """A folder that is not a joint-model checkpoint, or one that does not fit the data."""


class JointConfig(PretrainedConfig):
    """What a joint checkpoint is: the encoder's own config, the BIO labels (``id2label``), the intents and the
    weight of the intent loss; ``base_model`` and ``training`` record where it came from."""

    model_type = FAMILY
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: PretrainedConfig | dict | None = None
    intents: list[str] | None = None
    intent_loss_weight: float = 1.0
    # How the model reads a page (classification/reading.py); the defaults are how checkpoints before them read.
    layout_tokens: list[str] | None = None  # marker tokens for a line break and a tab; None: words only
    word_shapes: bool = False  # a shape embedding per sub-word (case, digits) added to the input embeddings
    subword_labels: str = "first"  # "all": every sub-word trained and read for its word's label; "first": the first
    base_model: str | None = None  # the encoder asked for (a hub name or folder)
    training: dict | None = None  # dataset, the folder the encoder was loaded from, training window

    @property
    def labels(self) -> list[str]:
        """The BIO labels in head order."""
        return [self.id2label[i] for i in range(len(self.id2label))]


@dataclass
class JointOutput(ModelOutput):
    """``logits``: per sub-word, over the BIO labels; ``intent_logits``: per text, over the intents."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    intent_logits: torch.Tensor | None = None


def joint_config(
    encoder: PretrainedConfig, labels: Sequence[str], intents: Sequence[str], intent_loss_weight: float = 1.0, **kw
) -> JointConfig:
    """The config of a joint model on ``encoder`` (its config is copied, labels and all)."""
    return JointConfig(
        encoder=encoder.to_dict(),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        intents=list(intents),
        intent_loss_weight=intent_loss_weight,
        **kw,
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_joint_checkpoint(folder: str | Path) -> bool:
    """True for a folder whose ``config.json`` is a joint model's (whatever the state of its weights)."""
    config = _read_json(Path(folder) / "config.json")
    return isinstance(config, dict) and config.get("model_type") == FAMILY


def is_old_format_checkpoint(folder: str | Path) -> bool:
    """True for a joint checkpoint written before ``JointModel`` was a ``PreTrainedModel``: labels and intents in
    ``small_lm.json`` next to the bare encoder's ``config.json``."""
    meta = _read_json(Path(folder) / MARKER_FILE)
    return (
        isinstance(meta, dict) and meta.get("family") == FAMILY and "labels" in meta and not is_joint_checkpoint(folder)
    )


def check_not_old_format(folder: Path) -> None:
    if is_old_format_checkpoint(folder):
        raise CheckpointError(
            f"{folder}: a joint-BERT checkpoint in the old format (labels in {MARKER_FILE}, the bare encoder's "
            f"config.json); convert it once with `python {CONVERTER} {folder} NEW_FOLDER` (or `--in-place`), "
            "or retrain it"
        )


def check_weights_file(path: Path) -> None:
    """A ``CheckpointError`` naming ``path`` unless safetensors can read it whole (a cut-off copy fails here, with
    the file's size, rather than deep inside a loader)."""
    try:
        with safe_open(path, framework="pt"):
            pass
    except SafetensorError as err:
        raise CheckpointError(
            f"{path} is truncated or damaged: {path.stat().st_size:,} bytes that safetensors cannot read ({err}); "
            "copy it again from where it was trained, or retrain"
        ) from None


def checkpoint_meta(config: JointConfig) -> dict[str, Any]:
    """The config's labels, intents and origin as a plain dict (``JointTagger.meta``)."""
    return {
        "family": FAMILY,
        "labels": config.labels,
        "intents": list(config.intents),
        "base_model": config.base_model,
        "intent_loss_weight": config.intent_loss_weight,
        "layout_tokens": config.layout_tokens,
        "word_shapes": config.word_shapes,
        "subword_labels": config.subword_labels,
        **(config.training or {}),
    }
