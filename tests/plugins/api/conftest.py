"""A small published warehouse for the API tests, built through the real publication functions.

The rows are synthetic (made up for these tests, shaped like the real marts): 3 datasets published
with `publish_table` after a recorded quality run, read through the API's own read-only role
(created by `ensure_api_role` with a name unique to the session: roles are cluster-wide).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from territoire import warehouse
from territoire.api import create_app
from territoire.api.config import ApiConfig
from territoire.api.role import drop_api_role, ensure_api_role, role_url
from territoire.datasets import load_datasets
from territoire.publication.publish import publish_table
from territoire.quality.gate import ensure_history_tables

DATASETS_YML = """
version: 1
datasets:
  - id: dim_territoire
    title: Référentiel des communes (test synthétique)
    description: Une ligne par commune, avec son EPCI, son département et sa région.
    licence: etalab-2.0
    sources: [cog]
    keywords: [commune, EPCI, population]
    primary_key: [code_commune]
  - id: fct_points_de_charge
    title: Points de recharge (test synthétique)
    description: Une ligne par point de recharge pour véhicules électriques.
    licence: etalab-2.0
    sources: [irve]
    keywords: [mobilité, recharge, IRVE]
    primary_key: [id_pdc_itinerance]
    geometry: {longitude: longitude, latitude: latitude, verified: coordonnees_verifiees}
    personal_columns: [contact_operateur]
    columns:
      puissance_nominale_kw: {unit: kW, description: "Puissance nominale (kW)."}
  - id: indicateurs_territoriaux
    title: Indicateurs territoriaux (test synthétique)
    description: Indicateurs par territoire, indicateur, catégorie et année.
    licence: odbl-1.0
    sources: [cog]
    keywords: [indicateurs]
    primary_key: [niveau, code_territoire, indicateur, categorie, annee]
"""

COMMUNES = [
    # code_commune, nom, code_epci, nom_epci, dep, nom_dep, reg, nom_reg, population, superficie
    ("90010", "Belfort", "249000241", "Grand Belfort", "90", "Territoire de Belfort", "27",
     "Bourgogne-Franche-Comté", 46443, 17.1),
    ("90065", "Offemont", "249000241", "Grand Belfort", "90", "Territoire de Belfort", "27",
     "Bourgogne-Franche-Comté", 4012, None),
    ("25056", "Besançon", "242500361", "Grand Besançon Métropole", "25", "Doubs", "27",
     "Bourgogne-Franche-Comté", 119198, 65.05),
    ("01001", "L'Abergement-Clémenciat", "200069193", "CC de la Dombes", "01", "Ain", "84",
     "Auvergne-Rhône-Alpes", 859, 15.95),
    ("75056", "Paris", "200054781", "Métropole du Grand Paris", "75", "Paris", "11", "Île-de-France",
     2113705, 105.4),
]


def _points() -> list[tuple]:
    rows = []
    for i in range(250):
        commune = COMMUNES[i % len(COMMUNES)]
        rows.append((f"FRS{i:05d}", commune[0], commune[4], commune[6], 3.7 + (i % 7) * 7, 2 + i % 3,
                     6.86 + i / 1000, 47.64 + i / 1000, i % 10 != 0, "=HYPERLINK(\"x\")" if i == 7 else f"op{i % 4}",
                     "personne@example.org", datetime(2024, 1, 1 + i % 28, tzinfo=UTC).date()))
    return rows


def _build(url: str) -> None:
    with warehouse.transaction(url) as conn:
        conn.execute("""
            create table audit.dim_territoire (code_commune text, nom_commune text, code_epci text, nom_epci text,
                code_departement text, nom_departement text, code_region text, nom_region text,
                population_municipale integer, superficie_km2 numeric);
            create table audit.fct_points_de_charge (id_pdc_itinerance text, code_commune text,
                code_departement text, code_region text, puissance_nominale_kw numeric, nombre_prises integer,
                longitude double precision, latitude double precision, coordonnees_verifiees boolean,
                nom_operateur text, contact_operateur text, date_maj date);
            create table audit.indicateurs_territoriaux (niveau text, code_territoire text, indicateur text,
                categorie text, annee integer, valeur numeric, unite text);""")
        with conn.cursor() as cur:
            cur.executemany("insert into audit.dim_territoire values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                            COMMUNES)
            cur.executemany("insert into audit.fct_points_de_charge values "
                            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", _points())
            cur.executemany("insert into audit.indicateurs_territoriaux values (%s, %s, %s, %s, %s, %s, %s)", [
                ("commune", "90010", "points_de_charge_pour_10000_hab", "total", 2024, 10.77, "pour 10 000 hab."),
                ("departement", "90", "points_de_charge_pour_10000_hab", "total", 2024, 9.1, "pour 10 000 hab."),
                ("region", "27", "points_de_charge_pour_10000_hab", "total", 2024, 4.2, "pour 10 000 hab."),
            ])
        ensure_history_tables(conn)


def _publish(url: str, datasets_path: Path) -> None:
    now = datetime.now(UTC)
    for dataset in load_datasets(datasets_path).values():
        run_id = f"test-{dataset.id}-{uuid.uuid4().hex[:6]}"
        with warehouse.transaction(url) as conn:
            conn.execute("insert into quality.validation_runs (run_id, dataset_id, started_at, finished_at, verdict, "
                         "checks_total, checks_passed, row_count) values (%s, %s, %s, %s, 'warnings', 3, 2, null)",
                         (run_id, dataset.id, now, now))
            conn.execute("insert into quality.validation_results (run_id, dataset_id, expectation, column_name, "
                         "level, success, unexpected_count, validated_at) values "
                         "(%s, %s, 'expect_column_values_to_not_be_null', 'code_commune', 'warning', false, 2, %s)",
                         (run_id, dataset.id, now))
        publish_table(dataset, run_id, url)


@pytest.fixture(scope="session")
def api_datasets_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("api") / "datasets.yml"
    path.write_text(DATASETS_YML, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def api_role(warehouse_url, api_datasets_path):
    _build(warehouse_url)
    role = ensure_api_role(warehouse_url, role=f"territoire_api_t{uuid.uuid4().hex[:8]}")
    _publish(warehouse_url, api_datasets_path)
    yield role
    drop_api_role(warehouse_url, role)


@pytest.fixture(scope="session")
def api_config(warehouse_url, api_role, api_datasets_path) -> ApiConfig:
    return ApiConfig(database_url=role_url(warehouse_url, api_role), datasets_path=api_datasets_path, rate=0,
                     version_ttl=0.2)


def make_client(config: ApiConfig, **changes) -> TestClient:
    from dataclasses import replace

    return TestClient(create_app(replace(config, **changes)), raise_server_exceptions=False)


@pytest.fixture(scope="session")
def client(api_config):
    with make_client(api_config) as c:
        yield c
