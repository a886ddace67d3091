"""Benchmark the open API on a SYNTHETIC 1,000,000-row published table, against the same queries
run directly with psycopg.

The table has a shape like `fct_points_de_charge` (text key, commune and département codes, a
numeric power, an integer, coordinates, a date, an operator name); every value is synthetic. It is
published with the real `publish_table` in a throw-away database, and the API (`territoire serve`,
uvicorn, one process) reads it through its own read-only role. A loopback load generator (httpx,
asyncio) sends a bounded number of requests, for a bounded time, at 1 and 50 concurrent clients:
- a filtered page of 100 rows (`code_departement__eq` + `puissance_nominale_kw__ge`);
- the first page and a page 900,000 rows deep (keyset cursor), unfiltered;
- a group-by (count and average power per région, whole table).
The reference runs the very SQL the API builds (territoire.api.query) with psycopg, one client, each
query right after the API request it mirrors (`*_paired_c1`); there the API is read through a lean
keep-alive client of the standard library that decodes each JSON body, so that both sides end with
the rows as Python objects. A second reference adds to the SQL the JSON document the API answers
with (`*_sql_json`): the ratio to it is what HTTP and the framework cost. In the load runs, the first
and deep pages are requested in turn, so that a change of the machine's load hits both alike.
Then the whole filtered result is downloaded as CSV, against `COPY (...) TO STDOUT` of the same rows
(plain, and the API's own statement) read by psql, alternated, best of 2 each.

    .venv/bin/python bench/bench_api.py [--rows 1000000] [--requests 200] [--seconds 20]

Targets: filtered page p95 < 50 ms at 1 client; deep page within 2x of the first page; API p50
<= 2x direct SQL; export >= 0.5x COPY TO. The machine's load average is printed: on a shared
machine, latencies move with it.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from territoire import warehouse  # noqa: E402
from territoire.api import formats, query, values  # noqa: E402
from territoire.api.catalog import Column, Table, Version  # noqa: E402
from territoire.api.config import ApiConfig  # noqa: E402
from territoire.api.db import Pool  # noqa: E402
from territoire.api.role import drop_api_role, ensure_api_role, role_url  # noqa: E402
from territoire.datasets import load_datasets  # noqa: E402

DATASET = "bench_points_de_charge"
DATASETS_YML = f"""version: 1
datasets:
  - id: {DATASET}
    title: Points de recharge SYNTHÉTIQUES (benchmark)
    description: Table synthétique d'un million de lignes pour mesurer l'API ; aucune valeur n'est réelle.
    licence: etalab-2.0
    sources: [irve]
    primary_key: [id_pdc_itinerance]
"""
TABLE_SQL = """
create table audit.{table} as
select 'FRSYN' || lpad(g::text, 10, '0') as id_pdc_itinerance,
       d.dep || lpad((g % 500)::text, 3, '0') as code_commune,
       d.dep as code_departement,
       lpad((g % 18 + 1)::text, 2, '0') as code_region,
       (3.7 + (g % 40) * 7)::numeric as puissance_nominale_kw,
       (g % 4 + 1) as nombre_prises,
       (-4.5 + (g % 13000) / 1000.0)::double precision as longitude,
       (42.5 + (g % 8000) / 1000.0)::double precision as latitude,
       (g % 10 <> 0) as coordonnees_verifiees,
       'Opérateur synthétique ' || (g % 50) as nom_operateur,
       (date '2026-01-01' - (g % 400))::date as date_maj
from generate_series(0, {rows} - 1) as g,
     lateral (select lpad((g % 95 + 1)::text, 2, '0') as dep) as d;
