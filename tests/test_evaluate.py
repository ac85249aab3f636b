"""evaluate_models.py end to end: a tiny joint checkpoint and a spaCy pipeline, on a JSONL of examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import evaluate_models
from small_lm.data import Span, make_example, spans_to_bio, token_offsets


def whitespace_example(example_id: str, text: str, intent: str, spans: list[Span]) -> dict:
    """An example whose gold tokens are split on white space, as MASSIVE's are ("friday's" is one token)."""
    example = make_example(example_id, text, intent, spans)
    tokens = text.split()
    example["tokens"], example["ner_tags"] = tokens, spans_to_bio(token_offsets(text, tokens), spans)
    return example


EXAMPLES = [
    whitespace_example(
        "a",
        "cancel lunch with Ana Lopez next friday's at 3 pm",
        "cancel",
        [Span("NAME", 18, 27), Span("DATE", 28, 41), Span("TIME", 45, 49)],
    ),
    make_example("b", "what is on my calendar tomorrow", "inquiry", [Span("DATE", 23, 31)]),
    make_example("c", "email ana@example.com about the party", "other", [Span("EMAIL", 6, 21)]),
]


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "real.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in EXAMPLES))
    return path


@pytest.fixture
def spacy_pipeline(tmp_path: Path) -> Path:
    """A real spaCy pipeline (blank English + entity ruler) saved to a folder, loaded by name like en_core_web_sm."""
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([
        {"label": "PERSON", "pattern": "Ana Lopez"},
        {"label": "DATE", "pattern": "next friday"},
        {"label": "TIME", "pattern": "3 pm"},
        {"label": "ORG", "pattern": "calendar"},
        {"label": "DATE", "pattern": "the party"},
    ])  # fmt: skip
    nlp.to_disk(tmp_path / "spacy-ruler")
    return tmp_path / "spacy-ruler"


def test_spacy_baseline_maps_labels_and_finds_emails(jsonl: Path, spacy_pipeline: Path, tmp_path: Path):
    out = tmp_path / "out"
    argv = ["--dataset", str(jsonl), "--baseline-spacy", str(spacy_pipeline), "--output-dir", str(out), "--no-speed"]
    results = evaluate_models.evaluate(argv)
    (metrics,) = results.values()
    # Gold: NAME, DATE, TIME, DATE, EMAIL (5). Found: NAME, DATE, TIME, EMAIL right; "the party" a wrong DATE;
    # "tomorrow" missed; ORG dropped.
    assert metrics["entities"]["micro"]["precision"] == pytest.approx(4 / 5)
    assert metrics["entities"]["micro"]["recall"] == pytest.approx(4 / 5)
    assert metrics["entities"]["EMAIL"]["f1"] == 1.0
    assert metrics["intent"]["evaluated"] == 0 and metrics["intent"]["accuracy"] is None
    # The old spellings (--data, --out) still work, and give the same figures.
    again = evaluate_models.evaluate(
        ["--data", str(jsonl), "--baseline-spacy", str(spacy_pipeline), "--out", str(tmp_path / "old"), "--no-speed"]
    )
    assert again == results


def test_exact_span_figure_is_reported_beside_the_token_one(jsonl: Path, tmp_path: Path, monkeypatch, capsys):
    """A model that answers "next friday" for the gold "next friday's": the token figure forgives it (the span
    touches both gold tokens), the exact figure does not."""

    class Cutter:
        intents = ["inquiry", "cancel"]
        entity_types = ["DATE", "TIME", "NAME", "EMAIL"]

        def predict(self, texts, batch_size=32):
            out = []
            for text in texts:
                entities = []
                for needle, kind in (("Ana Lopez", "NAME"), ("next friday", "DATE"), ("3 pm", "TIME")):
                    start = text.find(needle)
                    if start >= 0:
                        entities.append({"type": kind, "text": needle, "start": start, "end": start + len(needle)})
                out.append({"text": text, "intent": "cancel", "intent_score": 1.0, "entities": entities})
            return out

    monkeypatch.setattr(
        evaluate_models,
        "load_checkpoint",
        lambda folder, backend: evaluate_models.Candidate("cutter", "test", Cutter()),
    )
    out = tmp_path / "out"
    evaluate_models.evaluate(["cutter", "--dataset", str(jsonl), "--output-dir", str(out), "--no-speed"])
    metrics = json.loads((out / "metrics.json").read_text())["models"]["cutter"]
    # Gold: NAME, DATE, TIME, DATE, EMAIL; predicted NAME, DATE ("next friday"), TIME.
    token, exact = metrics["entities"], metrics["entities_exact"]
    assert token["micro"]["precision"] == 1.0 and token["micro"]["recall"] == pytest.approx(3 / 5)
    assert exact["micro"]["precision"] == pytest.approx(2 / 3) and exact["micro"]["recall"] == pytest.approx(2 / 5)
    assert token["DATE"]["precision"] == 1.0 and exact["DATE"]["precision"] == 0.0
    table = (out / "results.md").read_text()
    assert "entity micro-F1 (token)" in table and "exact micro-F1" in table
    assert f"**{exact['micro']['f1']:.3f}**" in table and f"**{token['micro']['f1']:.3f}**" in table
    assert "**token**" in table and "**exact**" in table, "the table says which figure is which"
    capsys.readouterr()
    with pytest.raises(SystemExit):
        evaluate_models.parse_args(["--help"])
    shown = capsys.readouterr().out
    assert "token " in shown and "exact " in shown and '"today\'s"' in shown, "--help says which figure is which"


