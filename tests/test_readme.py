"""The README shows the annotation guideline that the prompt and the offline generator use, word for word."""

from pathlib import Path

from small_lm.guideline import ANNOTATION_GUIDELINE


def test_readme_carries_the_guideline_verbatim():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert ANNOTATION_GUIDELINE.strip() in readme
