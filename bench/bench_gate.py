"""Benchmark the quality gate on a SYNTHETIC 1,000,000-row table against one hand-written SQL query.

The table has the shape of the published dataset `fct_points_de_charge` (same columns and types)
and the gate runs that dataset's own suite (territoire.quality.suites, scaffolded into a temporary
copy of the GX context): schema and types, completeness, freshness, unique key, territorial codes
against a synthetic `audit.dim_territoire`, coordinates in France and longitude != latitude,
value ranges. The reference is one SQL statement computing the same checks in one pass (plus the
column metadata read), run on the same database in the same process. Every value is synthetic.

    .venv/bin/python bench/bench_gate.py [--rows 1000000] [--repeat 3]

Prints `bench <name>: <value> <unit>` lines; the figure that matters is `gate_vs_sql_ratio`
(target: <= 3).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from territoire import settings, warehouse  # noqa: E402

DATASET = "bench_points_de_charge"

DIM_SQL = """
create schema if not exists audit;
create table audit.dim_territoire as
select c.code_commune, '2' || lpad((g / 20)::text, 8, '0') as code_epci, d.dep as code_departement,
       lpad((d.n % 18 + 1)::text, 2, '0') as code_region
from generate_series(0, 34999) as g,
     lateral (select (g % 94) as n) as x,
     lateral (select case when x.n + 1 = 20 then '2A' else lpad((x.n + 1)::text, 2, '0') end as dep, x.n) as d,
     lateral (select d.dep || lpad((g / 94)::text, 3, '0') as code_commune) as c;
"""

# Same columns and types as audit.fct_points_de_charge; values are synthetic and all valid.
TABLE_SQL = """
create table audit.{table} as
with t as (select code_commune, code_epci, code_departement, code_region,
                  row_number() over (order by code_commune) - 1 as k from audit.dim_territoire)
select
    'FRSYN' || lpad(g::text, 10, '0') as id_pdc_itinerance,
    'FRSYNP' || lpad((g / 4)::text, 9, '0') as id_station_itinerance,
    'Station synthétique ' || (g / 4) as nom_station,
    t.code_commune, t.code_epci, t.code_departement, t.code_region,
    t.code_commune as code_commune_source,
    'code_courant' as methode_correspondance,
    lpad((g % 95000 + 1000)::text, 5, '0') as code_postal,
    (-4.5 + (g % 13000) / 1000.0)::double precision as longitude,
    (42.5 + (g % 8000) / 1000.0)::double precision as latitude,
    (g % 10 <> 0) as coordonnees_verifiees,
    (3.7 + (g % 40) * 7)::numeric as puissance_nominale_kw,
    'Accès libre' as condition_acces,
    true as acces_libre,
    'Opérateur ' || (g % 50) as nom_operateur,
    'Aménageur ' || (g % 70) as nom_amenageur,
    'Enseigne ' || (g % 30) as nom_enseigne,
    (g % 2 = 0) as prise_type_2, (g % 3 = 0) as prise_type_combo_ccs, false as prise_type_chademo,
    (g % 5 = 0) as prise_type_ef, (g % 7 = 0) as gratuit,
    (current_date - (g % 2000))::date as date_mise_en_service,
    (current_date - (g % 30))::date as date_maj,
    now() as _loaded_at
