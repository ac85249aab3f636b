"""The ONNX Runtime backend of the joint model: a tiny checkpoint exported once, then ORT against torch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import save_tiny_model, tiny_bert_config

from classification import export_onnx, infer_bert
from classification.checkpoint import CheckpointError, joint_config
from classification.joint import JointModel, JointTagger, load_checkpoint
from classification.onnx_backend import ONNX_FILES, load_onnx_checkpoint
from small_lm.data import bio_labels

TEXTS = [
    "Can we meet tomorrow at 3pm with Priya?",
    "x",  # batch and length differ from the traced example: the axes are dynamic
    "",
    "Cancel Friday. Mail tom.b@mail.org, or call Aiko next week " * 6,
    "hi olu are you free june 3rd",
]


def save_tiny_joint(folder: Path, seed: int) -> Path:
    """An untrained 2-layer joint model whose token head is scaled up, so its tags are confident and varied (the
    comparisons then see entities); training would cost CI time and is not what these tests are about."""
    torch.manual_seed(seed)

    def make_model(tokenizer) -> JointModel:
        encoder = tiny_bert_config(tokenizer.vocab_size)
        model = JointModel(joint_config(encoder, bio_labels(["DATE", "NAME"]), ["inquiry", "cancel"]))
        with torch.no_grad():
            model.token_head.weight.normal_(std=0.5)
            model.intent_head.weight.normal_(std=0.5)
        return model

    return save_tiny_model(folder, make_model)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A tiny checkpoint with model.onnx and model.int8.onnx, written by the export command."""
    folder = save_tiny_joint(tmp_path_factory.mktemp("onnx") / "ckpt", seed=0)
    assert export_onnx.main([str(folder), "--int8"]) == 0
    return folder


def test_export_of_a_folder_that_is_no_checkpoint_exits_1(tmp_path: Path, capsys):
    # 1 is this project's status for bad input; 2 is argparse's, for a usage error
    assert export_onnx.main([str(tmp_path)]) == 1
    assert "not a joint-BERT checkpoint" in capsys.readouterr().err


def spans(predictions: list[dict]) -> list[list[tuple]]:
    return [[(e["type"], e["start"], e["end"]) for e in p["entities"]] for p in predictions]


def test_export_writes_both_files_in_the_checkpoint_folder(exported: Path):
    import onnx

    for backend, name in ONNX_FILES.items():
        proto = onnx.load(str(exported / name))
        assert [i.name for i in proto.graph.input] == ["input_ids", "attention_mask"], backend
        assert [o.name for o in proto.graph.output] == ["logits", "intent_logits"], backend
    fp32, int8 = (exported / ONNX_FILES[b] for b in ("onnx", "onnx-int8"))
    assert int8.stat().st_size < fp32.stat().st_size
    assert not [p for p in exported.iterdir() if p.name.startswith(".onnx-export")], "no temporary files left"


def test_onnx_logits_equal_torch_logits(exported: Path):
    model, tokenizer, _ = load_checkpoint(exported)
    session, _, _ = load_onnx_checkpoint(exported, "onnx")
    for texts in (TEXTS, TEXTS[:1]):  # several batch sizes and lengths, one of them a batch of one
        enc = tokenizer(texts, padding=True, return_tensors="pt", return_token_type_ids=False)
        with torch.inference_mode():
            expected = model(**enc)
        got = session(**enc)
        assert got.logits.shape == expected.logits.shape and got.intent_logits.shape == expected.intent_logits.shape
        assert torch.allclose(got.logits, expected.logits, atol=1e-4, rtol=1e-4)
        assert torch.allclose(got.intent_logits, expected.intent_logits, atol=1e-4, rtol=1e-4)


def test_onnx_tagger_predicts_what_the_torch_tagger_predicts(exported: Path):
    # max_length=32 makes the long email span several windows, each one its own row of the batch
    torch_tagger = JointTagger.from_pretrained(exported, max_length=32)
    onnx_tagger = JointTagger.from_pretrained(exported, max_length=32, backend="onnx")
    expected, got = torch_tagger.predict(TEXTS, batch_size=3), onnx_tagger.predict(TEXTS, batch_size=3)
    assert sum(map(len, spans(expected))) >= 3, "the model tags entities, so the comparison means something"
    assert spans(got) == spans(expected)
    for a, b in zip(expected, got, strict=True):
        assert (a["text"], a["intent"]) == (b["text"], b["intent"])
        assert a["intent_score"] == pytest.approx(b["intent_score"], abs=1e-3)
        assert [e["score"] for e in a["entities"]] == pytest.approx([e["score"] for e in b["entities"]], abs=1e-3)


