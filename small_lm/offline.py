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
"""

from __future__ import annotations

import datetime as dt
import functools
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
# word lists (entity-like words that are NOT entities are the point of most of them)

WAKE_WORDS = ("hey google", "ok google", "alexa", "hey siri", "siri", "olly", "hey olly", "cortana", "hey assistant")
ROLES = (
    "my boss", "my manager", "mom", "my mom", "dad", "my dad", "my wife", "my husband", "my sister", "my brother",
    "grandma", "the team", "my team", "the whole team", "the client", "the clients", "HR", "the dentist",
    "my doctor", "the landlord", "the recruiter", "the contractor", "the board", "our accountant",
    "the sales team", "my coworker", "the new hire", "my tutor", "everyone", "the interns", "my therapist",
    "the vet", "legal", "finance", "my partner", "my roommate", "the plumber", "the kids", "my lawyer",
    "the marketing team", "our designer", "the vendor", "my mentor", "the principal",
)  # fmt: skip
EVENTS = (
    "meeting", "meeting", "meeting", "call", "call", "appointment", "appointment", "standup", "stand-up", "sync",
    "1:1", "one on one", "team lunch", "quarterly review", "offsite", "sprint planning", "retro",
    "dentist appointment", "doctor's appointment", "haircut", "interview", "demo", "all-hands", "kickoff",
    "check-in", "performance review", "budget meeting", "design review", "board meeting", "client call",
    "coffee chat", "lunch", "dinner", "yoga class", "piano lesson", "book club", "parent teacher conference",
    "training session", "webinar", "workshop", "happy hour", "Q3 planning", "product launch", "catch-up",
    "onboarding session", "site visit", "brainstorm", "town hall", "status update", "conference call",
    "video call", "zoom call", "team meeting", "staff meeting", "dinner reservation", "vet appointment",
    "date night", "study group", "soccer practice", "therapy session", "birthday party", "christmas party",
    "brunch", "graduation", "valentine's day dinner", "new year's party", "thanksgiving dinner", "holiday party",
)  # fmt: skip
FREQ_ADJ = ("weekly", "daily", "monthly", "biweekly", "recurring", "regular", "usual")
RECURRING = (
    "every monday", "every tuesday", "every other friday", "every week", "weekly", "every morning", "each month",
    "once a week", "every day", "twice a month", "every thursday", "every other week", "daily",
)  # fmt: skip
DURATIONS = (
    "30 minutes", "an hour", "half an hour", "two hours", "45 minutes", "15 minutes", "a few minutes",
    "20 mins", "90 minutes", "a couple of hours", "ten minutes", "an hour or so", "the whole day",
)  # fmt: skip
TOPICS = (
    "the Q3 budget", "the new website", "the contract renewal", "the hiring plan", "the vendor proposal",
    "your thesis draft", "the kitchen renovation", "the marketing campaign", "the release", "the audit",
    "invoice #4471", "version 2.3 of the spec", "the 2 open tickets", "the 10% discount", "the roadmap",
    "the onboarding docs", "the lease", "the quarterly numbers", "the pitch deck", "the survey results",
    "the migration", "the wedding plans", "the science fair", "the insurance claim", "ticket 8812",
)  # fmt: skip
PLACES = (  # untagged places, used when LOCATION is not requested
    "in room 4B", "in conference room B", "at the Berlin office", "at the cafe on Main Street", "in the lobby",
    "in building 2", "on the 3rd floor", "at HQ", "at the usual place", "in my office", "at the library",
    "on zoom", "on Google Meet", "on Teams", "at Starbucks", "downtown", "at the clinic", "over the phone",
    "at the London office", "in the big conference room", "at the coworking space", "in the main office",
)  # fmt: skip
PLACES_UNNAMED = ("in my office", "at the usual place", "on zoom", "on Google Meet", "on Teams", "over the phone")
CITIES = (
    "Berlin", "Lagos", "Mumbai", "Toronto", "Chicago", "Austin", "Denver", "Seattle", "Boston", "London",
    "Manchester", "Dublin", "Paris", "Lyon", "Madrid", "Barcelona", "Lisbon", "Rome", "Milan", "Amsterdam",
    "Warsaw", "Istanbul", "Nairobi", "Accra", "Cape Town", "Cairo", "Dubai", "Bangalore", "Delhi", "Singapore",
    "Tokyo", "Osaka", "Seoul", "Sydney", "Melbourne", "Auckland", "Mexico City", "Sao Paulo", "Buenos Aires",
    "Bogota", "Lima", "San Francisco", "New York", "Atlanta", "Miami", "Vancouver", "Hanoi", "Jakarta", "Manila",
)  # fmt: skip
STREETS = (
    "Main Street", "Oak Avenue", "Baker Street", "Market Street", "Elm Road", "Park Lane", "High Street",
    "King Street", "Station Road", "Maple Drive", "Church Street", "Mill Lane", "5th Avenue", "Broadway",
)  # fmt: skip
VENUES = (
    "Blue Bottle Coffee", "Union Station", "the Central Library", "Hilton Garden Inn", "City Hall", "Pier 39",
    "the Marriott downtown", "Joe's Diner", "WeWork Soho", "St Mary's Hospital",
)  # fmt: skip
COMPANIES = (
    "Acme", "Globex", "Initech", "Northwind Traders", "Contoso", "Umbrella Health", "Stark Logistics",
    "Blue Harbor Partners", "Pied Piper", "Hooli", "Vandelay Industries", "Wayne Enterprises", "Soylent Foods",
    "Brightline Labs", "Oakridge Capital", "Nimbus Software", "Redwood Dental", "Sunrise Realty",
)  # fmt: skip
JOB_TITLES = (
    "Product Manager", "Senior Software Engineer", "Office Manager", "Account Executive", "Head of Operations",
    "Executive Assistant", "Recruiter", "Marketing Lead", "Project Coordinator", "CFO", "Paralegal",
    "Customer Success Manager", "Research Scientist", "Practice Manager", "Teacher",
)  # fmt: skip
FREE_DOMAINS = (
    "gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me",
    "aol.com", "gmx.de", "web.de", "yahoo.co.uk", "mail.com", "live.com",
)  # fmt: skip
WORK_DOMAINS = (
    "acme.com", "globex.io", "initech.com", "northwind.co", "contoso.com", "brightlinelabs.com", "hooli.xyz",
    "oakridge-capital.com", "nimbus.dev", "uni-heidelberg.de", "stanford.edu", "company.com", "example.org",
    "redwooddental.net", "sunrise-realty.co.uk",
)  # fmt: skip

FREE_TLDS = ("com", "com", "com", "org", "net", "co dot uk", "io", "edu", "de")

# Places a voice assistant hears ("lunch in austin texas", "a holiday in spain", "dinner at joe's pizza"): untagged
# unless LOCATION is requested.  Many of them hold words that are also names ("charlotte", "trader joe's").
US_CITY_STATE = (
    ("Austin", "Texas"), ("Houston", "Texas"), ("Dallas", "Texas"), ("Tyler", "Texas"), ("El Paso", "Texas"),
    ("Portland", "Oregon"), ("Eugene", "Oregon"), ("Seattle", "Washington"), ("Spokane", "Washington"),
    ("San Diego", "California"), ("Los Angeles", "California"), ("Sacramento", "California"),
    ("San Jose", "California"), ("Fresno", "California"), ("Phoenix", "Arizona"), ("Tucson", "Arizona"),
    ("Las Vegas", "Nevada"), ("Reno", "Nevada"), ("Denver", "Colorado"), ("Boulder", "Colorado"),
    ("Salt Lake City", "Utah"), ("Chicago", "Illinois"), ("Springfield", "Illinois"), ("Madison", "Wisconsin"),
    ("Milwaukee", "Wisconsin"), ("Detroit", "Michigan"), ("Lansing", "Michigan"), ("Columbus", "Ohio"),
    ("Cleveland", "Ohio"), ("Cincinnati", "Ohio"), ("Nashville", "Tennessee"), ("Memphis", "Tennessee"),
    ("Charlotte", "North Carolina"), ("Raleigh", "North Carolina"), ("Charleston", "South Carolina"),
    ("Florence", "South Carolina"), ("Atlanta", "Georgia"), ("Savannah", "Georgia"), ("Augusta", "Georgia"),
    ("Miami", "Florida"), ("Orlando", "Florida"), ("Tampa", "Florida"), ("Jacksonville", "Florida"),
    ("New Orleans", "Louisiana"), ("Jackson", "Mississippi"), ("Birmingham", "Alabama"), ("Boston", "Massachusetts"),
    ("Salem", "Massachusetts"), ("Providence", "Rhode Island"), ("Hartford", "Connecticut"),
    ("Albany", "New York"), ("Buffalo", "New York"), ("Newark", "New Jersey"), ("Trenton", "New Jersey"),
    ("Philadelphia", "Pennsylvania"), ("Pittsburgh", "Pennsylvania"), ("Baltimore", "Maryland"),
    ("Richmond", "Virginia"), ("Alexandria", "Virginia"), ("Lincoln", "Nebraska"), ("Omaha", "Nebraska"),
    ("Kansas City", "Missouri"), ("St Louis", "Missouri"), ("Minneapolis", "Minnesota"), ("Des Moines", "Iowa"),
    ("Boise", "Idaho"), ("Anchorage", "Alaska"), ("Honolulu", "Hawaii"), ("Burlington", "Vermont"),
    ("Santa Fe", "New Mexico"), ("Albuquerque", "New Mexico"), ("Louisville", "Kentucky"), ("Tulsa", "Oklahoma"),
)  # fmt: skip
US_STATES = (
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware", "Florida",
    "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky", "Louisiana", "Maine",
    "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi", "Missouri", "Montana", "Nebraska", "Nevada",
    "New Hampshire", "New Jersey", "New Mexico", "New York", "North Carolina", "North Dakota", "Ohio", "Oklahoma",
    "Oregon", "Pennsylvania", "Rhode Island", "South Carolina", "South Dakota", "Tennessee", "Texas", "Utah",
    "Vermont", "Virginia", "Washington", "West Virginia", "Wisconsin", "Wyoming",
)  # fmt: skip
CITY_COUNTRY = (
    ("Lyon", "France"), ("Paris", "France"), ("Nice", "France"), ("Madrid", "Spain"), ("Seville", "Spain"),
    ("Barcelona", "Spain"), ("Rome", "Italy"), ("Florence", "Italy"), ("Venice", "Italy"), ("Munich", "Germany"),
    ("Hamburg", "Germany"), ("Vienna", "Austria"), ("Zurich", "Switzerland"), ("Porto", "Portugal"),
    ("Dublin", "Ireland"), ("Cork", "Ireland"), ("Edinburgh", "Scotland"), ("Manchester", "England"),
    ("Kyoto", "Japan"), ("Tokyo", "Japan"), ("Sydney", "Australia"), ("Perth", "Australia"),
    ("Toronto", "Canada"), ("Victoria", "Canada"), ("Cancun", "Mexico"), ("Lagos", "Nigeria"),
    ("Nairobi", "Kenya"), ("Cairo", "Egypt"), ("Mumbai", "India"), ("Goa", "India"), ("Bangkok", "Thailand"),
    ("Bali", "Indonesia"), ("Athens", "Greece"), ("Prague", "Czech Republic"), ("Krakow", "Poland"),
    ("Reykjavik", "Iceland"), ("Havana", "Cuba"), ("Lima", "Peru"), ("Cape Town", "South Africa"),
)  # fmt: skip
COUNTRIES = (
    "France", "Spain", "Italy", "Germany", "Portugal", "Greece", "Ireland", "Scotland", "England", "Iceland",
    "Norway", "Sweden", "Japan", "China", "India", "Thailand", "Vietnam", "Indonesia", "Australia", "New Zealand",
    "Canada", "Mexico", "Brazil", "Argentina", "Peru", "Chile", "Colombia", "Costa Rica", "Jamaica", "Cuba",
    "Egypt", "Morocco", "Kenya", "Nigeria", "South Africa", "Turkey", "Croatia", "the Netherlands", "Belgium",
    "Switzerland", "Austria", "Poland", "the Philippines", "South Korea", "Dubai", "Hawaii", "the Bahamas", "Fiji",
)  # fmt: skip
CHAINS = (
    "Starbucks", "McDonald's", "Olive Garden", "Applebee's", "Chipotle", "Panera", "the Cheesecake Factory",
    "Dunkin", "Costco", "Target", "Walmart", "Whole Foods", "Trader Joe's", "Home Depot", "Best Buy", "IKEA",
    "Macy's", "Wendy's", "Chili's", "Denny's", "IHOP", "Red Lobster", "Buffalo Wild Wings", "Outback Steakhouse",
    "Panda Express", "Taco Bell", "Nando's", "Pret", "Tim Hortons", "Dave and Buster's", "Kohl's", "Walgreens",
)  # fmt: skip
VENUE_OWNERS = (
    "Joe", "Tony", "Sal", "Mario", "Rosa", "Luigi", "Maria", "Sam", "Charlie", "Eddie", "Frank", "Jimmy", "Lou",
    "Mike", "Ben", "Harry", "Molly", "Kelly", "Murphy", "Rudy", "Gino", "Nick", "Angelo", "Billy", "Annie", "Jack",
)  # fmt: skip
VENUE_KINDS = (
    "pizza", "diner", "pub", "bar", "grill", "bakery", "cafe", "kitchen", "deli", "tavern", "steakhouse",
    "place", "bistro", "trattoria", "barbershop", "salon", "garage", "bar and grill", "taco shop", "park",
)  # fmt: skip
VENUE_PLACES = (
    "park", "high school", "elementary school", "library", "community center", "memorial hospital", "stadium",
    "mall", "golf club", "country club", "convention center", "plaza", "medical center", "church", "museum",
)  # fmt: skip
PUB_ADJ = ("golden", "red", "blue", "rusty", "old", "black", "silver", "green", "lucky", "happy", "little", "crooked")
PUB_NOUN = ("lion", "rooster", "anchor", "door", "fox", "horse", "spoon", "kettle", "oak", "lantern", "crown", "pig")
STREET_BASES = (
    "Main", "Oak", "Maple", "Elm", "Pine", "Cedar", "Park", "Lake", "Hill", "Washington", "Lincoln", "Jefferson",
    "Madison", "Franklin", "Market", "Church", "King", "Queen", "High", "Broad", "Spring", "River", "Mill", "Grant",
)  # fmt: skip
STREET_TYPES = ("Street", "Street", "Avenue", "Road", "Drive", "Boulevard", "Lane", "Way", "Place")
PLACE_FALLBACKS = {  # when LOCATION is requested but this message has no entities: no untagged place names
    "city": ("town", "the city", "the area"),
    "country": ("the mountains", "the sun", "another country"),
    "venue": ("the usual place", "the new place", "that restaurant", "the cafe", "the park"),
    "street": ("the corner", "the block"),
}
# Holidays and occasions: events, not DATEs (see the guideline), so untagged even where they name a day.
HOLIDAYS = (
    "christmas", "christmas eve", "new year's eve", "new year's day", "new year", "valentine's day",
    "thanksgiving", "easter", "halloween", "mother's day", "father's day", "independence day", "memorial day",
    "labor day", "st patrick's day", "hanukkah", "diwali", "eid", "passover", "boxing day", "chinese new year",
)  # fmt: skip
OCCASIONS = (
    "christmas party", "christmas dinner", "valentine's day dinner", "valentine's dinner", "new year's eve party",
    "new year's party", "thanksgiving dinner", "easter brunch", "halloween party", "birthday party", "birthday dinner",
    "graduation", "graduation party", "brunch", "vacation", "wedding", "baby shower", "anniversary dinner",
    "family reunion", "housewarming party", "holiday party", "mother's day lunch", "retirement party", "barbecue",
    "bachelor party", "engagement party", "school play", "holiday",
)  # fmt: skip
POSSESSED = (  # "<name>'s birthday": the NAME is the name alone
    "birthday", "birthday", "birthday party", "graduation", "party", "wedding", "baby shower", "recital",
    "retirement party", "birthday dinner", "soccer game", "graduation party", "anniversary", "going away party",
    "school play", "housewarming", "doctor's appointment", "dentist appointment", "flight",
)  # fmt: skip
FAMILY = (
    "my sister", "my brother", "mom", "dad", "my mom", "my dad", "my wife", "my husband", "my boss", "grandma",
    "my son", "my daughter", "my friend", "my best friend", "my cousin", "my niece", "my nephew", "my neighbor",
)  # fmt: skip
GROUPS = ("the team", "my family", "the kids", "everyone", "my parents", "my friends", "the guys", "the girls")
MEALS = ("lunch", "lunch", "dinner", "dinner", "brunch", "breakfast", "coffee", "drinks")
TRIPS = ("trip", "vacation", "holiday", "flight", "business trip", "conference", "road trip", "cruise", "honeymoon")
# "in ten minutes", "an hour before": durations, untagged (see the guideline)
IN_DURATIONS = (
    "in ten minutes", "in two hours", "in an hour", "in half an hour", "in twenty minutes", "in five minutes",
    "in a couple of hours", "in fifteen minutes", "in a few minutes", "in three hours", "in forty five minutes",
    "in 10 minutes", "in 2 hours", "in 30 mins",
)  # fmt: skip
LEAD_TIMES = (
    "ten minutes before", "an hour before", "thirty minutes before", "fifteen minutes before", "two hours before",
    "half an hour before", "five minutes before", "15 min before",
)  # fmt: skip
# First names that are also months or common words: names in name slots, plain words elsewhere
AMBIGUOUS_FIRST = (
    "Will", "June", "May", "April", "Bill", "Jack", "Mark", "Grace", "Hope", "Joy", "Rose", "Summer", "August",
    "Frank", "Pat", "Sue", "Ray", "Dawn", "Faith", "Jean", "Rob", "Art", "Penny", "Sandy", "Chase", "Drew", "Bob",
    "Amber", "Iris", "Olive", "Robin", "Holly", "Ivy", "Sunny", "Max", "Autumn", "Lily", "Daisy", "Cliff", "Miles",
)  # fmt: skip
AMBIGUOUS_RATE = 0.08

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

# Names from many cultures.  Faker locales with Latin-script names, plus short hand-made lists for languages
# whose Faker names are not in Latin script.  Weights keep common English names frequent, as in real use.
NAME_LOCALES = {
    "en_US": 16, "en_GB": 7, "en_IN": 5, "en_NG": 3, "en_KE": 2, "yo_NG": 2, "ig_NG": 2, "ha_NG": 1, "zu_ZA": 1,
    "tw_GH": 1, "tr_TR": 2, "pl_PL": 2, "id_ID": 2, "es_MX": 3, "es_ES": 2, "pt_BR": 3, "fr_FR": 3, "de_DE": 3,
    "it_IT": 2, "nl_NL": 2, "sv_SE": 1, "ga_IE": 1, "en_PK": 2, "ro_RO": 1, "ja_JP": 2,
}  # fmt: skip
HANDMADE_NAMES = {
    "zh": (
        "Wei Mei Jing Hao Yan Lei Jun Xin Ying Zhiwei Fang Xiaoming Lili Chen Yu",
        "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Lin",
    ),
    "ko": (
        "Ji-woo Min-jun Seo-yeon Hyun-woo Jisoo Dong-hyun Eun-ji Soo-ah Jae-won Minji",
        "Kim Park Lee Choi Jung Kang Yoon Han",
    ),
    "vi": ("Minh Linh Huong Tuan Trang Duc Thao Quang Hoa Nam Anh Phuong", "Nguyen Tran Le Pham Hoang Vu Dang Bui Do"),
    "ar": (
        "Omar Fatima Ahmed Layla Youssef Nour Khalid Amira Hassan Zainab Karim Rania",
        "Haddad Mansour Nasser Khoury Saleh Al-Amin Aziz",
    ),
}  # fmt: skip
HANDMADE_WEIGHT = 2
NOT_NAMES = {"alexa", "siri", "olly", "cortana", "google"}
TITLES = ("Dr.", "Dr", "Mr.", "Mr", "Mrs.", "Ms.", "Ms", "Prof.", "Professor")
SPOKEN_TITLES = ("doctor", "dr", "mister", "mr", "mrs", "miss", "ms", "professor")


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
    return tuple(dict.fromkeys(n for n in names if _NAME_RE.match(n) and n.lower() not in NOT_NAMES))


@functools.lru_cache(maxsize=1)
def _pools() -> Pools:
    first, last = {}, {}
    for locale in NAME_LOCALES:
        fake = _faker(locale)
        fake.seed_instance(0)
        if locale == "ja_JP":  # romanised, the kanji ones would not be read out by an assistant
            first[locale] = _unique_names([fake.first_romanized_name() for _ in range(300)])
            last[locale] = _unique_names([fake.last_romanized_name() for _ in range(300)])
        else:
            first[locale] = _unique_names([fake.first_name() for _ in range(300)])
            last[locale] = _unique_names([fake.last_name() for _ in range(300)])
    for key, (firsts, lasts) in HANDMADE_NAMES.items():
        first[key], last[key] = tuple(firsts.split()), tuple(lasts.split())
    locales = tuple(first)
    weights = tuple(NAME_LOCALES.get(k, HANDMADE_WEIGHT) for k in locales)
    cities, phones, companies = list(CITIES), [], list(COMPANIES)
    for locale in ("de_DE", "es_ES", "en_IN", "it_IT"):
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
    cities += [c for c, _ in US_CITY_STATE] + [c for c, _ in CITY_COUNTRY]
    cities += [fake.city() for _ in range(15)]  # "West Donald", "Lake Jennifer": a name inside a place
    countries = list(COUNTRIES) + [c for c in (fake.country() for _ in range(40)) if len(c) < 16]
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
    if kind == "span":  # day ranges counted from now; holidays are events, not DATEs (see HOLIDAYS)
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
        first = ctx.pick(AMBIGUOUS_FIRST)
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
    title = ctx.pick(SPOKEN_TITLES if ctx.style == "voice" else TITLES)
    return lit(title + " ") + ent(last, "NAME")


def _email_address(ctx: Ctx, first: str | None = None, last: str | None = None) -> str:
    if first is None:
        first, last = _person(ctx)
    f = re.sub(r"[^a-z]", "", _fold(first).lower()) or "info"
    la = re.sub(r"[^a-z]", "", _fold(last or "").lower()) or "mail"
    work = ctx.chance(0.45)
    domain = ctx.pick(WORK_DOMAINS if work else FREE_DOMAINS)
    n = ctx.rng.randint(1, 99)
    if ctx.spoken or ctx.style == "voice":  # a recogniser never writes "@"
        if work and ctx.chance(0.4):  # "<x> dot <y> at <company> dot org"
            company = re.sub(r"[^a-z ]", "", _fold(ctx.pick(ctx.pools.companies)).lower()).split() or ["acme"]
            domain = f"{company[0]}.{ctx.pick(FREE_TLDS)}"
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
        return lit("at ") + ent(f"{ctx.rng.randint(2, 999)} {ctx.pick(STREETS)}", "LOCATION")
    return lit("at ") + ent(ctx.pick(VENUES), "LOCATION")


# -----------------------------------------------------------------------------
# composite slots: a date and/or time with its prepositions


_WEEK_LEADS = ("sometime ", "later ", "by ", "before ", "until ", "early ")
DATE_LEADS = {  # words before a date that are not part of it
    "today": ("later ", "by end of ", "earlier "),
    "tomorrow": ("first thing ", "early ", "sometime ", "by ", "before ", "until "),
    **{w: _WEEK_LEADS for w in ("this week", "next week", "next month", "this weekend", "the weekend")},
}


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
    elif mode == "on" and text in DATE_LEADS and ctx.chance(0.15):
        prep = ctx.pick(DATE_LEADS[text])
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


NO_WHEN = {
    "on": ("", "", "", "", "", "", "this time", "after all"),
    "for": ("", "", "", "", "for that day"),
    "to": ("to another day", "to a later date", "to next time", "to whenever works", "to later"),
    "bare": ("that", "that", "that day", "the usual time"),
}


def _no_when(ctx: Ctx, mode: str) -> list[Piece]:
    """No date or time, but often something in its place that looks like one and is not one."""
    r = ctx.rng.random()
    if mode == "on" and r < 0.18:
        return lit(ctx.pick(RECURRING))
    if mode == "on" and r < 0.36:
        return lit("for " + ctx.pick(DURATIONS))
    if mode == "on" and r < 0.44:  # "in ten minutes": a duration, not a TIME
        return SLOTS["in_duration"](ctx, None)
    return lit(ctx.pick(NO_WHEN[mode]))


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
    return lit(fb if fb is not None else ctx.pick(ROLES))


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
    return lit(ctx.pick(ROLES))


def _slot_people(ctx: Ctx, fb: str | None) -> list[Piece]:
    """Several people: mostly a list of NAMEs."""
    if ctx.has("NAME") and ctx.chance(0.85):
        return _name_list(ctx) if ctx.chance(0.8) else _name(ctx)
    return lit(fb if fb is not None else ctx.pick(GROUPS))


def _who(ctx: Ctx) -> tuple[str, str]:
    if ctx.who is None:
        ctx.who = _person(ctx)
    return ctx.who


def _slot_pname(ctx: Ctx, fb: str | None) -> list[Piece]:
    """The message's person by name ("anna", "anna lee"), the same person as {pemail}; else a relative."""
    if ctx.has("NAME") and ctx.chance(0.9):
        return _name(ctx, ctx.rng.choices(("first", "full", "title"), (58, 37, 5))[0], _who(ctx))
    return lit(fb if fb is not None else ctx.pick(FAMILY))


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
        return ctx.pick(VENUE_OWNERS)
    return _fold(ctx.pick(ctx.pools.last[ctx.pick(("en_US", "en_GB", "it_IT", "ga_IE", "es_MX"))]))