from generate_series(0, {rows} - 1) as g
join t on t.k = g % 35000;
analyze audit.{table};
"""


def reference_query(table: str) -> str:
    """The same checks, in one pass over the table (plus the reference codes, hashed once)."""
    from territoire.quality.suites import FRANCE_BOXES

    inside = " or ".join(f"(longitude between {a} and {b} and latitude between {c} and {d})"
                         for a, b, c, d in FRANCE_BOXES.values())
    return f"""
    select
        count(*) as lignes,
        count(*) - count(distinct id_pdc_itinerance) as doublons,
        max(date_maj) as date_max,
        count(*) filter (where id_pdc_itinerance is null) as cle_nulle,
        count(*) filter (where code_commune is not null
                         and code_commune not in (select code_commune from audit.dim_territoire)) as commune_inconnue,
        count(*) filter (where code_commune is null) as commune_nulle,
        count(*) filter (where code_departement is not null and code_departement not in
                         (select code_departement from audit.dim_territoire)) as departement_inconnu,
        count(*) filter (where code_region is not null and code_region not in
                         (select code_region from audit.dim_territoire)) as region_inconnue,
        count(*) filter (where coordonnees_verifiees is not false and longitude = latitude) as lon_eq_lat,
        count(*) filter (where coordonnees_verifiees is not false and longitude is not null
                         and latitude is not null and not ({inside})) as hors_france,
        count(*) filter (where coordonnees_verifiees is false and longitude = latitude) as lon_eq_lat_signales,
        count(*) filter (where coordonnees_verifiees is false and longitude is not null
                         and latitude is not null and not ({inside})) as hors_france_signales,
        count(*) filter (where longitude is null or latitude is null) as coordonnees_nulles,
        count(*) filter (where not (puissance_nominale_kw between 0 and 1000)) as puissance_hors_bornes,
        count(*) filter (where date_mise_en_service > current_date) as mise_en_service_future
    from audit.{table}
    """


def columns_query(table: str) -> str:
    return ("select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
            f"where a.attrelid = 'audit.{table}'::regclass and a.attnum > 0 and not a.attisdropped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--no-straightforward", action="store_true",
                        help="skip the same suite written the straightforward way (one expectation per rule)")
    args = parser.parse_args()

    admin = os.environ.get("BENCH_ADMIN_URL") or os.environ.get("WAREHOUSE_URL") or \
        "postgresql://postgres@127.0.0.1:5432/postgres"
    p = warehouse.parse_url(admin)
    name = f"bench_gate_{os.getpid()}_{uuid.uuid4().hex[:4]}"
    with psycopg.connect(warehouse.ConnectionParts(p.host, p.port, p.user, p.password, p.dbname or "postgres").url(),
                         autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = warehouse.ConnectionParts(p.host, p.port, p.user, p.password, name).url()
    tmp = Path(tempfile.mkdtemp(prefix="bench-gate-"))
    try:
        run(url, tmp, args.rows, args.repeat, not args.no_straightforward)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not args.keep:
            with psycopg.connect(warehouse.ConnectionParts(p.host, p.port, p.user, p.password,
                                                           p.dbname or "postgres").url(), autocommit=True) as conn:
                conn.execute(f'drop database if exists "{name}" with (force)')


def run(url: str, tmp: Path, rows: int, repeat: int, straightforward: bool) -> None:
    # GX writes validations and Data Docs: into a copy of the context, and a throw-away publication dir.
    shutil.copytree(settings.expectations_dir(), tmp / "expectations",
                    ignore=shutil.ignore_patterns("validations", "data_docs"))
    os.environ["TERRITOIRE_EXPECTATIONS_DIR"] = str(tmp / "expectations")
    os.environ["TERRITOIRE_VAR_DIR"] = str(tmp / "var")
    os.environ["TERRITOIRE_PUBLICATION_DIR"] = str(tmp / "var" / "publication")

    from territoire.datasets import get_dataset
    from territoire.quality import suites
    from territoire.quality.context import get_context
    from territoire.quality.gate import audit

    t0 = time.perf_counter()
    with warehouse.connect(url, autocommit=True) as conn:
        conn.execute(DIM_SQL)
        conn.execute(TABLE_SQL.format(table=DATASET, rows=rows))
        n = conn.execute(f"select count(*) from audit.{DATASET}").fetchone()[0]
    print(f"bench gate_rows: {n} rows")
    print(f"bench gate_table_build_seconds: {time.perf_counter() - t0:.2f} s")

    dataset = dataclasses.replace(get_dataset("fct_points_de_charge"), id=DATASET,
                                  title="Points de recharge (SYNTHÉTIQUE, benchmark)")
    suites.SUITES[DATASET] = suites.SUITES["fct_points_de_charge"]
    suites.scaffold(url=url, datasets=[dataset])
    # The same checks written the straightforward way (one expectation per rule, GX's uniqueness
    # check), on a view of the same table so both suites read the same rows.
    direct = dataclasses.replace(dataset, id=DATASET + "_direct")
    if straightforward:
        with warehouse.connect(url, autocommit=True) as conn:
            conn.execute(f"create view audit.{direct.id} as select * from audit.{DATASET}")
        suites.SUITES[direct.id] = suites.SUITES["fct_points_de_charge"]
        suites.GROUP_RULES = False
        try:
            suites.scaffold(url=url, datasets=[direct])
        finally:
            suites.GROUP_RULES = True
    context = get_context(url)

    def gate(ds=dataset) -> float:
        start = time.perf_counter()
        outcome = audit(ds, url, context=context)
        elapsed = time.perf_counter() - start
        if outcome.verdict != "passed":
            raise SystemExit(f"the synthetic table should pass its suite:\n{outcome.summary()}")
        return elapsed

    def sql() -> float:
        start = time.perf_counter()
        with warehouse.connect(url) as conn:
            conn.execute(columns_query(DATASET)).fetchall()
            row = conn.execute(reference_query(DATASET)).fetchone()
        elapsed = time.perf_counter() - start
        if row[0] != n or any(v for v in row[1:2]) or any(row[3:]):
            raise SystemExit(f"the reference query found defects in the synthetic table: {row}")
        return elapsed

    gate(), sql()  # warm-up: caches, GX metric machinery, plans
    gate_times, sql_times = [], []
    for _ in range(repeat):  # interleaved so both see the same machine load
        gate_times.append(gate())
        sql_times.append(sql())
    g, s = statistics.median(gate_times), statistics.median(sql_times)
    checks = len(suites.SUITES[DATASET](dataset))
    print(f"bench gate_expectations: {checks} expectations")
    print(f"bench gate_seconds: {g:.2f} s")
    print(f"bench gate_sql_seconds: {s:.2f} s")
    print(f"bench gate_vs_sql_ratio: {g / s:.2f} x")
    if straightforward:
        gate(direct)  # warm-up
        direct_times, sql_times_2 = [], []
        for _ in range(repeat):
            direct_times.append(gate(direct))
            sql_times_2.append(sql())
        d, s2 = statistics.median(direct_times), statistics.median(sql_times_2)
        print(f"bench gate_straightforward_seconds: {d:.2f} s")
        print(f"bench gate_straightforward_vs_sql_ratio: {d / s2:.2f} x")


if __name__ == "__main__":
    main()