"""
DEPARTEMENTS = [f"{n:02d}" for n in range(1, 96)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def build(url: str, rows: int, datasets_path: Path) -> None:
    from territoire.publication.publish import publish_table
    from territoire.quality.gate import ensure_history_tables

    with warehouse.transaction(url) as conn:
        conn.execute(TABLE_SQL.format(table=DATASET, rows=rows))
        ensure_history_tables(conn)
        conn.execute("insert into quality.validation_runs (run_id, dataset_id, started_at, finished_at, verdict, "
                     "checks_total, checks_passed) values ('bench', %s, now(), now(), 'passed', 1, 1)", (DATASET,))
    publish_table(load_datasets(datasets_path)[DATASET], "bench", url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"vacuum analyze published.{DATASET}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(api_url: str, datasets_path: Path, port: int, log: Path) -> subprocess.Popen:
    """The API in its own process; its stderr goes to `log` (a pipe nobody reads could fill and stall it)."""
    env = {**os.environ, "TERRITOIRE_API_DATABASE_URL": api_url, "TERRITOIRE_DATASETS": str(datasets_path),
           "TERRITOIRE_API_RATE": "0", "PYTHONPATH": str(ROOT / "plugins")}
    server = subprocess.Popen([sys.executable, "-m", "territoire.cli", "-q", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    return _ready(server, f"http://127.0.0.1:{port}/api/datasets", log, "the API")


def start_floor(bodies: Path, port: int, log: Path) -> subprocess.Popen:
    """The HTTP floor: this script as a bare Starlette app on uvicorn, answering each file of `bodies`."""
    server = subprocess.Popen([sys.executable, __file__, "--floor-server", str(port), str(bodies)],
                              stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    return _ready(server, f"http://127.0.0.1:{port}/ready", log, "the floor server")


def _ready(server: subprocess.Popen, url: str, log: Path, what: str) -> subprocess.Popen:
    """`server` once `url` answers 200 (at most 60 s); killed otherwise, with its log in the error."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError(f"{what} did not start: {server_log(log)}")


def serve_floor(port: int, bodies: Path) -> None:
    """One route per file of `bodies` answering its bytes as JSON: no middleware, no parameter, no query.
    uvicorn.run as `territoire serve` calls it (httptools and uvloop when installed, logs at warning)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    def answer(body: bytes):
        async def endpoint(request):
            return Response(body, media_type="application/json")
        return endpoint

    routes = [Route(f"/{path.name}", answer(path.read_bytes())) for path in bodies.iterdir()]
    routes.append(Route("/ready", answer(b"{}")))
    uvicorn.run(Starlette(routes=routes), host="127.0.0.1", port=port, log_level="warning")


def server_log(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-3000:]


async def load(base: str, scenarios: dict, concurrency: int, requests: int, seconds: float
               ) -> tuple[dict[str, list[float]], float]:
    """Latencies (ms) per scenario of `requests` GETs sent by `concurrency` clients, the scenarios taken
    in turn (so that a change of the machine's load hits them alike); stops after `seconds`."""
    latencies: dict[str, list[float]] = {name: [] for name in scenarios}
    names = list(scenarios)
    deadline = time.perf_counter() + seconds
    counter = iter(range(requests))

    async def client(http: httpx.AsyncClient):
        for i in counter:
            if time.perf_counter() > deadline:
                return
            name = names[i % len(names)]
            t0 = time.perf_counter()
            response = await http.get(scenarios[name]())
            latencies[name].append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.text[:300]}")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
        for make_path in scenarios.values():  # warm-up: connections, prepared statements, caches
            for _ in range(3):
                await http.get(make_path())
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return latencies, sum(map(len, latencies.values())) / elapsed


class LeanClient:
    """One keep-alive HTTP/1.1 connection of the standard library that reads each body and decodes its
    JSON: the client the API is compared with psycopg through. Both sides then end with the rows as
    Python objects, and the HTTP client's own cost (httpx's is about 1 ms a request here) is not
    counted as the API's."""

    def __init__(self, base: str):
        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)

    def get(self, path: str):
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {body[:300]!r}")
        return json.loads(body)

    def close(self) -> None:
        self.connection.close()


@dataclass
class Paired:
    """Latencies (ms) of one client's rounds: the API, the SQL, the SQL plus the API's JSON, the floor."""
    api: list[float] = field(default_factory=list)
    sql: list[float] = field(default_factory=list)
    sql_json: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)


def api_and_sql(base: str, url: str, make_path, make_statement, requests: int, seconds: float,
                floor: tuple[str, str] | None = None) -> Paired:
    """One client: each API request followed by the same SQL run directly with psycopg on one
    connection, as the API's pool keeps its connections, then (`floor`: base URL and path) the same
    body from the bare floor server. Latencies of the API, of the SQL, of the SQL plus the JSON
    document the API answers with, built the API's way (`json_text`), and of the floor."""
    out = Paired()
    client = LeanClient(base)
    floor_client = LeanClient(floor[0]) if floor else None
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(3):
            client.get(make_path())
            conn.execute(*make_statement()[:2]).fetchall()
            if floor_client:
                floor_client.get(floor[1])
        deadline = time.perf_counter() + seconds
        for _ in range(requests):
            if time.perf_counter() > deadline:
                break
            t0 = time.perf_counter()
            client.get(make_path())
            out.api.append((time.perf_counter() - t0) * 1000)
            statement, params, columns = make_statement()
            t0 = time.perf_counter()
            fetched = conn.execute(statement, params).fetchall()
            t1 = time.perf_counter()
            json_text(columns, fetched)
            out.sql.append((t1 - t0) * 1000)
            out.sql_json.append((time.perf_counter() - t0) * 1000)
            if floor_client:
                t0 = time.perf_counter()
                floor_client.get(floor[1])
                out.floor.append((time.perf_counter() - t0) * 1000)
    client.close()
    if floor_client:
        floor_client.close()
    return out