def _venue_value(ctx: Ctx) -> str:
    """A restaurant, bar, shop, park or building: "Joe's Pizza", "Lincoln Park", "the Rusty Anchor"."""
    r = ctx.rng.random()
    if r < 0.25:
        return ctx.pick(CHAINS)
    if r < 0.5:
        return _title_case(f"{_owner(ctx)}'s {ctx.pick(VENUE_KINDS)}")
    if r < 0.62:
        return _title_case(f"the {ctx.pick(PUB_ADJ)} {ctx.pick(PUB_NOUN)}")
    if r < 0.72:
        return _title_case(f"{ctx.pick(STREET_BASES)} {ctx.pick(('street cafe', 'street diner', 'park', 'market'))}")
    if r < 0.8:
        return _title_case(f"st {ctx.pick(('mary', 'john', 'luke', 'patrick', 'joseph', 'anne', 'paul'))}'s "
                           f"{ctx.pick(('church', 'hospital', 'school'))}")  # fmt: skip
    base = _owner(ctx) if ctx.chance(0.5) else ctx.pick(ctx.pools.cities)
    return _title_case(f"{base} {ctx.pick(VENUE_PLACES)}")


def _city_value(ctx: Ctx) -> str:
    """A city, "city state", "city country" or a state: "Austin Texas", "Lyon, France", "Ohio"."""
    r = ctx.rng.random()
    comma = "" if ctx.style == "voice" or ctx.chance(0.3) else ","
    if r < 0.45:
        return ctx.pick(ctx.pools.cities)
    if r < 0.75:
        city, state = ctx.pick(US_CITY_STATE)
        return f"{city}{comma} {state}"
    if r < 0.87:
        city, country = ctx.pick(CITY_COUNTRY)
        return f"{city}{comma} {country}"
    return ctx.pick(US_STATES)


