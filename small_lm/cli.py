"""The command-line convention every script follows, and the helpers that apply it.

One name for one thing
    ``--dataset FILE``   a dataset file (``datasets/*.json``) or JSON lines of gold examples (was ``--data``)
    ``--split NAME``     which split of that file (train, validation, test); the fractions a new dataset is cut
                         into are ``generate_dataset.py --split-fractions`` (was ``--split``)
    ``--output-dir DIR`` a folder the script writes: a checkpoint, results (was ``--out``; ``convert_gguf.py
                         --output``)
    ``--output FILE``    one file the script writes: a dataset, a benchmark's JSON (was ``--json-out``)
    ``--overwrite``      replace what ``--output``/``--output-dir`` names; without it an existing one is an error
    ``--model``          the base model a script starts from (hub name or folder); a trained checkpoint is the
                         first positional argument (``infer_*.py``, ``evaluate_models.py``, the benchmarks)
    ``--max-length N``   the most tokens, in the model's own tokens (sub-words for the joint encoder, SmolLM2
                         tokens for the SLM), of one sequence the model reads: a longer email is read in
                         overlapping windows; each script's help says what the sequence holds
    ``--batch-size N``   examples per step or per inference batch; ``--seed N``; ``--limit N`` (first N examples)
    texts                emails to read are positional arguments, else ``--file``, else standard input

An old spelling stays a hidden alias of the new one: it works, ``--help`` shows only the new one.  The training
scripts declare their arguments as dataclasses read by ``transformers.HfArgumentParser``, so every
``TrainingArguments`` field is a flag as well (``--gradient-accumulation-steps``, ``--report-to``, ...;
``--help-all`` lists them), with today's spellings (``--epochs``, ``--batch-size``) as its aliases.

Paths
    Every path, given or default (``datasets/``, ``trained_models/``, ``results/``), is relative to the working
    directory: run the scripts from the repository root, as the README does.  One exception: the set-up copy of
    SmolLM2 (``pretrained/SmolLM2-135M-Instruct``) lives beside the code, where ``causal_slms/slm.py`` looks for it.

Exit status
    0 done; 2 a usage error (argparse's one line ``<script>: error: ...``, with the usage); 1 a runtime error (a
    missing or bad file, a model that will not load, an existing output without ``--overwrite``): one line
    ``error: ...`` on standard error and no traceback; 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any


class CliError(Exception):
    """A runtime error a script reports as one line ``error: ...`` with exit status 1."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout, adds ``(default: ...)`` where a default says something, and shows each
    option by its current spellings only: hidden aliases (``hide_aliases``) and HfArgumentParser's underscore
    twins (``--num_train_epochs`` beside ``--num-train-epochs``) work but are not listed; shortest first."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings:
            return super()._format_action_invocation(action)
        shown = ", ".join(visible_option_strings(action))
        if action.nargs == 0 or (action.nargs == "?" and action.const is True):  # a switch (HfArgumentParser's bools)
            return shown
        return f"{shown} {self._format_args(action, self._get_default_metavar_for_optional(action))}"

    def _get_default_metavar_for_optional(self, action: argparse.Action) -> str:
        if action.type in (int, float) or getattr(action.type, "__name__", "").endswith(("_int", "_float")):
            return "N"
        return super()._get_default_metavar_for_optional(action)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" not in text
            and action.option_strings
            and default not in (None, False, argparse.SUPPRESS)
            and action.nargs != 0
        ):
            text += " (default: %(default)s)"
        return text


def visible_option_strings(action: argparse.Action) -> list[str]:
    hidden = set(getattr(action, "hidden_aliases", ()))
    strings = [s for s in action.option_strings if s not in hidden]
    # HfArgumentParser spells a field both ways; show the dashed one.
    strings = [s for s in strings if not ("_" in s and s.replace("_", "-") in strings)]
    return sorted(strings or action.option_strings[:1], key=len)


def add_option(parser: argparse.ArgumentParser | Any, *names: str, aliases: Iterable[str] = (), **kwargs) -> Any:
    """``parser.add_argument(*names, *aliases, **kwargs)`` with the aliases hidden from ``--help``."""
    aliases = tuple(aliases)
    action = parser.add_argument(*names, *aliases, **kwargs)
    action.hidden_aliases = aliases
    return action


def hide_aliases(parser: argparse.ArgumentParser, aliases: Iterable[str]) -> None:
    """Hide these option strings (old spellings declared elsewhere, e.g. in dataclass metadata) from ``--help``."""
    aliases = set(aliases)
    for action in parser._actions:
        mine = tuple(s for s in action.option_strings if s in aliases)
        if mine:
            action.hidden_aliases = tuple(getattr(action, "hidden_aliases", ())) + mine


def exits_on(*errors: type[BaseException]) -> Callable:
    """Decorate a script's ``main(argv) -> int``: ``CliError`` and the given exception types become one line
    ``error: <message>`` on standard error and exit status 1 (2 stays argparse's: a usage error), instead of a
    traceback."""

    def decorate(main: Callable[..., int | None]) -> Callable[..., int]:
        @functools.wraps(main)
        def wrapped(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs) or 0
            except (CliError, *errors) as err:
                print(f"error: {err}", file=sys.stderr)
                return 1

        return wrapped

    return decorate


