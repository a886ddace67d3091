"""The territorial warehouse builds on the real samples and harmonises their geography.

One fresh database: every demo resource of the catalog is loaded with the Loader (the GTFS feed
through `extract_feed`, one raw table per file), then the demo feed's stops, trips and stop times are
replaced by those of a tiny hand-made SYNTHETIC feed placed in Belfort (the demo feed's stops are in
Belfort too: their departures would blur the values computed by hand),
`dbt build` runs once, then the assertions read the marts. Expected values are computed from the
sample files or by hand from the hand-made feed, never read back from the warehouse.
"""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path

import psycopg
import pytest
from demo_loading import load_demo

from territoire import dbt, settings, warehouse
from territoire.catalog import load_catalog
from territoire.ingest.loader import Loader
from territoire.naming import raw_table

pytestmark = pytest.mark.integration

SAMPLES = settings.PROJECT_ROOT / "data" / "samples"


def read_csv(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


@pytest.fixture(scope="module")
def built(tmp_path_factory, admin_url):
    """A warehouse with every demo resource loaded and `dbt build` run, shared by this module's tests.

    Like the `fresh_database` fixture of tests/conftest.py, but module-scoped: the build
    takes about a minute and every test reads the same result. dbt writes to a target folder of its
    own so that parallel dbt runs in the checkout do not collide.
    """
    name = f"territoire_t_{uuid.uuid4().hex[:10]}"
    url = warehouse.create_database(admin_url, name)
    warehouse.ensure_schemas(url)
    target = tmp_path_factory.mktemp("dbt_target")
    loaded = load_demo(url)
    add_hand_made_feed(url, tmp_path_factory.mktemp("feed"))
    proc = dbt.run(["build"], url, capture=True, target_path=target)
    yield url, loaded, proc.stdout
    warehouse.drop_database(admin_url, name)


def query(url: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_every_demo_resource_is_loaded_and_the_build_passes(built):
    url, loaded, stdout = built
    catalog = load_catalog()
    expected = {r.raw_table for s in catalog for r in s.resources if r.format != "gtfs"}
    assert expected <= set(loaded)
    assert {"transport__stops", "transport__stop_times", "transport__trips"} <= set(loaded)
    assert all(rows > 0 for rows in loaded.values())
    assert "ERROR=0" in stdout
    # every fact and the mart exist and are not empty
    for table in ("fct_consommation_electrique", "fct_points_de_charge", "fct_arrets_transport",
                  "fct_departs_transport", "fct_tonnages_dechets", "fct_budgets_communes",
                  "fct_mesures_qualite_air", "fct_comptages_velo", "fct_subventions", "indicateurs_territoriaux"):
        assert query(url, f"select count(*) from audit.{table}")[0][0] > 0, table


def test_a_merged_commune_old_code_lands_on_the_current_commune(built):
    url = built[0]
    # Magny (57429) was merged into Metz (57463) in 1961 (mouvements-communes.csv, event 31);
    # the IRVE sample still uses 57429. Seynod (74268) became a delegated commune of Annecy (74010) in 2017.
    mouvements = read_csv(SAMPLES / "territorial/insee_cog_2026/mouvements-communes.csv")
    assert any(m["COM_AV"] == "57429" and m["COM_AP"] == "57463" and m["MOD"] == "31" for m in mouvements)
    irve = read_csv(SAMPLES / "irve/consolidated_extract_tesla_2024-12.csv")
    for old, new in (("57429", "57463"), ("74268", "74010")):
        in_file = sum(1 for r in irve if r["code_insee_commune"] == old)
        assert in_file > 0
        rows = query(url, "select code_commune, count(*) from audit.fct_points_de_charge "
                          "where code_commune_source = %s group by 1", (old,))
        assert rows == [(new, in_file)]
    assert query(url, "select code_commune, methode from intermediate.int_communes_mapped "
                      "where code_commune_source = '57429'") == [("57463", "historique")]
    # and Lyon's IRIS arrondissement codes (69388...) land on Lyon 69123
    assert query(url, "select distinct code_commune from audit.fct_consommation_electrique") == [("69123",)]
    # no charging point is lost by the join
    assert query(url, "select count(*) from audit.fct_points_de_charge")[0][0] == len(irve)


def test_unresolved_codes_are_reported_with_their_reason(built):
    url, _, stdout = built
    collectivites = {r["code_collectivite"] for r in read_csv(SAMPLES / "territorial/insee_cog_2026/collectivites-outremer.csv")}
    sinoe = read_csv(SAMPLES / "waste/sinoe_tonnage_decheteries_par_type_dechet_par_dept.csv")
    overseas = {r["C_DEPT"] for r in sinoe if r["C_DEPT"] in collectivites}
    assert overseas  # 977, 978, 987, 988 in the real file
    reported = query(url, "select code, motif, nombre_lignes from audit.territoire_codes_non_resolus "
                          "where source = 'sinoe'")
    assert {(c, m) for c, m, _ in reported} == {(c, "collectivite_outre_mer") for c in overseas}
    assert sum(n for *_, n in reported) == sum(1 for r in sinoe if r["C_DEPT"] in overseas)
    # the rows stay in the fact, with no département
    assert query(url, "select count(*) from audit.fct_tonnages_dechets where code_departement is null")[0][0] \
        == sum(1 for r in sinoe if r["C_DEPT"] in overseas)
    assert "WARN" in stdout and "assert_codes_territoriaux_resolus" in stdout


def test_stations_aggregate_their_charging_points(built):
    url = built[0]
    irve = read_csv(SAMPLES / "irve/consolidated_extract_tesla_2024-12.csv")
    stations: dict[str, list[dict[str, str]]] = {}
    for row in irve:
        stations.setdefault(row["id_station_itinerance"], []).append(row)
    got = {r[0]: r[1:] for r in query(
        url, "select id_station_itinerance, nombre_points_de_charge, puissance_totale_kw::float, "
             "puissance_maximale_kw::float, longitude, latitude, coordonnees_concordantes "
             "from audit.fct_stations_recharge")}
    assert set(got) == set(stations)
    for station, points in stations.items():
        powers = [float(p["puissance_nominale"]) for p in points]
        positions = {(p["consolidated_longitude"], p["consolidated_latitude"]) for p in points}
        count, total, highest, lon, lat, agree = got[station]
        assert (count, total, highest) == (len(points), pytest.approx(sum(powers)), max(powers)), station
        assert agree == (len(positions) == 1), station
        if agree:
            (x, y), = positions
            assert (lon, lat) == (pytest.approx(float(x)), pytest.approx(float(y))), station
        else:
            assert (lon, lat) == (None, None), station
    # the sample has a station whose points give two positions (the two sides of a service area)
    assert any(not agree for *_, agree in got.values())
    # the station lies in the current commune of its points (Seynod 74268 -> Annecy 74010)
    seynod = {r["id_station_itinerance"] for r in irve if r["code_insee_commune"] == "74268"}
    assert seynod
    assert query(url, "select distinct code_commune from audit.fct_stations_recharge "
                      "where id_station_itinerance = any(%s)", (list(seynod),)) == [("74010",)]


def laea_area_km2(geometry: dict) -> float:
    """Area of a GeoJSON (Multi)Polygon, computed independently of the warehouse: Lambert azimuthal
    equal-area projection centred on the polygon, on the authalic sphere (the warehouse uses the
    sinusoidal projection on the ellipsoid: the two differ by about 0.3 % at French latitudes), outer
    ring minus holes by their rank in the GeoJSON."""
    import math

    radius = 6371.0072  # authalic radius of GRS80, km
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    points = [p for polygon in polygons for p in polygon[0]]
    lon0 = math.radians(sum(p[0] for p in points) / len(points))
    lat0 = math.radians(sum(p[1] for p in points) / len(points))

    def project(lon: float, lat: float) -> tuple[float, float]:
        lam, phi = math.radians(lon) - lon0, math.radians(lat)
        k = math.sqrt(2 / (1 + math.sin(lat0) * math.sin(phi) + math.cos(lat0) * math.cos(phi) * math.cos(lam)))
        return (radius * k * math.cos(phi) * math.sin(lam),
                radius * k * (math.cos(lat0) * math.sin(phi) - math.sin(lat0) * math.cos(phi) * math.cos(lam)))

    total = 0.0
    for polygon in polygons:
        for rank, ring in enumerate(polygon):
            xy = [project(*p[:2]) for p in ring]
            area = abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(xy, xy[1:], strict=False))) / 2
            total += area if rank == 0 else -area
    return total