def test_joint_checkpoint_end_to_end_with_outputs(trained_tiny: Path, jsonl: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    results = evaluate_models.evaluate(
        [
            str(trained_tiny),
            "--dataset",
            str(jsonl),
            "--output-dir",
            str(out),
            "--latency-emails",
            "3",
            "--batch-size",
            "2",
        ]
    )
    metrics = results[trained_tiny.name]
    assert metrics["family"] == "joint-bert"
    assert metrics["intent"]["evaluated"] == 2 and metrics["intent"]["skipped"] == {"other": 1}
    speed = metrics["speed"]
    assert speed["latency_p50_ms"] > 0 and speed["emails_per_second_batched"] > 0 and speed["parameters"] > 0
    for name in ("metrics.json", "results.md", "entity_f1.png", "intent_confusion.png", "f1_vs_latency.png"):
        assert (out / name).is_file(), name
    rows = [json.loads(line) for line in (out / f"predictions-{trained_tiny.name}.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and [r["errors"] for r in rows] == sorted((r["errors"] for r in rows), reverse=True)
    captured = capsys.readouterr()
    assert "entity micro-F1" in captured.out
    # trained with --no-onnx: no export, so torch, said on standard error and recorded with the scores
    assert f"{trained_tiny.name}: backend torch (no ONNX export" in captured.err
    assert json.loads((out / "metrics.json").read_text())["models"][trained_tiny.name]["backend"] == "torch"


def test_not_a_checkpoint_is_a_clear_error(jsonl: Path, tmp_path: Path, capsys):
    assert evaluate_models.main([str(tmp_path), "--dataset", str(jsonl), "--output-dir", str(tmp_path / "out")]) == 1
    assert "not a checkpoint of either family" in capsys.readouterr().err
    assert not (tmp_path / "out").exists(), "nothing is written before the models load"


@pytest.fixture
def trained_tiny_slm(tmp_path: Path) -> Path:
    """A causal-SLM checkpoint from two training steps of train_slm.py on a tiny random Llama."""
    from slm_fixtures import build_tiny_model, train_tiny_checkpoint

    return train_tiny_checkpoint(build_tiny_model(tmp_path / "tiny-llama"), tmp_path / "slm")


def test_both_families_in_one_table(trained_tiny: Path, trained_tiny_slm: Path, jsonl: Path, tmp_path: Path):
    out = tmp_path / "both"
    argv = [str(trained_tiny), str(trained_tiny_slm), "--dataset", str(jsonl), "--output-dir", str(out)]
    results = evaluate_models.evaluate(argv + ["--latency-emails", "2", "--batch-size", "3"])
    joint, slm = results[trained_tiny.name], results[trained_tiny_slm.name]
    assert joint["family"] == "joint-bert" and slm["family"] == "causal-slm"
    assert "answers" not in joint and 0.0 <= slm["answers"]["valid"] <= 1.0
    assert slm["answers"]["strings_not_in_text"] >= 0 and slm["speed"]["parameters"] > 0
    assert slm["intent"]["skipped"] == {"other": 1}
    table = (out / "results.md").read_text()
    assert trained_tiny.name in table and trained_tiny_slm.name in table


def test_entity_types_the_model_never_learned_are_named(trained_tiny: Path, tmp_path: Path, capsys):
    data = tmp_path / "located.jsonl"
    example = make_example("l", "meet Ana in Lisbon", "inquiry", [Span("NAME", 5, 8), Span("LOCATION", 12, 18)])
    data.write_text(json.dumps(example) + "\n")
    argv = [str(trained_tiny), "--dataset", str(data), "--output-dir", str(tmp_path / "o"), "--no-speed"]
    results = evaluate_models.evaluate(argv)
    assert "not trained on entity types ['LOCATION']" in capsys.readouterr().err
    assert results[trained_tiny.name]["entities"]["LOCATION"]["recall"] == 0.0


def test_empty_data_file_is_a_clear_error_naming_it(trained_tiny: Path, tmp_path: Path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    argv = [str(trained_tiny), "--dataset", str(empty), "--output-dir", str(tmp_path / "out"), "--no-speed"]
    assert evaluate_models.main(argv) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(rf"error: {re.escape(str(empty))}.*no examples.*\n", err), "one line, no traceback"
    assert not (tmp_path / "out").exists()


def test_old_format_checkpoint_names_the_converter(trained_tiny_words_only: Path, jsonl: Path, tmp_path: Path, capsys):
    from conftest import write_old_format

    old = tmp_path / "old"
    write_old_format(trained_tiny_words_only, old)
    assert (
        evaluate_models.main([str(old), "--dataset", str(jsonl), "--output-dir", str(tmp_path / "o"), "--no-speed"])
        == 1
    )
    assert "convert_checkpoint.py" in capsys.readouterr().err
