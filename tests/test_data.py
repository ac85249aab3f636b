"""small_lm.data: token/span/BIO round trips (property-based), entity alignment, validation messages,
the MASSIVE benchmark file and the JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from small_lm.data import (
    SCHEMA_PATH,
    DatasetError,
    Span,
    bio_labels,
    bio_to_spans,
    build_document,
    check_iob2,
    check_split_fractions,
    find_entity,
    load_dataset_file,
    make_example,
    read_dataset_file,
    split_examples,
    token_offsets,
    tokenize,
    validate_example,
    write_json_atomic,
    write_text_atomic,
)

TYPES = ["DATE", "TIME", "NAME", "EMAIL", "LOCATION"]
LABELS = bio_labels(TYPES)
INTENTS = ["inquiry", "cancel"]
BENCHMARK = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "massive_calendar_dev.jsonl"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))

# Strings that tokenize() keeps as exactly one token: words, clock times and dates, emails, single marks.
word = st.text(st.characters(categories=["Ll", "Lu", "Nd"]), min_size=1, max_size=8)
token = st.one_of(
    word,
    st.builds(lambda h, m: f"{h}:{m:02d}", st.integers(0, 23), st.integers(0, 59)),
    st.builds(lambda a, b: f"{a}@{b}.com", st.from_regex(r"[a-z]{1,5}(\.[a-z]{1,4})?", fullmatch=True), word),
    st.sampled_from(list(",.!?;:()'\"-/&")),
)
separator = st.sampled_from([" ", "  ", "\n", "\t", " \n "])


@st.composite
def tokens_and_spans(draw: st.DrawFn) -> tuple[str, list[str], list[Span]]:
    """A text built from tokens, and non-overlapping token-aligned spans (adjacent ones allowed)."""
    tokens = draw(st.lists(token, min_size=1, max_size=25))
    text, offsets = draw(st.sampled_from(["", " "])), []
    for t in tokens:
        offsets.append((len(text), len(text) + len(t)))
        text += t + draw(separator)
    cuts = sorted(draw(st.sets(st.integers(0, len(tokens)), max_size=10)))
    spans = []
    for i, j in zip(cuts, cuts[1:], strict=False):
        if draw(st.booleans()):
            spans.append(Span(draw(st.sampled_from(TYPES)), offsets[i][0], offsets[j - 1][1]))
    return text, tokens, spans


@settings(max_examples=300, deadline=None)
@given(tokens_and_spans())
def test_spans_to_bio_and_back(case: tuple[str, list[str], list[Span]]) -> None:
    text, tokens, spans = case
    example = make_example("x", text, "inquiry", spans)
    assert example["tokens"] == tokens
    validate_example(example, LABELS, INTENTS)
    assert check_iob2(example["ner_tags"]) is None
    offsets = token_offsets(text, example["tokens"])
    assert bio_to_spans(offsets, example["ner_tags"]) == spans
    assert [(e["start"], e["end"]) for e in example["entities"]] == [(s.start, s.end) for s in spans]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_tokens_are_the_non_space_text_in_order(text: str) -> None:
    tokens = tokenize(text)
    assert all(text[s:e] == t and t.strip() == t != "" for t, s, e in tokens)
    assert token_offsets(text, [t for t, _, _ in tokens]) == [(s, e) for _, s, e in tokens]
    assert "".join(t for t, _, _ in tokens) == "".join(text.split())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text("bchjklqsuvwz", min_size=1, max_size=6), min_size=1, max_size=4),  # never contain a needle
    st.sampled_from(["Ana", "3pm", "next friday", "ana@x.org"]),
    st.integers(1, 4),
)
def test_find_entity_maps_repeats_in_order(fillers: list[str], needle: str, repeats: int) -> None:
    text = " ".join(f"{fillers[i % len(fillers)]} {needle}" for i in range(repeats)) + " " + fillers[0]
    occurrences = [i for i in range(len(text)) if text.startswith(needle, i)]
    taken: list[tuple[int, int]] = []
    for _ in range(repeats):
        span = find_entity(text, needle, taken)
        assert span is not None
        taken.append(span)
    assert taken == [(i, i + len(needle)) for i in occurrences]
    assert find_entity(text, needle, taken) is None


def test_find_entity_edges_and_listing_order() -> None:
    assert find_entity("Tomorrow with Tom", "Tom", []) == (14, 17)  # not inside "Tomorrow"
    assert find_entity("at 3:30pm", "3:30", []) is None  # "3:30pm" is one token
    assert find_entity("Jean-Luc's call", "Jean", []) == (0, 4)
    assert find_entity("Ana met Bob. Ana", "Ana", [(8, 11)]) == (13, 16)  # listed after Bob: the one after Bob
    assert find_entity("Ana and Ana", "Ana", [(8, 11)]) == (0, 3)  # falls back to an earlier free one
    assert find_entity("Ana and Ana", "  ", []) is None


# ------------------------------------------------------------------------------------------ validation errors


def write_document(path: Path, examples: list[dict], intents: list[str] = INTENTS) -> Path:
    splits = {"train": examples, "validation": [], "test": []}
    meta = {"generator": "tests", "model": None, "system_prompt": "", "seed": 0, "created_at": "2026-01-01T00:00:00Z"}
    write_json_atomic(path, build_document(splits, TYPES, intents, meta))
    return path


def good_example() -> dict:
    text = "Cancel lunch with Priya tomorrow at noon"
    return make_example("ex-1", text, "cancel", [Span("NAME", 18, 23), Span("DATE", 24, 32), Span("TIME", 36, 40)])


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda x: x["ner_tags"].__setitem__(3, "B-COLOR"), "field 'ner_tags[3]': unknown label 'B-COLOR'"),
        (lambda x: x["ner_tags"].__setitem__(3, "I-NAME"), "ner_tags[3] is 'I-NAME' but follows 'O'"),
        (lambda x: x.__setitem__("intent", "party"), "field 'intent': unknown intent 'party'"),
        (lambda x: x["entities"][0].__setitem__("start", 19), "field 'entities[0]': text[19:23] is 'riya'"),
        (lambda x: x["entities"].pop(), "field 'entities': spans do not match ner_tags"),
        (lambda x: x["tokens"].__setitem__(0, "Kancel"), "tokens[0] 'Kancel' does not appear"),
        (lambda x: x.pop("text"), "field 'text': expected str"),
    ],
)
def test_validation_errors_name_file_example_and_field(tmp_path: Path, spoil, message: str) -> None:
    examples = [good_example(), good_example()]
    examples[1]["id"] = "ex-2"
    spoil(examples[1])
    path = write_document(tmp_path / "bad.json", examples)
    with pytest.raises(DatasetError) as err:
        read_dataset_file(path)
    assert str(err.value).startswith(f"{path}: splits.train[1] (id ex-2): ")
    assert message in str(err.value)


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"splits": ', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad\.json: not valid JSON"):
        read_dataset_file(tmp_path / "bad.json")
    (tmp_path / "bad.jsonl").write_text(json.dumps(good_example()) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad\.jsonl: line 2: not valid JSON"):
        read_dataset_file(tmp_path / "bad.jsonl")
    (tmp_path / "list.json").write_text("[]", encoding="utf-8")
    with pytest.raises(DatasetError, match="expected an object with 'splits'"):
        read_dataset_file(tmp_path / "list.json")
    with pytest.raises(DatasetError, match="no such file"):
        read_dataset_file(tmp_path / "missing.json")


# -------------------------------------------------------------------------------------- files and the schema


def test_written_dataset_matches_the_json_schema_and_loads(tmp_path: Path) -> None:
    examples = []
    for i in range(10):
        x = good_example()
        x["id"] = f"ex-{i}"
        examples.append(x)
    splits = split_examples(examples, (0.8, 0.1, 0.1))
    assert [len(s) for s in splits.values()] == [8, 1, 1]
    meta = {"generator": "tests", "model": None, "system_prompt": "p", "seed": 1, "created_at": "2026-01-01T00:00:00Z"}
    document = build_document(splits, TYPES, INTENTS, meta)
    path = tmp_path / "ok.json"
    write_json_atomic(path, document)
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(on_disk, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert on_disk["metadata"]["counts"]["entities"] == {"NAME": 10, "DATE": 10, "TIME": 10}
    dsd = load_dataset_file(path)
    assert dsd["train"].num_rows == 8 and dsd["train"].features["ner_tags"].feature.names == LABELS
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    for spoil in (lambda d: d["metadata"].pop("generator"), lambda d: d["splits"]["train"][0].pop("tokens")):
        broken = json.loads(json.dumps(on_disk))
        spoil(broken)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


def test_write_json_atomic_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    write_json_atomic(path, {"ok": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text(encoding="utf-8")) == {"ok": 1} and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("fractions", [(0.5, 0.5, 0.5), (0.9, 0.1), (1.1, -0.1, 0.0), (0.9, 0.1, float("nan"))])
def test_split_fractions_must_be_three_shares_summing_to_one(fractions: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="expected three non-negative numbers summing to 1"):
        split_examples([], fractions)
    with pytest.raises(ValueError):
        check_split_fractions(fractions)
    check_split_fractions((0.8, 0.1, 0.1))  # a valid one passes


def test_write_text_atomic_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "lines.jsonl"
    write_text_atomic(path, "a\nb\n")
    write_text_atomic(path, "c\n")
    assert path.read_text(encoding="utf-8") == "c\n" and list(path.parent.iterdir()) == [path]


@pytest.mark.skipif(not BENCHMARK.exists(), reason="shared MASSIVE benchmark file not present")
def test_massive_benchmark_loads_as_a_test_split() -> None:
    dsd = load_dataset_file(BENCHMARK)
    assert list(dsd) == ["test"] and dsd["test"].num_rows == 335
    assert set(dsd["test"].features["intent"].names) == {"cancel", "inquiry", "other"}
    assert dsd["test"].features["ner_tags"].feature.names == bio_labels(["DATE", "TIME", "NAME", "EMAIL"])
