"""Convert a joint-BERT checkpoint written before the joint model was a transformers ``PreTrainedModel`` (labels and
intents in ``small_lm.json``, the bare encoder's ``config.json``) into the current format.

    python classification/convert_checkpoint.py trained_models/bert-old trained_models/bert-old-converted
    python classification/convert_checkpoint.py trained_models/bert-old --in-place

The weights keep their names and values; ``config.json`` becomes the joint config (the encoder's config, labels,
intents, loss weight, base model and training record) and ``small_lm.json`` the family marker.  The tokenizer,
``metrics.json``, ``README.md`` and any other file are copied as they are.  The written folder is loaded back
and must give the old weights' outputs exactly before it takes its name.  ``--in-place`` keeps the old folder
next to it as ``<folder>.old-format``.
"""

from __future__ import annotations

import small_lm.runtime  # noqa: F401  (first: sets OMP_WAIT_POLICY, which must come before torch is loaded)

# isort: split
import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoTokenizer

from classification.checkpoint import (
    MARKER_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    check_weights_file,
    is_joint_checkpoint,
    is_old_format_checkpoint,
    joint_config,
)
from classification.joint import JointModel
from small_lm.cli import HelpFormatter

TRAINING_KEYS = ("dataset", "loaded_from", "max_length")  # what small_lm.json recorded about the training run
SAMPLE = ["Can we move our call with Priya to Friday at 3:30pm?", "please cancel tomorrow, mail ana@example.com"]


def old_model(folder: Path) -> JointModel:
    """The old checkpoint's weights in a ``JointModel`` built from its two config files (strict: every weight)."""
    meta = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
    training = {k: meta[k] for k in TRAINING_KEYS if k in meta}
    config = joint_config(
        AutoConfig.from_pretrained(folder),
        meta["labels"],
        meta["intents"],
        meta.get("intent_loss_weight", 1.0),
        base_model=meta.get("base_model"),
        training=training or None,
    )
    model = JointModel(config)
    try:
        model.load_state_dict(load_file(folder / WEIGHTS_FILE), strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{folder / WEIGHTS_FILE}: the weights do not fit the joint model: {err}") from None
    return model.eval()


def convert(old: Path, new: Path) -> None:
    """Write the converted checkpoint of ``old`` to the new folder ``new`` (which must not exist)."""
    if is_joint_checkpoint(old):
        raise CheckpointError(f"{old}: already in the current format; nothing to convert")
    if not is_old_format_checkpoint(old):
        raise CheckpointError(f"{old}: not an old-format joint-BERT checkpoint (no {MARKER_FILE} with labels)")
    check_weights_file(old / WEIGHTS_FILE)
    model = old_model(old)
    new.mkdir(parents=True)
    model.save_pretrained(new)
    for item in old.iterdir():
        if item.name not in ("config.json", MARKER_FILE, WEIGHTS_FILE):
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, new / item.name)
    # The check: the folder as users will load it gives exactly the old weights' outputs.
    tokenizer = AutoTokenizer.from_pretrained(new)
    loaded = JointModel.from_pretrained(new).eval()
    batch = tokenizer(SAMPLE, padding=True, return_tensors="pt")
    with torch.inference_mode():
        before, after = model(**batch), loaded(**batch)
    if not (torch.equal(before.logits, after.logits) and torch.equal(before.intent_logits, after.intent_logits)):
        raise CheckpointError(f"{new}: the converted model's outputs differ from the old one's; nothing replaced")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("old", type=Path, help="old-format checkpoint folder")
    p.add_argument("new", type=Path, nargs="?", help="where the converted checkpoint goes (a new folder)")
    p.add_argument("--in-place", action="store_true", help="replace OLD (kept as OLD.old-format)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if (args.new is None) == (not args.in_place):
        p.error("give either NEW or --in-place")
    old = args.old.resolve()
    target = old if args.in_place else args.new
    work = target.with_name(target.name + ".converting")
    backup = old.with_name(old.name + ".old-format")
    try:
        if not old.is_dir():
            raise CheckpointError(f"{old}: no such folder")
        if not args.in_place and target.exists():
            raise CheckpointError(f"{target} exists; choose a new folder")
        if args.in_place and backup.exists():
            raise CheckpointError(f"{backup} exists (an earlier conversion's backup?); move it away first")
        shutil.rmtree(work, ignore_errors=True)
        convert(old, work)
    except (CheckpointError, OSError, ValueError) as err:
        shutil.rmtree(work, ignore_errors=True)
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.in_place:
        old.rename(backup)
        print(f"kept the old checkpoint as {backup}")
    work.rename(target)
    print(f"converted {args.old} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
