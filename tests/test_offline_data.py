"""The offline generator's data and promises: the lexicon is checked against its schema, the same seed gives the
data the generator gave before it became a package of data and engine, in any locale, and it refuses entity
types it has no values for."""

import ast
import datetime
import hashlib
import json
import locale
import random
import shutil
import types
from collections import Counter
from pathlib import Path

import pytest

from generation import offline_backend
from generation.offline import ENTITY_TYPES, when
from generation.offline.context import Ctx
from generation.offline.lexicon import DATA_DIR, DataFileError, Words, load_file, load_lexicon
from generation.offline.messages import generate_offline, lexicon
from generation.offline.pools import build_pools
from generation.offline.slots import SLOTS

DIGESTS = Path(__file__).parent / "fixtures" / "offline_digests.json"
PACKAGE = Path(when.__file__).parent
WHOLE_STYLES = ("raw_email", "announcement", "invitation")


def digest(examples: list[dict]) -> str:
    kept = [[x["id"], x["text"], x["intent"], x["entities"]] for x in examples]
    return hashlib.sha256(json.dumps(kept, ensure_ascii=False).encode()).hexdigest()


@pytest.mark.parametrize(
    "call", json.loads(DIGESTS.read_text(encoding="utf-8"))["calls"], ids=lambda c: str(c["kwargs"])
)
def test_the_same_seed_gives_the_data_the_old_generator_gave(call):
    assert digest(generate_offline(**call["kwargs"])) == call["sha256"]


# -----------------------------------------------------------------------------
# dates do not depend on the process locale


def test_the_engine_never_formats_dates_with_strftime():
    """strftime's %a %A %b %B (and a date's f-string format) name days and months in the process locale's
    language; the engine takes them from formats.yaml."""
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            assert not (isinstance(node, ast.Attribute) and node.attr == "strftime"), path.name
            if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
                assert "%" not in ast.unparse(node.format_spec), f"{path.name}:{node.lineno}"


class _German:
    """A date that names days and months in German, as strftime does under LC_TIME=de_DE."""

    NAMES = {"%A": "Montag", "%a": "Mo", "%B": "Januar", "%b": "Jan"}

    def strftime(self, fmt: str) -> str:
        for code, german in self.NAMES.items():
            fmt = fmt.replace(code, german)
        return super().strftime(fmt)

    def __format__(self, spec: str) -> str:
        return self.strftime(spec) if spec else str(self)


class _GermanDate(_German, datetime.date):
    pass


class _GermanDateTime(_German, datetime.datetime):
    pass


def test_dates_and_stamps_are_the_same_when_strftime_speaks_another_language(monkeypatch):
    expected = {style: generate_offline(40, seed=6, styles={style: 1.0}) for style in ("thread", *WHOLE_STYLES)}
    german = types.SimpleNamespace(date=_GermanDate, datetime=_GermanDateTime, timedelta=datetime.timedelta)
    assert f"{_GermanDate(2024, 1, 1):%a %B}" == "Mo Januar"
    monkeypatch.setattr(when, "dt", german)
    assert {style: generate_offline(40, seed=6, styles={style: 1.0}) for style in expected} == expected


def test_dates_and_stamps_are_the_same_in_another_locale():
    available = [name for name in ("de_DE.UTF-8", "fr_FR.UTF-8", "es_ES.UTF-8") if _settable(name)]
    if not available:
        pytest.skip("no non-English locale on this machine (the test above fakes one)")
    before = locale.setlocale(locale.LC_TIME)
    expected = generate_offline(80, seed=6, styles={style: 1.0 for style in WHOLE_STYLES})
    try:
        locale.setlocale(locale.LC_TIME, available[0])
        assert generate_offline(80, seed=6, styles={style: 1.0 for style in WHOLE_STYLES}) == expected
    finally:
        locale.setlocale(locale.LC_TIME, before)


def _settable(name: str) -> bool:
    before = locale.setlocale(locale.LC_TIME)
    try:
        locale.setlocale(locale.LC_TIME, name)
    except locale.Error:
        return False
    locale.setlocale(locale.LC_TIME, before)
    return True


# -----------------------------------------------------------------------------
# entity types: one list, and nothing made up for the others


def test_the_backend_checks_against_the_generators_own_list():
    assert offline_backend.OFFLINE_ENTITY_TYPES is ENTITY_TYPES


@pytest.mark.parametrize("entity_types", [("DATE", "ROOM"), ("ORDER_ID",)])
def test_a_type_the_templates_have_no_values_for_is_refused(entity_types):
    with pytest.raises(ValueError, match=r"no values for \['(ROOM|ORDER_ID)'\]"):
        generate_offline(20, seed=4, entity_types=entity_types)


# -----------------------------------------------------------------------------
# the lexicon and its schema


