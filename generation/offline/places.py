"""Places: untagged, or LOCATIONs when that type is requested ("in austin texas", "at joe's pizza", "Room 4B",
"on maple street"); ``formats.yaml``: ``places``."""

from __future__ import annotations

from generation.offline.context import Ctx, Piece, ent, fold, lit, tag, title_case
from generation.offline.numbers import number

F = "formats.places."


def _owner(ctx: Ctx) -> str:
    if ctx.chance(F + "owner_word_rate"):
        return ctx.draw("words.venue_owners")
    return fold(ctx.pick(ctx.pools.last[ctx.draw(F + "owner_locales")]))


def venue(ctx: Ctx) -> str:
    """A restaurant, bar, shop, park or building: "Joe's Pizza", "Lincoln Park", "the Rusty Anchor"."""
    kind = ctx.band(F + "venue_kinds")
    if kind == "chain":
        return ctx.draw("words.chains")
    if kind == "owned":
        return title_case(f"{_owner(ctx)}'s {ctx.draw('words.venue_kinds')}")
    if kind == "pub":
        return title_case(f"the {ctx.draw('words.pub_adj')} {ctx.draw('words.pub_noun')}")
    if kind == "street":
        return title_case(f"{ctx.draw('words.street_bases')} {ctx.draw(F + 'street_venues')}")
    if kind == "saint":
        return title_case(f"st {ctx.draw(F + 'saints')}'s {ctx.draw(F + 'saint_places')}")
    base = _owner(ctx) if ctx.chance(F + "owner_place_rate") else ctx.pick(ctx.pools.cities)
    return title_case(f"{base} {ctx.draw('words.venue_places')}")


def city(ctx: Ctx) -> str:
    """A city, "city state", "city country" or a state: "Austin Texas", "Lyon, France", "Ohio"."""
    kind = ctx.band(F + "city_kinds")
    comma = "" if ctx.style == "voice" or ctx.chance(F + "no_comma_rate") else ","
    if kind == "city":
        return ctx.pick(ctx.pools.cities)
    if kind == "us_state":
        return ctx.draw("words.us_states")
    first, second = ctx.draw(f"words.{kind}").split(", ")
    return f"{first}{comma} {second}"


def street(ctx: Ctx) -> str:
    base = ctx.draw("words.street_bases") if ctx.chance(F + "street_base_rate") else _owner(ctx)
    text = f"{base} {ctx.draw('words.street_types')}"
    if ctx.style != "voice" and ctx.chance(F + "street_number_rate"):
        text = f"{ctx.rng.randint(2, 999)} {text}"
    return text


PLACE_VALUES = {"city": city, "country": lambda ctx: ctx.pick(ctx.pools.countries), "venue": venue, "street": street}


def place(ctx: Ctx, kind: str) -> list[Piece]:
    """A place name of ``kind`` (PLACE_VALUES): untagged, or a LOCATION when that type is requested."""
    if "LOCATION" in ctx.types and not ctx.has("LOCATION"):
        return lit(ctx.draw(f"words.place_fallbacks.{kind}"))
    return tag(ctx, PLACE_VALUES[kind](ctx), "LOCATION")


def place_phrase(ctx: Ctx) -> list[Piece]:
    """A place with its preposition: "in austin texas", "at joe's pizza", "on maple street"."""
    if "LOCATION" not in ctx.types and ctx.chance(F + "untagged_rate"):
        return lit(ctx.draw("words.places"))  # "in room 4B", "on zoom"
    kind = ctx.draw(F + "phrase_kinds")
    return lit(ctx.lex[F + f"preps.{kind}"]) + place(ctx, kind)


def location(ctx: Ctx) -> list[Piece]:
    """A LOCATION with its preposition (only when LOCATION is requested): a city, a room, a street, a venue."""
    kind = ctx.band(F + "location_kinds")
    if kind == "city":
        town = ent(ctx.pick(ctx.pools.cities), "LOCATION")
        return (
            lit("in ") + town
            if ctx.chance(F + "in_city_rate")
            else lit(ctx.draw(F + "office_leads")) + town + lit(" office")
        )
    if kind == "room":
        return lit("in ") + ent(number(ctx, "formats.numbers.short_room"), "LOCATION")
    text = number(ctx, "formats.numbers.short_street") if kind == "street" else ctx.draw("words.venues")
    return lit("at ") + ent(text, "LOCATION")


def city_state_zip(ctx: Ctx) -> str:
    """ "Austin, TX 78701" or "Austin, Texas 78701" (never a LOCATION: the street above it is one)."""
    town, state = ctx.draw("words.us_city_state").split(", ")
    abbr = "".join(w[0] for w in state.split())[:2].upper() if " " in state else state[:2].upper()
    zips = ctx.rng.randint(10000, 99999), ctx.rng.randint(10000, 99999)
    return ctx.form(F + "city_state_zip", city=town, abbr=abbr, state=state, zip1=zips[0], zip2=zips[1])
