"""Offline synthetic data: scheduling messages with entity spans and an intent, no API key and no network.

A model trained only on this data is measured on real messages: short spoken assistant commands and real work
email.  Simple templates reach near-perfect scores on their own data and then over-tag real text, so the
generator aims at variety and at hard negatives:

- short styles: voice commands (lowercase, no punctuation, numbers spelled out, wake words), chat messages,
  emails (greeting, body, sign-off with the sender's name) and email threads (replies and forwards with quoted
  text, whose intent is the top message's);
- whole-message styles (small_lm/data/work_email.yaml holds their word lists and templates): raw emails with
  header blocks (display names and addresses, To/Cc lists, RE:/FW: subjects, send dates, sometimes MIME
  lines), signatures, "Original Message" blocks, quoted replies and forwards; talk announcements with fields;
  calendar and conference-call invitations with dial-in numbers and agendas.  Names come as work email writes
  them: surname alone, "J. Baker", "Baker, Ann", handles, initials, titles;
- many surface forms per entity (see small_lm.guideline): "tomorrow", "the twenty first", "2024-06-03",
  "half past two", "10-11am", "04-May-95", "1530 hrs", names from many locales, written and spoken addresses;
- entity-like words that are not entities, in the same positions as entities: "my boss", "mom", "the offsite",
  "room 4B", "every monday", "for an hour", "in ten minutes", "Good morning", "alexa", "May I ask", when a
  message was sent, and numbers of every kind (rooms, extensions, phones, amounts, tickets, versions);
- what assistant commands hold: places (untagged unless LOCATION is requested), holidays and occasions
  (events, never DATEs), possessive names ("priya's recital" tags "priya"), command shapes ("remind me", "add ...
  to my calendar", "send an email to") carrying inquiry and cancel requests, spoken addresses ("dana dot kim at
  example dot org", often with the person's NAME as a separate mention), recogniser spellings ("five p. m.",
  "ten o'clock", years in words, day spans counted from now), lists of names ("with rosa tariq and ken") and
  first names that are also words ("will", "june", "bill").

Text is assembled from pieces, ``(text, entity type or None)``; spans come from where each entity piece was
put, never from searching the finished text.  Templates are strings with ``[a|b|]`` alternatives (an empty one
makes the part optional) and ``{slot}`` or ``{slot:fallback}`` fillers; the fallback is used when the slot's
entity type is not requested or the message is one without entities.

Word lists and templates are data, checked and loaded once per process: small_lm/data/words.yaml (word lists),
short_messages.yaml (templates of the voice, chat, email and thread styles) and work_email.yaml (word lists and
templates of the whole-message styles); a list is plain strings or ``[text, weight]`` pairs.  This module holds
the logic: value generators, slots, restyling, assembly and layouts.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from faker import Faker

from small_lm.data import DEFAULT_ENTITY_TYPES, DEFAULT_INTENTS, Span, make_example, tokenize
from small_lm.styles import default_mix

Piece = tuple[str, "str | None"]  # (text, entity type or None for plain text)

NO_ENTITY_RATE = 0.04  # messages built with no entities at all, whatever the template

# -----------------------------------------------------------------------------
# data files: the word lists and templates (small_lm/data/*.yaml); this module holds the logic that uses them

DATA_DIR = Path(__file__).with_name("data")
WORDS_FILE = DATA_DIR / "words.yaml"  # word lists: entity-like words that are not entities, places, names
SHORT_MESSAGES_FILE = DATA_DIR / "short_messages.yaml"  # templates of the voice, chat, email and thread styles
WORK_EMAIL_FILE = DATA_DIR / "work_email.yaml"  # word lists and templates of the whole-message styles

AMBIGUOUS_RATE = 0.08  # how often a first name is one that is also a word ("june", "will": words.yaml)
PAIR_LISTS = ("us_city_state", "city_country")  # "Austin, Texas": a city and its state or country


class DataFileError(ValueError):
    """A data file that does not have the expected shape; the message names the file, the key and the entry."""


def _weighted_entries(path: Path, key: str, entries: Any) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """A list of strings (equal weights) or [text, weight] pairs, checked; templates are parsed (slot names)."""
    if not isinstance(entries, list) or not entries:
        raise DataFileError(f"{path.name}: {key}: expected a non-empty list")
    texts, weights = [], []
    for i, entry in enumerate(entries):
        text, weight = (entry, 1.0) if isinstance(entry, str) else (entry if isinstance(entry, list) else (None, None))
        if (
            not isinstance(text, str)
            or isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or weight <= 0
            or (isinstance(entry, list) and len(entry) != 2)
        ):
            raise DataFileError(f"{path.name}: {key}[{i}]: expected a string or [text, weight > 0], got {entry!r}")
        try:
            _parse(text)
        except KeyError as err:
            raise DataFileError(f"{path.name}: {key}[{i}]: {err.args[0]}") from None
        texts.append(text)
        weights.append(float(weight))
    return tuple(texts), tuple(weights)


def load_word_lists(path: Path) -> dict[str, Any]:
    """Every list of a data file as ``(texts, weights)``; a mapping of lists (e.g. per intent) stays a mapping."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise DataFileError(f"{path.name}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise DataFileError(f"{path.name}: expected a mapping of list names to lists")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            out[key] = {sub: _weighted_entries(path, f"{key}.{sub}", v) for sub, v in value.items()}
        else:
            out[key] = _weighted_entries(path, key, value)
    return out


@dataclass(frozen=True)
class Words:
    """One list of a data file, ready to draw from with Ctx.draw."""

    texts: tuple[str, ...]
    weights: tuple[float, ...]
    cum_weights: tuple[float, ...] | None  # None when all weights are equal: drawn as Ctx.pick draws

    @classmethod
    def of(cls, texts: Sequence[str], weights: Sequence[float]) -> Words:
        uniform = len(set(weights)) <= 1
        return cls(tuple(texts), tuple(weights), None if uniform else tuple(itertools.accumulate(weights)))


def _check_lists(path: Path, lists: dict[str, Any], names: str, mappings: dict[str, tuple[str, ...]]) -> None:
    """The lists the code draws from are there: `names` (space-separated) as lists, `mappings` as mappings of
    lists that hold at least the keys given."""
    if missing := sorted(k for k in (*names.split(), *mappings) if k not in lists):
        raise DataFileError(f"{path.name}: missing lists {missing}")
    for key in names.split():
        if isinstance(lists[key], dict):
            raise DataFileError(f"{path.name}: {key}: expected a list, got a mapping")
    for key, needed in mappings.items():
        if not isinstance(lists[key], dict):
            raise DataFileError(f"{path.name}: {key}: expected a mapping of lists")
        if missing := sorted(set(needed) - set(lists[key])):
            raise DataFileError(f"{path.name}: {key}: missing lists {missing}")


def _check_unweighted(path: Path, key: str, entries: tuple[tuple[str, ...], tuple[float, ...]]) -> None:
    """A list drawn without repeats, or merged into a pool, takes plain strings only."""
    for i, weight in enumerate(entries[1]):
        if weight != 1.0:
            raise DataFileError(f"{path.name}: {key}[{i}]: this list takes no weights, got {weight:g}")


def _as_words(lists: dict[str, Any]) -> dict[str, Any]:
    return {
        key: {sub: Words.of(*v) for sub, v in value.items()} if isinstance(value, dict) else Words.of(*value)
        for key, value in lists.items()
    }


@functools.cache
def _words() -> dict[str, Any]:
    """data/words.yaml, checked, as Words (a mapping of lists stays a mapping); once per process."""
    path, lists = WORDS_FILE, load_word_lists(WORDS_FILE)
    _check_lists(
        path,
        lists,
        "wake_words roles family groups titles spoken_titles name_locales ambiguous_first not_names events freq_adj "
        "recurring durations in_durations lead_times topics holidays occasions possessed meals trips places "
        "places_unnamed cities streets venues us_city_state us_states city_country countries chains venue_owners "
        "venue_kinds venue_places pub_adj pub_noun street_bases street_types companies job_titles free_domains "
        "work_domains free_tlds",
        {
            "no_when": ("on", "for", "to", "bare"),
            "date_leads": (),
            "place_fallbacks": tuple(PLACE_VALUES),
            "handmade_first_names": (),
            "handmade_last_names": (),
        },
    )
    for key in ("cities", "companies", "countries", "not_names"):  # merged into pools, or a set
        _check_unweighted(path, key, lists[key])
    for key in PAIR_LISTS:
        for i, text in enumerate(lists[key][0]):
            if text.count(", ") != 1:
                raise DataFileError(f'{path.name}: {key}[{i}]: expected "first, second", got {text!r}')
    first, last = lists["handmade_first_names"], lists["handmade_last_names"]
    if odd := sorted((set(first) ^ set(last)) | (set(first) - set(lists["name_locales"][0]))):
        raise DataFileError(f"{path.name}: handmade names {odd}: need first and last names and a name_locales entry")
    for kind, names in (("handmade_first_names", first), ("handmade_last_names", last)):
        for key, entries in names.items():
            _check_unweighted(path, f"{kind}.{key}", entries)
    return _as_words(lists)


@functools.cache
def _short_messages() -> dict[str, Any]:
    """data/short_messages.yaml, checked, as Words; the per-intent tables stay mappings."""
    path, lists = SHORT_MESSAGES_FILE, load_word_lists(SHORT_MESSAGES_FILE)
    _check_lists(
        path,
        lists,
        "generic_voice generic_written generic_subjects email_fillers greetings signoffs",
        {"voice": (), "chat": (), "email_core": (), "subjects": ("inquiry",), "thread_top": ()},
    )
    _check_unweighted(path, "email_fillers", lists["email_fillers"])  # sampled without repeats
    return _as_words(lists)


@functools.cache
def _work_lists() -> dict[str, Any]:
    """data/work_email.yaml, checked, as (texts, weights) per list; once per process."""
    lists = load_word_lists(WORK_EMAIL_FILE)
    needed = ("departments acronyms tickers exchanges projects products universities buildings job_titles "
              "company_suffixes disclaimers list_names no_reply_names work_fillers greetings signoffs talk_topics "
              "announcement_intros abstract_sentences agenda_items time_zones people_headings people_notes "
              "caps_headings site_codes name_subjects posted_lines forwarded_lines")  # fmt: skip
    _check_lists(WORK_EMAIL_FILE, lists, needed, {"reply_notes": ("inquiry",)})
    return lists


def _work(key: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    return _work_lists()[key]


def _short(key: str) -> Any:
    """A list (Words) or a per-intent table of data/short_messages.yaml."""
    return _short_messages()[key]


def _pair(text: str) -> tuple[str, str]:
    first, second = text.split(", ")
    return first, second


def __getattr__(name: str) -> Any:
    """The lists of data/words.yaml under their former constant names (CHAINS, US_CITY_STATE, NO_WHEN, ...): each
    text once, pairs as (city, state) tuples."""
    key = name.lower()
    if not name.isupper() or key not in _words():
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = _words()[key]
    if isinstance(value, dict):
        return {sub: words.texts for sub, words in value.items()}
    return tuple(_pair(t) for t in value.texts) if key in PAIR_LISTS else value.texts


# Language data stays in code: it is looked up by position (the 3rd month, the number 21), so its order is its
# meaning, and it never changes.
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAY_ABBR = ("mon", "tue", "wed", "thurs", "fri", "sat", "sun")
MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
).split()
TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty"}
ORDINALS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
    "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"
).split()


# -----------------------------------------------------------------------------
# Faker pools: built once per process from fixed seeds; each call draws from them with its own Random(seed)


@dataclass(frozen=True)
class Pools:
    first: dict[str, tuple[str, ...]]
    last: dict[str, tuple[str, ...]]
    locales: tuple[str, ...]
    locale_weights: tuple[float, ...]
    cities: tuple[str, ...]
    phones: tuple[str, ...]
    companies: tuple[str, ...]
    countries: tuple[str, ...]


_FAKERS: dict[str, Faker] = {}


def _faker(locale: str) -> Faker:
    if locale not in _FAKERS:
        _FAKERS[locale] = Faker(locale)
    return _FAKERS[locale]


_NAME_RE = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")


def _unique_names(names: list[str]) -> tuple[str, ...]:
    # dict.fromkeys keeps the first-seen order, so pools do not depend on hash randomisation
    not_names = {w.lower() for w in _words()["not_names"].texts}
    return tuple(dict.fromkeys(n for n in names if _NAME_RE.match(n) and n.lower() not in not_names))


