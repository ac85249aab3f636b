"""Scoring shared by both model families, the evaluator, the benchmarks and both trainers: entity scores two
ways, intent accuracy, and the score that picks the best checkpoint.

    scores = score_predictions(examples, predictions, intents)   # examples with string ner_tags and intent
    scores["entity_f1"], scores["intent_accuracy"], scores["score"], scores["entities"]["DATE"]["f1"]
    scores["entities_exact"]["micro"]["f1"]

Entities are scored two ways, with the same keys (per type, micro, macro, weighted: precision, recall, F1,
support):

- token (``entities``, ``entity_f1``): seqeval, IOB2, strict, on the gold example's own tokens.  A predicted
  character span tags every gold token it touches, so a span that stops inside a token counts as the whole
  token: "today" predicted where the gold token is "today's" is right.  What the trainers select by.
- exact (``entities_exact``): a predicted entity is right only when its type and character span equal a gold
  entity's (the gold span runs from its first token's start to its last token's end).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from small_lm.data import Span, bio_to_spans, spans_to_bio, token_offsets


class ScoringError(ValueError):
    """Nothing to score (no examples): seqeval cannot average over nothing."""


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Precision/recall/F1 per type, micro and macro, with seqeval in strict IOB2 mode."""
    if not gold:
        raise ScoringError("no examples to score")
    report = classification_report(
        [list(g) for g in gold],
        [list(p) for p in predicted],
        mode="strict",
        scheme=IOB2,
        output_dict=True,
        zero_division=0,
    )
    rename = {"micro avg": "micro", "macro avg": "macro", "weighted avg": "weighted"}
    return {
        rename.get(name, name): {
            "precision": float(row["precision"]),
            "recall": float(row["recall"]),
            "f1": float(row["f1-score"]),
            "support": int(row["support"]),
        }
        for name, row in report.items()
    }


def exact_span_scores(gold: Sequence[Iterable[Span]], predicted: Sequence[Iterable[Span]]) -> dict[str, Any]:
    """Precision/recall/F1 per type, micro, macro and weighted, where an entity is right only when its type, start
    and end equal a gold entity's.  One list of spans per example; a span predicted twice counts once."""
    if not gold:
        raise ScoringError("no examples to score")
    correct, found, support = Counter(), Counter(), Counter()
    for gold_row, predicted_row in zip(gold, predicted, strict=True):
        g = {(s.type, s.start, s.end) for s in gold_row}
        p = {(s.type, s.start, s.end) for s in predicted_row}
        support.update(t for t, _, _ in g)
        found.update(t for t, _, _ in p)
        correct.update(t for t, _, _ in g & p)

    def row(right: int, predicted: int, true: int) -> dict[str, Any]:
        precision = right / predicted if predicted else 0.0
        recall = right / true if true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "support": true}

    # Every type seen in gold or predictions, as seqeval reports them.
    rows = {t: row(correct[t], found[t], support[t]) for t in sorted(support.keys() | found.keys())}
    total = sum(support.values())
    out = dict(rows)
    out["micro"] = row(sum(correct.values()), sum(found.values()), total)
    for name, weights in (("macro", {t: 1 for t in rows}), ("weighted", {t: r["support"] for t, r in rows.items()})):
        norm = sum(weights.values())
        out[name] = {
            **{
                k: sum(weights[t] * r[k] for t, r in rows.items()) / norm if norm else 0.0
                for k in ("precision", "recall", "f1")
            },
            "support": total,
        }
    return out


def gold_spans(example: dict) -> list[Span]:
    """The gold example's entities as character spans, from its tokens and BIO tags."""
    return bio_to_spans(token_offsets(example["text"], example["tokens"]), example["ner_tags"])


def predicted_spans(prediction: dict) -> list[Span]:
    return [Span(e["type"], e["start"], e["end"]) for e in prediction["entities"]]


def tags_for_example(example: dict, spans: Iterable[Span]) -> list[str]:
    """Predicted character spans as IOB2 tags over the gold example's own tokens, for seqeval.

    A token gets an entity's tag when it overlaps the span, so a prediction that cuts a gold token in two
    still lands on that token; seqeval's strict matching then decides whether the entity is right.
    """
    return spans_to_bio(token_offsets(example["text"], example["tokens"]), spans)


def intent_scores(gold: Sequence[str], predicted: Sequence[str | None], known: Iterable[str]) -> dict[str, Any]:
    """Accuracy and confusion matrix over the examples whose gold intent the model knows.

    Examples with an intent outside ``known`` (e.g. MASSIVE's ``other``) are skipped and counted by intent.
    """
    known = list(known)
    pairs = [(g, p) for g, p in zip(gold, predicted, strict=True) if g in known]
    skipped: dict[str, int] = {}
    for g in gold:
        if g not in known:
            skipped[g] = skipped.get(g, 0) + 1
    columns = known + ["(none)"]
    confusion = {g: {p: 0 for p in columns} for g in known}
    for g, p in pairs:
        confusion[g][p if p in known else "(none)"] += 1
    correct = sum(g == p for g, p in pairs)
    return {
        "accuracy": correct / len(pairs) if pairs else None,
        "evaluated": len(pairs),
        "skipped": skipped,
        "labels": known,
        "confusion": confusion,
    }


def predicted_tags(examples: Sequence[dict], predictions: Sequence[dict]) -> list[list[str]]:
    """Each prediction's entities (character spans, the shared format) as IOB2 tags over its gold example's tokens."""
    return [tags_for_example(x, predicted_spans(p)) for x, p in zip(examples, predictions, strict=True)]


def checkpoint_score(entity_f1: float, intent_accuracy: float | None) -> float:
    """What picks the best checkpoint in both trainers: the mean of entity micro-F1 and intent accuracy (0 when
    no example has an intent the model knows), so it reads on the same 0-1 scale as both."""
    return (entity_f1 + (intent_accuracy or 0.0)) / 2


def score_predictions(
    examples: Sequence[dict], predictions: Sequence[dict], intents: Iterable[str], tags: list[list[str]] | None = None
) -> dict[str, Any]:
    """Entity scores (token and exact, see the module's docstring), intent scores and the checkpoint score of
    predictions (shared format) against gold examples.

    ``examples`` carry string ``ner_tags`` and ``intent`` (as in the dataset file); ``tags`` are the predictions as
    ``predicted_tags`` gives them, when the caller already has them.  ``ScoringError`` when there is no example.
    """
    if not examples:
        raise ScoringError("no examples to score")
    tags = predicted_tags(examples, predictions) if tags is None else tags
    entities = entity_scores([list(x["ner_tags"]) for x in examples], tags)
    exact = exact_span_scores([gold_spans(x) for x in examples], [predicted_spans(p) for p in predictions])
    intent = intent_scores([x["intent"] for x in examples], [p["intent"] for p in predictions], intents)
    f1 = entities["micro"]["f1"]
    return {
        "entity_f1": f1,
        "intent_accuracy": intent["accuracy"] or 0.0,
        "score": checkpoint_score(f1, intent["accuracy"]),
        "examples": len(examples),
        "entities": entities,
        "entities_exact": exact,
        "intent": intent,
    }
