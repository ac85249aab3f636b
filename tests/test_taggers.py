"""taggers.load_tagger: one loader for both families, which every script uses; each family's infer script refuses
the other family's checkpoint with the script to use instead."""

from __future__ import annotations

from pathlib import Path

import pytest
from slm_fixtures import build_tiny_model, train_tiny_checkpoint

from causal_slms import infer_slm
from causal_slms.slm import SlmTagger
from classification import infer_bert
from classification.checkpoint import CheckpointError
from classification.joint import JointTagger
from taggers import JOINT, SLM, family_of, load_tagger


@pytest.fixture(scope="module")
def slm_checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("slm")
    return train_tiny_checkpoint(build_tiny_model(root / "tiny-llama"), root / "slm")


def test_either_family_is_recognised_and_loaded(trained_tiny: Path, slm_checkpoint: Path):
    assert family_of(trained_tiny) == JOINT and family_of(slm_checkpoint) == SLM
    assert isinstance(load_tagger(trained_tiny), JointTagger)
    assert isinstance(load_tagger(slm_checkpoint, SLM, dtype="float32"), SlmTagger)


def test_a_folder_of_neither_family_is_a_clear_error(tmp_path: Path):
    (tmp_path / "config.json").write_text("{}")  # a config.json alone is no checkpoint of either family
    with pytest.raises(CheckpointError, match="not a checkpoint of either family"):
        load_tagger(tmp_path)
    with pytest.raises(CheckpointError, match="no such folder"):
        family_of(tmp_path / "missing")


def test_each_infer_script_names_the_other_for_the_other_family(trained_tiny: Path, slm_checkpoint: Path, capsys):
    assert infer_bert.main([str(slm_checkpoint), "hello"]) == 1
    assert "causal_slms/infer_slm.py" in capsys.readouterr().err
    assert infer_slm.main([str(trained_tiny), "hello"]) == 1
    assert "classification/infer_bert.py" in capsys.readouterr().err


def test_infer_slm_spells_the_window_as_every_script_does(slm_checkpoint: Path, capsys):
    assert infer_slm.main([str(slm_checkpoint), "cancel friday at 3pm", "--max-length", "64", "--json"]) == 0
    assert infer_slm.main([str(slm_checkpoint), "cancel friday at 3pm", "--max-email-tokens", "64", "--json"]) == 0
    assert "--max-email-tokens" not in infer_slm.build_parser().format_help(), "the old spelling is hidden"