def newest_dataset(folder: Path | str = "datasets") -> Path:
    """The most recently modified ``*.json`` dataset in ``folder`` (relative to the working directory)."""
    folder = Path(folder)
    candidates = [p for p in folder.glob("*.json") if not p.name.startswith(".")]
    if not candidates:
        raise CliError(f"no dataset in {folder}/: run `make demo` or generate_dataset.py first, or pass --dataset")
    return max(candidates, key=lambda p: p.stat().st_mtime)


def pick_dataset(given: str | None, folder: Path | str = "datasets") -> tuple[Path, str]:
    """The dataset a training script uses and why: the one given, else the newest in ``folder``."""
    if given:
        return Path(given), "--dataset"
    path = newest_dataset(folder)
    count = sum(1 for p in Path(folder).glob("*.json") if not p.name.startswith("."))
    others = f"of {count} files " if count > 1 else ""
    return path, f"no --dataset given: the newest {others}in {folder}/, by modification time"


# ------------------------------------------------------------------------------------------- training scripts


@dataclasses.dataclass
class DatasetArguments:
    """The "data" group both training scripts start from: ``--dataset FILE`` (``--data``: its old spelling)."""

    _argument_group_name = "data"

    dataset: str | None = dataclasses.field(
        default=None,
        metadata={
            "aliases": ["--data"],
            "metavar": "FILE",
            "help": "dataset file (default: the newest datasets/*.json)",
        },
    )


@dataclasses.dataclass
class ScriptTrainingArguments:
    """The settings both training scripts share, as a mixin before ``TrainingArguments``
    (``class X(ScriptTrainingArguments, TrainingArguments)``; transformers is not imported here): ``--overwrite``
    and the part of the recipe that is the same for both.  Each script declares its own defaults, help texts and
    today's spellings (``--epochs``, ``--batch-size``) for the rest."""

    _argument_group_name = "training (transformers.TrainingArguments: --help-all lists every setting)"

    overwrite: bool = dataclasses.field(
        default=False, metadata={"help": "replace an existing checkpoint in --output-dir"}
    )
    gradient_accumulation_steps: int = dataclasses.field(
        default=1, metadata={"help": "steps whose gradients add up to one update"}
    )
    save_total_limit: int | None = 1  # the best checkpoint only
    metric_for_best_model: str | None = "score"  # small_lm.metrics.checkpoint_score
    report_to: None | str | list[str] = dataclasses.field(
        default="none", metadata={"help": "where logs go besides the console: tensorboard, wandb, all, none"}
    )
    # Batches of similar length: a short message padded to a long email is mostly padding, paid for in time.
    train_sampling_strategy: str = "group_by_length"


def training_parser(
    dataclass_types: Sequence[type],
    shown: Iterable[str],
    argv: Sequence[str] | None,
    *,
    description: str,
    usage: str,
    aliases_hidden: Iterable[str] = (),
) -> argparse.ArgumentParser:
    """An ``HfArgumentParser`` over ``dataclass_types``, with this convention's help.

    ``--help`` lists the scripts' own fields and the ``TrainingArguments`` fields named in ``shown``; the other
    ``TrainingArguments`` fields still parse but are listed only by ``--help-all``.
    """
    from transformers import HfArgumentParser, TrainingArguments

    parser = HfArgumentParser(
        list(dataclass_types), description=description, usage=usage, formatter_class=HelpFormatter
    )
    parser.add_argument(
        "--help-all", action="help", help="also list every transformers.TrainingArguments setting, then exit"
    )
    hide_aliases(parser, aliases_hidden)
    show_all = "--help-all" in (sys.argv[1:] if argv is None else argv)
    inherited = {f.name for f in dataclasses.fields(TrainingArguments)}
    shown = set(shown)
    for action in parser._actions:
        if action.dest in inherited and action.dest not in shown and not show_all:
            action.help = argparse.SUPPRESS
    return parser


def parse_training_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> tuple[list[dict[str, Any]], argparse.Namespace]:
    """Parse ``argv`` into one dict of field values per dataclass of the parser (not yet instances: a script
    resolves its automatic values, e.g. bf16 where the hardware has it, before it builds ``TrainingArguments``,
    whose checks then see the final values).  Anything unknown is a usage error (exit status 2)."""
    namespace, rest = parser.parse_known_args(argv)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    values = []
    for dtype in parser.dataclass_types:
        names = {f.name for f in dataclasses.fields(dtype) if f.init}
        values.append({k: v for k, v in vars(namespace).items() if k in names})
    return values, namespace


def build_training_args(parser: argparse.ArgumentParser, dtype: type, values: dict[str, Any]) -> Any:
    """``dtype(**values)``; a combination TrainingArguments refuses is a usage error (exit status 2)."""
    try:
        return dtype(**values)
    except ValueError as err:
        parser.error(str(err).strip().splitlines()[0])
