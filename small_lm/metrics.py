"""Scoring shared by both model families: seqeval entity scores (IOB2, strict) and intent accuracy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from small_lm.data import Span, spans_to_bio, token_offsets


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Precision/recall/F1 per type, micro and macro, with seqeval in strict IOB2 mode."""
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