def test_areas_come_from_the_contours_holes_subtracted(built):
    url = built[0]
    folder = SAMPLES / "territorial/ign_adminexpress_cog2018"
    communes = json.loads((folder / "communes-90-territoire-de-belfort.geojson").read_text(encoding="utf-8"))
    belfort = next(f["geometry"] for f in communes["features"] if f["properties"]["code"] == "90010")
    (area,) = query(url, "select superficie_km2::float from audit.dim_territoire where code_commune = '90010'")[0]
    assert area == pytest.approx(laea_area_km2(belfort), rel=0.006)
    assert area == pytest.approx(17.1, rel=0.02)  # INSEE: 17.1 km² (other contours than IGN's 2018 ones)
    # Bouches-du-Rhône (the étang de Berre) and Drôme (the Enclave des papes) have holes in the
    # sample: 3 % and 2 % of their area, which the tolerance would not absorb if they were counted
    departements = json.loads((folder / "departements-version-simplifiee.geojson").read_text(encoding="utf-8"))
    for feature in departements["features"]:
        if feature["properties"]["code"] in ("13", "26"):
            geometry = feature["geometry"]
            polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
            assert any(len(polygon) > 1 for polygon in polygons)  # the hole is there
            (got,) = query(url, "select superficie_km2::float from audit.dim_departement where code_departement = %s",
                           (feature["properties"]["code"],))[0]
            assert got == pytest.approx(laea_area_km2(feature["geometry"]), rel=0.006)
    # no contour, no area: communes outside Territoire de Belfort, overseas départements
    assert query(url, "select count(*) filter (where superficie_km2 is not null), "
                      "count(*) filter (where superficie_km2 is not null and code_departement <> '90') "
                      "from audit.dim_territoire") == [(
        query(url, "select count(*) from audit.dim_territoire where code_departement = '90'")[0][0], 0)]
    assert query(url, "select superficie_km2 from audit.dim_departement where code_departement = '971'") == [(None,)]


