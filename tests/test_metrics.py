"""Scoring on hand-made gold/predicted pairs whose answers are known."""

from __future__ import annotations

import pytest

from small_lm.data import Span, make_example
from small_lm.metrics import (
    ScoringError,
    checkpoint_score,
    entity_scores,
    exact_span_scores,
    gold_spans,
    intent_scores,
    score_predictions,
    tags_for_example,
)

EXAMPLE = make_example(
    "x",
    "cancel lunch with Ana Lopez next friday at 3 pm",
    "cancel",
    [Span("NAME", 18, 27), Span("DATE", 28, 39), Span("TIME", 43, 47)],
)


def scores_for(spans: list[Span]) -> dict:
    return entity_scores([EXAMPLE["ner_tags"]], [tags_for_example(EXAMPLE, spans)])


def test_perfect_prediction():
    result = scores_for([Span("NAME", 18, 27), Span("DATE", 28, 39), Span("TIME", 43, 47)])
    assert result["micro"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3}


def test_partial_span_counts_as_wrong_under_strict_matching():
    # "Ana" instead of "Ana Lopez": one wrong NAME (a false positive and a missed gold), the rest right.
    result = scores_for([Span("NAME", 18, 21), Span("DATE", 28, 39), Span("TIME", 43, 47)])
    assert result["NAME"]["f1"] == 0.0
    assert result["micro"]["precision"] == pytest.approx(2 / 3) and result["micro"]["recall"] == pytest.approx(2 / 3)


def test_wrong_type_is_a_false_positive_and_a_miss():
    result = scores_for([Span("NAME", 18, 27), Span("TIME", 28, 39), Span("TIME", 43, 47)])
    assert result["DATE"]["recall"] == 0.0
    assert result["TIME"]["precision"] == 0.5 and result["TIME"]["recall"] == 1.0
    assert result["micro"]["f1"] == pytest.approx(2 / 3)


def test_empty_prediction_has_zero_recall():
    result = scores_for([])
    assert result["micro"]["recall"] == 0.0 and result["micro"]["f1"] == 0.0 and result["micro"]["support"] == 3


def test_macro_averages_types_equally():
    result = scores_for([Span("NAME", 18, 27)])  # NAME perfect, DATE and TIME missed
    assert result["macro"]["f1"] == pytest.approx(1 / 3)
    assert result["micro"]["f1"] == pytest.approx(2 * (1 * 1 / 3) / (1 + 1 / 3))


def test_span_cutting_a_gold_token_lands_on_that_token():
    # A prediction "Lop" inside the token "Lopez" still tags the token; strict matching judges the entity.
    assert tags_for_example(EXAMPLE, [Span("NAME", 22, 25)])[3:5] == ["O", "B-NAME"]


def test_intent_the_model_does_not_know_is_skipped_and_counted():
    gold = ["cancel", "inquiry", "other", "other", "cancel"]
    predicted = ["cancel", "cancel", "inquiry", "cancel", None]
    result = intent_scores(gold, predicted, ["inquiry", "cancel"])
    assert result["evaluated"] == 3 and result["skipped"] == {"other": 2}
    assert result["accuracy"] == pytest.approx(1 / 3)
    assert result["confusion"]["cancel"] == {"inquiry": 0, "cancel": 1, "(none)": 1}
    assert result["confusion"]["inquiry"]["cancel"] == 1


def test_no_known_intent_gives_no_accuracy():
    assert intent_scores(["other"], ["cancel"], ["inquiry", "cancel"])["accuracy"] is None


def test_checkpoint_score_is_the_mean_of_entity_f1_and_intent_accuracy():
    assert checkpoint_score(0.8, 0.6) == pytest.approx(0.7)
    assert checkpoint_score(0.8, None) == pytest.approx(0.4)  # no known intent counts as none right