@functools.lru_cache(maxsize=1)
def _pools() -> Pools:
    words = _words()
    first, last = {}, {}
    handmade_first, handmade_last = words["handmade_first_names"], words["handmade_last_names"]
    for locale in words["name_locales"].texts:
        if locale in handmade_first:  # a language whose Faker names are not in Latin script
            first[locale], last[locale] = handmade_first[locale].texts, handmade_last[locale].texts
            continue
        fake = _faker(locale)
        fake.seed_instance(0)
        if locale == "ja_JP":  # romanised, the kanji ones would not be read out by an assistant
            first[locale] = _unique_names([fake.first_romanized_name() for _ in range(300)])
            last[locale] = _unique_names([fake.last_romanized_name() for _ in range(300)])
        else:
            first[locale] = _unique_names([fake.first_name() for _ in range(300)])
            last[locale] = _unique_names([fake.last_name() for _ in range(300)])
    locales, weights = words["name_locales"].texts, words["name_locales"].weights
    cities, phones, companies = list(words["cities"].texts), [], list(words["companies"].texts)
    # Not it_IT: its city() depends on the hash seed, so the same seed would give other data in another process.
    for locale in ("de_DE", "es_ES", "en_IN", "fr_FR"):
        fake = _faker(locale)
        fake.seed_instance(1)
        cities += [fake.city() for _ in range(25)]
    for locale in ("en_US", "en_GB", "en_IN", "de_DE", "fr_FR", "en_NG"):
        fake = _faker(locale)
        fake.seed_instance(2)
        phones += [p for p in (fake.phone_number() for _ in range(40)) if "x" not in p]
    fake = _faker("en_US")
    fake.seed_instance(3)
    # Not "Ruiz, Copeland and Alvarez": a firm named as a list of surnames reads as a list of NAMEs.
    companies += [c for c in (fake.company() for _ in range(30)) if "," not in c and " and " not in c][:20]
    cities += [_pair(t)[0] for key in PAIR_LISTS for t in words[key].texts]
    cities += [fake.city() for _ in range(15)]  # "West Donald", "Lake Jennifer": a name inside a place
    countries = list(words["countries"].texts) + [c for c in (fake.country() for _ in range(40)) if len(c) < 16]
    return Pools(
        first,
        last,
        locales,
        weights,
        _unique_names(cities),
        tuple(dict.fromkeys(phones)),
        tuple(companies),
        _unique_names(countries),
    )


# -----------------------------------------------------------------------------
# per-message context


@dataclass
class Ctx:
    rng: random.Random
    pools: Pools
    types: tuple[str, ...]  # a tuple, not a set: iterating it must not depend on hash randomisation
    style: str  # "voice", "chat", "email" or "thread"
    tagged: bool  # False: a message with no entities at all
    spoken: bool  # numbers and emails as a speech recogniser writes them ("three thirty pm", "at gmail dot com")
    who: tuple[str, str] | None = None  # the person that {pname} and {pemail} share within one message

    def has(self, entity_type: str) -> bool:
        return self.tagged and entity_type in self.types

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, seq: Sequence):
        return seq[self.rng.randrange(len(seq))]

    def draw(self, words: Words) -> str:
        """An entry of a data file's list, by its weights."""
        if words.cum_weights is None:
            return self.pick(words.texts)
        return self.rng.choices(words.texts, cum_weights=words.cum_weights)[0]


def _word(ctx: Ctx, key: str) -> str:
    """An entry of a list of data/words.yaml, by its weights."""
    return ctx.draw(_words()[key])


def lit(text: str) -> list[Piece]:
    return [(text, None)]


def ent(text: str, entity_type: str) -> list[Piece]:
    return [(text, entity_type)]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _fold(s: str) -> str:
    """ASCII letters only, as a speech recogniser or an email address would write a name."""
    s = s.translate(str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "ß": "ss", "ı": "i", "đ": "d", "æ": "ae"}))
    return (
        "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
        .encode("ascii", "ignore")
        .decode()
    )


def _number(n: int) -> str:
    """0..59 in words: "twenty one"."""
    if n <= 20:
        return NUMBERS[n]
    tens, ones = divmod(n, 10)
    return TENS[tens * 10] + (f" {NUMBERS[ones]}" if ones else "")


def _ordinal_word(n: int) -> str:
    """1..31 in words: "twenty first"."""
    if n <= 20:
        return ORDINALS[n - 1]
    tens, ones = divmod(n, 10)
    return f"{TENS[tens * 10]} {ORDINALS[ones - 1]}" if ones else TENS[tens * 10][:-1] + "ieth"


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# -----------------------------------------------------------------------------
# entity values


def _date_value(ctx: Ctx) -> tuple[str, str]:
    """A DATE and its kind: rel (tomorrow), day (friday), week (next week), abs (June 3rd), nth, range."""
    rng, spoken = ctx.rng, ctx.spoken
    kind = rng.choices(("rel", "day", "week", "abs", "nth", "range", "span"), (28, 30, 12, 16, 6, 5, 5))[0]
    written = ctx.style != "voice"
    if kind == "rel":
        if ctx.style == "chat" and ctx.chance(0.12):
            return ctx.pick(("tmrw", "tmr", "tomorow")), kind
        text = rng.choices(("tomorrow", "today", "the day after tomorrow"), (62, 32, 6))[0]
        return text, kind
    day = rng.randrange(7)
    name = WEEKDAYS[day]
    if kind == "day":
        if written and ctx.chance(0.1):
            name = WEEKDAY_ABBR[day]
        name = _cap(name) if written else name
        prefix = rng.choices(("", "this ", "next ", "this coming ", "coming "), (55, 18, 20, 4, 3))[0]
        return prefix + name, kind
    if kind == "week":
        options = ("this week", "next week", "this weekend", "the weekend", "next weekend", "next month",
                   "this month", "the end of the week", "the end of the month", "the week after next")  # fmt: skip
        return rng.choices(options, (20, 22, 14, 8, 6, 10, 5, 5, 5, 3))[0], kind
    date = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(3 * 365))
    month, d = MONTHS[date.month - 1], date.day
    wd = WEEKDAYS[date.weekday()]
    if kind == "nth":
        return ("the " + (_ordinal_word(d) if spoken else _ordinal(d))), kind
    if kind == "range":
        if ctx.chance(0.5):
            a = rng.randrange(5)
            b = a + rng.randint(1, 2)
            sep = ctx.pick((" to ", " through ", " - ", "-")) if written else ctx.pick((" to ", " through ", " till "))
            if written and sep in (" - ", "-") and ctx.chance(0.5):
                return f"{_cap(WEEKDAY_ABBR[a])}{sep}{_cap(WEEKDAY_ABBR[b])}", kind
            names = (_cap(WEEKDAYS[a]), _cap(WEEKDAYS[b])) if written else (WEEKDAYS[a], WEEKDAYS[b])
            return names[0] + sep + names[1], kind
        d = min(d, 25)
        e = d + rng.randint(1, 4)
        if spoken:
            return f"{month} {_ordinal_word(d)} to the {_ordinal_word(e)}", kind
        return ctx.pick((f"{_cap(month)} {d}-{e}", f"{_cap(month)} {_ordinal(d)} to {_ordinal(e)}",
                         f"the {_ordinal(d)} to the {_ordinal(e)}", f"{d}-{e} {_cap(month)}")), kind  # fmt: skip
    if kind == "span":  # day ranges counted from now; holidays are events, not DATEs (see holidays in data/words.yaml)
        if ctx.chance(0.35):
            return ctx.pick(("two days from now", "a week from now", "three days from now", "a week from friday",
                             "two weeks from today", "a week from tomorrow", "a week from monday")), "from"  # fmt: skip
        n = ctx.pick(("two", "three", "five", "seven", "ten", "few", "couple of"))
        n = (
            {"two": "2", "three": "3", "five": "5", "seven": "7", "ten": "10"}.get(n, n)
            if written and ctx.chance(0.4)
            else n
        )
        return ctx.pick((f"the next {n} days", "the rest of the week", "the rest of the month", "the next two weeks",
                         f"the next {n} days", "the coming week", "the following week", "the next few weeks",
                         "the rest of this week")), kind  # fmt: skip
    # absolute dates, in the formats people type or say
    if ctx.style == "voice" and not spoken:
        return ctx.pick((f"{month} {_ordinal(d)}", f"{month} {d}", f"the {_ordinal(d)} of {month}")), kind
    if spoken:
        nth = _ordinal_word(d)
        if ctx.chance(0.2):  # a year in words after the day
            year = _year_words(ctx, rng.randint(2016, 2027))
            return ctx.pick((f"{month} {nth} {year}", f"the {nth} of {month} {year}", f"{month} {_number(d)} {year}",
                             f"{month} the {nth} {year}")), kind  # fmt: skip
        forms = (f"{month} {nth}", f"the {nth} of {month}", f"{month} the {nth}", f"{wd} {month} {nth}",
                 f"{wd} the {nth}", f"{month} {_ordinal(d)}", f"{month} {_number(d)}")  # fmt: skip
        return ctx.pick(forms), kind
    mon, wdc = _cap(month), _cap(wd)
    forms = (
        f"{mon} {_ordinal(d)}", f"{mon} {d}", f"{mon[:3]} {d}", f"{d} {mon}", f"{_ordinal(d)} {mon}",
        f"the {_ordinal(d)} of {mon}", f"{date.month}/{d}", f"{d}/{date.month}", f"{date.month:02d}/{d:02d}",
        date.isoformat(), f"{d:02d}.{date.month:02d}.{date.year}", f"{mon} {d}, {date.year}",
        f"{wdc}, {mon} {d}", f"{wdc[:3]} {date.month}/{d}", f"{wdc} the {_ordinal(d)}", f"{wdc[:3]}, {mon[:3]} {d}",
        f"{wdc} {d} {mon}",
    )  # fmt: skip
    return ctx.pick(forms), kind


def _year_words(ctx: Ctx, year: int) -> str:
    """A year as a speech recogniser writes it: "two thousand and seventeen", "twenty twenty four"."""
    r = year - 2000
    if r < 10:
        return "two thousand" + (f" {'and ' if ctx.chance(0.4) else ''}{NUMBERS[r]}" if r else "")
    return ctx.pick((f"two thousand and {_number(r)}", f"two thousand {_number(r)}", f"twenty {_number(r)}"))


def _hour(ctx: Ctx) -> tuple[int, int]:
    """A plausible (hour 0-23, minute) for an appointment: mostly office hours, mostly on the hour."""
    h = ctx.rng.choices(range(24), (1, 0, 0, 0, 0, 0, 1, 4, 9, 10, 10, 9, 6, 8, 9, 9, 7, 5, 4, 3, 2, 1, 1, 1))[0]
    m = ctx.rng.choices((0, 30, 15, 45, 10, 20, 40, 50, 5), (55, 20, 7, 7, 3, 3, 2, 2, 2))[0]
    return h, m


def _clock(ctx: Ctx) -> tuple[str, bool]:
    """A clock TIME and whether it is a bare number ("3", "three") that needs "at" before it."""
    h, m = _hour(ctx)
    if m == 0 and h in (0, 12) and ctx.chance(0.6):
        return ("midnight" if h == 0 else ctx.pick(("noon", "noon", "midday"))), False
    h12 = h % 12 or 12
    ampm = "am" if h < 12 else "pm"
    if ctx.spoken:
        hw, mw = _number(h12), ("oh " + _number(m) if m < 10 else _number(m))
        if m == 30 and ctx.chance(0.35):
            return f"half past {hw}", False
        if m in (15, 45) and ctx.chance(0.5):
            return (f"quarter past {hw}" if m == 15 else f"quarter to {_number(h12 % 12 + 1)}"), False
        spaced = f"{ampm[0]}. m."  # a recogniser's "p. m."
        if m == 0:
            forms = (f"{hw} {ampm}", f"{hw} o'clock", hw, f"{hw} {ampm[0]} m", f"{hw} {spaced}")
            form = ctx.rng.choices(forms, (46, 20, 14, 2, 18))[0]
            return form, form == hw
        form = ctx.rng.choices((f"{hw} {mw} {ampm}", f"{hw} {mw}", f"{hw} {mw} {spaced}"), (48, 30, 22))[0]
        return form, False
    mm = f"{m:02d}"
    upper = ctx.chance(0.25)
    ap = ampm.upper() if upper else ampm
    dotted = "a.m." if ampm == "am" else "p.m."
    if m == 0:
        forms = ((f"{h12}{ap}", 30), (f"{h12} {ap}", 22), (f"{h12} {dotted}", 8), (f"{h12}:00{ap}", 5),
                 (f"{h12}:00 {ap}", 6), (f"{h:02d}:00", 9), (f"{h}:00", 4), (f"{h12}", 10),
                 (f"{h12} o'clock", 3))  # fmt: skip
    else:
        forms = ((f"{h12}:{mm}{ap}", 28), (f"{h12}:{mm} {ap}", 24), (f"{h12}:{mm} {dotted}", 8), (f"{h:02d}:{mm}", 14),
                 (f"{h12}:{mm}", 12), (f"{h12}.{mm}{ap}", 4))  # fmt: skip
    if ctx.style == "voice":  # "5 p. m.", "10:30 a. m."
        forms += ((f"{h12}{':' + mm if m else ''} {ampm[0]}. m.", 20),)
    text = ctx.rng.choices([f for f, _ in forms], [w for _, w in forms])[0]
    return text, text.isdigit()


