"""The message styles a dataset mixes: their names, descriptions and default weights (``data/styles.yaml``),
and the ``--styles`` option that chooses and weights them for both generation backends."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

STYLES_FILE = Path(__file__).with_name("data") / "styles.yaml"


@dataclass(frozen=True)
class Style:
    name: str
    weight: float  # share of the default mix
    email: bool  # a whole message with a header block
    description: str  # what the LLM prompt asks for


@cache
def styles() -> dict[str, Style]:
    """Every style, from ``data/styles.yaml``; a malformed entry is a ValueError naming the file and the style."""
    raw = yaml.safe_load(STYLES_FILE.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{STYLES_FILE}: expected a mapping of style names to entries")
    out = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or set(entry) != {"weight", "email", "description"}:
            raise ValueError(f"{STYLES_FILE}: style {name!r}: expected exactly weight, email and description")
        if not isinstance(entry["weight"], int | float) or entry["weight"] < 0:
            raise ValueError(f"{STYLES_FILE}: style {name!r}: weight must be a number >= 0")
        out[name] = Style(name, float(entry["weight"]), bool(entry["email"]), " ".join(entry["description"].split()))
    return out


def default_mix() -> dict[str, float]:
    return {name: s.weight for name, s in styles().items() if s.weight > 0}


def parse_styles(spec: str) -> dict[str, float]:
    """``"voice,raw_email"`` (equal weights) or ``"voice=0.3,raw_email=0.7"`` -> weights that sum to 1.

    Raises ValueError naming an unknown style or a bad weight."""
    known = styles()
    weights: dict[str, float] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in known:
            raise ValueError(f"unknown style {name!r}; expected some of {', '.join(known)}")
        try:
            weight = float(value) if value else 1.0
        except ValueError:
            raise ValueError(f"style {name!r}: weight {value!r} is not a number") from None
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"style {name!r}: weight must be a finite number >= 0, got {value}")
        weights[name] = weight
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"no style with a weight above 0 in {spec!r}")
    return {name: w / total for name, w in weights.items() if w > 0}


def format_mix(mix: dict[str, float]) -> str:
    """The ``--styles`` spelling of a mix, e.g. for a help text or metadata."""
    return ",".join(f"{name}={weight:g}" for name, weight in mix.items())
