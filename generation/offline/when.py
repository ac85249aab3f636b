"""DATEs and TIMEs, and when a message was sent (never an entity): the values in each register's forms
(``formats.yaml``: ``date``, ``clock``, ``work_date``, ``work_time``, ``sent``), and the phrases that carry them
into a command or a short message ("on friday morning", "tomorrow at 3pm").

Names of days and months come from ``formats.language``, never from the C library's date formatting, whose names
follow the process locale: the same seed gives the same data in any locale.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from generation.offline.context import Ctx, Piece, cap, ent, lit
from generation.offline.numbers import number_words, ordinal, ordinal_words

F = "formats."


def _names(ctx: Ctx, key: str) -> tuple[str, ...]:
    return ctx.lex[F + "language." + key].texts


def date_fields(ctx: Ctx, date: dt.date) -> dict[str, Any]:
    """What the date formats name: d, m, year, y2, nth (3rd), wd/Wd/Wkd (monday, Monday, Mon), month/Month/Mon."""
    weekday, month = _names(ctx, "weekdays")[date.weekday()], _names(ctx, "months")[date.month - 1]
    return dict(
        d=date.day,
        m=date.month,
        year=date.year,
        y2=date.year % 100,
        nth=ordinal(date.day),
        wd=weekday,
        Wd=cap(weekday),
        Wkd=cap(weekday)[:3],
        month=month,
        Month=cap(month),
        Mon=cap(month)[:3],
    )


def hour(ctx: Ctx) -> tuple[int, int]:
    """A plausible (hour 0-23, minute) for an appointment: mostly office hours, mostly on the hour."""
    return ctx.draw(F + "clock.hours"), ctx.draw(F + "clock.minutes")


def date_value(ctx: Ctx) -> tuple[str, str]:
    """A DATE and its kind: rel (tomorrow), day (friday), week (next week), abs (June 3rd), nth, range, span
    (or "from": "a week from now").  ``f`` holds the fields of formats.yaml's date formats."""
    kind, written = ctx.draw(F + "date.kinds"), ctx.style != "voice"
    if kind == "rel":
        if ctx.style == "chat" and ctx.chance(F + "date.chat_tomorrow_rate"):
            return ctx.draw(F + "date.chat_tomorrow"), kind
        return ctx.draw(F + "date.relative"), kind
    day, weekdays, abbr = ctx.rng.randrange(7), _names(ctx, "weekdays"), _names(ctx, "weekday_abbr")
    if kind == "day":
        name = abbr[day] if written and ctx.chance(F + "date.abbreviated") else weekdays[day]
        return ctx.draw(F + "date.day_prefix") + (cap(name) if written else name), kind
    if kind == "week":
        return ctx.draw(F + "date.weeks"), kind
    f = date_fields(ctx, dt.date(2024, 1, 1) + dt.timedelta(days=ctx.rng.randrange(3 * 365)))
    f |= {"nth_words": ordinal_words(ctx, f["d"]), "d_words": number_words(ctx, f["d"])}
    if kind == "nth":
        return "the " + (f["nth_words"] if ctx.spoken else f["nth"]), kind
    if kind == "range" and ctx.chance(F + "date.weekday_range"):
        a = ctx.rng.randrange(5)
        b = a + ctx.rng.randint(1, 2)
        sep = ctx.draw(F + ("date.range_sep_written" if written else "date.range_sep_voice"))
        if written and sep in (" - ", "-") and ctx.chance(F + "date.abbreviated_range"):
            return f"{cap(abbr[a])}{sep}{cap(abbr[b])}", kind
        names = (cap(weekdays[a]), cap(weekdays[b])) if written else (weekdays[a], weekdays[b])
        return names[0] + sep + names[1], kind
    if kind == "range":
        d = min(f["d"], 25)
        e = d + ctx.rng.randint(1, 4)
        f |= {"d": d, "e": e, "dth": ordinal(d), "eth": ordinal(e)}
        if ctx.spoken:
            f |= {"dth_words": ordinal_words(ctx, d), "eth_words": ordinal_words(ctx, e)}
            return ctx.lex[F + "date.range_spoken"].format(**f), kind
        return ctx.form(F + "date.range_written", **f), kind
    if kind == "span":  # day ranges counted from now; holidays are events, not DATEs (words.yaml: holidays)
        if ctx.chance(F + "date.from_now_rate"):
            return ctx.draw(F + "date.from_now"), "from"
        n, numbers = ctx.draw(F + "date.span_counts"), _names(ctx, "numbers")
        if written and ctx.chance(F + "date.span_digits") and n in numbers:
            n = str(numbers.index(n))
        return ctx.form(F + "date.spans", n=n), kind
    if ctx.spoken and ctx.chance(F + "date.spoken_year"):
        year = ctx.form(F + "date.year_words", r=number_words(ctx, ctx.rng.randint(2016, 2027) - 2000))
        return ctx.form(F + "date.spoken_with_year", **f, year_words=year), kind
    return ctx.form(F + f"date.absolute_{ctx.register}", **f), kind


