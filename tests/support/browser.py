"""Browser checks shared by the page tests: Debian's chromium driven by playwright, axe-core from npm.

`open_page(url, width=..., javascript=...)` yields a playwright page; `axe_violations(page)` runs
axe-core (WCAG 2.1 A/AA rules) in it and returns the serious and critical violations. Tests skip when
Debian's chromium is missing (`.ci/run` installs it) and fail when axe-core is (`make env` installs it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# As root, without a sandbox; no background traffic towards hosts this machine cannot reach.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@contextlib.contextmanager
def open_page(url: str, *, width: int = 1400, height: int = 900, javascript: bool = True) -> Iterator:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          java_script_enabled=javascript)
            page = context.new_page()
            page.goto(url)
            yield page
        finally:
            browser.close()


def axe_violations(page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:
    """axe-core's violations of the given impacts on the page as it is now."""
    assert AXE.exists(), f"axe-core is missing ({AXE}): run `make env` (npm ci)"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    return [v for v in result["violations"] if v.get("impact") in impacts]


def scrolls_sideways(page) -> bool:
    """True when the page is wider than its viewport (a phone user must scroll sideways)."""
    return page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth + 1")
