"""The managers' report built from a real `quality` history in PostgreSQL.

The runs below are recorded through the gate's own `record()` and `mark_published()`; their checks
are SYNTHETIC (hand-written results shaped like the suites' grouped rules), so that each mechanism
(a new problem, a resolved one, a version not published) happens at a known time. The report on
real suite results is tested in test_quality_gate.py and through the portal tests.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from territoire import warehouse
from territoire.datasets import Dataset
from territoire.quality.gate import AuditResult, CheckResult, mark_published, record
from territoire.quality.report import build_report
from tests.support.accessibility import charts_without_table, heading_problems, tab_through
from tests.support.browser import axe_violations, open_page, scrolls_sideways

pytestmark = pytest.mark.integration

DATASET = Dataset(id="bornes_test", title="Bornes de test (synthétique)", description="Jeu synthétique.",
                  licence="etalab-2.0", sources=("irve",), primary_key=("id",))
OTHER = Dataset(id="jamais_controle", title="Jeu jamais contrôlé (synthétique)", description="Jeu synthétique.",
                licence="etalab-2.0", sources=("cog",), primary_key=("id",))
T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)  # 10:00 in Paris (summer time)


def code_check(success: bool) -> CheckResult:
    examples = [] if success else ["99001", "99001", "99002", "99003", "99004"]
    return CheckResult("row_rules_expectation", "code_commune", "error", success,
                       observed_value=f"{0 if success else 1204} ligne(s) en défaut",
                       unexpected_count=0 if success else 1204, unexpected_share=None if success else 0.032,
                       examples=examples, explication="Chaque code commune existe dans le COG en vigueur.",
                       rule="code_commune_dans_referentiel")


def freshness_check(success: bool) -> CheckResult:
    return CheckResult("expect_column_max_to_be_between", "date_maj", "warning", success,
                       observed_value="2024-11-20", explication="Les données sont à jour (moins de 60 jours).")


def run(url: str, when: datetime, checks: list[CheckResult], *, published: bool, n: int) -> str:
    failed = [c for c in checks if not c.success]
    verdict = ("blocked" if any(c.level == "error" for c in failed) else "warnings") if failed else "passed"
    run_id = f"bornes_test-{n}"
    record(AuditResult(run_id, DATASET.id, verdict, checks, 3057, when - timedelta(seconds=5), when), url)
    if published:
        with warehouse.transaction(url) as conn:
            mark_published(run_id, conn, *(("Claire Martin", "données anciennes connues") if failed else ()))
    return run_id


@pytest.fixture
def report_env(fresh_database, tmp_path, monkeypatch):
    monkeypatch.setenv("TERRITOIRE_PUBLICATION_DIR", str(tmp_path / "publication"))
    return fresh_database


def build(url: str, now: datetime):
    path = build_report(url, {d.id: d for d in (DATASET, OTHER)}, now=now)
    return path, json.loads((path.parent / "etat.json").read_text(encoding="utf-8"))


def visible_text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_a_failing_check_is_a_problem_with_consequence_action_and_who_acts(report_env):
    run(report_env, T0, [code_check(False), freshness_check(True)], published=False, n=1)
    path, state = build(report_env, T0 + timedelta(hours=1))
    entry = next(e for e in state["jeux"] if e["id"] == DATASET.id)
    assert entry["statut"] == "bloque"
    (problem,) = entry["problemes"]
    assert problem["acteur"] == "producteur" and problem["niveau"] == "error"
    assert problem["exemples"] == ["99001", "99002", "99003"]  # three, no value repeated
    text = visible_text(path.read_text(encoding="utf-8"))
    for words in ("Chaque code commune existe dans le COG en vigueur.",
                  "1 204 ligne(s) (3,2 % des lignes) ne respectent pas la règle.",  # spaces collapsed
                  "Conséquence Ces lignes ne peuvent pas être rattachées à un territoire",
                  "Qui agit Le producteur de la donnée", "Jeu jamais contrôlé (synthétique)",
                  "C'est le premier rapport"):
        assert words in text, words
    # times are Paris times: the run finished at 08:00 UTC, 10:00 in Paris in July
    assert "01/07/2026 à 10:00" in text and "01/07/2026 à 08:00" not in text


def test_since_the_last_report_new_resolved_and_unpublished(report_env):
    run(report_env, T0, [code_check(False), freshness_check(True)], published=False, n=1)
    build(report_env, T0 + timedelta(hours=1))
    run(report_env, T0 + timedelta(days=1), [code_check(True), freshness_check(False)], published=True, n=2)
    run(report_env, T0 + timedelta(days=2), [code_check(True), freshness_check(False)], published=False, n=3)
    path, state = build(report_env, T0 + timedelta(days=2, hours=1))
    since = state["depuis"]
    assert [p["regle"] for p in since["nouveaux"]] == ["Les données sont à jour (moins de 60 jours)."]
    assert [p["regle"] for p in since["resolus"]] == ["Chaque code commune existe dans le COG en vigueur."]
    assert [r["run_id"] for r in since["non_publiees"]] == ["bornes_test-3"]  # run 1 predates the last report
    html = path.read_text(encoding="utf-8")
    section = visible_text(html.split('id="depuis"')[1].split('id="jeux"')[0])
    assert "Nouveaux problèmes (1)" in section and "Problèmes résolus (1)" in section
    assert "Versions non publiées (1)" in section and "03/07/2026 à 10:00" in section
    entry = next(e for e in state["jeux"] if e["id"] == DATASET.id)
    assert entry["statut"] == "avertissement" and entry["problemes"][0]["acteur"] == "producteur"
    # the override that published run 2 is told with who and why
    assert "Claire Martin" not in visible_text(html)  # the last run (3) was not published: no override shown
    assert len(entry["historique"]) == 3


def test_trend_has_a_dated_axis_marks_published_runs_apart_and_a_table(report_env):
    for n, day in enumerate((0, 3, 10), start=1):
        run(report_env, T0 + timedelta(days=day), [code_check(n != 2), freshness_check(True)],
            published=n != 2, n=n)
    path, _ = build(report_env, T0 + timedelta(days=11))
    card = path.read_text(encoding="utf-8").split('id="jeu-bornes_test"')[1].split("</section>")[0]
    svg = card.split("<svg")[1].split("</svg>")[0]
    assert svg.count('class="point-publie"') == 2 and svg.count('class="point-non-publie"') == 1
    # x is proportional to time: the gaps of 3 and 7 days keep their ratio
    xs = [float(x) for x in re.findall(r'<circle class="point-publie" cx="([\d.]+)"', svg)]
    rect_x = float(re.search(r'<rect class="point-non-publie" x="([\d.]+)"', svg).group(1)) + 4.5
    assert (rect_x - xs[0]) / (xs[1] - rect_x) == pytest.approx(3 / 7, rel=0.02)
    labels = re.findall(r'<text class="date"[^>]*>([^<]+)</text>', svg)
    assert labels[0] == "01/07/26 10:00" and labels[-1] == "11/07/26 10:00"
    table_rows = card.split("<tbody>")[1].split("</tbody>")[0].count("<tr>")
    assert table_rows == 3 and card.count("<td>non</td>") == 1


def test_each_run_has_its_own_detail_page_and_nothing_comes_from_the_network(report_env):
    run_id = run(report_env, T0, [code_check(False), freshness_check(True)], published=False, n=1)
    path, _ = build(report_env, T0 + timedelta(hours=1))
    detail = path.parent / "controles" / f"{run_id}.html"
    assert f'href="controles/{run_id}.html"' in path.read_text(encoding="utf-8")
    text = visible_text(detail.read_text(encoding="utf-8"))
    assert "code_commune_dans_referentiel" in text and "99004" in text and "Contrôles respectés" in text
    for page in (path, detail):
        html = page.read_text(encoding="utf-8").replace("http://www.w3.org/2000/svg", "")
        assert "http://" not in html and "https://" not in html and "<script" not in html
    assert (path.parent / "territoire.css").is_file()


@pytest.mark.parametrize("width", [1400, 390])
def test_report_in_a_browser_is_accessible_offline_and_without_javascript(report_env, width):
    for n, day in enumerate((0, 1, 2), start=1):
        run(report_env, T0 + timedelta(days=day), [code_check(n == 3), freshness_check(n != 2)],
            published=n != 1, n=n)
    path, _ = build(report_env, T0 + timedelta(days=3))
    with open_page(path.as_uri(), width=width) as page:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith("file:") else None)
        page.reload()
        assert requests == []
        assert axe_violations(page) == []
        assert not scrolls_sideways(page)
        assert heading_problems(page) == []
        assert charts_without_table(page) == []
        visited = tab_through(page, 40)
        assert visited[0]["text"] == "Aller au contenu"
        assert any((v["href"] or "").startswith("controles/") for v in visited)
    with open_page(path.as_uri(), width=width, javascript=False) as page:
        card = page.locator("#jeu-bornes_test")
        assert card.get_attribute("data-statut") == "publie"
        assert card.locator("svg.graphique circle.point-publie").count() == 2
        page.locator("#jeu-bornes_test summary").click()
        assert card.locator("table tbody tr").count() == 3
        page.locator("#jeu-bornes_test a.detail").click()
        assert "Contrôle du" in page.locator("h1").inner_text()
        assert not scrolls_sideways(page)