def _time_range(ctx: Ctx) -> str:
    h, _ = _hour(ctx)
    h = min(max(h, 7), 19)
    h2 = h + ctx.rng.randint(1, 2)
    a, b = h % 12 or 12, h2 % 12 or 12
    ampm = "am" if h2 < 12 else "pm"
    if ctx.spoken:
        return ctx.pick((f"{_number(a)} to {_number(b)} {ampm}", f"{_number(a)} to {_number(b)}"))
    first = f"{a}{'am' if h < 12 else 'pm'}"
    return ctx.pick((f"{a}-{b}{ampm}", f"{a}-{b} {ampm}", f"{first}-{b}{ampm}", f"{h:02d}:00-{h2:02d}:00",
                     f"{a} to {b}{ampm}", f"{a}:30-{b}:30{ampm}", f"{h}:00–{h2}:00"))  # fmt: skip


def _part_of_day(ctx: Ctx) -> str:
    return ctx.rng.choices(("morning", "afternoon", "evening", "night"), (35, 35, 20, 10))[0]


def _person(ctx: Ctx) -> tuple[str, str]:
    pools = ctx.pools
    locale = ctx.rng.choices(pools.locales, pools.locale_weights)[0]
    first, last = ctx.pick(pools.first[locale]), ctx.pick(pools.last[locale])
    if ctx.chance(AMBIGUOUS_RATE):  # "june", "will", "bill": names that are also words
        first = _word(ctx, "ambiguous_first")
    if ctx.style == "voice":  # a recogniser writes plain lowercase ASCII
        first, last = _fold(first).lower().replace("-", " "), _fold(last).lower().replace("-", " ")
    return first, last


def _name(ctx: Ctx, form: str | None = None, person: tuple[str, str] | None = None) -> list[Piece]:
    """A NAME: first, full, or title + last ("Dr. Patel" tags only "Patel")."""
    first, last = person or _person(ctx)
    if form is None:
        form = ctx.rng.choices(("first", "full", "title", "title_full", "last"), (55, 27, 12, 3, 3))[0]
    if form == "first":
        return ent(first, "NAME")
    if form == "full":
        return ent(f"{first} {last}", "NAME")
    if form == "last":
        return ent(last, "NAME")
    if form == "title_full":  # "Dr. Jane Okafor", never "Mrs. John ..."
        return lit(ctx.pick(("Dr. ", "Prof. ", "Dr "))) + ent(f"{first} {last}", "NAME")
    title = _word(ctx, "spoken_titles" if ctx.style == "voice" else "titles")
    return lit(title + " ") + ent(last, "NAME")


def _email_address(ctx: Ctx, first: str | None = None, last: str | None = None) -> str:
    if first is None:
        first, last = _person(ctx)
    f = re.sub(r"[^a-z]", "", _fold(first).lower()) or "info"
    la = re.sub(r"[^a-z]", "", _fold(last or "").lower()) or "mail"
    work = ctx.chance(0.45)
    domain = _word(ctx, "work_domains" if work else "free_domains")
    n = ctx.rng.randint(1, 99)
    if ctx.spoken or ctx.style == "voice":  # a recogniser never writes "@"
        if work and ctx.chance(0.4):  # "<x> dot <y> at <company> dot org"
            company = re.sub(r"[^a-z ]", "", _fold(ctx.pick(ctx.pools.companies)).lower()).split() or ["acme"]
            domain = f"{company[0]}.{_word(ctx, 'free_tlds')}"
        dom = domain.replace(".", " dot ").replace("-", " dash ")
        local = ctx.rng.choices((f, f"{f} dot {la}", f"{f}{la}", f"{f} underscore {la}", f"{f[0]} {la}",
                                 f"{f} {_number(n % 20)}", f"{f} {la}", f"{f}{la}{_number(n % 20)}",
                                 f"{f[0]} dot {la}"), (30, 22, 16, 4, 7, 7, 6, 4, 4))[0]  # fmt: skip
        return f"{local} at {dom}"
    local = ctx.rng.choices((f"{f}.{la}", f, f"{f[0]}{la}", f"{f}{la}", f"{f}_{la}{n}", f"{f}{n}", f"{la}.{f[0]}"),
                            (30, 15, 15, 10, 8, 12, 10))[0]  # fmt: skip
    if ctx.chance(0.04):
        local = local.replace(".", "+")
    return f"{local}@{domain}"


def _phone(ctx: Ctx) -> str:
    if ctx.spoken:
        digits = [str(ctx.rng.randrange(10)) for _ in range(ctx.pick((7, 10, 10)))]
        return " ".join(NUMBERS[int(d)] for d in digits)
    return ctx.pick(ctx.pools.phones)


def _location(ctx: Ctx) -> list[Piece]:
    """A LOCATION with its preposition (only when LOCATION is requested)."""
    r = ctx.rng.random()
    if r < 0.4:
        city = ent(ctx.pick(ctx.pools.cities), "LOCATION")
        return lit("in ") + city if ctx.chance(0.6) else lit(ctx.pick(("at the ", "at our "))) + city + lit(" office")
    if r < 0.65:
        return lit("in ") + ent(f"Room {ctx.rng.randint(1, 9)}{ctx.pick('ABCDE')}", "LOCATION")
    if r < 0.85:
        return lit("at ") + ent(f"{ctx.rng.randint(2, 999)} {_word(ctx, 'streets')}", "LOCATION")
    return lit("at ") + ent(_word(ctx, "venues"), "LOCATION")


# -----------------------------------------------------------------------------
# composite slots: a date and/or time with its prepositions


def _date_phrase(ctx: Ctx, mode: str) -> list[Piece]:
    return _date_phrase_kind(ctx, mode)[0]


def _date_phrase_kind(ctx: Ctx, mode: str) -> tuple[list[Piece], str]:
    """A DATE with the preposition that goes before it in `mode` ("on", "for", "to", "bare"), and its kind."""
    text, kind = _date_value(ctx)
    takes_on = kind in ("day", "abs", "nth") and not text.lower().startswith(("this", "next", "coming"))
    prep = ""
    if mode == "to":
        prep = "to "
    elif mode == "for" and kind != "range":
        prep = ctx.rng.choices(("for ", "", "on "), (65, 25, 10 * takes_on))[0]
    elif mode == "on" and takes_on:
        prep = "on " if ctx.chance(0.6 if kind == "day" else 0.8) else ""
    elif mode == "on" and kind == "range" and ctx.chance(0.35):
        prep = "from "
    elif mode == "on" and kind == "span":
        preps = ("", "for ", "during ", "over ") if "rest" in text else ("", "for ", "in ", "over ", "within ")
        prep = ctx.pick(preps)
    elif mode == "on" and text in (leads := _words()["date_leads"]) and ctx.chance(0.15):
        prep = ctx.draw(leads[text]) + " "
    return lit(prep) + ent(text, "DATE"), kind


def _time_phrase(ctx: Ctx, mode: str, after_date: str = "") -> list[Piece]:
    """A TIME with its preposition.  After a date, a part of the day follows a day ("friday morning") and
    takes "in the" after anything else ("June 3rd in the morning")."""
    r = ctx.rng.random()
    if r < 0.62:
        text, bare = _clock(ctx)
        if mode in ("to", "for"):
            prep = mode + " "
        elif mode == "bare" and not bare:
            prep = ""
        else:
            prep = ctx.rng.choices(("at ", "around ", "by ", "after ", "before ", ""), (68, 10, 5, 4, 4, 9))[0]
            if bare and not prep:
                prep = "at "
        return lit(prep) + ent(text, "TIME")
    if r < 0.75:
        prep = "from " if mode not in ("bare", "to") and ctx.chance(0.5) else ("to " if mode == "to" else "")
        return lit(prep) + ent(_time_range(ctx), "TIME")
    # A part of the day is not a TIME (see the guideline): it stays in the text, untagged, as a hard negative.
    part = _part_of_day(ctx)
    if after_date and part == "night":
        return lit("at night" if after_date != "day" else "night")
    if after_date:
        return lit(("in the " if after_date != "day" or ctx.chance(0.25) else "") + part)
    if part == "night" or ctx.chance(0.2):
        lead = "to " if mode == "to" else ("later " if ctx.chance(0.15) else "")
        return lit(lead + "tonight")
    if ctx.chance(0.3) and mode not in ("to", "bare"):
        return lit("in the " + part)
    lead = "to " if mode == "to" else ""
    return lit(lead + ctx.rng.choices(("this ", "late ", "early "), (90, 5, 5))[0] + part)


def _no_when(ctx: Ctx, mode: str) -> list[Piece]:
    """No date or time, but often something in its place that looks like one and is not one."""
    r = ctx.rng.random()
    if mode == "on" and r < 0.18:
        return lit(_word(ctx, "recurring"))
    if mode == "on" and r < 0.36:
        return lit("for " + _word(ctx, "durations"))
    if mode == "on" and r < 0.44:  # "in ten minutes": a duration, not a TIME
        return SLOTS["in_duration"](ctx, None)
    return lit(ctx.draw(_words()["no_when"][mode]))


def _when(ctx: Ctx, mode: str = "on") -> list[Piece]:
    """A date and/or time with its prepositions ("tomorrow at 3pm", "on friday morning", "at noon")."""
    has_d, has_t = ctx.has("DATE"), ctx.has("TIME")
    if not (has_d or has_t) or ctx.chance(0.08):
        return _no_when(ctx, mode)
    r = ctx.rng.random()
    kind = ("d" if r < 0.45 else "t" if r < 0.62 else "dt") if has_d and has_t else ("d" if has_d else "t")
    if kind == "d":
        return _date_phrase(ctx, mode)
    if kind == "t":
        return _time_phrase(ctx, mode)
    date, date_kind = _date_phrase_kind(ctx, mode)
    if date_kind in ("week", "span"):  # "next month at 4" is not something people say
        return date
    if ctx.chance(0.25):  # time first: "at 3pm tomorrow", "at nine on friday"
        text, bare = _clock(ctx)
        prep = {"for": "for ", "to": "to ", "bare": "at " if bare else ""}.get(mode, "")
        prep = prep or ctx.rng.choices(("at ", "around ", ""), (75, 10, 15 * (not bare)))[0]
        if date[0][0] in ("for ", "to "):
            date = date[1:]
        return lit(prep) + ent(text, "TIME") + lit(" ") + date
    day_like = date_kind in ("rel", "day") and date[-1][0] not in ("today", "the day after tomorrow")
    time = _time_phrase(ctx, "on", after_date="day" if day_like else "other")
    if time[0][1] == "TIME" and ctx.style != "voice":
        return date + lit(ctx.pick((" ", ", ", " @ "))) + time  # "Fri 3pm", "June 3, 2:30 PM"
    if time[0][1] == "TIME":
        return date + lit(" at ") + time
    return date + lit(" ") + time


# -----------------------------------------------------------------------------
# slots: each returns pieces; `fb` is the template's fallback text for when the entity cannot be used


def _slot_name(ctx: Ctx, fb: str | None) -> list[Piece]:
    if ctx.has("NAME") and (fb is None or ctx.chance(0.85)):
        return _name(ctx)
    return lit(fb if fb is not None else _word(ctx, "roles"))


def _slot_first(ctx: Ctx, fb: str | None) -> list[Piece]:
    if ctx.has("NAME") and ctx.chance(0.8):
        return _name(ctx, "first")
    return lit(fb if fb is not None else "")


def _name_list(ctx: Ctx) -> list[Piece]:
    """Two to four NAMEs, each its own span: "rosa tariq and ken", "Anna, Raj and Li"."""
    n = ctx.rng.choices((2, 3, 4), (50, 35, 15))[0]
    voice = ctx.style == "voice"
    spaced = voice and ctx.chance(0.5)  # no commas or "and" between the first ones
    full = 0.0 if spaced else (0.12 if voice else 0.3)
    out = _name(ctx, "full" if ctx.chance(full) else "first")
    for i in range(1, n):
        if i < n - 1:
            sep = " " if spaced else ", "
        else:
            # a bare space before the last one only after two or more: "anna lee" alone reads as one full name
            bare = 10 if spaced and n > 2 else 0
            sep = ctx.rng.choices((" and ", ", and ", " ", " & "), (80, 0 if voice else 10, bare, 0 if voice else 5))[0]
        out += lit(sep) + _name(ctx, "full" if ctx.chance(full) else "first")
    return out


def _slot_person(ctx: Ctx, fb: str | None) -> list[Piece]:
    if ctx.has("NAME") and ctx.chance(0.62):
        if ctx.chance(0.14):
            return _name_list(ctx)
        return _name(ctx)
    return lit(_word(ctx, "roles"))


def _slot_people(ctx: Ctx, fb: str | None) -> list[Piece]:
    """Several people: mostly a list of NAMEs."""
    if ctx.has("NAME") and ctx.chance(0.85):
        return _name_list(ctx) if ctx.chance(0.8) else _name(ctx)
    return lit(fb if fb is not None else _word(ctx, "groups"))


def _who(ctx: Ctx) -> tuple[str, str]:
    if ctx.who is None:
        ctx.who = _person(ctx)
    return ctx.who


