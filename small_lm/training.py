"""What both trainers (classification/train_bert.py, causal_slms/train_slm.py) do around the training itself, written
once: where the checkpoint goes, what ``--overwrite`` means, the timing, and the model card's frame.

``--overwrite`` has one meaning: an existing checkpoint of the same family in ``--output-dir`` is deleted, then the
new one is written into the empty folder (no file of the old one survives beside the new).  A folder that holds
anything else is never deleted.  The deletion comes after the arguments are checked, so a usage error deletes nothing.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from small_lm.cli import CliError

WORK_FOLDERS = ("trainer", "checkpoints")  # Trainer's own checkpoints inside the output folder while it trains


def output_folder(given: str | None, prefix: str, dataset: Path) -> Path:
    """``--output-dir``, else a new folder in trained_models/ named after the family, the dataset and the time."""
    return Path(given) if given else Path("trained_models") / f"{prefix}-{dataset.stem}-{datetime.now():%Y%m%d-%H%M%S}"


def prepare_output(folder: Path, overwrite: bool, is_checkpoint: Callable[[Path], bool]) -> None:
    """An empty or missing ``folder`` is used as it is.  A checkpoint of this family (``is_checkpoint``), or a run
    stopped before its checkpoint was saved, is deleted with ``overwrite`` and refused without; anything else is
    refused either way."""
    if not folder.exists() or not any(folder.iterdir()):
        return
    if not overwrite:
        raise CliError(f"{folder} exists and is not empty; pass --overwrite to replace it")
    if not (is_checkpoint(folder) or any((folder / name).is_dir() for name in WORK_FOLDERS)):
        raise CliError(f"{folder} does not look like a checkpoint of this script; not deleting it")
    shutil.rmtree(folder)


def timed_training(trainer: Any) -> tuple[Any, float]:
    """``trainer.train()``, its result and how long it took, said on standard error."""
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    steps = max(result.global_step, 1)
    print(f"training took {seconds:.1f} s ({steps} steps, {seconds / steps:.2f} s/step)", file=sys.stderr)
    return result, seconds


def command_line() -> str:
    """The command that is running, as a user could type it again."""
    return shlex.join(["python", *sys.argv])


def write_model_card(folder: Path, title: str, summary: str, facts: Sequence[str], use: str, sections: str) -> None:
    """``folder``/README.md: the title, what the model does, a list of facts, the command that trained it, how to
    use it, then the family's own sections (scores)."""
    bullets = "\n".join(f"- {fact}" for fact in facts)
    (folder / "README.md").write_text(
        f"# {title}\n\n{summary}\n\n{bullets}\n\nCommand:\n\n```\n{command_line()}\n```\n\n"
        f"## Use\n\n```\n{use}\n```\n\n{sections.strip()}\n"
    )