def write_feed(folder: Path) -> dict[str, Path]:
    """A tiny SYNTHETIC GTFS feed: 3 stops in Belfort (90010) and 1 at sea; one route, three trips.

    Service HM_SEM runs Monday-Friday (5 days a week). Trips HM_T1 and HM_T2 serve 3 stops each, so 2
    boarding departures each (the terminus has none): 2 trips x 2 departures x 5 days = 20 departures a
    week, all in Belfort. Trip HM_T3 (service HM_DIM, Sundays) only calls at the stop at sea.
    """
    files = {
        "agency": "agency_id,agency_name,agency_url,agency_timezone\nHM,Réseau fictif,https://example.org,Europe/Paris\n",
        "stops": "stop_id,stop_name,stop_lat,stop_lon,location_type\n"
                 "HM_B1,Fictif 1,47.6380,6.8600,0\nHM_B2,Fictif 2,47.6390,6.8650,0\nHM_B3,Fictif 3,47.6400,6.8620,0\n"
                 "HM_MER,En mer,43.0000,5.0000,0\n",
        "routes": "route_id,agency_id,route_short_name,route_long_name,route_type\nHM_R,HM,1,Ligne fictive,3\n",
        "trips": "route_id,service_id,trip_id\nHM_R,HM_SEM,HM_T1\nHM_R,HM_SEM,HM_T2\nHM_R,HM_DIM,HM_T3\n",
        "stop_times": "trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type\n"
                      "HM_T1,08:00:00,08:00:00,HM_B1,1,0\nHM_T1,08:05:00,08:05:00,HM_B2,2,0\n"
                      "HM_T1,08:10:00,08:10:00,HM_B3,3,0\nHM_T2,24:10:00,24:10:00,HM_B3,1,0\n"
                      "HM_T2,24:15:00,24:15:00,HM_B2,2,0\nHM_T2,24:20:00,24:20:00,HM_B1,3,0\n"
                      "HM_T3,09:00:00,09:00:00,HM_MER,1,0\nHM_T3,09:30:00,09:30:00,HM_MER,2,0\n",
        "calendar": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
                    "HM_SEM,1,1,1,1,1,0,0,20260105,20261231\nHM_DIM,0,0,0,0,0,0,1,20260104,20261227\n",
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for stem, text in files.items():
        paths[stem] = folder / f"{stem}.txt"
        paths[stem].write_text(text, encoding="utf-8")
    return paths


def add_hand_made_feed(url: str, folder: Path) -> None:
    """Load each hand-made file with the Loader into a side table, then append its rows to the demo
    feed's raw table (same columns by name; the others stay null). The demo feed's stops, trips and
    stop times are removed first, so that every stop and departure in the marts is the hand-made
    feed's; its agency, routes and calendars stay (nothing refers to them any more)."""
    resource = load_catalog().get("transport").resource("gtfs")
    loader = Loader(url)
    with psycopg.connect(url) as conn:
        for stem in ("stop_times", "trips", "stops"):
            conn.execute(f'delete from raw."{raw_table("transport", stem)}"')
    for stem, path in write_feed(folder).items():
        table = raw_table("transport", stem)
        side = f"{table}__hand_made"
        loader.load(resource, path, table=side, fmt="csv")
        with psycopg.connect(url) as conn:
            cols = [r[0] for r in conn.execute(
                "select column_name from information_schema.columns where table_schema = 'raw' "
                "and table_name = %s and column_name in (select column_name from information_schema.columns "
                "where table_schema = 'raw' and table_name = %s)", (table, side))]
            col_list = ", ".join(f'"{c}"' for c in cols)
            conn.execute(f'insert into raw."{table}" ({col_list}) select {col_list} from raw."{side}"')
            conn.execute(f'drop table raw."{side}"')


def test_transport_indicators_equal_the_values_computed_by_hand(built):
    url = built[0]
    populations = read_csv(SAMPLES / "territorial/insee_population_legale/donnees_communes.csv", ";")
    population = next(int(r["PMUN"]) for r in populations if r["COM"] == "90010")
    stops = dict(query(url, "select stop_id, coalesce(code_commune, '-') from audit.fct_arrets_transport "
                            "where left(stop_id, 3) = 'HM_'"))
    assert stops == {"HM_B1": "90010", "HM_B2": "90010", "HM_B3": "90010", "HM_MER": "-"}

    values = dict(query(url, "select indicateur, valeur::float from audit.indicateurs_territoriaux "
                             "where niveau = 'commune' and code_territoire = '90010' and source = 'transport'"))
    assert values["arrets_transport_pour_1000_habitants"] == pytest.approx(round(3 * 1000 / population, 4))
    assert values["departs_hebdomadaires_pour_1000_habitants"] == pytest.approx(round(20 * 1000 / population, 4))

    # département 90: the same 3 stops over the département's population; the stop at sea is reported
    dep_population = sum(int(r["PMUN"]) for r in populations if r["DEP"] == "90")
    dep = dict(query(url, "select indicateur, valeur::float from audit.indicateurs_territoriaux "
                          "where niveau = 'departement' and code_territoire = '90' and source = 'transport'"))
    assert dep["arrets_transport_pour_1000_habitants"] == pytest.approx(round(3 * 1000 / dep_population, 4))
    assert query(url, "select motif from audit.territoire_codes_non_resolus "
                      "where source = 'transport' and code = 'HM_MER'") == [("hors_contours",)]


def test_a_mart_rebuild_waits_for_a_publication_in_progress(built, tmp_path):
    """Write-audit-publish holds the dataset's lock from the GX validation to the export
    (`dataset_lock`); dbt's build of that mart (pre-hook `publication_lock()`) waits for it, so what
    is published is exactly what passed the gate."""
    import threading
    import time

    from territoire.publication.publish import dataset_lock

    url = built[0]
    done: dict = {}

    def rebuild():
        done["proc"] = dbt.run(["run", "-s", "dim_region"], url, capture=True, target_path=tmp_path / "target")
        done["at"] = time.monotonic()

    with dataset_lock("dim_region", url):
        worker = threading.Thread(target=rebuild)
        worker.start()
        waiting = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not waiting:
            time.sleep(0.5)
            waiting = query(url, "select count(distinct pid) from pg_locks where locktype = 'transactionid' "
                                "and not granted")[0][0]  # a row lock of ingest.locks
        assert waiting == 1, "dbt's build of dim_region did not wait for the publication lock"
        assert "proc" not in done
        released = time.monotonic()
    worker.join(timeout=120)
    assert done["proc"].returncode == 0 and done["at"] >= released
    assert "PASS=1" in done["proc"].stdout


def test_bike_counts_are_incremental_and_keep_what_left_the_portal_window(built, tmp_path):
    """fct_comptages_velo is incremental (delete+insert on source, counter, period): a new snapshot of
    the Paris file that corrects one hourly count and no longer carries another hour (the portal keeps
    a sliding window) corrects the first and keeps the second. Runs last in this module: it changes the
    raw table, as a reload would (every row gets the new load time)."""
    url = built[0]
    key = "id_compteur, debut_periode"
    before = dict(((c, d), n) for c, d, n in query(
        url, "select id_compteur, debut_periode, comptage from audit.fct_comptages_velo where source = 'velo_paris'"))
    raw = query(url, "select identifiant_du_compteur, date_et_heure_de_comptage, comptage_horaire, _line_number "
                     "from raw.velo_paris__comptages order by _line_number limit 2")
    (gone_counter, gone_hour, _, _), (fixed_counter, fixed_hour, fixed_count, fixed_line) = raw
    corrected = str(int(float(fixed_count)) + 1000)
    [fixed] = query(url, "select id_compteur, debut_periode from staging.stg_velo_paris__comptages "
                         "where ligne_source = %s", (fixed_line,))
    with psycopg.connect(url) as conn:
        conn.execute("delete from raw.velo_paris__comptages where identifiant_du_compteur = %s "
                     "and date_et_heure_de_comptage = %s", (gone_counter, gone_hour))
        conn.execute("update raw.velo_paris__comptages set comptage_horaire = %s where identifiant_du_compteur = %s "
                     "and date_et_heure_de_comptage = %s", (corrected, fixed_counter, fixed_hour))
        conn.execute("update raw.velo_paris__comptages set _loaded_at = clock_timestamp()")
    proc = dbt.run(["build", "-s", "fct_comptages_velo"], url, capture=True, target_path=tmp_path / "target")
    assert "ERROR=0" in proc.stdout
    after = dict(((c, d), n) for c, d, n in query(
        url, f"select {key}, comptage from audit.fct_comptages_velo where source = 'velo_paris'"))
    assert set(after) == set(before)  # the hour that left the file is still here, nothing doubled
    assert after[fixed] == int(corrected) and before[fixed] != after[fixed]
    assert sum(1 for k in after if after[k] != before[k]) == 1