def _street_value(ctx: Ctx) -> str:
    base = ctx.pick(STREET_BASES) if ctx.chance(0.7) else _owner(ctx)
    street = f"{base} {ctx.pick(STREET_TYPES)}"
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
        return lit(ctx.pick(PLACE_FALLBACKS[kind]))
    text = PLACE_VALUES[kind](ctx)
    return ent(text, "LOCATION") if ctx.has("LOCATION") else lit(text)


def _slot_place(ctx: Ctx, fb: str | None) -> list[Piece]:
    """A place with its preposition: "in austin texas", "at joe's pizza", "on maple street"."""
    if "LOCATION" not in ctx.types and ctx.chance(0.3):
        return lit(ctx.pick(PLACES))  # "in room 4B", "on zoom"
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
        return _location(ctx) if ctx.has("LOCATION") and ctx.chance(0.75) else lit(ctx.pick(PLACES_UNNAMED))
    return lit(ctx.pick(PLACES))


def _slot_phone(ctx: Ctx, fb: str | None) -> list[Piece]:
    return ent(_phone(ctx), "PHONE") if ctx.has("PHONE") else lit(fb or "my cell")


def _slot_wake(ctx: Ctx, fb: str | None) -> list[Piece]:
    return lit(ctx.pick(WAKE_WORDS) + ctx.pick((" ", " ", ", "))) if ctx.chance(0.22) else []