def json_text(columns: list[Column], fetched: list) -> bytes:
    """The rows as the API's JSON (`territoire.api.values.row_objects`, then `values.dumps` as the API does)."""
    return values.dumps(values.row_objects(columns, fetched), columns)


def table_for_queries(url: str, datasets_path: Path) -> Table:
    """The catalog's view of the table, to build the API's own SQL for the reference."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("select attname, format_type(atttypid, atttypmod), attnotnull from pg_attribute "
                            "where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum",
                            (f"published.{DATASET}",)).fetchall()
    columns = {n: Column(n, t, nn) for n, t, nn in rows}
    return Table(load_datasets(datasets_path)[DATASET], columns, Version(0, None, None))


class Scenarios:
    def __init__(self, table: Table, deep_cursor: str, deep_key: str):
        self.table, self.deep_cursor, self.deep_key = table, deep_cursor, deep_key
        self.config = ApiConfig()
        self.base = f"/api/datasets/{DATASET}"

    def filtered_path(self) -> str:
        return f"{self.base}/rows?code_departement__eq={random.choice(DEPARTEMENTS)}&puissance_nominale_kw__ge=100" \
               "&page_size=100"

    def filtered_sql(self):
        filters = query.parse_filters(self.table, [("code_departement__eq", random.choice(DEPARTEMENTS)),
                                                   ("puissance_nominale_kw__ge", "100")], (), self.config)
        page = query.Page(self.table, list(self.table.columns.values()), query.Sort(None), filters, 100)
        return *query.page_query(page), page.columns

    def first_path(self) -> str:
        return f"{self.base}/rows?page_size=100"

    def deep_path(self) -> str:
        return f"{self.base}/rows?page_size=100&after={self.deep_cursor}"

    def deep_sql(self):
        page = query.Page(self.table, list(self.table.columns.values()), query.Sort(None), [], 100)
        page.after = [self.deep_key]
        return *query.page_query(page), page.columns

    def group_path(self) -> str:
        return f"{self.base}/aggregate?group_by=code_region&agg=count&agg=avg:puissance_nominale_kw"

    def group_sql(self):
        g = query.Grouping(self.table, [self.table.columns["code_region"]],
                           query.parse_aggregates(self.table, ["count", "avg:puissance_nominale_kw"], self.config),
                           [], None, self.config.max_groups)
        # The output as columns of their SQL type, so that `json_text` makes them JSON-ready as the API does.
        output = [Column(c.name, c.pg_type, False) for c in g.group_by]
        output += [Column(a.alias, "bigint" if a.function == "count" else "numeric", False) for a in g.aggregates]
        return *query.grouping_query(g), output


def report(name: str, api: list[float], rps: float | None = None, target: str = "") -> None:
    p50, p95 = statistics.median(api), percentile(api, 0.95)
    print(f"bench api_{name}_requests: {len(api)} requests")
    print(f"bench api_{name}_p50: {p50:.2f} ms")
    print(f"bench api_{name}_p95: {p95:.2f} ms{target}")
    if rps is not None:
        print(f"bench api_{name}_throughput: {rps:.1f} requests/s (all scenarios of the run)")


def report_paired(name: str, paired: Paired, target: str = "") -> None:
    report(name, paired.api, target=target)
    p50, s50, j50 = (statistics.median(x) for x in (paired.api, paired.sql, paired.sql_json))
    print(f"bench api_{name}_sql_p50: {s50:.2f} ms")
    print(f"bench api_{name}_vs_sql_p50_ratio: {p50 / s50:.2f} x (target <= 2)")
    print(f"bench api_{name}_sql_json_p50: {j50:.2f} ms (the SQL, then the same rows as the API's JSON)")
    print(f"bench api_{name}_vs_sql_json_p50_ratio: {p50 / j50:.2f} x (what HTTP and the framework cost)")
    if paired.floor:
        f50 = statistics.median(paired.floor)
        print(f"bench api_{name}_http_floor_p50: {f50:.2f} ms (the same body from a bare Starlette endpoint)")
        print(f"bench api_{name}_floor_plus_sql_vs_sql_ratio: {(f50 + s50) / s50:.2f} x "
              "(the least an API over HTTP can reach against this SQL)")
        print(f"bench api_{name}_vs_floor_plus_sql_p50_ratio: {p50 / (f50 + s50):.2f} x "
              "(what the API adds to HTTP and the SQL)")


def download_rate(path: str) -> tuple[int, float]:
    """(rows, rows/s) of a CSV download from the API."""
    t0 = time.perf_counter()
    lines = 0
    with httpx.stream("GET", path, timeout=600) as response:
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\n")
    return lines - 1, (lines - 1) / (time.perf_counter() - t0)


def copy_rate(url: str, statement, params) -> float:
    """rows/s of `COPY ... TO STDOUT` as fast as a client can read it: psql (C) writing to a pipe read
    in 1 MiB blocks; psycopg's row-by-row reader when psql is not installed."""
    with psycopg.connect(url) as conn:
        text = psycopg.ClientCursor(conn).mogrify(statement, params)
    t0 = time.perf_counter()
    lines = 0
    psql = shutil.which("psql")
    if psql:
        with subprocess.Popen([psql, "-X", "-q", "-d", url, "-c", text], stdout=subprocess.PIPE) as proc:
            while block := proc.stdout.read(1 << 20):
                lines += block.count(b"\n")
    else:
        with psycopg.connect(url) as conn, conn.cursor() as cur, cur.copy(text) as copy:
            for data in copy:
                lines += bytes(data).count(b"\n")
    return (lines - 1) / (time.perf_counter() - t0)


