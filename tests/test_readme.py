"""The README is a short front door (the rest is in docs/), it links the annotation guideline instead of copying it,
and every relative link in it and in docs/ leads to a file that exists."""

import re
from pathlib import Path

import pytest

from small_lm.guideline import ANNOTATION_GUIDELINE

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK_RE = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_read_in_five_minutes():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


def test_the_guideline_is_linked_not_copied():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "small_lm/guideline.py" in readme
    rules = [line.strip() for line in ANNOTATION_GUIDELINE.splitlines() if len(line.strip()) > 40]
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert not [line for line in rules if line in text], f"{page.name} copies the guideline: link it instead"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_lead_to_files_that_exist(page: Path):
    targets = [t for t in LINK_RE.findall(page.read_text(encoding="utf-8")) if "://" not in t]
    missing = [t for t in targets if not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to files that do not exist: {missing}"