def _pick_slot(words: Sequence[str]) -> Callable[[Ctx, str | None], list[Piece]]:
    # nobody says "1:1" or "invoice #4471" to an assistant
    spoken = tuple(w for w in words if not re.search(r"[\d#:%]", w))
    return lambda ctx, fb: lit(ctx.pick(spoken if ctx.style == "voice" else words))


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
    "event": _pick_slot(EVENTS),
    "a_event": lambda ctx, fb: _slot_a_event(ctx),
    "role": _pick_slot(ROLES),
    "freq": _pick_slot(FREQ_ADJ),
    "recurring": _pick_slot(RECURRING),
    "duration": _pick_slot(DURATIONS),
    "topic": _pick_slot(TOPICS),
    "company": lambda ctx, fb: lit(ctx.pick(ctx.pools.companies)),
    "people": _slot_people,
    "pname": _slot_pname,
    "pemail": _slot_pemail,
    "place": _slot_place,
    "city": lambda ctx, fb: _place(ctx, "city"),
    "country": lambda ctx, fb: _place(ctx, "country"),
    "venue": lambda ctx, fb: _place(ctx, "venue"),
    "holiday": _pick_slot(HOLIDAYS),
    "occasion": _pick_slot(OCCASIONS),
    "possessed": _pick_slot(POSSESSED),
    "meal": _pick_slot(MEALS),
    "trip": _pick_slot(TRIPS),
    "in_duration": _pick_slot(IN_DURATIONS),
    "lead_time": _pick_slot(LEAD_TIMES),
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


