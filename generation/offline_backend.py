"""The offline backend: the template generator of ``generation/offline/``, checked like any other source.

The templates have values for a fixed set of entity types (``ENTITY_TYPES``); a chat model can tag any type it
is told of, so a run that asks for another type is refused with a pointer to the openai backend.
"""

from __future__ import annotations

from collections.abc import Sequence

from generation import GenerationError
from generation.offline import ENTITY_TYPES as OFFLINE_ENTITY_TYPES
from small_lm.data import DatasetError, bio_labels, validate_example


def check_offline_entity_types(entity_types: Sequence[str]) -> None:
    """Raise GenerationError naming the requested types that the templates cannot make, if any."""
    unknown = [t for t in entity_types if t not in OFFLINE_ENTITY_TYPES]
    if unknown:
        raise GenerationError(
            f"the offline generator cannot make {', '.join(unknown)} entities (its templates have values for "
            f"{', '.join(OFFLINE_ENTITY_TYPES)} only); drop {', '.join(unknown)} from --entity-types, or use "
            "--backend openai, whose chat model can tag any entity type"
        )


def generate_offline_examples(
    num_examples: int,
    seed: int,
    entity_types: Sequence[str],
    intents: Sequence[str],
    styles: dict[str, float],
) -> list[dict]:
    """``num_examples`` examples from the template generator, each validated against the format."""
    check_offline_entity_types(entity_types)
    # Imported here: the engine loads Faker, which an openai run does not need.
    from generation.offline import messages

    try:
        examples = messages.generate_offline(num_examples, seed, list(entity_types), list(intents), styles=styles)
    except (ValueError, RuntimeError) as err:
        raise GenerationError(f"offline generator: {err}") from None
    labels = bio_labels(entity_types)
    for i, example in enumerate(examples):
        try:
            validate_example(example, labels, intents)
        except DatasetError as err:
            raise GenerationError(f"offline generator: example {i}: {err}") from None
    if len(examples) < num_examples:
        raise GenerationError(f"offline generator returned {len(examples)} of {num_examples} examples")
    return examples
