"""Fixtures for the publication tests: a publication folder of their own and SYNTHETIC published tables.

The rows below are hand-made (synthetic), shaped like the marts they stand for; they are not real data.
"""

from __future__ import annotations

import psycopg
import pytest

from territoire.datasets import Dataset

POINTS_SQL = """
create table published.{name} (
    id_point text primary key,
    code_commune text,
    code_departement text,
    nom text,
    puissance_kw numeric,
    date_mise_en_service date,
    longitude double precision,
    latitude double precision,
    nombre_logements integer,
    consommation_mwh numeric,
    contact_email text,
    _loaded_at timestamptz
);
insert into published.{name} values
    ('P3', '13055', '13', 'Vieux-Port, quai « nord »', 22.0, '2024-06-30', 5.3698, 43.2965, 12, 40.5, 'a@example.org', now()),
    ('P1', '69388', '69', 'Lyon 8e', 7.4, '2021-01-15', 4.8694, 45.7339, 9, null, 'b@example.org', now()),
    ('P2', '90010', '90', 'Belfort, "gare"', 150, '2023-03-01', null, null, 10, 33.0, null, now());
"""


@pytest.fixture
def publication_dir(tmp_path, monkeypatch):
    folder = tmp_path / "publication"
    monkeypatch.setenv("TERRITOIRE_PUBLICATION_DIR", str(folder))
    monkeypatch.delenv("TERRITOIRE_PUBLIC_BASE_URL", raising=False)
    return folder


def make_points_table(url: str, name: str = "pub_test_points") -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"drop table if exists published.{name}")
        conn.execute(POINTS_SQL.format(name=name))


def points_dataset(name: str = "pub_test_points", **overrides) -> Dataset:
    """A dataset declaration like those of catalog/datasets.yml, for the synthetic table."""
    fields = dict(
        id=name, title="Points de test (synthétique)", description="Jeu synthétique pour les tests.",
        licence="etalab-2.0", sources=("irve",), primary_key=("id_point",), keywords=("test", "recharge"),
        accrual_periodicity="weekly", spatial_coverage="France",
        temporal_coverage={"column": "date_mise_en_service"},
        geometry={"longitude": "longitude", "latitude": "latitude"},
        secrecy=[{"count_column": "nombre_logements", "threshold": 10, "masked_columns": ["consommation_mwh"]}],
        personal_columns=("contact_email",),
        columns={"puissance_kw": {"description": "Puissance nominale du point de charge."}},
    )
    fields.update(overrides)
    return Dataset(**fields)


@pytest.fixture
def points():
    """(make_points_table, points_dataset): build the synthetic table, declare its dataset."""
    return make_points_table, points_dataset


@pytest.fixture
def udata_portal(monkeypatch):
    """A fake udata portal on 127.0.0.1 (fake_udata.py), its API key in the environment."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from fake_udata import FakeUdataServer

    key = "synthetic-api-key-" + "x" * 8
    with FakeUdataServer(key, {"org-territoire"}) as fake:
        monkeypatch.setenv("TERRITOIRE_UDATA_URL", fake.url)
        monkeypatch.setenv("TERRITOIRE_UDATA_API_KEY", key)
        monkeypatch.delenv("AIRFLOW_CONN_UDATA_PORTAL", raising=False)
        yield fake