# Voice commands: what people say to an assistant.  Written with apostrophes; the voice style lowercases
# them and drops punctuation.  Literal text never holds a date, time or name (those come only from slots).
VOICE = {
    "inquiry": (
        "{wake}[what's|what is|whats] on my calendar {for_date}",
        "{wake}[what's|what is] on my [schedule|agenda] {for_date}",
        "{wake}[do|did] i have any [meetings|appointments|events|plans] [{place} ||] {when}",
        "{wake}am i [free|busy|available] {when}",
        "{wake}[when is|when's] my next [meeting|appointment|call] with {person}",
        "{wake}what time is my {event} {on_date}",
        "{wake}what [do i have|have i got] [going on|planned|scheduled|lined up] {on_date}",
        "{wake}is there anything on my [schedule|calendar] {for_date}",
        "{wake}[tell me|read me|give me|read out] my [appointments|meetings|schedule] {for_date}",
        "{wake}[check|see] if {person} is [free|available] {when}",
        "{wake}[set up|schedule|book|arrange] a [meeting|call|video call] with {person} [{place} ||] {when}",
        "{wake}[can you|could you|please] [schedule|book|set up] {a_event} with {person} [{place} ||] {when}",
        "{wake}find a time [to meet|for a call] with {person} {on_date}",
        "{wake}when am i meeting [with|] {name}",
        "{wake}who am i meeting {when}",
        "{wake}[who is|who's] [at|in|coming to] my {event} {on_date}",
        "{wake}how many [meetings|events|appointments] do i have {on_date}",
        "{wake}is my {event} still on {for_date}",
        "{wake}[show me|open|pull up] {days} [schedule|calendar|agenda]",
        "{wake}when is [the|my] {event}",
        "{wake}where is my {event} {on_date}",
        "{wake}did {name} accept [the|my] [invite|invitation] for {date:the meeting}",
        "{wake}did {name} cancel [the|our] {event} {on_date}",
        "{wake}is the {event} {on_date} [cancelled|canceled|still happening|still on]",
        "{wake}was anything [cancelled|removed] from my calendar {for_date}",
        "{wake}send [an invite|a meeting invite|an invitation] to {contact} for {when}",
        "{wake}[email|message] {contact} and ask if [they're|she's|he's] free {when}",
        "{wake}add {a_event} with {person} [{place} ||] {when}",
        "{wake}put {a_event} [{place} ||] on my calendar {when}",
        "{wake}remind me [about|of] my {event} [with {person}|] {on_date}",
        "{wake}[do i have|have i got] anything [after|before] {time:lunch} {on_date}",
        "{wake}what's my first [meeting|appointment] {on_date}",
        "{wake}is {name} [coming|going] to the {event} {on_date}",
        "{wake}any [events|meetings|plans] {for_date}",
        "{wake}what does {date:my day} look like",
        "{wake}what does my [day|week] look like",
        "{wake}[i want to|i'd like to|i need to] [meet|catch up|have lunch|grab coffee] with {person} {when}",
        "{wake}[can you|please] check my [availability|calendar] {for_date}",
        "{wake}am i double booked {on_date}",
        "{wake}is {day:my calendar} [free|open|clear] [for a meeting|]",
        "{wake}when did i last [meet with|see] {name}",
        "{wake}how long is my {event} {on_date}",
        "{wake}tell me about my {time:next} [meeting|appointment] {on_date}",
        "{wake}what's happening {when}",
        "{wake}what's next on my calendar",
        "{wake}[do i have|is there] a {freq} {event} {on_date}",
        "{wake}[please|] list [all|] my meetings with {name}",
        "{wake}check when {person} [is available|has time] {for_date}",
        "{wake}[book|reserve] [a room|a meeting room|the big room] for my {event} {when}",
        "{wake}may i ask what's on my calendar {for_date}",
        "{wake}will i have time for {a_event} {when}",
        "{wake}[um|uh|so] do i have [anything|something] with {name} {on_date}",
        "{wake}mark me as busy {when} [and|] [set up|schedule] a call with {person}",
        "{wake}when is [mom's|dad's|my boss's] [appointment|party|flight]",
        "{wake}when is {name:my sister}'s [birthday party|farewell lunch|graduation|recital]",
        "{wake}what's [the|my] schedule [like|] {for_date}",
        "{wake}tell me when my {event} with {name} is",
        "{wake}[schedule|set up] {a_event} {at_place} {when}",
        "{wake}can i meet with {person} {when}",
        "{wake}are there any openings {when}",
        "{wake}find me a free slot {on_date}",
        "{wake}[schedule|book|set up] {a_event} for {duration} {when}",
        "{wake}do i have {duration} free {on_date}",
        "{wake}[set up|schedule] a {freq} {event} with {person} {recurring}",
        "{wake}is my {event} {recurring} still on",
        "{wake}[how long|how many hours] [is|are] my {event} {recurring}",
        "{wake}block {duration} {when} for {a_event} with {person}",
        # assistant command shapes around a scheduling request
        "{wake}remind me [about|of] [the|my] {event} with {people} {when}",
        "{wake}set a reminder for [the|my] {event} [with {person}|] {when}",
        "{wake}set [a reminder|an alert] [for|about] {pname}'s {possessed} {on_date}",
        "{wake}remind me [about|of] {pname}'s {possessed} {on_date}",
        "{wake}remind me {lead_time} [the|my] {event} [with {person}|] {on_date}",
        "{wake}add {a_event} with {person} to my calendar {when}",
        "{wake}add {pname}'s {possessed} to my calendar {for_date}",
        "{wake}add [the|a] {occasion} [at {venue}|in {city}|] to my calendar {for_when}",
        "{wake}put {a_event} [with {person}|] on my calendar {when}",
        "{wake}put {meal} with {people} on my calendar {when}",
        "{wake}put {pname}'s {possessed} on [my|the family] calendar {for_date}",
        "{wake}[make|create] a calendar entry for {a_event} [at {venue}|] {when}",
        "{wake}[make|create] a [calendar entry|new event|calendar event] [called|named] {event} {when}",
        "{wake}notify me {lead_time} my {event} with {person} {on_date}",
        "{wake}notify me when {name} [accepts|answers|responds to] the [invite|meeting request]",
        "{wake}[send an email to|email] {pname} [at|on|] {pemail} [and|to] ask if [they're|she's|he's] free {when}",
        "{wake}send an email to {contact} [to set up|asking for|about] {a_event} {when}",
        "{wake}send [a meeting invite|an invite|a calendar invite|the invite] to {pemail} for {a_event} {when}",
        "{wake}invite {pemail} to [my|the] {event} {when}",
        "{wake}add {pname} [email|with the email|] {pemail} to the {event} [invite|] {on_date}",
        "{wake}send [an invite|a meeting request] for {a_event} {when} to {pemail}",
        "{wake}[schedule|set up] {a_event} with {pname} {when} and send the invite to {pemail}",
        "{wake}is my reminder for {date:the meeting} still set",
        "{wake}is [my|the] reminder [for|about] [my|the] {event} [with {person}|] still [on|set]",
        "{wake}did i set a reminder for {pname}'s {possessed}",
        "{wake}what reminders do i have {for_date}",
        "{wake}[schedule|book|set up|plan] {meal} [with {people}|] in {city} {when}",
        "{wake}[schedule|book|set up] {a_event} [with {person}|] at {venue} {when}",
        "{wake}[add|put] [my|a|the] {trip} to {country} [on|in] my calendar {for_date}",
        "{wake}add [my|a|the] {trip} to {city} to my calendar {for_date}",
        "{wake}when is my [flight|trip|train|bus] to {city}",
        "{wake}do i have any [meetings|appointments|plans] in {city} {on_date}",
        "{wake}[book|reserve] a table at {venue} {for_when}",
        "{wake}what time is [my|the] {event} at {venue} {on_date}",
        "{wake}what time is the {occasion} {on_date}",
        "{wake}[do i have|is there] anything [planned|scheduled|on my calendar] for {holiday}",
        "{wake}[do i have|is there] anything [planned|scheduled] [the day after|the week of|before] {holiday}",
        "{wake}[schedule|plan|set up] [a|the] {occasion} with {people} {when}",
        "{wake}who is coming to {pname}'s {possessed}",
        "{wake}[will|can] {name} make it to [my|the] {occasion}",
        "{wake}[am i free|do i have time] for {meal} with {people} {when}",
        "{wake}check if {people} [are free|can meet|are available] {when}",
        "{wake}set up a [meeting|call] with {people} {when}",
        "{wake}[meeting|lunch|call] with {people} {when}",
        "{wake}[i hope|hopefully] [the|my] {event} {on_date} is still on [is it|]",
        "{wake}will there be [any|] [meetings|time] {for_date}",
        "{wake}may i [see|know] my [schedule|appointments] {for_date}",
        "{wake}mark {date:it} as busy and [add|schedule] {a_event} [with {person}|]",
        "{wake}do i have time to pay the [phone|electric|water|credit card] bill before my {event} {on_date}",
        "{wake}am i [free|busy] {in_duration}",
        "{wake}remind me about [the|my] {event} [with {person}|] {in_duration}",
        "{wake}set a reminder for [my|the] {event} {in_duration}",
        "{wake}do i have [anything|a meeting] {in_duration}",
        "{wake}what's on my calendar {for_date} [i'm|i am] back from {country} {on_date}",
        "{wake}happy new year [olly|alexa|] what's on my calendar {for_date}",
        "{wake}remind me [about|of] [the|my] {event} {at_time} {on_date}",
        "{wake}set a reminder for {a_event} [with {person}|] {at_time}",
        "{wake}add {a_event} [at {venue}|] {at_time} {on_date}",
        "{wake}[do i have|is there] [a|an|any] {event} {at_time} {on_date}",
        "{wake}[meet|lunch|dinner|drinks] with {people} {at_time} {on_date}",
        "{wake}put {pname}'s {possessed} on my calendar for {day:that day} {at_time}",
        "{wake}[do i have|is there] {a_event} {place} {on_date}",
        "{wake}add {a_event} with {people} {place} {when}",
        "{wake}[where|what time] is [the|my] {occasion} {place}",
    ),
    "cancel": (
        "{wake}[cancel|delete|remove] my [meeting|appointment|call] with {person} [{place} ||] {when}",
        "{wake}[cancel|delete|call off] [the|my] {event} [{place} ||] {on_date}",
        "{wake}remove [the|my] {event} from my calendar",
        "{wake}remove [the|my] {event} with {person} from my [calendar|schedule] {on_date}",
        "{wake}clear my [calendar|schedule] {for_date}",
        "{wake}clear [out|] everything {for_date}",
        "{wake}i [won't|can't|will not|cannot] make it to [the|my] {event} {when} [please|] cancel it",
        "{wake}i [won't|can't] make [it|the meeting] {when} [so|] cancel [it|the meeting]",
        "{wake}cancel all my [appointments|meetings|events] {for_date}",
        "{wake}take [the|my] {event} with {person} off my calendar",
        "{wake}cancel my {time:next} [meeting|appointment|call]",
        "{wake}[delete|cancel] [everything|all events] [after|before] {time:lunch} {on_date}",
        "{wake}[please|] cancel the {event} i'm not [available|free] {on_date}",
        "{wake}i need to cancel {bare_when} something came up",
        "{wake}let {name} know i can't make [it|our meeting] {on_date} and cancel [it|the invite]",
        "{wake}drop the {event} with {person} from my schedule",
        "{wake}get rid of [the|my] [meeting|appointment|event] {on_date}",
        "{wake}cancel [it|that|the last one|that meeting]",
        "{wake}cancel my next [meeting|appointment]",
        "{wake}[nevermind|never mind|actually] cancel the {event}",
        "{wake}cancel [the|my] [reservation|booking] {for_when}",
        "{wake}check my calendar and cancel [whatever|anything] i have {on_date}",
        "{wake}i'm [sick|not feeling well|stuck in traffic] cancel [all|] my meetings {for_date}",
        "{wake}[can you|could you|please] cancel [the|our] {event} with {person}",
        "{wake}call off {days} {event}",
        "{wake}[delete|remove] the [event|meeting] {when}",
        "{wake}cancel my {event} {at_place}",
        "{wake}[cancel|delete|stop] [the|my] {freq} {event}",
        "{wake}[cancel|remove] my {event} {recurring}",
        "{wake}tell {person} the {event} is off",
        "{wake}cancel [the|my] {event} and let {person} know",
        "{wake}i don't need the {event} {on_date} anymore",
        "{wake}[cancel|delete] my [appointment|meeting] with {name:the dentist}",
        "{wake}i'm having second thoughts cancel the {event}",
        "{wake}my {event} {on_date} is off please remove it",
        "{wake}cancel whatever i have {when}",
        "{wake}[cancel|delete] the event called {event}",
        "{wake}can you free up my schedule {for_date}",
        "{wake}[um|uh|so] cancel my [thing|meeting] with {name}",
        "{wake}remove {name:mom}'s [birthday party|visit|appointment] from the calendar",
        "{wake}cancel the [invite|invitation] i sent to {contact}",
        "{wake}[please|] cancel my [meeting|booking] {at_place} {when}",
        "{wake}i won't be available {when} cancel everything",
        "{wake}no more {event} {for_date} [please|] cancel it",
        "{wake}cancel the {event} [i have|we have|] {recurring}",
        "{wake}[cancel|delete] the {duration} [block|slot|hold] {on_date}",
        "{wake}i don't need the {freq} {event} anymore remove it",
        "{wake}stop the {event} {recurring} [it's|it is] cancelled",
        # assistant command shapes around a cancellation
        "{wake}[remove|delete|cancel|turn off] [the|my] reminder [for|about] [the|my] {event} {on_date}",
        "{wake}[remove|delete|turn off] [the|my] reminder for [the|my] {event} with {person}",
        "{wake}[remove|delete|cancel] the reminder for {date:the meeting}",
        "{wake}[remove|delete|cancel] [the|my] reminder [for|about] {pname}'s {possessed}",
        "{wake}i don't need [the|my] reminder [for|about] {pname}'s {possessed} anymore",
        "{wake}[remove|delete] {pname}'s {possessed} from my calendar",
        "{wake}take {pname}'s {possessed} off my calendar",
        "{wake}cancel [my|the] {trip} to {country} and [clear|remove] it from my calendar",
        "{wake}cancel my [flight|trip|train|hotel] to {city} {on_date}",
        "{wake}cancel [my|the|our] [reservation|table|booking] at {venue} {for_when}",
        "{wake}cancel {meal} with {people} {when}",
        "{wake}cancel the {event} with {people}",
        "{wake}remove [the|my] {event} in {city} from my calendar",
        "{wake}[remove|delete] [the|my] [event|meeting|appointment] at {venue} {when}",
        "{wake}send an email to {contact} [saying|to say|that] [the|our] {event} {on_date} is cancelled",
        "{wake}[send an email to|email] {pname} [at|] {pemail} [saying|that] i have to cancel [our|the] {event} {when}",
        "{wake}send [a cancellation|a cancellation notice] to {pemail} for the {event} {on_date}",
        "{wake}email {pemail} [and|to] [cancel|call off] [the|our] {event} {on_date}",
        "{wake}cancel my {event} with {pname} {on_date} and [email|notify] [her|him|them] at {pemail}",
        "{wake}[remove|uninvite] {pemail} from [the|my] {event} {on_date} [and cancel it|]",
        "{wake}[cancel|delete] [the|my] calendar entry [for|called] {event} {on_date}",
        "{wake}take [the|my] {occasion} off my calendar",
        "{wake}[cancel|delete] the {occasion} [with {people}|] {on_date}",
        "{wake}cancel [everything|all my meetings] [on|for] {holiday}",
        "{wake}notify {people} that the {event} {on_date} is [cancelled|off]",
        "{wake}i'm not going to {pname}'s {possessed} anymore [please|] remove it",
        "{wake}remind me to cancel my {event} with {person} {when}",
        "{wake}cancel my {event} {in_duration}",
        "{wake}[cancel|delete] the reminder that goes off {in_duration}",
        "{wake}[cancel|remove] [my|the] [meeting|call|appointment] about the [phone|electric|water] bill {on_date}",
        "{wake}i will be in {city} {for_date} so cancel my {event}",
        "{wake}may i cancel [the|my] {event} {on_date}",
        "{wake}[cancel|call off] the {event} at {venue} [with {people}|] {on_date}",
        "{wake}[cancel|delete] [the|my] {event} {at_time} {on_date}",
        "{wake}[remove|delete] the reminder [for|at] {time:noon} {on_date}",
        "{wake}cancel [my|the] {meal} reservation {at_time} [at {venue}|]",
        "{wake}cancel {days} {event} {at_time}",
        "{wake}cancel [my|the] {event} {place} {on_date}",
        "{wake}[remove|delete] the {occasion} {place} from my calendar",
        "{wake}set a reminder to cancel [my|the] {event} with {person} {when}",
        "{wake}set a reminder to call off [the|our] {occasion} {on_date}",
        "{wake}remind me to call off the {event} {on_date}",
        "{wake}remind me {lead_time} [the|my] {event} to cancel it",
        "{wake}[remove|delete] [the|my] {event} [with {person}|] from my calendar and the reminder [too|as well]",
        "{wake}[clear|delete] [all|] the reminders {for_date}",
        "{wake}[cancel|delete] all my reminders {for_date}",
        "{wake}[remove|delete] the calendar entry for {pname}'s {possessed}",
        "{wake}take the {event} [with {people}|] off my calendar {on_date}",
        "{wake}[delete|remove] the reminder [i set|] for {meal} with {people}",
        "{wake}[cancel|remove] the reminder to [call|meet] {pname} {on_date}",
        "{wake}notify me [if|when] anyone [declines|drops out] then cancel the {event} {on_date}",
    ),
    "reschedule": (
        "{wake}[move|push|shift] my [meeting|appointment|call] with {person} {to_when}",
        "{wake}reschedule [the|my] {event} {to_when}",
        "{wake}push [the|my] {event} back {to_time}",
        "{wake}can we [move|reschedule] {days} {event} {to_date}",
        "{wake}postpone [the|my] {event} until {date:further notice}",
        "{wake}change my {event} {on_date} {to_time}",
        "{wake}bring [the|my] {event} forward {to_time}",
        "{wake}move everything {on_date} {to_date}",
        "{wake}[reschedule|move] my {time:next} [meeting|call] {to_when}",
        "{wake}can you find another time for my {event} with {person}",
        "{wake}i need to reschedule [my|the] {event} [with {person}|]",
    ),
    "other": (
        "{wake}send an email to {contact} [saying|about] {topic}",
        "{wake}[read|check] my [new|latest|] emails [from {person}|]",
        "{wake}add {email} to my contacts",
        "{wake}[what's|what is] {name}'s email [address|]",
        "{wake}reply to {name}'s email",
        "{wake}remind me to call {person} {when}",
        "{wake}set an alarm for {time:later}",
        "{wake}forward the [latest|last] email to {contact}",
        "{wake}[any|are there] new emails [from {name}|] for me",
        "{wake}take a note about {topic}",
        "{wake}text {person} that i'm running late",
        "{wake}remind me to [call|text|email] {pname} {in_duration}",
        "{wake}set a reminder to [pick up|buy|order] [milk|groceries|the cake|flowers|a gift for {pname}] {when}",
        "{wake}add {pemail} as a contact for {pname}",
        "{wake}save {pemail} as {pname}'s [email|email address]",
        "{wake}send an email to {pemail} [saying|that says] [happy new year|merry christmas|happy birthday|thank you]",
        "{wake}send it to {pemail}",
        "{wake}[what's|what is] the weather [like|] in {city} {for_date}",
        "{wake}[how many days|how long] until {holiday}",
        "{wake}notify me {in_duration} to [check the oven|leave|take my pills]",
        "{wake}[find|show me] [restaurants|a coffee shop|bars] near {venue}",
        "{wake}remind me to wish {pname} a happy {holiday}",
    ),
}