def test_the_packaged_data_files_load_and_the_schema_names_every_one():
    schema = load_file(DATA_DIR / "schema.yaml")
    assert {p.stem for p in DATA_DIR.glob("*.yaml")} - {"schema"} == {key.split(".")[0] for key in schema}
    lex = lexicon()
    assert set(lex.keys("work_email.reply_notes")) == {"inquiry", "cancel"}
    assert {"inquiry", "cancel"} <= set(lex.keys("short_messages.voice"))
    assert len(lex["short_messages.email_fillers"].texts) >= 20
    # repetition is written as weights: each text once
    events = lex["words.events"]
    assert len(set(events.texts)) == len(events.texts) and events.weights[events.texts.index("meeting")] == 3
    assert lex["words.us_city_state"].texts[0] == "Austin, Texas"
    assert len(set(lex["words.possessed"].texts)) == len(lex["words.possessed"].texts)
    # one file for each register's greetings, sign-offs and job titles
    for key in ("greetings", "signoffs", "job_titles"):
        assert f"layouts.email.{key}" in lex and f"layouts.work.{key}" in lex
        assert not any(k.endswith(f".{key}") for k in lex.values if not k.startswith("layouts."))


def test_the_package_data_setting_ships_the_data_files():
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["setuptools"]["package-data"]["generation.offline"] == ["data/*.yaml"]


def test_weighted_draws_follow_the_weights():
    ctx = Ctx(random.Random(0), lexicon(), None, (), "chat", True, False)
    draws = Counter(ctx.draw(Words.of(["a", "b"], [3.0, 1.0])) for _ in range(20000))
    assert 0.73 < draws["a"] / 20000 < 0.77


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    shutil.copytree(DATA_DIR, tmp_path, dirs_exist_ok=True)
    return tmp_path


@pytest.mark.parametrize(
    "file, edit, message",
    [
        ("words", ("chains: [", "chainz: ["), r"^words\.yaml: missing lists \['chains'\]"),
        ("words", ('  "on": ', '  "upon": '), r"^words\.yaml: missing lists \['no_when\.on'\]"),
        (
            "words",
            ("us_city_state: [", 'us_city_state: ["Austin Texas", '),
            r'^words\.yaml: us_city_state\[0\]: expected "first, second"',
        ),
        (
            "words",
            ("cities: [Berlin,", "cities: [[Berlin, 2],"),
            r"cities\[0\]: expected a string \(this list takes no weights\)",
        ),
        (
            "short_messages",
            ("\nchat:\n", "\nchat: [hi]\nchatter:\n"),
            r"^short_messages\.yaml: chat: not in schema\.yaml",
        ),
        (
            "short_messages",
            ('  - "Hope all is well."', '  - ["Hope all is well.", 2]'),
            r"email_fillers\[1\]: expected a string \(this list takes no weights\)",
        ),
        (
            "short_messages",
            ("{wake}what time is my {event}", "{wake}what time is my {evnt}"),
            r"^short_messages\.yaml: voice\.inquiry\[\d+\]: unknown slot 'evnt'",
        ),
        (
            "layouts",
            ('    - "Hi {first}!"', "    - ['Hi {first}!', 0]"),
            r"^layouts\.yaml: email\.greetings\[4\]: expected a string or \[text, weight > 0\]",
        ),
        (
            "layouts",
            ("subject_rate: 0.4", "subject_rate: 1.4"),
            r"^layouts\.yaml: email\.subject_rate: expected a rate",
        ),
        (
            "layouts",
            ("courtesies: [", "courtesies: []\n  x: ["),
            r"^layouts\.yaml: voice\.courtesies: expected a non-empty list",
        ),
        (
            "formats",
            ("[range, 0.75]", "[range, 0.5]"),
            r"^formats\.yaml: phrase\.time_kinds: expected \[label, bound\]",
        ),
        (
            "slots",
            ("event: words.events", "event: words.eventz"),
            r"^slots\.yaml: draw\.event: no list or number 'words\.eventz'",
        ),
        ("work_email", ("departments:\n", "departments: [unclosed\n"), r"^work_email\.yaml: not valid YAML"),
    ],
)
def test_data_file_errors_name_the_file_the_key_and_the_entry(data_copy, file, edit, message):
    path = data_copy / f"{file}.yaml"
    text = path.read_text(encoding="utf-8")
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(DataFileError, match=message):
        load_lexicon(data_copy, SLOTS)


def test_a_data_file_is_a_mapping(tmp_path):
    (tmp_path / "broken.yaml").write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"^broken\.yaml: expected a mapping"):
        load_file(tmp_path / "broken.yaml")


def test_hand_made_names_need_both_lists_and_a_locale(data_copy):
    path = data_copy / "words.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("  zh: [Wei,", "  zz: [Wei,", 1), encoding="utf-8")
    with pytest.raises(DataFileError, match=r"handmade names \['zh', 'zz'\]"):
        build_pools(load_lexicon(data_copy, SLOTS))


if __name__ == "__main__":  # the digests of the data as the generator makes it now (see the test above)
    document = json.loads(DIGESTS.read_text(encoding="utf-8"))
    for call in document["calls"]:
        call["sha256"] = digest(generate_offline(**call["kwargs"]))
    document["about"] = document["about"].split(", made by")[0] + ", made by generation/offline"
    DIGESTS.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