def test_int8_runs_close_to_fp32_with_valid_predictions(exported: Path):
    model, tokenizer, meta = load_checkpoint(exported)
    session, _, _ = load_onnx_checkpoint(exported, "onnx-int8")
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt", return_token_type_ids=False)
    with torch.inference_mode():
        expected = model(**enc)
    got = session(**enc)
    assert got.logits.shape == expected.logits.shape
    assert not torch.equal(got.logits, expected.logits), "int8 weights change the numbers a little"
    real = enc["attention_mask"].bool()
    agree = (got.logits.argmax(-1) == expected.logits.argmax(-1))[real].float().mean()
    assert agree >= 0.9, f"int8 and fp32 pick the same label for only {agree:.0%} of the sub-words"
    assert (got.logits - expected.logits)[real].abs().max() < 0.5

    predictions = JointTagger.from_pretrained(exported, max_length=32, backend="onnx-int8").predict(TEXTS)
    assert [p["text"] for p in predictions] == TEXTS
    for p in predictions:
        assert p["intent"] in meta["intents"] and 0.0 <= p["intent_score"] <= 1.0
        for e in p["entities"]:
            assert p["text"][e["start"] : e["end"]] == e["text"] and e["type"] in ("DATE", "NAME")
            assert 0.0 <= e["score"] <= 1.0
    assert sum(map(len, spans(predictions))) > 0


def test_infer_cli_runs_the_onnx_backend(exported: Path, capsys):
    assert infer_bert.main([str(exported), *TEXTS, "--json", "--max-length", "32"]) == 0
    expected = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for backend in ("onnx", "onnx-int8"):
        assert infer_bert.main([str(exported), *TEXTS, "--json", "--max-length", "32", "--backend", backend]) == 0
        got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [p["text"] for p in got] == TEXTS
        if backend == "onnx":
            assert spans(got) == spans(expected) and [p["intent"] for p in got] == [p["intent"] for p in expected]
    assert infer_bert.main([str(exported), "hello", "--backend", "onnx", "--bf16"]) == 2
    assert "--bf16 is for the torch backend" in capsys.readouterr().err


def test_missing_export_is_a_clear_error_naming_the_command(exported: Path, tmp_path: Path, capsys):
    bare = tmp_path / "bare"
    shutil.copytree(exported, bare, ignore=shutil.ignore_patterns("*.onnx"))
    with pytest.raises(CheckpointError, match=r"model\.int8\.onnx: no such file.*export_onnx\.py .*bare --int8"):
        JointTagger.from_pretrained(bare, backend="onnx-int8")
    assert infer_bert.main([str(bare), "hello", "--backend", "onnx"]) == 1
    err = capsys.readouterr().err
    assert "model.onnx: no such file" in err and f"python classification/export_onnx.py {bare}`" in err
    assert JointTagger.from_pretrained(bare).predict(["hello"]), "the torch backend needs no export"
    (bare / "model.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(CheckpointError, match=r"model\.onnx: cannot load it.*export_onnx\.py"):
        JointTagger.from_pretrained(bare, backend="onnx")
    with pytest.raises(ValueError, match="unknown backend"):
        JointTagger.from_pretrained(exported, backend="tensorrt")


def test_export_of_other_weights_is_refused(exported: Path, tmp_path: Path):
    retrained = tmp_path / "retrained"
    shutil.copytree(exported, retrained)
    save_tiny_joint(tmp_path / "other", seed=1)
    shutil.copy(tmp_path / "other" / "model.safetensors", retrained / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"exported from other weights.*export_onnx\.py"):
        JointTagger.from_pretrained(retrained, backend="onnx")


def test_the_server_answers_as_the_cli_with_an_onnx_backend(exported: Path, tmp_path: Path, capsys):
    from test_serve import assert_same_answer, serving, until

    from serving import ServerSettings, parse_model_arg

    capsys.readouterr()
    # fp32: int8's dynamic quantisation scales activations per batch, so its scores move (by about 0.01 here) with
    # the texts that share a batch, and the server batches differently from the CLI.
    assert infer_bert.main([str(exported), *TEXTS, "--json", "--max-length", "32", "--backend", "onnx"]) == 0
    want = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    settings = ServerSettings(backend="onnx", max_length=32)
    with serving([parse_model_arg(f"tiny={exported}")], settings) as served:
        status, _, body = served.extract(TEXTS)
    assert status == 200
    for got, expected in zip(body["results"], want, strict=True):
        assert_same_answer(got, expected)
    # The backend is really used: without the export the model cannot load, and /readyz says why.
    bare = tmp_path / "bare"
    shutil.copytree(exported, bare, ignore=shutil.ignore_patterns("*.onnx"))
    with serving([parse_model_arg(f"bare={bare}")], settings, ready=False) as served:
        until(lambda: served.call("GET", "/readyz")[2]["models"]["bare"].startswith("failed"), "load failure")
        assert "export_onnx.py" in served.call("GET", "/readyz")[2]["models"]["bare"]