CHAT = {
    "inquiry": (
        "[hey|hi|yo|] {first}[,|] are you free {when}?",
        "[u|you] around {when}?",
        "can we [meet|talk|chat|hop on a call] {when}?",
        "what time is the {event} {on_date}?",
        "still on for {bare_when}?",
        "is {name} coming to the {event}?",
        "quick q - do we have the {event} {on_date}?",
        "[lunch|coffee|drinks] {bare_when}?",
        "want to grab [coffee|lunch] {when}?",
        "what's the plan for {date:later}?",
        "can you send me the [zoom|meet|teams] link for {date:the call}?",
        "did {name} cancel the {event} or is it still on?",
        "any idea when {name} is free?",
        "do you have time for a quick call {when}?",
        "are we meeting {bare_when} or {bare_when}?",
        "hey, can you check if {name} can do {bare_when}",
        "is {bare_when} ok for the {event}?",
        "what's on the agenda for {day:the meeting}?",
        "can i book you for {duration} {when}?",
        "when's the {event} with {name}?",
        "Hi {first}! Would {bare_when} work for {a_event}?",
        "Are you available {when}? Need {duration} to go over {topic}",
        "Can you set up {a_event} with {person} {when}? thx",
        "do I have anything {for_when}?",
        "what time do we meet {on_date}",
        "Is the {event} {at_place}?",
        "Will {first:you} be at the {event} {on_date}?",
        "How about {bare_when}? Let me know",
        "any chance you're free {when}? my email is {email}",
        "do you have {duration} {for_date}?",
        "can we make the {event} {recurring}?",
        "{meal} in {city} {bare_when}?",
        "want to do {meal} at {venue} {when}?",
        "are you coming to {pname}'s {possessed} {on_date}?",
        "{meal} with {people} {bare_when}? I can book {venue:a table}",
        "is the {occasion} still on {for_date}?",
        "can you put {pname}'s {possessed} on the calendar? it's {bare_when}",
        "r u free {when}? thinking {meal} at {venue}",
        "meet {place} {bare_when}?",
    ),
    "cancel": (
        "sorry, can't make it {when}",
        "[gotta|have to|need to] cancel {bare_when}, something came up",
        "hey {first}, need to cancel our {event} {on_date} :(",
        "{event} is off {on_date}",
        "let's skip {days} {event}",
        "im not gonna make it {when}, sorry!!",
        "can we call off {bare_when}? not feeling great",
        "no {event} {on_date}, {name:the boss} is out sick",
        "pls cancel my {time:next} [meeting|call]",
        "cancelling {days} {event}, will send notes instead",
        "have to bail on {bare_when}, really sorry",
        "heads up: the {event} {on_date} is cancelled",
        "can't do {bare_when} anymore, let's cancel",
        "I'm not available {when} so I'm cancelling the {event}",
        "pls take me off the {event} invite {on_date}",
        "Hi {first}, I have to cancel {bare_when}. So sorry!",
        "{first:Hey}, the {event} with {person} is cancelled",
        "Can you cancel my {event} {when}? Thanks",
        "sorry {first} - won't be able to join {when}, please cancel",
        "cancel our {event}, {role} needs me {at_time}",
        "Not going to make the {event} {on_date}, go ahead without me and cancel my spot",
        "checked my calendar and I'm double booked {when}, gotta cancel ours",
        "we need more than {duration} anyway so let's cancel {days} {event}",
        "let's drop the {event} we have {recurring}, it's not useful anymore",
        "have to cancel {meal} at {venue} {on_date}, sorry!",
        "can't make {pname}'s {possessed} {on_date} :( pls take it off my calendar",
        "the {occasion} {on_date} is cancelled, tell {people}",
        "cancel my trip to {city} {for_date}, the {event} got called off",
    ),
    "reschedule": (
        "can we move our {event} {to_when}?",
        "hey {first}, mind if we push {days} {event} {to_time}?",
        "need to reschedule {bare_when}, does {bare_when} work instead?",
        "let's move the {event} {to_date}",
        "can we bump the call back {to_time}?",
    ),
    "other": (
        "thanks for {days} {event}, super helpful!",
        "can you send me {name}'s email?",
        "fyi {topic} is done",
        "pls add {email} to the thread",
        "lol ok",
        "happy birthday {first}!!",
    ),
}