def _slot_pname(ctx: Ctx, fb: str | None) -> list[Piece]:
    """The message's person by name ("anna", "anna lee"), the same person as {pemail}; else a relative."""
    if ctx.has("NAME") and ctx.chance(0.9):
        return _name(ctx, ctx.rng.choices(("first", "full", "title"), (58, 37, 5))[0], _who(ctx))
    return lit(fb if fb is not None else _word(ctx, "family"))


def _slot_pemail(ctx: Ctx, fb: str | None) -> list[Piece]:
    """The message's person's email address: its user name is part of the EMAIL, never a NAME."""
    if ctx.has("EMAIL"):
        first, last = _who(ctx)
        return ent(_email_address(ctx, first, last), "EMAIL")
    return lit(fb if fb is not None else ctx.pick(("her email", "his email", "their work address", "the new address")))


def _title_case(s: str) -> str:
    return " ".join(w if w in ("the", "and", "of") else w[:1].upper() + w[1:] for w in s.split(" "))


def _owner(ctx: Ctx) -> str:
    if ctx.chance(0.55):
        return _word(ctx, "venue_owners")
    return _fold(ctx.pick(ctx.pools.last[ctx.pick(("en_US", "en_GB", "it_IT", "ga_IE", "es_MX"))]))


def _venue_value(ctx: Ctx) -> str:
    """A restaurant, bar, shop, park or building: "Joe's Pizza", "Lincoln Park", "the Rusty Anchor"."""
    r = ctx.rng.random()
    if r < 0.25:
        return _word(ctx, "chains")
    if r < 0.5:
        return _title_case(f"{_owner(ctx)}'s {_word(ctx, 'venue_kinds')}")
    if r < 0.62:
        return _title_case(f"the {_word(ctx, 'pub_adj')} {_word(ctx, 'pub_noun')}")
    if r < 0.72:
        base = _word(ctx, "street_bases")
        return _title_case(f"{base} {ctx.pick(('street cafe', 'street diner', 'park', 'market'))}")
    if r < 0.8:
        return _title_case(f"st {ctx.pick(('mary', 'john', 'luke', 'patrick', 'joseph', 'anne', 'paul'))}'s "
                           f"{ctx.pick(('church', 'hospital', 'school'))}")  # fmt: skip
    base = _owner(ctx) if ctx.chance(0.5) else ctx.pick(ctx.pools.cities)
    return _title_case(f"{base} {_word(ctx, 'venue_places')}")


def _city_value(ctx: Ctx) -> str:
    """A city, "city state", "city country" or a state: "Austin Texas", "Lyon, France", "Ohio"."""
    r = ctx.rng.random()
    comma = "" if ctx.style == "voice" or ctx.chance(0.3) else ","
    if r < 0.45:
        return ctx.pick(ctx.pools.cities)
    if r < 0.75:
        city, state = _pair(_word(ctx, "us_city_state"))
        return f"{city}{comma} {state}"
    if r < 0.87:
        city, country = _pair(_word(ctx, "city_country"))
        return f"{city}{comma} {country}"
    return _word(ctx, "us_states")


def _street_value(ctx: Ctx) -> str:
    base = _word(ctx, "street_bases") if ctx.chance(0.7) else _owner(ctx)
    street = f"{base} {_word(ctx, 'street_types')}"
    if ctx.style != "voice" and ctx.chance(0.4):
        street = f"{ctx.rng.randint(2, 999)} {street}"
    return street


PLACE_VALUES = {
    "city": _city_value,
    "country": lambda ctx: ctx.pick(ctx.pools.countries),
    "venue": _venue_value,
    "street": _street_value,
}


def _place(ctx: Ctx, kind: str) -> list[Piece]:
    """A place name: untagged, or a LOCATION when that type is requested."""
    if "LOCATION" in ctx.types and not ctx.has("LOCATION"):
        return lit(ctx.draw(_words()["place_fallbacks"][kind]))
    text = PLACE_VALUES[kind](ctx)
    return ent(text, "LOCATION") if ctx.has("LOCATION") else lit(text)


def _slot_place(ctx: Ctx, fb: str | None) -> list[Piece]:
    """A place with its preposition: "in austin texas", "at joe's pizza", "on maple street"."""
    if "LOCATION" not in ctx.types and ctx.chance(0.3):
        return lit(_word(ctx, "places"))  # "in room 4B", "on zoom"
    kind = ctx.rng.choices(("city", "venue", "street", "country"), (42, 42, 5, 11))[0]
    prep = {"city": "in ", "venue": "at ", "street": "on ", "country": "in "}[kind]
    return lit(prep) + _place(ctx, kind)


def _slot_email(ctx: Ctx, fb: str | None) -> list[Piece]:
    if ctx.has("EMAIL"):
        return ent(_email_address(ctx), "EMAIL")
    return lit(fb if fb is not None else ctx.pick(("her", "him", "them", "the team", "my work address")))


def _slot_contact(ctx: Ctx, fb: str | None) -> list[Piece]:
    if ctx.has("EMAIL") and (not ctx.has("NAME") or ctx.chance(0.5)):
        return ent(_email_address(ctx), "EMAIL")
    return _slot_person(ctx, fb)


def _slot_date(ctx: Ctx, fb: str | None) -> list[Piece]:
    if ctx.has("DATE"):
        return ent(_date_value(ctx)[0], "DATE")
    return lit(fb if fb is not None else ctx.pick(("that day", "the day", "later")))


def _simple_day(ctx: Ctx) -> str:
    day = ctx.pick(WEEKDAYS)
    day = day if ctx.style == "voice" else _cap(day)
    return ctx.rng.choices(("tomorrow", "today", day, "next " + day), (35, 25, 30, 10))[0]


def _slot_day(ctx: Ctx, fb: str | None) -> list[Piece]:
    """A simple day: "tomorrow", "friday", "next monday"."""
    if ctx.has("DATE") and ctx.chance(0.9):
        return ent(_simple_day(ctx), "DATE")
    return lit(fb if fb is not None else "that day")


def _slot_days(ctx: Ctx, fb: str | None) -> list[Piece]:
    """A possessive day, "tomorrow's" / "friday's" (the DATE stops before the apostrophe), or "the"."""
    if ctx.has("DATE") and ctx.chance(0.9):
        return ent(_simple_day(ctx), "DATE") + lit("'s")
    return lit(fb if fb is not None else ctx.pick(("the", "our", "this", "that", "my")))


def _slot_time(ctx: Ctx, fb: str | None) -> list[Piece]:
    if ctx.has("TIME"):
        text, bare = _clock(ctx)
        if not bare:
            return ent(text, "TIME")
    return lit(fb if fb is not None else ctx.pick(("next", "first", "last")))


def _placed(ctx: Ctx, when: list[Piece]) -> list[Piece]:
    """Sometimes a place before a date or time: "with anna in austin texas tomorrow", "at joe's pizza at noon"."""
    if ctx.chance(0.12 if ctx.style == "voice" else 0.04):
        return _slot_place(ctx, None) + lit(" ") + when
    return when


def _slot_at_place(ctx: Ctx, fb: str | None) -> list[Piece]:
    if "LOCATION" in ctx.types:
        return _location(ctx) if ctx.has("LOCATION") and ctx.chance(0.75) else lit(_word(ctx, "places_unnamed"))
    return lit(_word(ctx, "places"))


def _slot_phone(ctx: Ctx, fb: str | None) -> list[Piece]:
    return ent(_phone(ctx), "PHONE") if ctx.has("PHONE") else lit(fb or "my cell")


def _slot_wake(ctx: Ctx, fb: str | None) -> list[Piece]:
    return lit(_word(ctx, "wake_words") + ctx.pick((" ", " ", ", "))) if ctx.chance(0.22) else []


def _pick_slot(key: str) -> Callable[[Ctx, str | None], list[Piece]]:
    """A slot that draws from a list of data/words.yaml."""
    return lambda ctx, fb: lit(ctx.draw(_spoken_words(key) if ctx.style == "voice" else _words()[key]))


@functools.cache
def _spoken_words(key: str) -> Words:
    """A list of data/words.yaml less what nobody says to an assistant ("1:1", "invoice #4471")."""
    words = _words()[key]
    kept = [(t, w) for t, w in zip(words.texts, words.weights, strict=True) if not re.search(r"[\d#:%]", t)]
    if not kept:
        raise DataFileError(f"{WORDS_FILE.name}: {key}: no entry without a digit, '#', ':' or '%' for voice commands")
    return Words.of([t for t, _ in kept], [w for _, w in kept])


def _slot_a_event(ctx: Ctx) -> list[Piece]:
    event = SLOTS["event"](ctx, None)[0][0]
    return lit(("an " if event[0] in "aeioAEIO" and not event.startswith("one") else "a ") + event)


SLOTS: dict[str, Callable[[Ctx, str | None], list[Piece]]] = {
    "when": lambda ctx, fb: _placed(ctx, _when(ctx, "on")),
    "for_when": lambda ctx, fb: _when(ctx, "for"),
    "to_when": lambda ctx, fb: _when(ctx, "to"),
    "bare_when": lambda ctx, fb: _when(ctx, "bare"),
    "on_date": lambda ctx, fb: _placed(ctx, _date_phrase(ctx, "on") if ctx.has("DATE") else _no_when(ctx, "on")),
    "for_date": lambda ctx, fb: _date_phrase(ctx, "for") if ctx.has("DATE") else _no_when(ctx, "for"),
    "to_date": lambda ctx, fb: _date_phrase(ctx, "to") if ctx.has("DATE") else _no_when(ctx, "to"),
    "at_time": lambda ctx, fb: _time_phrase(ctx, "on") if ctx.has("TIME") else lit(fb or ""),
    "to_time": lambda ctx, fb: _time_phrase(ctx, "to") if ctx.has("TIME") else lit(fb or "to later"),
    "date": _slot_date,
    "day": _slot_day,
    "days": _slot_days,
    "time": _slot_time,
    "name": _slot_name,
    "first": _slot_first,
    "person": _slot_person,
    "email": _slot_email,
    "contact": _slot_contact,
    "at_place": _slot_at_place,
    "phone": _slot_phone,
    "wake": _slot_wake,
    "event": _pick_slot("events"),
    "a_event": lambda ctx, fb: _slot_a_event(ctx),
    "role": _pick_slot("roles"),
    "freq": _pick_slot("freq_adj"),
    "recurring": _pick_slot("recurring"),
    "duration": _pick_slot("durations"),
    "topic": _pick_slot("topics"),
    "company": lambda ctx, fb: lit(ctx.pick(ctx.pools.companies)),
    "people": _slot_people,
    "pname": _slot_pname,
    "pemail": _slot_pemail,
    "place": _slot_place,
    "city": lambda ctx, fb: _place(ctx, "city"),
    "country": lambda ctx, fb: _place(ctx, "country"),
    "venue": lambda ctx, fb: _place(ctx, "venue"),
    "holiday": _pick_slot("holidays"),
    "occasion": _pick_slot("occasions"),
    "possessed": _pick_slot("possessed"),
    "meal": _pick_slot("meals"),
    "trip": _pick_slot("trips"),
    "in_duration": _pick_slot("in_durations"),
    "lead_time": _pick_slot("lead_times"),
    "n": lambda ctx, fb: lit(str(ctx.rng.randint(2, 12))),
}


# -----------------------------------------------------------------------------
# templates

_PART_RE = re.compile(r"\[([^\]]*)\]|\{(\w+)(?::([^}]*))?\}")


@functools.cache
def _parse(template: str) -> tuple:
    """Template -> tuple of ("text", s) / ("alt", options) / ("slot", name, fallback)."""
    parts, pos = [], 0
    for m in _PART_RE.finditer(template):
        if m.start() > pos:
            parts.append(("text", template[pos : m.start()]))
        if m.group(1) is not None:
            parts.append(("alt", tuple(m.group(1).split("|"))))
        else:
            if m.group(2) not in SLOTS:
                raise KeyError(f"unknown slot {m.group(2)!r} in template {template!r}")
            parts.append(("slot", m.group(2), m.group(3)))
        pos = m.end()
    if pos < len(template):
        parts.append(("text", template[pos:]))
    return tuple(parts)


def render(template: str, ctx: Ctx) -> list[Piece]:
    out: list[Piece] = []
    for part in _parse(template):
        if part[0] == "text":
            out.append((part[1], None))
        elif part[0] == "alt":
            out += render(ctx.pick(part[1]), ctx)
        else:
            out += SLOTS[part[1]](ctx, part[2])
    return out


# -----------------------------------------------------------------------------
# styles: literal text is restyled piece by piece, so entity offsets are computed after the change


_CONTRACTION_RE = re.compile(r"(?<=\w)'(?=(s|t|m|re|ve|d)\b)")


def _voice_text(s: str, drop_apostrophes: bool) -> str:
    s = s.lower().replace("&", " and ").replace(" - ", " ").replace("@", " at ")
    s = re.sub(r"[,.?!;:()\"]", " ", s)
    if drop_apostrophes:
        s = _CONTRACTION_RE.sub("", s)  # only inside a word, so the "'s" after a name keeps its apostrophe
    return re.sub(r"[ \t]+", " ", s)