def clock(ctx: Ctx) -> tuple[str, bool]:
    """A clock TIME and whether it is a bare number ("3", "three") that needs "at" before it."""
    h, m = hour(ctx)
    if m == 0 and h in (0, 12) and ctx.chance(F + "clock.noon_rate"):
        return ("midnight" if h == 0 else ctx.draw(F + "clock.noon")), False
    h12, ampm = h % 12 or 12, "am" if h < 12 else "pm"
    f = {"h": h, "h12": h12, "mm": f"{m:02d}", "ampm": ampm, "a": ampm[0], "dotted": ampm[0] + ".m."}
    part = "hour" if m == 0 else "minutes"
    if ctx.spoken:
        f |= {"hw": number_words(ctx, h12), "mw": ("oh " if m < 10 else "") + number_words(ctx, m)}
        if m == 30 and ctx.chance(F + "clock.half_past_rate"):
            return ctx.lex[F + "clock.half_past"].format(**f), False
        if m in (15, 45) and ctx.chance(F + "clock.quarter_rate"):
            to = number_words(ctx, h12 % 12 + 1)
            return ctx.lex[F + f"clock.quarter_{m}"].format(**f, next_hw=to), False
        text = ctx.form(F + f"clock.spoken_{part}", **f)
        return text, text == f["hw"]
    upper = ctx.chance(F + "clock.upper_rate")
    f["ap"] = ampm.upper() if upper else ampm
    forms = F + f"clock.written_{part}"
    words = ctx.lex.joined(forms, F + f"clock.voice_{part}") if ctx.style == "voice" else ctx.lex[forms]
    text = ctx.draw(words).format(**f)
    return text, text.isdigit()


def time_range(ctx: Ctx) -> str:
    h = min(max(hour(ctx)[0], 7), 19)
    h2 = h + ctx.rng.randint(1, 2)
    a, b = h % 12 or 12, h2 % 12 or 12
    f = {"h": h, "h2": h2, "a": a, "b": b, "ampm": "am" if h2 < 12 else "pm", "ampm1": "am" if h < 12 else "pm"}
    if ctx.spoken:
        return ctx.form(F + "time_range.spoken", aw=number_words(ctx, a), bw=number_words(ctx, b), **f)
    return ctx.form(F + "time_range.written", **f)


def simple_day(ctx: Ctx) -> str:
    """ "tomorrow", "friday", "next monday"."""
    day = ctx.pick(_names(ctx, "weekdays"))
    return ctx.form(F + "date.simple", day=day if ctx.style == "voice" else cap(day))


def work_date(ctx: Ctx) -> str:
    """A DATE as work email writes it: "Thursday, May 4th", "5/4/01", "04-May-95", "Thu 4 May", ..."""
    date = dt.date(1995, 1, 1) + dt.timedelta(days=ctx.rng.randrange(30 * 365))
    return ctx.form(F + "work_date", **date_fields(ctx, date))


def work_time(ctx: Ctx, single: bool = False) -> str:
    """A TIME as work email writes it: "3:30 p.m.", "1530 hrs", "10am CST", or a range as one span."""
    h, m = hour(ctx)
    h = min(max(h, 7), 19)
    f = {"h": h, "m": m, "h12": h % 12 or 12, "AP": "AM" if h < 12 else "PM", "zone": ctx.draw(F + "work_time.zones")}
    f |= {"ap": f["AP"].lower(), "a": f["AP"].lower()[0]}
    one = ctx.form(F + "work_time.single", **f)
    if single or ctx.chance(F + "work_time.single_rate"):
        return one
    h2 = h + ctx.rng.randint(1, 2)
    f |= {"h2": h2, "m2": ctx.draw(F + "work_time.end_minutes"), "e12": h2 % 12 or 12}
    f |= {"AP2": "AM" if h2 < 12 else "PM", "ap2": "am" if h2 < 12 else "pm"}
    return ctx.form(F + "work_time.ranges", **f)


def sent_stamp(ctx: Ctx, form: str | None = None) -> str:
    """When a message was sent, in one of the forms of mail headers: never a DATE or TIME (see the guideline)."""
    when = dt.datetime(1998, 1, 1) + dt.timedelta(minutes=ctx.rng.randrange(28 * 365 * 24 * 60))
    form = form or ctx.pick(ctx.lex.keys(F + "sent"))
    f = date_fields(ctx, when.date()) | {"H": when.hour, "M": when.minute, "S": when.second}
    f |= {"h12": when.hour % 12 or 12, "AP": "AM" if when.hour < 12 else "PM"}
    f["zone"] = ctx.draw(F + "sent_zones") if form == "rfc" else ""
    return ctx.lex[F + f"sent.{form}"].format(**f)


def quoted_when(ctx: Ctx) -> dict[str, Any]:
    """When a quoted short message was sent, as fields for formats.quote_stamp (never a DATE or TIME)."""
    date = dt.date(2024, 1, 1) + dt.timedelta(days=ctx.rng.randrange(3 * 365))
    h, m = hour(ctx)
    return date_fields(ctx, date) | {"h12": h % 12 or 12, "M": m, "AP": "AM" if h < 12 else "PM"}


# -----------------------------------------------------------------------------
# phrases: a date and/or time with the prepositions around it