# One sentence that carries the email's intent.
EMAIL_CORE = {
    "inquiry": (
        "Would you be available for a quick call {when}?",
        "Are you free {when}? I'd like to go over {topic}.",
        "Could we set up a meeting {when} to discuss {topic}?",
        "Can we schedule {a_event} with {person} {when}?",
        "I'd like to book a {duration} slot with you {when}, if that works.",
        "Is {bare_when} still good for our {event}?",
        "Just checking whether we're still on for {bare_when}.",
        "Do you know what time the {event} is {on_date}?",
        "Could you let me know when {name} is free {for_date}?",
        "Does {bare_when} work for you? If not, {bare_when} is also open on my side.",
        "Can you send me the invite for the {event} {on_date}? I can't find it on my calendar.",
        "What's the agenda for {days} {event}?",
        "I was wondering if you and {name} could join us {when}.",
        "Could you check whether {name} has any openings {when}?",
        "I'd love to grab coffee {when} if you're around.",
        "Is the {event} {on_date} cancelled or still happening?",
        "Did {name} cancel our {event} {on_date}? I didn't get an update.",
        "Please send the calendar invite to {email} so I can confirm.",
        "You can reach {name} at {email} to set up a time {for_date}.",
        "Can you add me to the {event} {on_date}? My address is {email}.",
        "When would suit you for {a_event} {for_date}?",
        "Please let me know your availability {for_date}.",
        "Would {bare_when} work for everyone? We could meet {at_place}.",
        "I'm putting together the {event} and wanted to check if {bare_when} suits you.",
        "May I ask whether the {event} {on_date} is open to {role}?",
        "Could we find {duration} {for_date} to review {topic}?",
        "Is there a good time {for_date} to catch up with {person}?",
        "Would you like to meet for {meal} in {city} {when}?",
        "Shall we meet at {venue} {when}? {people} will join too.",
        "Could you add {pname}'s {possessed} to the team calendar? It's {bare_when}.",
        "Are you around for the {occasion} {on_date}?",
    ),
    "cancel": (
        "Unfortunately I need to cancel our meeting {when}.",
        "I'm afraid I won't be able to make the {event} {on_date}, so let's call it off.",
        "Please cancel my appointment with {person} {when}.",
        "Something came up and I have to cancel {days} {event}.",
        "We're cancelling the {event} {when} - apologies for the short notice.",
        "Could you remove the {event} {on_date} from my calendar? It's been called off.",
        "I have to pull out of the {event} {on_date} due to a family emergency.",
        "The {event} with {person} {when} is cancelled.",
        "I won't be available {when} after all, so please cancel our call.",
        "Let's scrap the {event} {on_date}; we covered everything by email.",
        "Please take me off the invite for the {event} {when}.",
        "I checked my calendar and I'm double-booked {when}, so I need to cancel.",
        "Can you let {name} know the {event} {on_date} is off?",
        "Please clear my schedule {for_date}; I'm out sick.",
        "There's no need to meet {on_date} anymore, so I've cancelled the invite.",
        "Kindly cancel the booking under {email} for {date:the event}.",
        "Sorry, but I'll have to cancel {bare_when}. Maybe some other time.",
        "Due to the strike, the {event} {at_place} {when} will not go ahead.",
        "Please consider this a cancellation of my {event} {on_date}.",
        "I'm sorry to say the {event} is off - {role} can't make it {on_date}.",
        "We've decided to cancel the {freq} {event} going forward.",
        "I'll have to miss the {event} {when}, so please cancel my place.",
        "Unfortunately I have to cancel our {meal} at {venue} {on_date}.",
        "I'm stuck in {city}, so please cancel the {event} {when}.",
        "The {occasion} {on_date} has been cancelled; please let {people} know.",
    ),
    "reschedule": (
        "Could we move our {event} {to_when}?",
        "I need to reschedule the {event} {on_date} - would {bare_when} work instead?",
        "Can we push {days} {event} {to_time}?",
        "Would you mind if we postponed the {event} until {date:later}?",
        "Please move my appointment with {person} {to_when}.",
    ),
    "other": (
        "Thanks again for {days} {event}, it was really helpful.",
        "Please find attached the notes on {topic}.",
        "Could you add {email} to the mailing list?",
        "FYI, {name} has joined {company} as our new contact.",
        "Congratulations on {topic}!",
    ),
}

SUBJECTS = {
    "inquiry": (
        "Meeting request",
        "Quick question about {day:the meeting}",
        "Availability {for_date}?",
        "Catch up?",
        "{event} {on_date}",
        "Are we still on?",
        "Time to chat?",
        "Scheduling",
    ),
    "cancel": (
        "Cancelled: {event} {on_date}",
        "Can't make it {day:after all}",
        "Change of plans",
        "{event} cancelled",
        "Need to cancel",
        "Re: {event}",
    ),
    "reschedule": ("Moving our {event}", "Reschedule?", "New time for {event}"),
    "other": ("Notes", "FYI", "Thanks!", "{topic}"),
}

# Sentences that go with any intent; they carry most of the hard negatives of emails.
EMAIL_FILLERS = (
    "Hope you're doing well.", "Hope all is well.", "Hope your week is going well.", "Sorry for the late reply.",
    "Thanks for your patience.", "The agenda is attached.", "I've attached the slides from {company}.",
    "It should only take {duration}.", "We usually meet {recurring} {at_place}.", "{company} will be joining as well.",
    "Looping in {role} for visibility.", "Not sure if {role} can make it.", "I'm working from home {day:that day}.",
    "First thing on my list is {topic}.", "I'm having second thoughts about {topic}.",
    "May I also ask you to bring the latest numbers?", "Will send the notes afterwards.",
    "Please use the usual zoom link.", "Room {n} only holds {n} people.", "My manager asked me to reach out.",
    "Feel free to forward this to {role}.", "I'm on PTO until {date:further notice}.",
    "P.S. Thanks again for your help with {topic}.", "{name} from {company} mentioned {topic}.",
    "Just a heads-up that parking in building 2 is closed.", "Shout if anything is unclear.",
    "The team has been swamped with {topic}.", "We have a date with {company} for the demo.",
    "Happy Friday!", "Thanks in advance.", "Apologies for any inconvenience.", "Will do my best to keep it short.",
    "My number is {phone:on the team page} if anything changes.",
    "Happy new year!", "Merry Christmas to you and the family.", "Hope you had a lovely Valentine's Day.",
    "I just got back from my vacation in {country}.", "I'll be in {city} for the conference.",
    "We could also meet {place}.", "Hope {pname:the family}'s birthday went well!", "Will you be at the {occasion}?",
    "I'm out for {holiday}.", "Bill me for the room if needed.",
)  # fmt: skip
GREETINGS = (
    "Hi {first:team},", "Hello {first:all},", "Dear {name:Sir or Madam},", "Hey {first:everyone},", "Hi {first}!",
    "Hi team,", "Hello all,", "Hi everyone,", "Good morning,", "Good afternoon {first:all},", "Dear colleagues,",
    "Hi,", "{first:Hello},", "Morning {first:all}!", "Hello {first:there}, hope you're well.",
)  # fmt: skip
SIGNOFFS = (
    "Best,", "Best regards,", "Kind regards,", "Thanks,", "Thanks!", "Cheers,", "Many thanks,", "Warmly,",
    "Regards,", "Thank you,", "Talk soon,", "All the best,", "Sincerely,", "Have a great weekend!", "-", "Thx,",
)  # fmt: skip
# Replies and forwards: a short note on top decides the intent; the quoted text below may say the opposite.
THREAD_TOP = {
    "inquiry": (
        "Sounds good! Does {bare_when} work for you?",
        "Thanks - are we still on for {bare_when}?",
        "Can you check if {name} is free {when}?",
        "Happy to. What time works {for_date}?",
        "FYI, see below. Can you find a slot with {person} {for_date}?",
    ),
    "cancel": (
        "Thanks for the invite, but I won't be able to make it after all. Please cancel my spot.",
        "Unfortunately we need to cancel this - {role} is unavailable {on_date}.",
        "Please see below and cancel the {event} {on_date}.",
        "Sorry, I have to call this off.",
        "FYI - can you cancel this for me and let {name} know?",
    ),
    "reschedule": ("Could we move this {to_when}?", "Can we push this back {to_time}?"),
    "other": ("Thanks, noted!", "Forwarding for your records."),
}

GENERIC_VOICE = (
    "{wake}[please|] {x} my [meeting|appointment] with {person} {when}",
    "{wake}i want to {x} the {event} {on_date}",
    "{wake}can you {x} [the|my] {event} [with {person}|]",
    "{wake}{x} {days} {event}",
    "{wake}{x} [it|that|everything] {for_when}",
)
GENERIC_WRITTEN = (
    "I'd like to {x} our {event} {when}.",
    "Please {x} my appointment with {person} {on_date}.",
    "Could you {x} the {event} {for_when}?",
    "{x}: {event} with {person} {when}",
)


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


def _templates(table: dict[str, tuple[str, ...]], generic: tuple[str, ...], intent: str) -> tuple[str, ...]:
    if intent in table:
        return table[intent]
    word = intent.replace("_", " ").replace("-", " ").strip().lower() or "handle"
    return tuple(t.replace("{x}", word) for t in generic)


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
    pieces = render(ctx.pick(_templates(VOICE, GENERIC_VOICE, intent)), ctx)
    for extra in _extras(ctx):
        pieces += lit(ctx.pick((" ", " and "))) + extra
    if ctx.chance(0.08):
        pieces += lit(ctx.pick((" please", " thanks", " thank you", " for me")))
    return pieces


def _chat_message(intent: str, ctx: Ctx) -> list[Piece]:
    pieces = render(ctx.pick(_templates(CHAT, GENERIC_WRITTEN, intent)), ctx)
    for extra in _extras(ctx):
        pieces += lit(ctx.pick((". ", " - ", ", "))) + extra
    return pieces


def _sentence(pieces: list[Piece]) -> list[Piece]:
    if pieces and pieces[-1][1] is not None:
        return pieces + lit(".")
    return pieces


def _email_body(intent: str, ctx: Ctx) -> list[Piece]:
    """Greeting, one intent sentence among 0-3 neutral ones, extras."""
    core = render(ctx.pick(_templates(EMAIL_CORE, GENERIC_WRITTEN, intent)), ctx)
    count = ctx.rng.choices((0, 1, 2, 3), (25, 40, 25, 10))[0]
    fillers = [render(t, ctx) for t in ctx.rng.sample(EMAIL_FILLERS, count)]
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
    out = lit(ctx.pick(SIGNOFFS))
    if ctx.has("NAME") and ctx.chance(0.85):
        form = ctx.rng.choices(("first", "full", "title_full"), (55, 40, 5))[0]
        name = _name(ctx, form)
        out += lit("\n") + (name[1:] if form == "title_full" and ctx.chance(0.5) else name)
        if form != "first" and ctx.chance(0.35):
            out += lit(f"\n{ctx.pick(JOB_TITLES)}{ctx.pick((' | ', ', ', chr(10)))}{ctx.pick(ctx.pools.companies)}")
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
        out += lit("Subject: ") + render(ctx.pick(_templates(SUBJECTS, ("{x}",), intent)), ctx) + lit("\n\n")
    if ctx.chance(0.9):
        out += render(ctx.pick(GREETINGS), ctx) + lit(ctx.pick(("\n\n", "\n\n", "\n")))
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
    return out + lit("Subject: ") + render(ctx.pick(SUBJECTS["inquiry"]), ctx) + lit("\n")