def _typo(ctx: Ctx, s: str) -> str:
    words = [m for m in re.finditer(r"[a-z]{5,}", s)]
    if not words:
        return s
    m = ctx.pick(words)
    i = m.start() + ctx.rng.randrange(1, len(m.group()) - 2)
    return s[:i] + s[i + 1] + s[i] + s[i + 2 :]


def restyle(pieces: list[Piece], ctx: Ctx) -> list[Piece]:
    """Casing and punctuation habits, applied to each piece (lowercasing can change a string's length)."""
    rng = ctx.rng
    if ctx.style in WHOLE_MESSAGE_STYLES:  # saved messages keep their casing and layout
        return pieces
    if ctx.style == "voice":
        drop = ctx.chance(0.2)
        case = rng.choices(("lower", "first", "title"), (88, 9, 3))[0]
        out = [(_voice_text(s, drop), t) if t is None else (s.lower(), t) for s, t in pieces]
        if case == "title":
            out = [(re.sub(r"(?<![\w'])([a-z])", lambda m: m.group(1).upper(), s), t) for s, t in out]
        elif case == "first":
            out = [(_cap(s.lstrip()), t) if i == 0 else (s, t) for i, (s, t) in enumerate(out)]
        return out
    lower = ctx.chance(0.35 if ctx.style == "chat" else 0.04)
    drop = ctx.chance(0.25 if ctx.style == "chat" else 0.03)
    typo = ctx.chance(0.08 if ctx.style == "chat" else 0.03)
    out = []
    for s, t in pieces:
        if lower:
            s = s.lower()
        if t is None:
            if drop:
                s = _CONTRACTION_RE.sub("", s)
            if typo and ctx.chance(0.3):
                s = _typo(ctx, s)
        out.append((s, t))
    if ctx.style == "chat" and out and out[-1][1] is None and ctx.chance(0.35):
        out[-1] = (out[-1][0].rstrip("?!. "), None)  # no final punctuation
    if not lower and out:  # sentence case at the very start
        out[0] = (_cap(out[0][0].lstrip()), out[0][1])
    return out


def assemble(pieces: list[Piece]) -> tuple[str, list[Span]]:
    """Join pieces into text and spans, tidying the spaces that empty slots leave behind."""
    text, spans, last_plain = "", [], True
    for s, t in pieces:
        if not s:
            continue
        if t is None:
            s = re.sub(r" {2,}", " ", s)
            s = re.sub(r" +([,.?!;]|\n)", r"\1", s)
            if not text or text[-1] in " \n":
                s = s.lstrip(" ")
            if s[:1] in (",", ".", "?", "!", ";", "\n") and text.endswith(" ") and last_plain:
                text = text.rstrip(" ")
            if s[:1] == "," and text.endswith((",", "\n")) or s[:1] == "," and not text:
                s = s[1:].lstrip(" ")
            text += s
        else:
            spans.append(Span(t, len(text), len(text) + len(s)))
            text += s
        last_plain = t is None
    return text.rstrip(), spans


def _on_token_edges(text: str, spans: list[Span]) -> bool:
    tokens = tokenize(text)
    starts, ends = {s for _, s, _ in tokens}, {e for _, _, e in tokens}
    return all(s.start in starts and s.end in ends and s.start < s.end for s in spans)


# -----------------------------------------------------------------------------
# messages


@functools.cache
def _templates(table: str, generic: str, intent: str) -> Words:
    """The templates of data/short_messages.yaml's per-intent `table` for `intent`; for an intent with none of its
    own, the `generic` ones with <intent> replaced by the intent's words ("confirm_booking" -> "confirm booking")."""
    if intent in _short(table):
        return _short(table)[intent]
    word = intent.replace("_", " ").replace("-", " ").strip().lower() or "handle"
    words = _short(generic)
    return Words(tuple(t.replace("<intent>", word) for t in words.texts), words.weights, words.cum_weights)


def _extras(ctx: Ctx) -> list[list[Piece]]:
    """Clauses for requested entity types that the scheduling templates do not cover."""
    out = []
    for entity_type in ctx.types:
        if entity_type in DEFAULT_ENTITY_TYPES or not ctx.has(entity_type) or not ctx.chance(0.3):
            continue
        voice = ctx.style == "voice"
        if entity_type == "LOCATION":
            lead = "" if voice else ctx.pick(("we'll meet ", "it's ", "the meeting is ", "I'll be "))
            out.append(lit(lead) + _location(ctx))
        elif entity_type == "PHONE":
            lead = ctx.pick(("my number is ", "call me at ", "text me at ", "you can reach me on "))
            out.append(lit(lead) + ent(_phone(ctx), "PHONE"))
        else:
            label = entity_type.lower().replace("_", " ")
            value = f"{entity_type[:3].upper()}-{ctx.rng.randint(100, 99999)}"
            out.append(lit(ctx.pick((f"my {label} is ", f"the {label} is ", f"{label}: "))) + ent(value, entity_type))
    return out


def _voice_message(intent: str, ctx: Ctx) -> list[Piece]:
    pieces = render(ctx.draw(_templates("voice", "generic_voice", intent)), ctx)
    for extra in _extras(ctx):
        pieces += lit(ctx.pick((" ", " and "))) + extra
    if ctx.chance(0.08):
        pieces += lit(ctx.pick((" please", " thanks", " thank you", " for me")))
    return pieces


def _chat_message(intent: str, ctx: Ctx) -> list[Piece]:
    pieces = render(ctx.draw(_templates("chat", "generic_written", intent)), ctx)
    for extra in _extras(ctx):
        pieces += lit(ctx.pick((". ", " - ", ", "))) + extra
    return pieces


def _sentence(pieces: list[Piece]) -> list[Piece]:
    if pieces and pieces[-1][1] is not None:
        return pieces + lit(".")
    return pieces


def _email_body(intent: str, ctx: Ctx) -> list[Piece]:
    """Greeting, one intent sentence among 0-3 neutral ones, extras."""
    core = render(ctx.draw(_templates("email_core", "generic_written", intent)), ctx)
    count = ctx.rng.choices((0, 1, 2, 3), (25, 40, 25, 10))[0]
    fillers = [render(t, ctx) for t in ctx.rng.sample(_short("email_fillers").texts, count)]
    sentences = fillers[:1] + [core] + fillers[1:] + [_sentence(_cap_pieces(e)) for e in _extras(ctx)]
    out: list[Piece] = []
    for i, sentence in enumerate(sentences):
        if i:
            out += lit(ctx.pick(("\n\n", " ", " ")) if i == 1 else ctx.pick(("\n\n", " ")))
        out += sentence
    return out


def _cap_pieces(pieces: list[Piece]) -> list[Piece]:
    return [(_cap(pieces[0][0]), pieces[0][1])] + pieces[1:] if pieces else pieces


def _sender(ctx: Ctx) -> list[Piece]:
    """Sign-off and the sender's name (a NAME), sometimes a signature block."""
    out = lit(ctx.draw(_short("signoffs")))
    if ctx.has("NAME") and ctx.chance(0.85):
        form = ctx.rng.choices(("first", "full", "title_full"), (55, 40, 5))[0]
        name = _name(ctx, form)
        out += lit("\n") + (name[1:] if form == "title_full" and ctx.chance(0.5) else name)
        if form != "first" and ctx.chance(0.35):
            out += lit(f"\n{_word(ctx, 'job_titles')}{ctx.pick((' | ', ', ', chr(10)))}{ctx.pick(ctx.pools.companies)}")
    elif ctx.chance(0.3):
        out += lit(f"\nThe {ctx.pick(ctx.pools.companies)} team")
    if ctx.has("PHONE") and ctx.chance(0.3):
        out += lit(ctx.pick(("\nTel: ", "\nMobile: ", "\nM: ", "\n"))) + ent(_phone(ctx), "PHONE")
    if ctx.chance(0.08):
        out += lit("\n\nSent from my iPhone")
    return out


def _email_message(intent: str, ctx: Ctx) -> list[Piece]:
    out: list[Piece] = []
    if ctx.chance(0.4):
        subject = render(ctx.draw(_templates("subjects", "generic_subjects", intent)), ctx)
        out += lit("Subject: ") + subject + lit("\n\n")
    if ctx.chance(0.9):
        out += render(ctx.draw(_short("greetings")), ctx) + lit(ctx.pick(("\n\n", "\n\n", "\n")))
    out += _email_body(intent, ctx)
    if ctx.chance(0.9):
        out += lit("\n\n") + _sender(ctx)
    return out


def _quote_header(ctx: Ctx) -> list[Piece]:
    """'On Tue, Jun 4, 2024 at 10:15 AM Anna Lee <anna.lee@x.com> wrote:' or an Outlook-style block.  When the
    quoted message was sent is not a DATE or TIME (see the guideline): it stays untagged, as a hard negative."""
    date = dt.date(2024, 1, 1) + dt.timedelta(days=ctx.rng.randrange(3 * 365))
    h, m = _hour(ctx)
    clock = f"{h % 12 or 12}:{m:02d} {'AM' if h < 12 else 'PM'}"
    first, last = _person(ctx)
    email = _email_address(ctx, first, last)
    name = ent(f"{first} {last}", "NAME") if ctx.has("NAME") else []
    address = lit("<") + ent(email, "EMAIL") + lit(">") if ctx.has("EMAIL") else []
    if not name and not address:
        return lit("-----Original Message-----\n")
    if ctx.chance(0.6):
        stamp = date.strftime("%a, %b ") + f"{date.day}, {date.year}" + (f" at {clock}" if ctx.chance(0.7) else "")
        return lit(f"On {stamp}, ") + name + lit(" ") + address + lit(" wrote:\n")
    out = lit("From: ") + name + lit(" ") + address + lit("\n")
    out += lit("Sent: " + date.strftime("%A, %B ") + f"{date.day}, {date.year} {clock}\n")
    return out + lit("Subject: ") + render(ctx.draw(_short("subjects")["inquiry"]), ctx) + lit("\n")


def _thread_message(intent: str, ctx: Ctx) -> list[Piece]:
    """A reply or forward: the intent is the top note's, the quoted message below is any scheduling email."""
    forward = ctx.chance(0.35)
    out = lit(("Fwd: " if forward else "Re: ") + ctx.pick(("Meeting", "Catch up", "Next steps", "Invite", "Call")))
    out += lit("\n\n") + render(ctx.draw(_templates("thread_top", "generic_written", intent)), ctx)
    out += lit("\n\n") + _sender(ctx) + lit("\n\n")
    quoted_intent = ctx.pick(("inquiry", "inquiry", "cancel"))
    original = render(ctx.draw(_short("greetings")), ctx) + lit("\n") + _email_body(quoted_intent, ctx) + lit("\n")
    original += _sender(ctx)
    if forward:
        return out + lit("---------- Forwarded message ---------\n") + _quote_header(ctx) + lit("\n") + original
    quoted = [(s.replace("\n", "\n> "), t) for s, t in original]
    return out + _quote_header(ctx) + lit("> ") + quoted


# -----------------------------------------------------------------------------
# whole messages (raw_email, announcement, invitation): header blocks, signatures, quoted earlier messages,
# announcements and invitations.  Word lists and templates are data (data/work_email.yaml); the code below is
# the values that need logic (names as written at work, addresses, dates, times, numbers) and the layouts.

WHOLE_MESSAGE_STYLES = ("raw_email", "announcement", "invitation")


def _draw(ctx: Ctx, key: str) -> str:
    texts, weights = _work(key)
    return ctx.rng.choices(texts, weights)[0]


def _say(ctx: Ctx, key: str) -> list[Piece]:
    """A template from a list of the data file, rendered."""
    return render(_draw(ctx, key), ctx)


def _company(ctx: Ctx) -> str:
    name = ctx.pick(ctx.pools.companies)
    return name if " " in name or ctx.chance(0.5) else f"{name} {_draw(ctx, 'company_suffixes')}"


def _domain(ctx: Ctx, company: str | None = None) -> str:
    words = re.sub(r"[^a-z ]", "", _fold(company or ctx.pick(ctx.pools.companies)).lower()).split() or ["acme"]
    return f"{words[0]}.{ctx.pick(('com', 'com', 'example', 'net', 'org', 'co.uk', 'de'))}"


# --- numbers that are not dates or times ---


def _ext(ctx: Ctx) -> str:
    n = ctx.rng.randint(1000, 9999)
    return ctx.pick((f"x{n}", f"ext. {n}", f"x{ctx.rng.randint(2, 9)}-{n}", f"extension {n}", f"Ext {n}"))


def _room(ctx: Ctx) -> str:
    n = ctx.rng.randint(100, 4999)
    return ctx.pick((f"Room {n}", f"room {n}", f"Rm {n}{ctx.pick('ABC')}", f"Conf Rm {n % 40}{ctx.pick('ABCD')}",
                     f"{ctx.pick('NSEW')}{n}", f"Room {n % 90}-{ctx.rng.randint(100, 399)}"))  # fmt: skip


