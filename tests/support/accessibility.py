"""Page checks that axe-core leaves to people, shared by the report and portal browser tests.

- `heading_problems(page)`: headings must start at h1 and never skip a level going down;
- `tab_through(page, presses)`: what keyboard focus visits, in order (tag, text, href or name);
- `charts_without_table(page)`: server-rendered charts and maps not followed by a data table.
"""

from __future__ import annotations

HEADINGS_JS = """() => Array.from(document.querySelectorAll('h1,h2,h3,h4,h5,h6'))
    .filter(h => h.offsetParent !== null || h.closest('details'))
    .map(h => [Number(h.tagName[1]), h.textContent.trim().slice(0, 60)])"""

FOCUS_JS = """() => { const e = document.activeElement; if (!e || e === document.body) return null;
    const style = getComputedStyle(e);
    return {tag: e.tagName.toLowerCase(), text: (e.innerText || e.value || '').trim().slice(0, 60),
            href: e.getAttribute('href'), name: e.getAttribute('name') || e.id,
            outline: style.outlineStyle !== 'none' && style.outlineWidth !== '0px'}; }"""

CHARTS_JS = """() => Array.from(document.querySelectorAll('svg.graphique')).filter(svg => {
    let node = svg.closest('figure') || svg;
    for (let next = node.nextElementSibling, i = 0; next && i < 2; next = next.nextElementSibling, i++) {
        if (next.matches('table') || next.querySelector('table')) return false;
    }
    return true; }).map(svg => svg.getAttribute('aria-label'))"""


def heading_problems(page) -> list[str]:
    headings = page.evaluate(HEADINGS_JS)
    problems = []
    if not headings or headings[0][0] != 1:
        problems.append(f"the first heading is not an h1: {headings[:1]}")
    if sum(1 for level, _ in headings if level == 1) != 1:
        problems.append("there must be exactly one h1")
    for (before, _), (level, label) in zip(headings, headings[1:], strict=False):
        if level > before + 1:
            problems.append(f"h{before} followed by h{level} ({label!r})")
    return problems


def tab_through(page, presses: int) -> list[dict]:
    visited = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUS_JS)
        if focused:
            visited.append(focused)
    return visited


def charts_without_table(page) -> list[str]:
    return page.evaluate(CHARTS_JS)
