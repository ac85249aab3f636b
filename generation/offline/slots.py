"""The slot registry and the template renderer.

A template is a string with ``[a|b|]`` alternatives (an empty one makes the part optional) and ``{slot}`` or
``{slot:fallback}`` fillers; the fallback is used when the slot's entity type is not requested or the message is
one without entities.  A slot returns pieces.  The slots that draw a word or make a number, tagged or not, are
data (``slots.yaml``: ``draw``); those with logic are SLOTS below, with their rates and words in ``slots.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable

from generation.offline.context import Ctx, Piece, ent, lit, tag
from generation.offline.lexicon import Words, parse
from generation.offline.numbers import number
from generation.offline.people import email_address, name, name_list, phone, routed_name, surname_list, who
from generation.offline.places import city_state_zip, location, place, place_phrase
from generation.offline.when import (
    clock,
    date_phrase,
    date_value,
    no_when,
    sent_stamp,
    simple_day,
    time_phrase,
    when_phrase,
    work_time,
)

Slot = Callable[[Ctx, "str | None"], list[Piece]]
R = "slots."


def render(template: str, ctx: Ctx) -> list[Piece]:
    out: list[Piece] = []
    for kind, value, fallback in parse(template):
        if kind == "text":
            out.append((value, None))
        elif kind == "alt":
            out += render(ctx.pick(value), ctx)
        elif value in SLOTS:
            out += SLOTS[value](ctx, fallback)
        else:
            out += _data_slot(ctx, value)
    return out


def say(ctx: Ctx, key: str) -> list[Piece]:
    """A template of the lexicon list ``key``, rendered."""
    return render(ctx.draw(key), ctx)


def _data_slot(ctx: Ctx, slot: str) -> list[Piece]:
    """A slot of slots.yaml: a word of a list (in a voice command, one a recogniser could hear) or a number,
    tagged with the entity type given after it when that type is requested."""
    source, entity_type = ctx.lex[f"slots.draw.{slot}"]
    value = ctx.lex[source]
    if isinstance(value, Words):
        text = ctx.draw(ctx.lex.spoken(source) if ctx.style == "voice" else value)
    else:
        text = number(ctx, source)
    return tag(ctx, text, entity_type) if entity_type else lit(text)


def _fallback(ctx: Ctx, fb: str | None, key: str) -> list[Piece]:
    """The template's fallback text, else the lexicon's ``key``: a word drawn from a list, or one text."""
    if fb is not None:
        return lit(fb)
    value = ctx.lex[key]
    return lit(ctx.draw(value) if isinstance(value, Words) else value)


def _time(ctx: Ctx, fb: str | None) -> list[Piece]:
    if ctx.has("TIME"):
        text, bare = clock(ctx)
        if not bare:
            return ent(text, "TIME")
    return _fallback(ctx, fb, "words.fallbacks.time")


def _person(ctx: Ctx, fb: str | None) -> list[Piece]:
    if ctx.has("NAME") and ctx.chance(R + "person"):
        return name_list(ctx) if ctx.chance(R + "person_list") else name(ctx)
    return lit(ctx.draw("words.roles"))


def _a_event(ctx: Ctx, fb: str | None) -> list[Piece]:
    event = _data_slot(ctx, "event")[0][0]
    return lit(("an " if event[0] in "aeioAEIO" and not event.startswith("one") else "a ") + event)


def _at_place(ctx: Ctx, fb: str | None) -> list[Piece]:
    if "LOCATION" not in ctx.types:
        return lit(ctx.draw("words.places"))
    if ctx.has("LOCATION") and ctx.chance(R + "at_place"):
        return location(ctx)
    return lit(ctx.draw("words.places_unnamed"))


def _entity(entity_type: str, make: Callable[[Ctx], list[Piece]], fallback: str, rate: str = "") -> Slot:
    """A slot that writes ``make(ctx)`` when its entity type is requested (and, with a ``rate``, at that rate),
    else the template's fallback or the lexicon's ``fallback``."""

    def slot(ctx: Ctx, fb: str | None) -> list[Piece]:
        used = ctx.has(entity_type) and (not rate or ctx.chance(R + rate))
        return make(ctx) if used else _fallback(ctx, fb, fallback)

    return slot


def _name(ctx: Ctx, fb: str | None) -> list[Piece]:
    """{name} is always a NAME when NAME is requested; {name:fallback} at a rate."""
    if ctx.has("NAME") and (fb is None or ctx.chance(R + "name")):
        return name(ctx)
    return _fallback(ctx, fb, "words.roles")


def _contact(ctx: Ctx, fb: str | None) -> list[Piece]:
    if ctx.has("EMAIL") and (not ctx.has("NAME") or ctx.chance(R + "contact_email")):
        return ent(email_address(ctx), "EMAIL")
    return _person(ctx, fb)


def _ticker(ctx: Ctx, fb: str | None) -> list[Piece]:
    if ctx.chance(R + "bare_ticker"):
        return lit(ctx.draw("work_email.tickers"))
    return lit(f"{ctx.draw('work_email.exchanges')}: {ctx.draw('work_email.tickers')}")


def _clock(ctx: Ctx, fb: str | None) -> list[Piece]:
    """The time something was posted at: never a TIME."""
    if ctx.chance(R + "stamp_clock"):
        return lit(sent_stamp(ctx, "numeric").split(" ", 1)[1])
    return lit(f"{ctx.rng.randint(0, 23)}:{ctx.rng.randint(0, 59):02d}")


def _when(mode: str) -> Slot:
    """A date and/or time with the prepositions of ``mode`` ("on", "for", "to", "bare")."""
    return lambda ctx, fb: when_phrase(ctx, mode)


def _date(mode: str) -> Slot:
    return lambda ctx, fb: date_phrase(ctx, mode)[0] if ctx.has("DATE") else no_when(ctx, mode)


def _placed(slot: Slot) -> Slot:
    """Sometimes a place before the date or time: "with anna in austin texas tomorrow", "at joe's pizza at noon"."""

    def placed(ctx: Ctx, fb: str | None) -> list[Piece]:
        when = slot(ctx, fb)
        if ctx.chance(R + ("placed_voice" if ctx.style == "voice" else "placed")):
            return place_phrase(ctx) + lit(" ") + when
        return when

    return placed


F = "words.fallbacks."
SLOTS: dict[str, Slot] = {
    "when": _placed(_when("on")),
    "for_when": _when("for"),
    "to_when": _when("to"),
    "bare_when": _when("bare"),
    "on_date": _placed(_date("on")),
    "for_date": _date("for"),
    "to_date": _date("to"),
    "at_time": _entity("TIME", lambda ctx: time_phrase(ctx, "on"), F + "at_time"),
    "to_time": _entity("TIME", lambda ctx: time_phrase(ctx, "to"), F + "to_time"),
    "date": _entity("DATE", lambda ctx: ent(date_value(ctx)[0], "DATE"), F + "date"),
    "day": _entity("DATE", lambda ctx: ent(simple_day(ctx), "DATE"), F + "day", "day"),
    # "friday's": the DATE stops before the apostrophe
    "days": _entity("DATE", lambda ctx: ent(simple_day(ctx), "DATE") + lit("'s"), F + "days", "day"),
    "time": _time,
    "work_time": _entity("TIME", lambda ctx: ent(work_time(ctx, single=True), "TIME"), F + "work_time"),
    "name": _name,
    "first": _entity("NAME", lambda ctx: name(ctx, "first"), F + "first", "first"),
    "person": _person,
    "people": _entity(
        "NAME", lambda ctx: name_list(ctx) if ctx.chance(R + "people_list") else name(ctx), "words.groups", "people"
    ),
    # the message's person by name and by address: its user name is part of the EMAIL, never a NAME
    "pname": _entity("NAME", lambda ctx: name(ctx, ctx.draw(R + "pname_forms"), who(ctx)), "words.family", "pname"),
    "pemail": _entity("EMAIL", lambda ctx: ent(email_address(ctx, *who(ctx)), "EMAIL"), F + "pemail"),
    "email": _entity("EMAIL", lambda ctx: ent(email_address(ctx), "EMAIL"), F + "email"),
    "contact": _contact,
    "phone": _entity("PHONE", lambda ctx: ent(phone(ctx), "PHONE"), F + "phone"),
    "title_last": _entity("NAME", lambda ctx: name(ctx, "title", work=True), F + "title_last", "title_last"),
    "work_name": lambda ctx, fb: name(ctx, work=True),
    "full_name": lambda ctx, fb: name(ctx, "full", work=True),
    "surname": lambda ctx, fb: name(ctx, "last", work=True),
    "surnames": _entity("NAME", surname_list, F + "surnames"),
    "routed_name": lambda ctx, fb: routed_name(ctx),
    "wake": lambda ctx, fb: (
        lit(ctx.draw("words.wake_words") + ctx.draw(R + "wake_seps")) if ctx.chance(R + "wake") else []
    ),
    "a_event": _a_event,
    "company": lambda ctx, fb: lit(ctx.pick(ctx.pools.companies)),
    "place": lambda ctx, fb: place_phrase(ctx),
    "at_place": _at_place,
    "city": lambda ctx, fb: place(ctx, "city"),
    "country": lambda ctx, fb: place(ctx, "country"),
    "venue": lambda ctx, fb: place(ctx, "venue"),
    "city_state_zip": lambda ctx, fb: lit(city_state_zip(ctx)),
    "ticker": _ticker,
    # when something was posted: never a DATE or TIME
    "sent_stamp": lambda ctx, fb: lit(sent_stamp(ctx)),
    "clock": _clock,
}