def _amount(ctx: Ctx) -> str:
    n = ctx.rng.choice((ctx.rng.randint(5, 999) * 100, ctx.rng.randint(1, 99) * 1000, ctx.rng.randint(12, 999)))
    return ctx.pick((f"${n:,}", f"${n / 1000:.1f}K", f"${ctx.rng.randint(1, 40)}.{ctx.rng.randint(1, 9)} million",
                     f"EUR {n:,}", f"£{n:,}", f"{n:,} USD"))  # fmt: skip


def _ticket(ctx: Ctx) -> str:
    n = ctx.rng.randint(1000, 999999)
    return ctx.pick((f"#{n}", f"INC-{n}", f"PO {4500000000 + n}", f"CASE-{n % 10000}", f"{n}", f"REQ{n:07d}"))


def _percent(ctx: Ctx) -> str:
    r = ctx.rng
    return ctx.pick((f"{r.randint(2, 60)}%", f"{r.randint(1, 9)}.{r.randint(1, 9)}%", f"{r.randint(2, 30)} percent"))


def _version(ctx: Ctx) -> str:
    r = ctx.rng
    return ctx.pick(
        (f"{r.randint(1, 9)}.{r.randint(0, 12)}", f"{r.randint(1, 4)}.{r.randint(0, 9)}.{r.randint(0, 20)}")
    )


def _org_code(ctx: Ctx) -> str:
    """An organisation's code in capitals ("KVRT"): it looks like a person's initials and is not a NAME."""
    return "".join(ctx.rng.choice("BCDFGHKLMNPRSTVWXZ") for _ in range(ctx.rng.randint(4, 5)))  # initials run 2-3


def _count(ctx: Ctx) -> str:
    return str(ctx.rng.choice((ctx.rng.randint(2, 12), ctx.rng.randint(2, 60))))


def _street_address(ctx: Ctx) -> str:
    return f"{ctx.rng.randint(1, 9999)} {_word(ctx, 'street_bases')} {_word(ctx, 'street_types')}" + ctx.pick(
        ("", "", f", Suite {ctx.rng.randint(100, 3999)}", f", {_ordinal(ctx.rng.randint(2, 40))} Floor")
    )


def _city_state_zip(ctx: Ctx) -> str:
    city, state = _pair(_word(ctx, "us_city_state"))
    abbr = "".join(w[0] for w in state.split())[:2].upper() if " " in state else state[:2].upper()
    return ctx.pick(
        (f"{city}, {abbr} {ctx.rng.randint(10000, 99999)}", f"{city}, {state} {ctx.rng.randint(10000, 99999)}")
    )


def _phone_text(ctx: Ctx) -> str:
    a, b, c = ctx.rng.randint(200, 989), ctx.rng.randint(200, 999), ctx.rng.randint(0, 9999)
    return ctx.pick((f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}",
                     f"+44 20 {b}0 {c:04d}", f"1-800-{b}-{c:04d}", ctx.pick(ctx.pools.phones)))  # fmt: skip


def _spot(ctx: Ctx, text: str) -> list[Piece]:
    """A room, building or street address: a LOCATION when that type is requested, else a hard negative."""
    return ent(text, "LOCATION") if ctx.has("LOCATION") else lit(text)


def _slot_phone_number(ctx: Ctx, fb: str | None) -> list[Piece]:
    text = _phone_text(ctx)
    return ent(text, "PHONE") if ctx.has("PHONE") else lit(text)


# --- people as work email writes them ---


def _work_name(ctx: Ctx, person: tuple[str, str] | None = None, form: str | None = None) -> list[Piece]:
    """A NAME in one of the forms of work email: full, first, surname alone, "J. Baker", "Baker, Ann", a title
    and surname ("Dr. Baker" tags "Baker"), a handle ("jbaker"), initials ("AB"); full and surname-first forms
    sometimes carry a middle initial or a suffix ("Ann K. Baker", "Baker Jr., Ann K.")."""
    if not ctx.has("NAME"):  # never an untagged name: a role in its place
        return lit(ctx.pick(("the organiser", "the office", "our team", "the coordinator")))
    first, last = person or _person(ctx)
    if form is None:
        form = ctx.rng.choices(("full", "first", "last", "initial", "last_first", "title", "handle", "initials"),
                               (40, 20, 8, 8, 14, 6, 2, 2))[0]  # fmt: skip
    if form == "title":
        return lit(_word(ctx, "titles") + " ") + ent(last, "NAME")
    if form in ("full", "last_first") and ctx.chance(0.25):
        first = f"{first} {ctx.pick('ABCDEFGHJKLMNPRSTW')}."  # a middle initial
    if form in ("full", "last_first") and ctx.chance(0.04):
        last = f"{last} {ctx.pick(('Jr.', 'Sr.', 'II', 'III'))}"
    text = {
        "full": f"{first} {last}",
        "first": first,
        "last": last,
        "initial": f"{first[0]}. {last}",
        "last_first": f"{last}, {first}",
        "handle": (re.sub(r"[^a-z]", "", _fold(first[0] + last).lower()) or "jdoe"),
        "initials": (_fold(first[0] + last[0]).upper() or "JD"),
    }[form]
    return ent(text, "NAME")


def _slot_title_last(ctx: Ctx, fb: str | None) -> list[Piece]:
    return _work_name(ctx, form="title") if ctx.has("NAME") and ctx.chance(0.8) else lit(fb or "all")


def _surname_list(ctx: Ctx) -> list[Piece]:
    """ "Lopez, Chen & Baker": each surname its own NAME."""
    n = ctx.rng.randint(2, 4)
    out: list[Piece] = []
    for i in range(n):
        if i:
            out += lit(", " if i < n - 1 else ctx.pick((" & ", " and ", ", ")))
        out += ent(_person(ctx)[1], "NAME")
    return out


def _address(ctx: Ctx, person: tuple[str, str] | None = None, in_comma_list: bool = False) -> list[Piece]:
    """One sender or recipient as a header writes it: display name and address in one of several forms.

    In a comma-separated list a surname-first name is quoted, as mail clients write it: unquoted, "Baker, Ann,
    Lee, Chen" cannot be read as names even by a person, and would teach a model to guess."""
    first, last = person or _person(ctx)
    email = _email_address(ctx, first, last)
    if ctx.chance(0.5):  # work address on the company's domain
        email = email.split("@")[0] + "@" + _domain(ctx)
    has_name, has_email = ctx.has("NAME"), ctx.has("EMAIL")
    if not has_name and not has_email:
        return lit(_word(ctx, "groups"))
    if not has_name:
        return ent(email, "EMAIL")
    if not has_email:
        return _quoted_if(in_comma_list, _work_name(ctx, (first, last), ctx.pick(("full", "full", "last_first"))))
    form = ctx.rng.choices(("display", "quoted_last_first", "bare", "name_only", "last_first_only", "paren"),
                           (40, 12, 18, 14, 12, 4))[0]  # fmt: skip
    if form == "display":
        return _work_name(ctx, (first, last), "full") + lit(" <") + ent(email, "EMAIL") + lit(">")
    if form == "quoted_last_first":
        return lit('"') + _work_name(ctx, (first, last), "last_first") + lit('" <') + ent(email, "EMAIL") + lit(">")
    if form == "bare":
        return ent(email, "EMAIL")
    if form == "name_only":
        return _work_name(ctx, (first, last), "full")
    if form == "last_first_only":
        return _quoted_if(in_comma_list, _work_name(ctx, (first, last), "last_first"))
    return ent(email, "EMAIL") + lit(" (") + ent(f"{first} {last}", "NAME") + lit(")")


def _quoted_if(comma_list: bool, name: list[Piece]) -> list[Piece]:
    """``name`` in double quotes when it holds a comma and stands in a comma-separated list."""
    has_comma = any("," in text for text, _ in name)
    return lit('"') + name + lit('"') if comma_list and has_comma else name


def _list_address(ctx: Ctx) -> list[Piece]:
    """A mailing list or a no-reply sender: an EMAIL whose local part is not a person."""
    local = _draw(ctx, "list_names" if ctx.chance(0.8) else "no_reply_names")
    address = f"{local}@{_domain(ctx)}"
    return ent(address, "EMAIL") if ctx.has("EMAIL") else lit(ctx.pick(("All Staff", "Seminar List", "Team")))


def _recipients(ctx: Ctx, n: int) -> list[Piece]:
    sep = ctx.pick(("; ", ", ", "; "))
    out: list[Piece] = []
    for i in range(n):
        one = _address(ctx, in_comma_list=sep == ", ") if ctx.chance(0.93) else _list_address(ctx)
        out += (lit(sep) if i else []) + one
    return out


# --- the layouts of a page: one name a line, names in capitals, routing strings, export headers ---


def _caps(pieces: list[Piece]) -> list[Piece]:
    """The pieces in capitals, as sign-up sheets and agendas write names ("RAVI NAIR")."""
    return [(s.upper(), t) for s, t in pieces]


def _routed_name(ctx: Ctx, person: tuple[str, str] | None = None) -> list[Piece]:
    """A person as a mail system's routing string writes them ("Ann Lee/NYC/KVRT@KVRT", "Ann Lee@KVRT"): the
    person is a NAME, the site and organisation codes after it are nothing (see the guideline)."""
    org = _org_code(ctx) if ctx.chance(0.6) else _fold(_company(ctx).split()[0]).upper().strip(".,&") or "CORP"
    site = _draw(ctx, "site_codes")
    route = ctx.rng.choices((f"/{site}/{org}@{org}", f"/{org}@{org}", f"@{org}", f"/{site}/{org}"), (45, 25, 15, 15))
    return _work_name(ctx, person, "full") + lit(route[0])


def _routed_list(ctx: Ctx, n: int, first: tuple[str, str] | None = None) -> list[Piece]:
    out = _routed_name(ctx, first)
    for _ in range(n - 1):
        out += lit(", ") + (_routed_name(ctx) if ctx.chance(0.85) else _address(ctx, in_comma_list=True))
    return out


def _people_block(ctx: Ctx) -> list[Piece]:
    """People one a line under a heading ("Attendees:"), as minutes, invitations and memos list them; sometimes
    in capitals, numbered or bulleted, with a note after the name."""
    out = lit(_draw(ctx, "people_headings") + "\n")
    caps, numbered = ctx.chance(0.25), ctx.chance(0.15)
    bullet = ctx.pick(("", "", "- ", "* ", "\t"))
    for i in range(ctx.rng.randint(2, 8)):
        form = ctx.rng.choices(("full", "last_first", "initial", "first"), (60, 20, 10, 10))[0]
        name = _caps(_work_name(ctx, form=form)) if caps else _work_name(ctx, form=form)
        out += lit(f"{i + 1}. " if numbered else bullet) + name
        out += _say(ctx, "people_notes") if ctx.chance(0.3) else []
        out += lit("\n")
    return out


def _export_fields(ctx: Ctx, sender: tuple[str, str]) -> list[Piece]:
    """The X-From / X-To / X-cc / X-bcc lines of mail exported from Exchange or Notes: display names, unquoted,
    one form for the whole list; surname first in many companies ("X-To: Baker, Ann, Lee, Chen": two NAMEs)."""
    form = ctx.pick(("last_first", "last_first", "full"))

    def names(n: int) -> list[Piece]:
        out: list[Piece] = []
        for i in range(n):
            out += (lit(", ") if i else []) + _work_name(ctx, form=form)
        return out

    out = _header(ctx, "X-From", _work_name(ctx, sender, form)) + _header(ctx, "X-To", names(ctx.rng.randint(1, 12)))
    return out + _header(ctx, "X-cc", names(ctx.rng.randint(0, 4))) + _header(ctx, "X-bcc", [])


def _notes_header(ctx: Ctx, sender: tuple[str, str], receiver: tuple[str, str]) -> list[Piece]:
    """A Lotus Notes header: the sender (often a routing string), when it was sent on a line of its own (not a
    DATE or TIME), To and cc lists of routing strings, the subject."""
    out = _routed_name(ctx, sender) if ctx.chance(0.5) else _work_name(ctx, sender, "full")
    out += lit("\n" + _sent_stamp(ctx, "numeric") + "\n")
    out += _header(ctx, "To", _routed_list(ctx, ctx.rng.randint(1, 4), receiver))
    if ctx.chance(0.5):
        out += _header(ctx, "cc", _routed_list(ctx, ctx.rng.randint(1, 4)))
    return out + _header(ctx, "Subject", _subject(ctx, "inquiry", ctx.chance(0.4)))


# --- when a message was sent (never an entity: see the guideline) and dates and times as written at work ---


