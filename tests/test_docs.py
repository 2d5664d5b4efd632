"""The documentation stays true: the generated variant page matches the registries, every
relative link and anchor in README.md, ARCHITECTURE.md and docs/ resolves, the README fits on a
page, and every page under docs/ is reachable from it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "ARCHITECTURE.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lowercase, punctuation dropped, spaces to hyphens."""
    out: set[str] = set()
    for line in FENCE.sub("", page.read_text()).splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            n = 1
            while slug in out:  # a repeated heading gets -1, -2, …
                slug, n = f"{slug.rsplit('-', 1)[0] if n > 1 else slug}-{n}", n + 1
            out.add(slug)
    return out


def links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", page.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(page):
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked here
            continue
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            broken.append(f"{target}: no such file")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            broken.append(f"{target}: no heading gives #{anchor}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_readme_fits_on_a_page_and_reaches_every_doc():
    readme = ROOT / "README.md"
    assert len(readme.read_text().splitlines()) <= 200
    reached = {(readme.parent / t.partition("#")[0]).resolve() for t in links(readme)}
    missing = [p.name for p in (ROOT / "docs").glob("*.md") if p.resolve() not in reached]
    assert not missing, f"docs not linked from README.md: {missing}"


def test_the_variant_reference_is_generated_from_the_registries():
    """docs/variants.md is `ablate list variants --markdown`; regenerate it after changing a variant
    or knob: `python -m suite list variants --markdown > docs/variants.md`. Generated in a fresh
    interpreter: a test that registers its own encoder (tests/test_models.py) must not reach the page."""
    env = {k: v for k, v in os.environ.items() if k != "ABLATE_PLUGINS"}
    generated = subprocess.run(
        [sys.executable, "-m", "suite", "list", "variants", "--markdown"],
        capture_output=True, text=True, check=True, cwd=ROOT, env=env,
    ).stdout  # fmt: skip
    committed = (ROOT / "docs" / "variants.md").read_text()
    assert committed == generated, "docs/variants.md is stale: regenerate it (see this test's docstring)"


def test_anchor_rules_match_githubs():
    page = ROOT / "docs" / "extending.md"
    assert "how-to-add" in anchors(ROOT / "ARCHITECTURE.md") and "trial-keys" in anchors(
        ROOT / "ARCHITECTURE.md"
    )
    assert "a-plugin-your-own-variants-and-datasets-outside-the-repository" in anchors(page)


def test_list_variants_markdown_prints_the_page(capsys):
    from suite.cli import main
    from suite.reference import variants_markdown

    assert main(["list", "variants", "--markdown"]) == 0
    assert capsys.readouterr().out == variants_markdown()
    assert main(["list", "datasets", "--markdown"]) == 2
    assert "--markdown writes the variants page only" in capsys.readouterr().err