def date_phrase(ctx: Ctx, mode: str) -> tuple[list[Piece], str]:
    """A DATE with the preposition that goes before it in `mode` ("on", "for", "to", "bare"), and its kind."""
    text, kind = date_value(ctx)
    takes_on = kind in ("day", "abs", "nth") and not text.lower().startswith(("this", "next", "coming"))
    prep, leads = "", f"words.date_leads.{text}"
    if mode == "to":
        prep = "to "
    elif mode == "for" and kind != "range":
        prep = ctx.draw(F + ("phrase.for_preps" if takes_on else "phrase.for_preps_no_on"))
    elif mode == "on" and takes_on:
        prep = "on " if ctx.chance(F + ("phrase.on_day" if kind == "day" else "phrase.on_date")) else ""
    elif mode == "on" and kind == "range" and ctx.chance(F + "phrase.from_date_range"):
        prep = "from "
    elif mode == "on" and kind == "span":
        prep = ctx.draw(F + ("phrase.rest_preps" if "rest" in text else "phrase.span_preps"))
    elif mode == "on" and leads in ctx.lex and ctx.chance(F + "phrase.lead_rate"):
        prep = ctx.draw(leads) + " "
    return lit(prep) + ent(text, "DATE"), kind


def time_phrase(ctx: Ctx, mode: str, after_date: str = "") -> list[Piece]:
    """A TIME with its preposition.  After a date, a part of the day follows a day ("friday morning") and
    takes "in the" after anything else ("June 3rd in the morning")."""
    kind = ctx.band(F + "phrase.time_kinds")
    if kind == "clock":
        text, bare = clock(ctx)
        if mode in ("to", "for"):
            prep = mode + " "
        elif mode == "bare" and not bare:
            prep = ""
        else:
            prep = ctx.draw(F + "phrase.time_preps") or ("at " if bare else "")
        return lit(prep) + ent(text, "TIME")
    if kind == "range":
        prep = "from " if mode not in ("bare", "to") and ctx.chance(F + "phrase.from_time_range") else ""
        return lit("to " if mode == "to" else prep) + ent(time_range(ctx), "TIME")
    # A part of the day is not a TIME (see the guideline): it stays in the text, untagged, as a hard negative.
    part = ctx.draw(F + "phrase.parts_of_day")
    if after_date and part == "night":
        return lit("at night" if after_date != "day" else "night")
    if after_date:
        return lit(("in the " if after_date != "day" or ctx.chance(F + "phrase.in_the_after_day") else "") + part)
    if part == "night" or ctx.chance(F + "phrase.tonight"):
        return lit("to tonight" if mode == "to" else ("later " if ctx.chance(F + "phrase.later") else "") + "tonight")
    if ctx.chance(F + "phrase.in_the") and mode not in ("to", "bare"):
        return lit("in the " + part)
    return lit(("to " if mode == "to" else "") + ctx.draw(F + "phrase.part_leads") + part)


def when_phrase(ctx: Ctx, mode: str = "on") -> list[Piece]:
    """A date and/or time with its prepositions ("tomorrow at 3pm", "on friday morning", "at noon")."""
    has_date, has_time = ctx.has("DATE"), ctx.has("TIME")
    if not (has_date or has_time) or ctx.chance(F + "phrase.no_when_rate"):
        return no_when(ctx, mode)
    kind = ctx.band(F + "phrase.when_kinds")
    if not (has_date and has_time):
        kind = "date" if has_date else "time"
    if kind == "date":
        return date_phrase(ctx, mode)[0]
    if kind == "time":
        return time_phrase(ctx, mode)
    date, date_kind = date_phrase(ctx, mode)
    if date_kind in ("week", "span"):  # "next month at 4" is not something people say
        return date
    if ctx.chance(F + "phrase.time_first"):  # time first: "at 3pm tomorrow", "at nine on friday"
        text, bare = clock(ctx)
        prep = {"for": "for ", "to": "to ", "bare": "at " if bare else ""}.get(mode, "")
        prep = prep or ctx.draw(F + ("phrase.time_first_preps_bare" if bare else "phrase.time_first_preps"))
        return lit(prep) + ent(text, "TIME") + lit(" ") + (date[1:] if date[0][0] in ("for ", "to ") else date)
    day_like = date_kind in ("rel", "day") and date[-1][0] not in ("today", "the day after tomorrow")
    return date + lit(" ") + time_phrase(ctx, "on", after_date="day" if day_like else "other")


def no_when(ctx: Ctx, mode: str) -> list[Piece]:
    """No date or time, but often something in its place that looks like one and is not one."""
    kind = ctx.band(F + "phrase.no_when")
    if mode == "on" and kind == "recurring":
        return lit(ctx.draw("words.recurring"))
    if mode == "on" and kind == "duration":
        return lit("for " + ctx.draw("words.durations"))
    if mode == "on" and kind == "in_duration":  # "in ten minutes": a duration, not a TIME
        return lit(ctx.draw(ctx.lex.spoken("words.in_durations") if ctx.style == "voice" else "words.in_durations"))
    return lit(ctx.draw(f"words.no_when.{mode}"))
