"""The ONNX Runtime backend of the joint model: a tiny checkpoint exported once, then ORT against torch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import save_tiny_model, tiny_bert_config, write_tiny_dataset

from classification import export_onnx, infer_bert
from classification.checkpoint import CheckpointError, joint_config
from classification.joint import JointModel, JointTagger, load_checkpoint
from classification.onnx_backend import EXPORT_RECORD, INT8_BUDGET_POINTS, ONNX_FILES, load_onnx_checkpoint
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
    """A tiny checkpoint with model.onnx, model.int8.onnx and their record, written by the export command with int8
    measured on a tiny dataset."""
    root = tmp_path_factory.mktemp("onnx")
    folder = save_tiny_joint(root / "ckpt", seed=0)
    assert export_onnx.main([str(folder), "--dataset", str(write_tiny_dataset(root / "tiny.json"))]) == 0
    return folder


def with_cost(exported: Path, folder: Path, points: float) -> Path:
    """A copy of ``exported`` whose record says int8 lost ``points`` of entity F1 (the rule under test is the
    choice given a measured cost; what a real export measures is test_bert's end-to-end test)."""
    shutil.copytree(exported, folder)
    record = json.loads((folder / EXPORT_RECORD).read_text())
    record["int8_cost_points"] = {"entity_f1": points, "intent_accuracy": 0.0}
    (folder / EXPORT_RECORD).write_text(json.dumps(record))
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


def test_int8_quantizes_the_encoder_and_keeps_the_recorded_nodes_fp32(exported: Path):
    import onnx

    record = json.loads((exported / EXPORT_RECORD).read_text())
    kept = record["int8_kept_fp32"]
    reasons = " ".join(kept.values())
    assert "entity head" in reasons and "feed-forward output" in reasons and "embedding" in reasons
    fp32_graph = onnx.load(str(exported / ONNX_FILES["onnx"])).graph
    fp32, weights = {n.name: n for n in fp32_graph.node}, {i.name for i in fp32_graph.initializer}
    int8 = onnx.load(str(exported / ONNX_FILES["onnx-int8"])).graph
    int8_nodes = {n.name: n for n in int8.node}
    for name in kept:  # still there and unquantized
        assert int8_nodes[name].op_type in ("MatMul", "Gather"), name
    ffn = [name for name, why in kept.items() if why.startswith("feed-forward")]
    assert len(ffn) == 2, "one feed-forward output projection per layer of the 2-layer encoder"
    quantized = [n for n in int8.node if n.op_type == "MatMulInteger"]
    products = [n for n in fp32.values() if n.op_type == "MatMul" and n.input[1] in weights]
    assert len(quantized) == len(products) - len(ffn) - 1, "every other weight product is int8 (the entity head: -1)"
    scales = {i.name: i for i in int8.initializer if i.name.endswith("_scale")}
    assert any(len(i.dims) == 1 and i.dims[0] > 1 for i in scales.values()), "per-channel: a scale per column"


def test_auto_runs_int8_within_budget_else_fp32_else_torch(exported: Path, tmp_path: Path, capsys):
    cheap = with_cost(exported, tmp_path / "cheap", INT8_BUDGET_POINTS - 0.1)
    tagger = JointTagger.from_pretrained(cheap)
    assert tagger.backend == "onnx-int8" and "within the budget" in tagger.backend_reason
    assert tagger.model.path == cheap / ONNX_FILES["onnx-int8"]

    costly = with_cost(exported, tmp_path / "costly", INT8_BUDGET_POINTS + 0.1)
    tagger = JointTagger.from_pretrained(costly)
    assert tagger.backend == "onnx" and "over the budget" in tagger.backend_reason
    assert tagger.model.path == costly / ONNX_FILES["onnx"]

    unmeasured = with_cost(exported, tmp_path / "unmeasured", 0.0)
    record = json.loads((unmeasured / EXPORT_RECORD).read_text())
    (unmeasured / EXPORT_RECORD).write_text(json.dumps({**record, "int8_cost_points": None}))
    assert JointTagger.from_pretrained(unmeasured).backend == "onnx"

    bare = tmp_path / "bare"
    shutil.copytree(exported, bare, ignore=shutil.ignore_patterns("*.onnx", EXPORT_RECORD))
    tagger = JointTagger.from_pretrained(bare)
    assert tagger.backend == "torch" and isinstance(tagger.model, JointModel)
    assert f"`python classification/export_onnx.py {bare}` writes it" in tagger.backend_reason
    assert JointTagger.from_pretrained(cheap, bf16=True).backend == "torch", "bf16 is a torch setting"
    assert JointTagger.from_pretrained(cheap, backend="torch").backend == "torch", "--backend torch opts out"

    # The scripts say which backend runs, on standard error, without being asked.
    assert infer_bert.main([str(cheap), "hello"]) == 0
    assert "backend: onnx-int8 (int8 lost" in capsys.readouterr().err
    assert infer_bert.main([str(bare), "hello"]) == 0
    assert "backend: torch (no ONNX export" in capsys.readouterr().err


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
    torch_tagger = JointTagger.from_pretrained(exported, max_length=32, backend="torch")
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
    assert infer_bert.main([str(exported), *TEXTS, "--json", "--max-length", "32", "--backend", "torch"]) == 0
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
    with pytest.raises(CheckpointError, match=r"model\.int8\.onnx: no such file.*export_onnx\.py .*bare`"):
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
    for backend in ONNX_FILES:  # asked for by name: refused
        with pytest.raises(CheckpointError, match=r"exported from other weights.*export_onnx\.py"):
            JointTagger.from_pretrained(retrained, backend=backend)
    # not asked for: never run, and auto says why and runs the new weights on torch
    tagger = JointTagger.from_pretrained(retrained)
    assert tagger.backend == "torch" and "other weights" in tagger.backend_reason
    expected = JointTagger.from_pretrained(tmp_path / "other", backend="torch").predict(TEXTS)
    assert tagger.predict(TEXTS) == expected


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


def test_the_server_runs_int8_without_being_told(exported: Path, tmp_path: Path, caplog):
    from test_serve import serving

    from serving import ServerSettings, parse_model_arg

    cheap = with_cost(exported, tmp_path / "cheap", 0.0)
    costly = with_cost(exported, tmp_path / "costly", INT8_BUDGET_POINTS + 0.1)
    specs = [parse_model_arg(f"cheap={cheap}"), parse_model_arg(f"costly={costly}")]
    with caplog.at_level("INFO", logger="serving"), serving(specs, ServerSettings(max_length=32)) as served:
        models = {m["name"]: m for m in served.call("GET", "/v1/models")[2]["models"]}
        assert served.extract(TEXTS[:2], "cheap")[0] == 200
    assert models["cheap"]["backend"] == "onnx-int8" and models["costly"]["backend"] == "onnx"
    assert "model 'cheap' ready on onnx-int8 (int8 lost" in caplog.text, "the log says which backend and why"