def export_vs_copy(base: str, url: str, table: Table, repeat: int = 2) -> None:
    """The API's CSV download against COPY of the same rows, alternated, best of `repeat` each."""
    path = f"{base}/api/datasets/{DATASET}/export?format=csv&coordonnees_verifiees__eq=true"
    filters = query.parse_filters(table, [("coordonnees_verifiees__eq", "true")], (), ApiConfig())
    columns = list(table.columns.values())
    select, params = query.export_query(table, columns, query.Sort(None), filters)
    plain = psycopg.sql.SQL("copy ({}) to stdout with (format csv, header)").format(select)
    # The API's own statement: booleans as true/false, the formula guard on the text columns that
    # hold a formula-like cell (none in this synthetic table, as in most).
    pool = Pool(url, 1)
    guarded = formats.FormulaColumns(pool).of(table)
    pool.close()
    safe, safe_params = formats.Export(None, table, columns, query.Sort(None), filters, 0, guarded).csv_statement()
    api, copy, copy_safe = [], [], []
    for _ in range(repeat):
        rows, rate = download_rate(path)
        api.append(rate)
        copy.append(copy_rate(url, plain, params))
        copy_safe.append(copy_rate(url, safe, safe_params))
    print(f"bench api_export_rows: {rows} rows")
    print(f"bench api_export_rows_per_s: {max(api):,.0f} rows/s".replace(",", " "))
    print(f"bench api_copy_to_rows_per_s: {max(copy):,.0f} rows/s".replace(",", " "))
    print(f"bench api_export_vs_copy_ratio: {max(api) / max(copy):.2f} x (target >= 0.5)")
    print(f"bench api_copy_to_same_statement_rows_per_s: {max(copy_safe):,.0f} rows/s".replace(",", " "))
    print(f"bench api_export_vs_copy_same_statement_ratio: {max(api) / max(copy_safe):.2f} x "
          "(COPY of the API's own statement: what HTTP and Python cost)")


def run(url: str, tmp: Path, args) -> None:
    datasets_path = tmp / "datasets.yml"
    datasets_path.write_text(DATASETS_YML, encoding="utf-8")
    t0 = time.perf_counter()
    build(url, args.rows, datasets_path)
    print(f"bench api_table_rows: {args.rows} rows (synthetic)")
    print(f"bench api_table_build_seconds: {time.perf_counter() - t0:.1f} s")
    role = ensure_api_role(url, role=f"territoire_api_bench_{uuid.uuid4().hex[:6]}")
    port = free_port()
    log = tmp / "server.log"
    server = start_server(role_url(url, role), datasets_path, port, log)
    try:
        measure(url, datasets_path, f"http://127.0.0.1:{port}", tmp, args)
    except Exception:
        state = "running" if server.poll() is None else f"exited with {server.returncode}"
        print(f"the API server ({state}) wrote:\n{server_log(log)}", file=sys.stderr)
        raise
    finally:
        server.terminate()
        server.wait(timeout=30)
        drop_api_role(url, role)


