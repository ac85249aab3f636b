"""Faker pools: names from many locales, cities, phone numbers, companies and countries, built once per process
from fixed seeds; each message draws from them with its own random generator."""

from __future__ import annotations

import re
from dataclasses import dataclass

from faker import Faker

from generation.offline.lexicon import DataFileError, Lexicon

_NAME_RE = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")


@dataclass(frozen=True)
class Pools:
    first: dict[str, tuple[str, ...]]
    last: dict[str, tuple[str, ...]]
    cities: tuple[str, ...]
    phones: tuple[str, ...]
    companies: tuple[str, ...]
    countries: tuple[str, ...]


def _seeded(locale: str, seed: int) -> Faker:
    fake = Faker(locale)
    fake.seed_instance(seed)
    return fake


def build_pools(lex: Lexicon) -> Pools:
    """The pools; dict.fromkeys keeps the first-seen order, so they do not depend on hash randomisation."""
    not_names = {w.lower() for w in lex["words.not_names"].texts}

    def unique_names(names: list[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for n in names if _NAME_RE.match(n) and n.lower() not in not_names))

    handmade = lex.keys("words.handmade_first_names")
    locales = lex["words.name_locales"].texts
    if odd := sorted(set(handmade) ^ set(lex.keys("words.handmade_last_names")) | set(handmade) - set(locales)):
        raise DataFileError(f"words.yaml: handmade names {odd}: need first and last names and a name_locales entry")
    first, last = {}, {}
    for locale in locales:
        if locale in handmade:  # a language whose Faker names are not in Latin script
            first[locale] = lex[f"words.handmade_first_names.{locale}"].texts
            last[locale] = lex[f"words.handmade_last_names.{locale}"].texts
            continue
        fake = _seeded(locale, 0)
        romanized = locale == "ja_JP"  # the kanji names would not be read out by an assistant
        make_first = fake.first_romanized_name if romanized else fake.first_name
        make_last = fake.last_romanized_name if romanized else fake.last_name
        first[locale] = unique_names([make_first() for _ in range(300)])
        last[locale] = unique_names([make_last() for _ in range(300)])
    cities, phones, companies = list(lex["words.cities"].texts), [], list(lex["words.companies"].texts)
    for locale in lex["words.faker_city_locales"].texts:
        fake = _seeded(locale, 1)
        cities += [fake.city() for _ in range(25)]
    for locale in lex["words.faker_phone_locales"].texts:
        fake = _seeded(locale, 2)
        phones += [p for p in (fake.phone_number() for _ in range(40)) if "x" not in p]
    fake = _seeded("en_US", 3)
    # Not "Ruiz, Copeland and Alvarez": a firm named as a list of surnames reads as a list of NAMEs.
    companies += [c for c in (fake.company() for _ in range(30)) if "," not in c and " and " not in c][:20]
    cities += [t.split(", ")[0] for key in ("us_city_state", "city_country") for t in lex[f"words.{key}"].texts]
    cities += [fake.city() for _ in range(15)]  # "West Donald", "Lake Jennifer": a name inside a place
    countries = list(lex["words.countries"].texts) + [c for c in (fake.country() for _ in range(40)) if len(c) < 16]
    phones = list(dict.fromkeys(phones))
    return Pools(first, last, unique_names(cities), tuple(phones), tuple(companies), unique_names(countries))