def _sent_stamp(ctx: Ctx, form: str | None = None) -> str:
    when = dt.datetime(1998, 1, 1) + dt.timedelta(minutes=ctx.rng.randrange(28 * 365 * 24 * 60))
    h12 = when.hour % 12 or 12
    ap = "AM" if when.hour < 12 else "PM"
    form = form or ctx.pick(("rfc", "outlook", "numeric", "short"))
    if form == "rfc":
        zone = ctx.pick(("-0500", "-0600", "-0800", "+0000", "+0100", "+0530", "-0700 (PDT)", "+0200 (CEST)"))
        return f"{when:%a}, {when.day} {when:%b %Y %H:%M:%S} {zone}"
    if form == "outlook":
        return f"{when:%A, %B %d, %Y} {h12}:{when.minute:02d} {ap}"
    if form == "numeric":
        return f"{when:%m/%d/%Y} {h12:02d}:{when.minute:02d} {ap}"
    return f"{when:%a %m/%d/%Y} {h12}:{when.minute:02d} {ap}"


def _work_date(ctx: Ctx) -> str:
    """A DATE as work email writes it: "Thursday, May 4th", "5/4/01", "04-May-95", "Thu 4 May", ..."""
    d = dt.date(1995, 1, 1) + dt.timedelta(days=ctx.rng.randrange(30 * 365))
    forms = (
        f"{d:%A}, {d:%B} {_ordinal(d.day)}", f"{d:%A}, {d:%B} {d.day}", f"{d:%A}, {d:%B} {d.day}, {d.year}",
        f"{d:%B} {d.day}", f"{d:%B} {_ordinal(d.day)}", f"{d.month}/{d.day}/{d:%y}", f"{d.month}/{d.day}",
        f"{d:%d-%b-%y}", f"{d.day} {d:%B %Y}", f"{d:%a} {d.day} {d:%b}", f"{d:%a}, {d.month}/{d.day}",
        f"{d:%A} {d.day} {d:%B}", f"{d:%Y-%m-%d}", f"{d:%A}", f"{d:%a %b} {d.day}",
    )  # fmt: skip
    return ctx.rng.choices(forms, (10, 8, 6, 8, 5, 6, 4, 5, 5, 4, 3, 3, 3, 6, 4))[0]


def _work_time(ctx: Ctx, single: bool = False) -> str:
    """A TIME as work email writes it: "3:30 p.m.", "1530 hrs", "10am CST", or a range as one span."""
    h, m = _hour(ctx)
    h = min(max(h, 7), 19)
    h12, ap = h % 12 or 12, "AM" if h < 12 else "PM"
    zone = ctx.pick(("", "", "", " CST", " EST", " PST", " CDT", " GMT", " ET", " (CT)"))
    one = ctx.rng.choices(
        (f"{h12}:{m:02d} {ap}", f"{h12}:{m:02d} {ap.lower()[0]}.m.", f"{h12}:{m:02d}{ap.lower()}",
         f"{h:02d}{m:02d} hrs", f"{h12}{ap.lower()}{zone}", f"{h12}:{m:02d} {ap}{zone}", f"{h:02d}:{m:02d}", "noon",
         f"{h12}:{m:02d}"),
        (18, 10, 10, 4, 10, 8, 8, 2, 6),
    )[0]  # fmt: skip
    if single or ctx.chance(0.55):
        return one
    h2 = h + ctx.rng.randint(1, 2)
    m2 = ctx.pick((0, 30, 0, 15))
    e12, ap2 = h2 % 12 or 12, "AM" if h2 < 12 else "PM"
    return ctx.pick((f"{h12}:{m:02d} - {e12}:{m2:02d}", f"{h12}:{m:02d}-{e12}:{m2:02d} {ap2}",
                     f"{h12}:{m:02d} {ap}-{e12}:{m2:02d} {ap2}", f"{h12}:{m:02d} {ap} - {e12}:{m2:02d} {ap2}{zone}",
                     f"{h:02d}:{m:02d}-{h2:02d}:{m2:02d}", f"{h12}-{e12} {ap2.lower()}"))  # fmt: skip


def _date_time(ctx: Ctx) -> list[Piece]:
    """A date and a time as one field value: "Thursday, May 4th, 3:30 - 5:00 PM" (DATE and TIME)."""
    out: list[Piece] = ent(_work_date(ctx), "DATE") if ctx.has("DATE") else lit(ctx.pick(("TBD", "see below")))
    if ctx.has("TIME"):
        out += lit(ctx.pick((", ", " ", " at ", " from ", " @ "))) + ent(_work_time(ctx), "TIME")
    return out


SLOTS.update({
    "phone_number": _slot_phone_number,
    "ext": lambda ctx, fb: lit(_ext(ctx)),
    "room": lambda ctx, fb: _spot(ctx, _room(ctx)),
    "building": lambda ctx, fb: _spot(ctx, _draw(ctx, "buildings")),
    "floor": lambda ctx, fb: lit(_ordinal(ctx.rng.randint(2, 40))),
    "amount": lambda ctx, fb: lit(_amount(ctx)),
    "percent": lambda ctx, fb: lit(_percent(ctx)),
    "ticket": lambda ctx, fb: lit(_ticket(ctx)),
    "version": lambda ctx, fb: lit(_version(ctx)),
    "count": lambda ctx, fb: lit(_count(ctx)),
    "count2": lambda ctx, fb: lit(_count(ctx)),
    "big_count": lambda ctx, fb: lit(f"{ctx.rng.randint(2, 900) * 100:,}"),
    "year": lambda ctx, fb: lit(str(ctx.rng.randint(1985, 2024))),
    "price": lambda ctx, fb: lit(f"${ctx.rng.randint(3, 180)}.{ctx.rng.randint(0, 99):02d}"),
    "ticker": lambda ctx, fb: lit(_draw(ctx, "tickers") if ctx.chance(0.6) else
                                  f"{_draw(ctx, 'exchanges')}: {_draw(ctx, 'tickers')}"),
    "dept": lambda ctx, fb: lit(_draw(ctx, "departments")),
    "acronym": lambda ctx, fb: lit(_draw(ctx, "acronyms")),
    "project": lambda ctx, fb: lit(_draw(ctx, "projects")),
    "product": lambda ctx, fb: lit(_draw(ctx, "products")),
    "university": lambda ctx, fb: lit(_draw(ctx, "universities")),
    "street_address": lambda ctx, fb: _spot(ctx, _street_address(ctx)),
    "city_state_zip": lambda ctx, fb: lit(_city_state_zip(ctx)),
    "title_last": _slot_title_last,
    "org_code": lambda ctx, fb: lit(_org_code(ctx)),
    "work_name": lambda ctx, fb: _work_name(ctx),
    "full_name": lambda ctx, fb: _work_name(ctx, form="full"),
    "surname": lambda ctx, fb: _work_name(ctx, form="last"),
    "surnames": lambda ctx, fb: _surname_list(ctx) if ctx.has("NAME") else lit(fb or "the team"),
    "routed_name": lambda ctx, fb: _routed_name(ctx),
    "job_title": lambda ctx, fb: lit(_draw(ctx, "job_titles")),
    "sent_stamp": lambda ctx, fb: lit(_sent_stamp(ctx)),
    "clock": lambda ctx, fb: lit(_sent_stamp(ctx, "numeric").split(" ", 1)[1] if ctx.chance(0.5) else
                                 f"{ctx.rng.randint(0, 23)}:{ctx.rng.randint(0, 59):02d}"),
    "work_time": lambda ctx, fb: ent(_work_time(ctx, single=True), "TIME") if ctx.has("TIME") else lit(fb or "then"),
})  # fmt: skip


# --- layouts ---


def _header(ctx: Ctx, label: str, value: list[Piece]) -> list[Piece]:
    pad = ctx.rng.choices((" ", "\t", "  ", " \t"), (70, 15, 10, 5))[0]
    return lit(f"{label}:{pad}") + value + lit("\n")


def _transport_lines(ctx: Ctx) -> list[Piece]:
    """MIME and transport header lines, as raw messages carry them: never entities (and masked at inference)."""
    host = _domain(ctx)
    lines = [
        f"Message-ID: <{ctx.rng.randint(10**6, 10**9)}.{ctx.rng.randint(10**9, 10**12)}.JavaMail.mail@{host}>",
        "MIME-Version: 1.0", f"Content-Type: text/plain; charset={ctx.pick(('us-ascii', 'utf-8', 'iso-8859-1'))}",
        f"Content-Transfer-Encoding: {ctx.pick(('7bit', 'quoted-printable', '8bit'))}",
        f"X-Mailer: {ctx.pick(('Microsoft Outlook 16.0', 'Lotus Notes Release 5.0.8', 'Apple Mail (2.3654)'))}",
        f"X-Priority: {ctx.rng.randint(1, 5)}", f"Received: from mail{ctx.rng.randint(1, 30)}.{host} by mx.{host}",
    ]  # fmt: skip
    return lit("\n".join(ctx.rng.sample(lines, ctx.rng.randint(2, len(lines)))) + "\n")


def _subject(ctx: Ctx, intent: str, reply: bool) -> list[Piece]:
    prefix = ctx.pick(("RE: ", "Re: ", "FW: ", "Fwd: ", "RE: RE: ")) if reply else ""
    r = ctx.rng.random()
    if r < 0.15 and ctx.has("NAME"):
        body = _say(ctx, "name_subjects")
    elif r < 0.25 and ctx.has("DATE"):
        body = lit(ctx.pick(("Meeting ", "Review ", "Call ", "Offsite "))) + ent(_work_date(ctx), "DATE")
    else:
        body = render(ctx.draw(_templates("subjects", "generic_subjects", intent)), ctx)
    return lit(prefix) + body


def _header_block(ctx: Ctx, intent: str, sender: tuple[str, str], reply: bool) -> list[Piece]:
    """From, Sent/Date, To, Cc and Subject lines in one of the orders mail programs use, sometimes with MIME
    and transport lines among them."""
    outlook = ctx.chance(0.4)
    to = _recipients(ctx, ctx.rng.choices((1, 2, 3, 5, 8, 14, 20), (40, 20, 14, 10, 8, 5, 3))[0])
    cc = _recipients(ctx, ctx.rng.randint(1, 6)) if ctx.chance(0.35) else []
    stamp = lit(_sent_stamp(ctx, "outlook" if outlook else None))
    fields = [
        ("From", _address(ctx, sender)),
        ("Sent" if outlook else "Date", stamp),
        ("To", to),
        *([("Cc", cc)] if cc else []),
        ("Subject", _subject(ctx, intent, reply)),
    ]
    if not outlook and ctx.chance(0.5):  # RFC order: Date first
        fields = [fields[1], fields[0], *fields[2:]]
    out: list[Piece] = _transport_lines(ctx) if ctx.chance(0.25) else []
    for label, value in fields:
        out += _header(ctx, label, value)
    return out + (_export_fields(ctx, sender) if ctx.chance(0.2) else [])


def _signature(ctx: Ctx, sender: tuple[str, str]) -> list[Piece]:
    """Sign-off, the sender's name, and often a signature block full of numbers that are not dates or times."""
    out = _say(ctx, "signoffs") + lit("\n")
    if ctx.has("NAME"):
        form = ctx.rng.choices(("full", "first", "initial", "initials", "last"), (45, 35, 6, 8, 6))[0]
        name = _work_name(ctx, sender, form)
        out += _caps(name) if ctx.chance(0.05) else name
        if form == "first" and ctx.chance(0.35):  # "Pam", then the full name on the signature's first line
            out += lit("\n") + _work_name(ctx, sender, "full")
    else:
        out += lit(ctx.pick(("The team", "Facilities", "Office of the Dean")))
    if ctx.chance(0.15):  # "Ann Baker | Senior Analyst | ext. 4471" on one line
        return out + lit(f" | {_draw(ctx, 'job_titles')} | " + ctx.pick((_ext(ctx), _phone_text(ctx), _company(ctx))))
    if ctx.chance(0.6):
        company = _company(ctx)
        out += lit(f"\n{_draw(ctx, 'job_titles')}{ctx.pick((' | ', ', ', chr(10)))}{company}")
        if ctx.chance(0.5):
            out += (
                lit("\n") + _spot(ctx, _street_address(ctx)) + lit(ctx.pick(("\n", " | ", ", ")) + _city_state_zip(ctx))
            )
        for label in ctx.rng.sample(
            ("Tel", "Phone", "Fax", "Mobile", "Cell", "Direct", "Office"), ctx.rng.randint(0, 3)
        ):
            out += lit(f"\n{label}: ") + _slot_phone_number(ctx, None)
        if ctx.chance(0.3):
            out += lit(f"\n{_ext(ctx)}")
        if ctx.chance(0.35):
            out += lit(f"\nwww.{_domain(ctx, company)}")
        if ctx.chance(0.2):
            out += lit("\n\n" + _draw(ctx, "disclaimers"))
    return out