def floor_bodies(base: str, scenarios: Scenarios, directory: Path) -> None:
    """The API's own answers to the paired scenarios, written for the floor server to answer."""
    directory.mkdir()
    for name, path in (("filtered", scenarios.filtered_path()), ("deep", scenarios.deep_path()),
                       ("group", scenarios.group_path())):
        response = httpx.get(base + path, timeout=120)
        response.raise_for_status()
        (directory / name).write_bytes(response.content)


def measure(url: str, datasets_path: Path, base: str, tmp: Path, args) -> None:
    table = table_for_queries(url, datasets_path)
    with psycopg.connect(url) as conn:
        deep_key = conn.execute(f"select id_pdc_itinerance from published.{DATASET} order by 1 offset %s limit 1",
                                (int(args.rows * 0.9) - 1,)).fetchone()[0]
    s = Scenarios(table, query.encode_cursor([deep_key]), deep_key)
    floor_bodies(base, s, tmp / "floor")
    port = free_port()
    floor_server = start_floor(tmp / "floor", port, tmp / "floor.log")
    try:
        paired_runs(url, base, f"http://127.0.0.1:{port}", s, args)
    finally:
        floor_server.terminate()
        floor_server.wait(timeout=30)
    load_runs(base, s, args)
    export_vs_copy(base, url, table)


def paired_runs(url: str, base: str, floor: str, s: Scenarios, args) -> None:
    n, secs = args.requests, args.seconds
    target = " (target < 50 ms at 1 client)"
    paired = api_and_sql(base, url, s.filtered_path, s.filtered_sql, n, secs, (floor, "/filtered"))
    report_paired("filtered_page_paired_c1", paired, target=target)
    paired = api_and_sql(base, url, s.deep_path, s.deep_sql, n, secs, (floor, "/deep"))
    report_paired("deep_page_paired_c1", paired)
    paired = api_and_sql(base, url, s.group_path, s.group_sql, max(10, n // 10), secs, (floor, "/group"))
    report_paired("group_by_paired_c1", paired)


def load_runs(base: str, s: Scenarios, args) -> None:
    n, secs = args.requests, args.seconds
    target = " (target < 50 ms at 1 client)"
    for concurrency in (1, 50):
        suffix = f"c{concurrency}"
        count = n if concurrency == 1 else n * 2
        got, rps = asyncio.run(load(base, {"filtered": s.filtered_path}, concurrency, count, secs))
        report(f"filtered_page_{suffix}", got["filtered"], rps=rps, target=target if concurrency == 1 else "")
        got, rps = asyncio.run(load(base, {"first": s.first_path, "deep": s.deep_path}, concurrency, 2 * count, secs))
        report(f"first_page_{suffix}", got["first"])
        report(f"deep_page_{suffix}", got["deep"], rps=rps)
        print(f"bench api_deep_vs_first_page_p50_ratio_{suffix}: "
              f"{statistics.median(got['deep']) / statistics.median(got['first']):.2f} x (target <= 2)")
        got, rps = asyncio.run(load(base, {"group": s.group_path}, concurrency, max(10, count // 10), secs))
        report(f"group_by_{suffix}", got["group"], rps=rps)


def main() -> None:
    if sys.argv[1:2] == ["--floor-server"]:  # the floor server's own process (start_floor)
        serve_floor(int(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per scenario at 1 client (x2 at 50)")
    parser.add_argument("--seconds", type=float, default=20, help="longest a scenario may run")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    print(f"bench api_load_average_before: {os.getloadavg()[0]:.2f} (1 min, {os.cpu_count()} cores)")
    admin = os.environ.get("BENCH_ADMIN_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    name = f"bench_api_{os.getpid()}_{uuid.uuid4().hex[:4]}"
    url = warehouse.create_database(admin, name)
    warehouse.ensure_schemas(url)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
            run(url, Path(tmp), args)
    finally:
        if not args.keep:
            warehouse.drop_database(admin, name)
    print(f"bench api_load_average_after: {os.getloadavg()[0]:.2f} (1 min, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