def _thread_message(intent: str, ctx: Ctx) -> list[Piece]:
    """A reply or forward: the intent is the top note's, the quoted message below is any scheduling email."""
    forward = ctx.chance(0.35)
    out = lit(("Fwd: " if forward else "Re: ") + ctx.pick(("Meeting", "Catch up", "Next steps", "Invite", "Call")))
    out += lit("\n\n") + render(ctx.pick(_templates(THREAD_TOP, GENERIC_WRITTEN, intent)), ctx)
    out += lit("\n\n") + _sender(ctx) + lit("\n\n")
    quoted_intent = ctx.pick(("inquiry", "inquiry", "cancel"))
    original = render(ctx.pick(GREETINGS), ctx) + lit("\n") + _email_body(quoted_intent, ctx) + lit("\n")
    original += _sender(ctx)
    if forward:
        return out + lit("---------- Forwarded message ---------\n") + _quote_header(ctx) + lit("\n") + original
    quoted = [(s.replace("\n", "\n> "), t) for s, t in original]
    return out + _quote_header(ctx) + lit("> ") + quoted


# -----------------------------------------------------------------------------
# whole messages (raw_email, announcement, invitation): header blocks, signatures, quoted earlier messages,
# announcements and invitations.  Word lists and templates are data (data/work_email.yaml); the code below is
# the values that need logic (names as written at work, addresses, dates, times, numbers) and the layouts.

WORK_EMAIL_FILE = Path(__file__).with_name("data") / "work_email.yaml"
WHOLE_MESSAGE_STYLES = ("raw_email", "announcement", "invitation")


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


def _work(key: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    return _work_lists()[key]


@functools.cache
def _work_lists() -> dict[str, Any]:
    lists = load_word_lists(WORK_EMAIL_FILE)
    needed = {"departments", "acronyms", "tickers", "exchanges", "projects", "products", "universities", "buildings",
              "job_titles", "company_suffixes", "disclaimers", "list_names", "no_reply_names", "work_fillers",
              "greetings", "signoffs", "reply_notes", "talk_topics", "announcement_intros", "abstract_sentences",
              "agenda_items", "time_zones"}  # fmt: skip
    if missing := sorted(needed - set(lists)):
        raise DataFileError(f"{WORK_EMAIL_FILE.name}: missing lists {missing}")
    return lists


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


def _count(ctx: Ctx) -> str:
    return str(ctx.rng.choice((ctx.rng.randint(2, 12), ctx.rng.randint(2, 60))))


def _street_address(ctx: Ctx) -> str:
    return f"{ctx.rng.randint(1, 9999)} {ctx.pick(STREET_BASES)} {ctx.pick(STREET_TYPES)}" + ctx.pick(
        ("", "", f", Suite {ctx.rng.randint(100, 3999)}", f", {_ordinal(ctx.rng.randint(2, 40))} Floor")
    )


def _city_state_zip(ctx: Ctx) -> str:
    city, state = ctx.pick(US_CITY_STATE)
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
    and surname ("Dr. Baker" tags "Baker"), a handle ("jbaker"), initials ("AB"), or with a middle initial."""
    if not ctx.has("NAME"):  # never an untagged name: a role in its place
        return lit(ctx.pick(("the organiser", "the office", "our team", "the coordinator")))
    first, last = person or _person(ctx)
    if form is None:
        form = ctx.rng.choices(("full", "first", "last", "initial", "last_first", "title", "handle", "initials",
                                "middle"), (38, 20, 8, 8, 12, 6, 3, 2, 3))[0]  # fmt: skip
    if form == "title":
        return lit(ctx.pick(TITLES) + " ") + ent(last, "NAME")
    text = {
        "full": f"{first} {last}",
        "first": first,
        "last": last,
        "initial": f"{first[0]}. {last}",
        "last_first": f"{last}, {first}",
        "handle": (re.sub(r"[^a-z]", "", _fold(first[0] + last).lower()) or "jdoe"),
        "initials": (_fold(first[0] + last[0]).upper() or "JD"),
        "middle": f"{first} {ctx.pick('ABCDEFGHJKLMNPRSTW')}. {last}",
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


def _address(ctx: Ctx, person: tuple[str, str] | None = None) -> list[Piece]:
    """One sender or recipient as a header writes it: display name and address in one of several forms."""
    first, last = person or _person(ctx)
    email = _email_address(ctx, first, last)
    if ctx.chance(0.5):  # work address on the company's domain
        email = email.split("@")[0] + "@" + _domain(ctx)
    has_name, has_email = ctx.has("NAME"), ctx.has("EMAIL")
    if not has_name and not has_email:
        return lit(ctx.pick(GROUPS))
    if not has_name:
        return ent(email, "EMAIL")
    if not has_email:
        return _work_name(ctx, (first, last), ctx.pick(("full", "full", "last_first")))
    form = ctx.rng.choices(("display", "quoted_last_first", "bare", "name_only", "last_first_only", "paren"),
                           (40, 12, 18, 14, 12, 4))[0]  # fmt: skip
    if form == "display":
        return ent(f"{first} {last}", "NAME") + lit(" <") + ent(email, "EMAIL") + lit(">")
    if form == "quoted_last_first":
        return lit('"') + ent(f"{last}, {first}", "NAME") + lit('" <') + ent(email, "EMAIL") + lit(">")
    if form == "bare":
        return ent(email, "EMAIL")
    if form == "name_only":
        return ent(f"{first} {last}", "NAME")
    if form == "last_first_only":
        return ent(f"{last}, {first}", "NAME")
    return ent(email, "EMAIL") + lit(" (") + ent(f"{first} {last}", "NAME") + lit(")")


def _list_address(ctx: Ctx) -> list[Piece]:
    """A mailing list or a no-reply sender: an EMAIL whose local part is not a person."""
    local = _draw(ctx, "list_names" if ctx.chance(0.8) else "no_reply_names")
    address = f"{local}@{_domain(ctx)}"
    return ent(address, "EMAIL") if ctx.has("EMAIL") else lit(ctx.pick(("All Staff", "Seminar List", "Team")))


def _recipients(ctx: Ctx, n: int) -> list[Piece]:
    sep = ctx.pick(("; ", ", ", "; "))
    out: list[Piece] = []
    for i in range(n):
        out += (lit(sep) if i else []) + (_address(ctx) if ctx.chance(0.93) else _list_address(ctx))
    return out


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
        body = lit(ctx.pick(("Mtg w/", "Meeting with ", "Call w/ ", "Lunch with "))) + _surname_list(ctx)
    elif r < 0.25 and ctx.has("DATE"):
        body = lit(ctx.pick(("Meeting ", "Review ", "Call ", "Offsite "))) + ent(_work_date(ctx), "DATE")
    else:
        body = render(ctx.pick(_templates(SUBJECTS, ("{x}",), intent)), ctx)
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
    return out


def _signature(ctx: Ctx, sender: tuple[str, str]) -> list[Piece]:
    """Sign-off, the sender's name, and often a signature block full of numbers that are not dates or times."""
    out = _say(ctx, "signoffs") + lit("\n")
    if ctx.has("NAME"):
        out += _work_name(ctx, sender, ctx.rng.choices(("full", "first", "initial", "initials", "middle"),
                                                       (45, 35, 6, 8, 6))[0])  # fmt: skip
    else:
        out += lit(ctx.pick(("The team", "Facilities", "Office of the Dean")))
    if ctx.chance(0.6):
        company = _company(ctx)
        lines = [f"{_draw(ctx, 'job_titles')}{ctx.pick((' | ', ', ', chr(10)))}{company}"]
        out += lit("\n" + "\n".join(lines))
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
    core = render(ctx.pick(_templates(EMAIL_CORE, GENERIC_WRITTEN, intent)), ctx)
    remarks = [
        _say(ctx, "work_fillers") for _ in range(ctx.rng.choices((0, 1, 2, 3, 4, 6), (10, 20, 25, 20, 15, 10))[0])
    ]
    if ctx.chance(0.3):
        remarks.append(render(ctx.pick(EMAIL_FILLERS), ctx))
    at = ctx.rng.randint(0, min(2, len(remarks)))
    sentences = remarks[:at] + [core] + remarks[at:]
    out = _say(ctx, "greetings") + lit("\n\n") if ctx.chance(0.85) else []
    for i, sentence in enumerate(sentences):
        out += (lit(ctx.pick((" ", " ", "\n\n"))) if i else []) + _cap_pieces(sentence)
    return out + lit("\n\n") + _signature(ctx, sender)


def _earlier_message(ctx: Ctx, receiver: tuple[str, str]) -> list[Piece]:
    """The message replied to or forwarded, below the new one, in one of three layouts; its own intent."""
    sender = _person(ctx)
    body = _work_body(ctx, ctx.pick(("inquiry", "inquiry", "cancel")), sender)
    layout = ctx.rng.choices(("outlook", "quoted", "forward"), (45, 35, 20))[0]
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
    return out


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