def _work_body(ctx: Ctx, intent: str, sender: tuple[str, str]) -> list[Piece]:
    """Greeting, the sentence that carries the intent among side remarks, and the signature."""
    core = render(ctx.draw(_templates("email_core", "generic_written", intent)), ctx)
    remarks = [
        _say(ctx, "work_fillers") for _ in range(ctx.rng.choices((0, 1, 2, 3, 4, 6), (10, 20, 25, 20, 15, 10))[0])
    ]
    if ctx.chance(0.3):
        remarks.append(render(ctx.draw(_short("email_fillers")), ctx))
    at = ctx.rng.randint(0, min(2, len(remarks)))
    sentences = remarks[:at] + [core] + remarks[at:]
    out = _say(ctx, "greetings") + lit("\n\n") if ctx.chance(0.85) else []
    for i, sentence in enumerate(sentences):
        if i and ctx.chance(0.08):  # a heading in capitals: not a NAME
            out += lit("\n\n" + _draw(ctx, "caps_headings") + ctx.pick((":", "", " -")) + "\n")
        else:
            out += lit(ctx.pick((" ", " ", "\n\n"))) if i else []
        out += _cap_pieces(sentence)
    if ctx.chance(0.2):
        out += lit("\n\n") + _people_block(ctx)
    return out + lit("\n\n") + _signature(ctx, sender)


def _earlier_message(ctx: Ctx, receiver: tuple[str, str]) -> list[Piece]:
    """The message replied to or forwarded, below the new one, in one of three layouts; its own intent."""
    sender = _person(ctx)
    body = _work_body(ctx, ctx.pick(("inquiry", "inquiry", "cancel")), sender)
    layout = ctx.rng.choices(("outlook", "quoted", "forward", "notes"), (35, 30, 15, 20))[0]
    if layout == "notes":
        forwarded = _say(ctx, "forwarded_lines") + lit("\n") if ctx.chance(0.5) else []
        return forwarded + _notes_header(ctx, sender, receiver) + lit("\n") + body
    if layout == "quoted":
        name = _work_name(ctx, sender, "full") if ctx.has("NAME") else lit("someone")
        addr = lit(" <") + ent(_email_address(ctx, *sender), "EMAIL") + lit(">") if ctx.has("EMAIL") else []
        intro = lit(f"On {_sent_stamp(ctx, ctx.pick(('rfc', 'numeric')))}, ") + name + addr + lit(" wrote:\n")
        return intro + lit("> ") + [(s.replace("\n", "\n> "), t) for s, t in body]
    head = _header(ctx, "From", _address(ctx, sender)) + _header(ctx, "Sent", lit(_sent_stamp(ctx, "outlook")))
    head += _header(ctx, "To", _address(ctx, receiver) + (lit("; ") + _recipients(ctx, 2) if ctx.chance(0.3) else []))
    head += _header(ctx, "Subject", _subject(ctx, "inquiry", ctx.chance(0.4)))
    line = "-----Original Message-----" if layout == "outlook" else "---------- Forwarded message ----------"
    return lit(ctx.pick(("", " ")) + line + "\n") + head + lit("\n") + body


def _raw_email_message(intent: str, ctx: Ctx) -> list[Piece]:
    """A whole message as saved from a mail program: header block, body, signature, maybe an earlier message."""
    sender, receiver = _person(ctx), _person(ctx)
    earlier = ctx.chance(0.6)
    out = _header_block(ctx, intent, sender, reply=earlier) + lit("\n")
    if earlier and ctx.chance(0.5):  # a short note on top of the thread
        out += _say(ctx, "greetings") + lit("\n\n") if ctx.chance(0.4) else []
        notes = _work_lists()["reply_notes"]
        texts, weights = notes.get(intent, notes["inquiry"])
        out += render(ctx.rng.choices(texts, weights)[0], ctx)
        out += lit("\n\n") + _signature(ctx, sender)
    else:
        out += _work_body(ctx, intent, sender)
    if earlier:
        out += lit("\n\n") + _earlier_message(ctx, receiver)
    return out


def _field_block(ctx: Ctx, fields: list[tuple[str, list[Piece]]]) -> list[Piece]:
    width = max(len(label) for label, _ in fields) + 2
    aligned = ctx.chance(0.5)
    out: list[Piece] = []
    for label, value in fields:
        out += lit(f"{label}:" + (" " * (width - len(label) - 1) if aligned else " ")) + value + lit("\n")
    return out


def _announcement_message(intent: str, ctx: Ctx) -> list[Piece]:
    """A talk or seminar announcement to a mailing list: header block, fields, an abstract, the host."""
    coordinator, speaker, host = _person(ctx), _person(ctx), _person(ctx)
    topic = _draw(ctx, "talk_topics")
    cancelled = intent == "cancel"
    subject = lit(ctx.pick(("CANCELLED: ", "Cancelled - ", "NO SEMINAR: ")) if cancelled else
                  ctx.pick(("Seminar: ", "Talk: ", "Colloquium: ", "[seminars] ", "Reminder: ", "")))  # fmt: skip
    subject += lit(topic) if ctx.chance(0.6) else lit("Talk by ") + _work_name(ctx, speaker, "title")
    out = _header(ctx, "From", _address(ctx, coordinator)) + _header(ctx, "To", _list_address(ctx))
    out += _header(ctx, "Date", lit(_sent_stamp(ctx, "rfc"))) + _header(ctx, "Subject", subject) + lit("\n")
    posted = _say(ctx, "posted_lines") + lit("\n") if ctx.chance(0.3) else []
    at_top = ctx.chance(0.5)
    out += posted if at_top else []
    if cancelled:
        out += lit(ctx.pick(("Please note that the following talk has been cancelled.",
                             "Unfortunately the seminar below is cancelled.",
                             "The talk announced below will not take place.")) + "\n\n")  # fmt: skip
    else:
        out += _say(ctx, "announcement_intros") + lit("\n\n")
    speaker_name = _work_name(ctx, speaker, ctx.pick(("full", "full", "title")))
    affiliation = (
        lit(f" ({_draw(ctx, 'universities') if ctx.chance(0.6) else _company(ctx)})") if ctx.chance(0.7) else []
    )
    place = _spot(ctx, _room(ctx)) + lit(", ") + _spot(ctx, _draw(ctx, "buildings"))
    if ctx.chance(0.5):
        date = ent(_work_date(ctx), "DATE") if ctx.has("DATE") else lit("TBA")
        time = ent(_work_time(ctx), "TIME") if ctx.has("TIME") else lit("TBA")
        fields = [("Title", lit(topic)), ("Speaker", speaker_name + affiliation), ("Date", date), ("Time", time),
                  ("Place", place)]  # fmt: skip
    else:
        fields = [("Who", speaker_name + affiliation), ("What", lit(topic)), ("When", _date_time(ctx)),
                  ("Where", place)]  # fmt: skip
    if ctx.chance(0.6):
        fields.append(("Host", _work_name(ctx, host, ctx.pick(("full", "full", "title", "last_first")))))
    out += _field_block(ctx, fields)
    if not cancelled and ctx.chance(0.8):
        abstract = [_say(ctx, "abstract_sentences") for _ in range(ctx.rng.randint(2, 5))]
        out += lit("\n" + ctx.pick(("Abstract:\n", "ABSTRACT\n\n", "Abstract: ")))
        for i, sentence in enumerate(abstract):
            out += (lit(" ") if i else []) + sentence
        out += lit("\n")
    if ctx.chance(0.4) and ctx.has("TIME"):
        out += lit("\nRefreshments at ") + ent(_work_time(ctx, single=True), "TIME") + lit(".\n")
    if ctx.chance(0.5):
        out += lit("\nFor more information contact ") + _work_name(ctx, coordinator, "full") + lit(f", {_ext(ctx)}.")
    if ctx.chance(0.15):
        out += lit("\n\n") + _people_block(ctx)
    return out + (lit("\n\n") + posted if posted and not at_top else [])


def _invitation_message(intent: str, ctx: Ctx) -> list[Piece]:
    """A calendar or conference-call invitation: header block, When/Where, dial-in details, a numbered agenda."""
    organizer = _person(ctx)
    cancelled = intent == "cancel"
    title = ctx.pick((_draw(ctx, "projects").replace("the ", "").capitalize() + " review", "Weekly sync",
                      f"{_draw(ctx, 'departments')} staff meeting", f"{_draw(ctx, 'acronyms')} planning",
                      "Budget discussion", "Vendor call"))  # fmt: skip
    subject = lit(("Canceled: " if cancelled else ctx.pick(("Invitation: ", "Updated invitation: ", ""))) + title)
    out = _header(ctx, "From", _address(ctx, organizer))
    out += _header(ctx, "To", _recipients(ctx, ctx.rng.randint(1, 8)))
    out += _header(ctx, "Sent", lit(_sent_stamp(ctx, "outlook"))) + _header(ctx, "Subject", subject) + lit("\n")
    if cancelled:
        out += lit(ctx.pick(("This meeting has been canceled.", "The organizer has canceled this event.",
                             "Cancelling - we will reschedule.")) + "\n\n")  # fmt: skip
    when: list[Piece] = ent(_work_date(ctx), "DATE") if ctx.has("DATE") else lit("TBD")
    if ctx.has("TIME"):
        when += lit(" ") + ent(_work_time(ctx), "TIME")
    when += lit(f" {_draw(ctx, 'time_zones')}.") if ctx.chance(0.6) else []
    where = _spot(ctx, _room(ctx)) if ctx.chance(0.6) else lit(ctx.pick(("Dial-in", "Microsoft Teams Meeting")))
    out += lit("When: ") + when + lit("\nWhere: ") + where + lit("\n")
    if ctx.chance(0.4):
        out += lit("\n") + _people_block(ctx)
    out += lit("\n*~*~*~*~*~*~*~*~*~*\n\n") if ctx.chance(0.5) else lit("\n")
    if ctx.chance(0.7):
        out += lit(ctx.pick(("Dial-in: ", "Call-in number: ", "Toll free: "))) + _slot_phone_number(ctx, None)
        out += lit(f"\n{ctx.pick(('Passcode', 'Participant code', 'Access code', 'Meeting ID'))}: "
                   f"{ctx.rng.randint(100, 999)} {ctx.rng.randint(1000, 9999)}#\n")  # fmt: skip
        if ctx.chance(0.4):
            out += lit("Host: ") + _work_name(ctx, organizer, "full") + lit("\n")
    if ctx.chance(0.8):
        out += lit("\nAgenda:\n")
        for i in range(ctx.rng.randint(2, 6)):
            out += lit(f"{i + 1}. ") + _say(ctx, "agenda_items")
            if ctx.has("NAME") and ctx.chance(0.35):
                out += lit(" (") + _work_name(ctx, form=ctx.pick(("full", "first", "last", "initials"))) + lit(")")
            out += lit("\n")
    if ctx.chance(0.5):
        out += lit("\n") + _signature(ctx, organizer)
    return out


MESSAGE_BUILDERS = {
    "voice": _voice_message,
    "chat": _chat_message,
    "email": _email_message,
    "thread": _thread_message,
    "raw_email": _raw_email_message,
    "announcement": _announcement_message,
    "invitation": _invitation_message,
}


def _message(intent: str, ctx: Ctx) -> tuple[str, list[Span]]:
    return assemble(restyle(MESSAGE_BUILDERS[ctx.style](intent, ctx), ctx))


def generate_offline(
    num_examples: int,
    seed: int,
    entity_types: Sequence[str] = DEFAULT_ENTITY_TYPES,
    intents: Sequence[str] = DEFAULT_INTENTS,
    styles: dict[str, float] | None = None,
) -> list[dict]:
    """`num_examples` full examples (dicts from small_lm.data.make_example, ids f"offline-{seed}-{i:06d}"),
    unique texts, intents balanced (round-robin), deterministic for a given seed (same seed -> identical
    output, different seed -> different data). Shuffled.  ``styles`` weights the message styles (default: the
    mix of small_lm/data/styles.yaml)."""
    if num_examples < 0:
        raise ValueError(f"num_examples must be >= 0, got {num_examples}")
    intents = list(dict.fromkeys(intents))
    if not intents:
        raise ValueError("need at least one intent")
    mix = styles if styles is not None else default_mix()
    if unknown := sorted(set(mix) - set(MESSAGE_BUILDERS)):
        raise ValueError(f"the offline generator has no style {unknown}; it writes {', '.join(MESSAGE_BUILDERS)}")
    types = tuple(dict.fromkeys(entity_types))
    rng = random.Random(f"small_lm.offline/{seed}")  # a string seed: the same on every platform and run
    pools = _pools()
    names, weights = list(mix), list(mix.values())
    rows, seen = [], set()
    for i in range(num_examples):
        intent = intents[i % len(intents)]
        for _ in range(1000):  # a duplicate or (never expected) a span off token edges: draw again
            style = rng.choices(names, weights)[0]
            # A whole message always has its people in it: one with no entities at all would need untagged names.
            tagged = style in WHOLE_MESSAGE_STYLES or rng.random() >= NO_ENTITY_RATE
            ctx = Ctx(rng, pools, types, style, tagged, False)
            ctx.spoken = style == "voice" and ctx.chance(0.85)
            text, spans = _message(intent, ctx)
            if text and text not in seen and _on_token_edges(text, spans):
                break
        else:
            raise RuntimeError(f"could not make a new unique message for intent {intent!r} after 1000 tries")
        seen.add(text)
        rows.append((text, intent, spans))
    rng.shuffle(rows)
    return [
        make_example(f"offline-{seed}-{i:06d}", text, intent, spans) for i, (text, intent, spans) in enumerate(rows)
    ]
