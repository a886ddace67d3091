"""Write-audit-publish on real data: the COG and the IRVE consolidated extract, built by dbt.

One warehouse for the module (loading and dbt take about a minute); the tests run in order, as a
maintainer's day would: a first publication, a real defect that must be stopped, a warning-level
override, the alert, and the managers' report in a real browser.
"""

from __future__ import annotations

import csv
import hashlib
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from territoire import settings, warehouse
from tests.support.gate import use_expectations_copy

pytestmark = pytest.mark.integration

SAMPLES = settings.PROJECT_ROOT / "data" / "samples"
COORDS_BUG = SAMPLES / "irve" / "coordonnees_pdc_2024-12-04.csv"  # longitude = latitude in every row
ARTIFACTS = settings.PROJECT_ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def env(admin_url, tmp_path_factory):
    """A warehouse with the COG and IRVE loaded and dim_territoire + fct_points_de_charge built in `audit`."""
    from territoire import dbt
    from territoire.catalog import load_catalog
    from territoire.ingest.loader import Loader

    tmp = tmp_path_factory.mktemp("quality")
    name = f"territoire_q_{uuid.uuid4().hex[:10]}"
    url = warehouse.create_database(admin_url, name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TERRITOIRE_VAR_DIR", str(tmp / "var"))
        mp.setenv("TERRITOIRE_PUBLICATION_DIR", str(tmp / "var" / "publication"))
        # GX writes validations and Data Docs under the context: use a copy, never the repository's.
        use_expectations_copy(mp, tmp)
        mp.delenv("AIRFLOW_CONN_TERRITOIRE_ALERTS", raising=False)
        warehouse.ensure_schemas(url)
        loader = Loader(url, progress=lambda _m: None)
        catalog = load_catalog()
        for source_id in ("cog", "irve", "ign_adminexpress"):
            for resource in catalog.get(source_id).resources:
                loader.load(resource, resource.location("demo").resolved_path())
        dbt.run(["run", "--select", "+dim_territoire", "+fct_points_de_charge"], url, capture=True,
                target_path=tmp / "dbt_target")
        yield {"url": url, "tmp": tmp}
    warehouse.drop_database(admin_url, name)


def table_digest(url: str, table: str) -> str:
    with warehouse.connect(url) as conn:
        row = conn.execute(f"select md5(string_agg(t::text, '|' order by t::text)), count(*) from {table} t").fetchone()
    return f"{row[0]}:{row[1]}"


def files_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def runs(url: str, dataset_id: str) -> list[dict]:
    with warehouse.connect(url) as conn:
        cur = conn.execute("select * from quality.validation_runs where dataset_id = %s order by finished_at",
                           (dataset_id,))
        cols = [c.name for c in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def failed_rules(url: str, run_id: str) -> dict[str, dict]:
    with warehouse.connect(url) as conn:
        rows = conn.execute(
            "select coalesce(rule, expectation), level, unexpected_count, examples, explication, column_name "
            "from quality.validation_results where run_id = %s and not success", (run_id,)).fetchall()
    return {r[0]: {"level": r[1], "count": r[2], "examples": r[3], "explication": r[4], "column": r[5]} for r in rows}


def test_passing_run_publishes(env):
    from territoire.pipeline import publish_dataset

    url = env["url"]
    outcome = publish_dataset("dim_territoire", url=url)
    assert outcome.verdict == "passed"
    assert outcome.published_rows == int(table_digest(url, "audit.dim_territoire").split(":")[1])
    assert table_digest(url, "published.dim_territoire") == table_digest(url, "audit.dim_territoire")
    last = runs(url, "dim_territoire")[-1]
    assert last["published"] and last["verdict"] == "passed" and last["checks_passed"] == last["checks_total"] > 20
    assert (settings.publication_dir() / "qualite" / last["data_docs_path"]).is_file()


def test_duplicated_commune_and_unknown_departement_block_publication(env):
    from territoire.pipeline import publish_dataset
    from territoire.quality.gate import QualityGateFailed

    url = env["url"]
    folder = settings.publication_dir() / "datasets" / "dim_territoire"
    before_table = table_digest(url, "published.dim_territoire")
    before_files = files_digest(folder)
    with warehouse.transaction(url) as conn:
        # a duplicated commune (a row appended twice by a faulty join) and a non-existent département
        conn.execute("insert into audit.dim_territoire select * from audit.dim_territoire where code_commune = '01001'")
        conn.execute("update audit.dim_territoire set code_departement = '99' where code_commune = '75056'")
    with pytest.raises(QualityGateFailed) as failure:
        publish_dataset("dim_territoire", url=url)
    message = str(failure.value)
    assert "blocked" in message and "commune_dans_son_departement" in message and "75056" in message
    assert table_digest(url, "published.dim_territoire") == before_table
    assert files_digest(folder) == before_files
    last = runs(url, "dim_territoire")[-1]
    assert last["verdict"] == "blocked" and not last["published"]
    failed = failed_rules(url, last["run_id"])
    assert failed["commune_dans_son_departement"]["count"] == 1
    assert any("75056" in str(e) for e in failed["commune_dans_son_departement"]["examples"])
    key = next(v for k, v in failed.items() if v["column"] == "code_commune" and v["level"] == "error")
    assert "unique" in key["explication"] or "doublon" in key["explication"]
    assert failure.value.outcome.run_id == last["run_id"]


def test_row_count_drop_against_the_published_version_blocks(env):
    from territoire.quality.gate import audit

    url = env["url"]
    published = int(table_digest(url, "published.dim_territoire").split(":")[1])
    with warehouse.transaction(url) as conn:
        # a partial delivery: the communes of the first départements are missing (more than 5 %)
        dropped = conn.execute("delete from audit.dim_territoire where code_commune < '07'").rowcount
    assert dropped > published * 0.05
    outcome = audit("dim_territoire", url)
    assert outcome.verdict == "blocked"
    completeness = [c for c in outcome.failed if c.expectation == "expect_table_row_count_to_be_between"
                    and "version publiée précédente" in c.explication]
    assert completeness and completeness[0].observed_value == outcome.row_count
    assert json.dumps(completeness[0].kwargs).count(str(int(published * 0.95))) == 1
    with warehouse.transaction(url) as conn:  # the IRVE tests below check their codes against audit.dim_territoire
        conn.execute("delete from audit.dim_territoire")
        conn.execute("insert into audit.dim_territoire select * from published.dim_territoire")


def test_irve_warnings_need_a_recorded_override(env):
    from territoire.pipeline import publish_dataset
    from territoire.quality.gate import QualityGateFailed, overrides

    url = env["url"]
    # the real extract: 74 points the consolidation flags as misplaced (longitude = latitude) -> warnings
    with pytest.raises(QualityGateFailed, match="override"):
        publish_dataset("fct_points_de_charge", url=url)
    with warehouse.connect(url) as conn:
        assert conn.execute("select to_regclass('published.fct_points_de_charge')").fetchone()[0] is None
    outcome = publish_dataset("fct_points_de_charge", url=url, override_by="marie.dupont",
                              override_reason="points signalés par la consolidation, publiés avec leur signalement")
    assert outcome.verdict == "warnings" and outcome.published_rows == 3057
    recorded = overrides("fct_points_de_charge", url)
    assert recorded[0]["override_by"] == "marie.dupont"
    assert "longitude_differente_latitude_signalees" in recorded[0]["failed_checks"]


def test_longitude_equal_latitude_file_is_stopped(env):
    from territoire.pipeline import publish_dataset
    from territoire.quality.gate import QualityGateFailed

    url = env["url"]
    folder = settings.publication_dir() / "datasets" / "fct_points_de_charge"
    before_table, before_files = table_digest(url, "published.fct_points_de_charge"), files_digest(folder)
    with open(COORDS_BUG, encoding="utf-8", newline="") as f:
        rows = [(r["id_pdc_itinerance"], float(r["longitude"]), float(r["latitude"])) for r in csv.DictReader(f)]
    with warehouse.transaction(url) as conn:
        conn.execute("create temporary table coords (id text, lon double precision, lat double precision)")
        with conn.cursor().copy("copy coords from stdin") as copy:
            for row in rows:
                copy.write_row(row)
        changed = conn.execute(
            "update audit.fct_points_de_charge p set longitude = c.lon, latitude = c.lat from coords c "
            "where p.id_pdc_itinerance = c.id and p.coordonnees_verifiees").rowcount
    assert changed > 1000
    with pytest.raises(QualityGateFailed, match="longitude_differente_latitude"):
        publish_dataset("fct_points_de_charge", url=url, override_by="marie.dupont", override_reason="essai")
    assert table_digest(url, "published.fct_points_de_charge") == before_table
    assert files_digest(folder) == before_files
    last = runs(url, "fct_points_de_charge")[-1]
    assert last["verdict"] == "blocked" and not last["published"]
    assert last["override_reason"].startswith("REFUSÉ")
    failed = failed_rules(url, last["run_id"])
    assert failed["longitude_differente_latitude"]["level"] == "error"
    assert failed["longitude_differente_latitude"]["count"] == changed


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_alert_goes_to_the_webhook_of_the_connection(env, monkeypatch):
    from territoire.notifications import QualityAlertNotifier, send_alert
    from territoire.quality.gate import QualityGateFailed, audit

    url = env["url"]
    outcome = audit("fct_points_de_charge", url)  # still the defective coordinates
    assert send_alert(outcome) == {}  # no connection: alerts are off
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_TERRITOIRE_ALERTS",
                           f"http://127.0.0.1:{server.server_address[1]}/hooks/qualite?canal=donnees")
        QualityAlertNotifier()({"exception": QualityGateFailed("blocked", outcome)})
    finally:
        server.shutdown()
    path, message = _Receiver.received[-1]
    assert path == "/hooks/qualite?canal=donnees"
    assert message["dataset"] == "fct_points_de_charge" and message["verdict"] == "blocked"
    check = next(c for c in message["controles_en_echec"] if c["controle"] == "longitude_differente_latitude")
    assert check["colonne"] == "longitude,latitude" and check["niveau"] == "bloquant"
    assert check["lignes_en_defaut"] > 1000 and check["exemples"] and check["valeur_observee"]
    assert message["data_docs"].endswith(".html") and Path(message["data_docs"]).is_file()


def test_report_shows_the_failure_in_a_real_browser(env):
    from playwright.sync_api import sync_playwright

    from territoire.quality.report import build_report

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    url = env["url"]
    path = build_report(url)
    assert path == settings.publication_dir() / "qualite" / "rapport.html"
    html = path.read_text(encoding="utf-8")
    without_svg_namespace = html.replace("http://www.w3.org/2000/svg", "")
    assert "http://" not in without_svg_namespace and "https://" not in without_svg_namespace  # no CDN
    n_runs = len(runs(url, "dim_territoire"))
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        # JavaScript off: the report is static HTML and SVG drawn by the server
        page = browser.new_page(viewport={"width": 1300, "height": 900}, java_script_enabled=False)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: errors.append("network: " + r.url) if not r.url.startswith(("file:", "data:"))
                else None)
        page.goto(path.as_uri())
        card = page.locator("#jeu-dim_territoire")
        assert card.get_attribute("data-statut") == "bloque"
        assert "bloqué" in card.locator(".statut").inner_text()
        marks = card.locator("svg.graphique circle.point-publie, svg.graphique rect.point-non-publie")
        assert marks.count() == n_runs
        assert "commence par le code de son département" in card.inner_text()
        assert "Qui agit" in card.inner_text()
        points = page.locator("#jeu-fct_points_de_charge")
        assert points.locator(".statut").inner_text() == "bloqué"
        # the real IRVE defect, explained in plain words (test_longitude_equal_latitude_file_is_stopped)
        assert "La longitude et la latitude sont différentes" in points.inner_text()
        href = card.locator("a.detail").get_attribute("href")
        assert href.startswith("controles/") and (path.parent / href).is_file()
        page.screenshot(path=str(ARTIFACTS / "rapport_qualite.png"), full_page=True)
        page.goto((path.parent / href).as_uri())
        assert "Contrôles en échec" in page.locator("main").inner_text()
        browser.close()
    assert errors == []