def test_score_predictions_from_the_shared_prediction_format():
    other = make_example("y", "what is on tomorrow", "inquiry", [Span("DATE", 11, 19)])
    predictions = [
        {
            "intent": "cancel",
            "entities": [{"type": "NAME", "start": 18, "end": 27}, {"type": "TIME", "start": 43, "end": 47}],
        },
        {"intent": "cancel", "entities": [{"type": "DATE", "start": 11, "end": 16}]},  # "tomor": cuts the token
    ]
    result = score_predictions([EXAMPLE, other], predictions, ["inquiry", "cancel"])
    # Gold NAME, DATE, TIME, DATE; found NAME, TIME and "tomor", which lands on the token "tomorrow": all 3 right,
    # 3 of 4 found, so F1 = 2 * 1 * 3/4 / (1 + 3/4) = 6/7.
    assert result["entities"]["micro"]["precision"] == 1.0 and result["entities"]["DATE"]["recall"] == 0.5
    assert result["entity_f1"] == pytest.approx(6 / 7)
    assert result["intent_accuracy"] == 0.5 and result["score"] == pytest.approx((6 / 7 + 0.5) / 2)
    assert result["examples"] == 2


def test_nothing_to_score_is_an_error_not_a_seqeval_traceback():
    with pytest.raises(ScoringError, match="no examples"):
        score_predictions([], [], ["inquiry"])
    with pytest.raises(ScoringError, match="no examples"):
        entity_scores([], [])


# --- exact character spans beside the token figure ------------------------------------------------------------------

# Tokenized as MASSIVE is (whitespace), so "today's" is one gold token.
APOSTROPHE = {
    "id": "t",
    "text": "is today's 3pm still on",
    "tokens": ["is", "today's", "3pm", "still", "on"],
    "ner_tags": ["O", "B-DATE", "B-TIME", "O", "O"],
    "intent": "inquiry",
}


def test_span_stopping_inside_a_token_counts_for_the_token_figure_not_the_exact_one():
    # "today" (3-8) against the gold token "today's" (3-10): it touches the token, so the token figure counts it;
    # its character span differs, so the exact figure does not.
    entities = [{"type": "DATE", "start": 3, "end": 8}, {"type": "TIME", "start": 11, "end": 14}]
    prediction = {"intent": "inquiry", "entities": entities}
    assert "today's" in APOSTROPHE["tokens"], "the gold token runs past the predicted span"
    result = score_predictions([APOSTROPHE], [prediction], ["inquiry"])
    assert result["entities"]["micro"]["f1"] == 1.0 and result["entity_f1"] == 1.0
    exact = result["entities_exact"]
    assert exact["TIME"]["f1"] == 1.0 and exact["DATE"]["f1"] == 0.0
    assert exact["micro"]["precision"] == 0.5 and exact["micro"]["recall"] == 0.5 and exact["micro"]["support"] == 2
    assert exact["macro"]["f1"] == pytest.approx(0.5)


def test_exact_figure_counts_types_and_extra_spans():
    # Gold NAME, DATE, TIME.  Predicted: NAME exact, DATE with the right span but typed TIME, TIME exact, and a
    # spurious NAME: 2 right of 4 predicted, 2 of 3 gold found.
    entities = [Span("NAME", 18, 27), Span("TIME", 28, 39), Span("TIME", 43, 47), Span("NAME", 7, 12)]
    exact = exact_span_scores([gold_spans(EXAMPLE)], [entities])
    assert exact["micro"]["precision"] == pytest.approx(2 / 4) and exact["micro"]["recall"] == pytest.approx(2 / 3)
    assert exact["NAME"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert exact["DATE"]["recall"] == 0.0 and exact["TIME"]["precision"] == 0.5
    # Where every span is exact, both figures agree.
    perfect = [Span("NAME", 18, 27), Span("DATE", 28, 39), Span("TIME", 43, 47)]
    assert exact_span_scores([gold_spans(EXAMPLE)], [perfect])["micro"] == scores_for(perfect)["micro"]


def test_gold_spans_are_the_examples_own_entities():
    assert gold_spans(APOSTROPHE) == [Span("DATE", 3, 10), Span("TIME", 11, 14)]
    with pytest.raises(ScoringError, match="no examples"):
        exact_span_scores([], [])
