"""Loader benchmark: the platform's Loader vs `psql \\copy` vs `pandas.read_csv` + `DataFrame.to_sql`.

    make bench-loader                       # 1,000,000 rows
    .venv/bin/python bench/bench_loader.py --rows 200000 --skip-pandas
    .venv/bin/python bench/bench_loader.py --scale5   # also 5,000,000 rows (loader + psql), for memory flatness
    .venv/bin/python bench/bench_loader.py --bad-rows-mb 200 --rows 0   # only the all-rows-bad file, 200 MB

The input is SYNTHETIC (generated here, seeded): it is shaped like the Enedis file "consommation annuelle
résidentielle par adresse" (`;` delimiter, CP1252, decimal commas, a few accented names) but every value
is made up. Each method runs in a child process of its own so that its peak memory (RSS high-water mark,
VmHWM from /proc while it runs) is its own. Everything goes into a scratch database created on WAREHOUSE_URL's server
(default 127.0.0.1:5432) and dropped at the end. Output: one figure per line, `bench <name>: <value> <unit>`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ADMIN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"

COLUMNS = [
    "annee", "code_iris", "nom_iris", "numero_de_voie", "indice_de_repetition", "type_de_voie", "libelle_de_voie",
    "code_commune", "nom_commune", "segment_de_client", "nombre_de_logements",
    "consommation_annuelle_totale_de_l_adresse_mwh", "consommation_annuelle_moyenne_par_site_de_l_adresse_mwh",
    "consommation_annuelle_moyenne_de_la_commune_mwh", "adresse", "code_epci", "code_departement", "code_region",
    "tri_des_adresses",
]

SCHEMA = {
    "name": "bench-energie-synthetique",
    "title": "Synthetic schema shaped like the Enedis residential consumption file (benchmark only)",
    "fields": [
        {"name": "annee", "type": "integer", "constraints": {"required": True, "minimum": 2011, "maximum": 2030}},
        {"name": "code_iris", "type": "string", "constraints": {"required": True, "pattern": "^[0-9]{9}$"}},
        {"name": "nom_iris", "type": "string"},
        {"name": "numero_de_voie", "type": "number"},
        {"name": "indice_de_repetition", "type": "string", "constraints": {"enum": ["B", "T", "Q", "C", "A"]}},
        {"name": "type_de_voie", "type": "string"},
        {"name": "libelle_de_voie", "type": "string", "constraints": {"required": True}},
        {"name": "code_commune", "type": "string", "constraints": {"required": True, "pattern": "^[0-9]{5}$"}},
        {"name": "nom_commune", "type": "string"},
        {"name": "segment_de_client", "type": "string", "constraints": {"enum": ["RESIDENTIEL"]}},
        {"name": "nombre_de_logements", "type": "integer", "constraints": {"minimum": 0}},
        {"name": "consommation_annuelle_totale_de_l_adresse_mwh", "type": "number", "constraints": {"minimum": 0}},
        {"name": "consommation_annuelle_moyenne_par_site_de_l_adresse_mwh", "type": "number"},
        {"name": "consommation_annuelle_moyenne_de_la_commune_mwh", "type": "number"},
        {"name": "adresse", "type": "string"},
        {"name": "code_epci", "type": "string", "constraints": {"pattern": "^[0-9]{9}$"}},
        {"name": "code_departement", "type": "string"},
        {"name": "code_region", "type": "string"},
        {"name": "tri_des_adresses", "type": "integer", "constraints": {"required": True}},
    ],
    "primaryKey": ["tri_des_adresses"],
}

STREETS = ["SAINT MATHIEU", "SAINT NESTOR", "DES ÉTATS-UNIS", "PROFESSEUR BEAUVISAGE", "JEAN MERMOZ",
           "DU BŒUF", "PAUL CÉZANNE", "MARYSE BASTIÉ", "GÉNÉRAL FRÈRE", "VICTOR DE LAPRADE"]
IRIS = ["Les Alouettes-Bachut", "Grand Trou", "Moulin à Vent", "États-Unis Sud", "Mermoz Nord", "Laënnec"]
TYPES = ["RUE", "AV", "BD", "PL", "CHE", "IMP"]


def generate(path: Path, rows: int, seed: int = 8) -> None:
    """Write the synthetic file (CP1252, `;`, decimal commas). About 140 bytes a row."""
    rnd = random.Random(seed)
    with open(path, "w", encoding="cp1252", newline="") as f:
        f.write(";".join(COLUMNS) + "\r\n")
        buf = []
        for i in range(rows):
            num = rnd.randint(1, 250)
            rep = rnd.choice(["", "", "", "B", "T"])
            street = rnd.choice(STREETS)
            kind = rnd.choice(TYPES)
            total = rnd.randint(10, 400000) / 1000
            buf.append(";".join((
                str(2018 + i % 6), f"6938{rnd.randint(80000, 89999)}", rnd.choice(IRIS), f"{num},0", rep, kind,
                street, "69123", "Lyon", "RESIDENTIEL", str(rnd.randint(1, 200)), f"{total:.3f}".replace(".", ","),
                f"{total / 7:.3f}".replace(".", ","), "2,771", f"{num} {rep} {kind} {street}".replace("  ", " "),
                "200046977", "69", "84", str(i + 1),
            )))
            if len(buf) == 10000:
                f.write("\r\n".join(buf) + "\r\n")
                buf.clear()
        if buf:
            f.write("\r\n".join(buf) + "\r\n")


def generate_bad(path: Path, megabytes: float, seed: int = 9) -> int:
    """Write a SYNTHETIC file of about `megabytes` MB in which EVERY row breaks the schema (the year is
    written in words, the IRIS code has a letter). Returns its rows."""
    rnd = random.Random(seed)
    target, rows = int(megabytes * 1e6), 0
    with open(path, "w", encoding="cp1252", newline="") as f:
        f.write(";".join(COLUMNS) + "\r\n")
        written = 0
        while written < target:
            buf = []
            for _ in range(10000):
                rows += 1
                street = rnd.choice(STREETS)
                buf.append(";".join((
                    "deux mille vingt", f"69A{rnd.randint(100000, 999999)}", rnd.choice(IRIS), "12,0", "", "RUE",
                    street, "69123", "Lyon", "RESIDENTIEL", "3", "1,5", "0,5", "2,771", f"12 RUE {street}",
                    "200046977", "69", "84", str(rows))))
            text = "\r\n".join(buf) + "\r\n"
            f.write(text)
            written += len(text)
    return rows


# ------------------------------------------------------------------------------------------------------
# Children: one method each, run in its own process.

def child_loader(url: str, path: Path, schema_path: Path, bad: bool = False) -> dict:
    from territoire.catalog import Location, Resource
    from territoire.ingest.loader import Loader

    resource = Resource(source_id="bench", name="energie", format="csv",
                        locations={"demo": Location("local", path=str(path))}, schema=str(schema_path))
    last = [0.0]

    def progress(msg: str) -> None:
        # Long loads report as the stream goes; print one line every ~2 s to show it works.
        now = time.monotonic()
        if now - last[0] > 2:
            print(f"  loader progress: {msg}", file=sys.stderr, flush=True)
            last[0] = now

    loader = Loader(url, progress=progress)
    t = time.perf_counter()
    if bad:
        from territoire.ingest.loader import QuarantineThresholdExceeded

        try:
            loader.load(resource, path, force=True, quarantine_threshold=0.05)
        except QuarantineThresholdExceeded:
            pass
        else:
            raise SystemExit("the all-rows-bad file was loaded: the check is broken")
        import psycopg

        with psycopg.connect(url) as conn:
            read, rejected, kept = conn.execute(
                "select rows_read, rows_rejected, (select count(*) from ingest.rejected_rows r "
                "where r.batch_id = b.batch_id) from ingest.load_batches b order by batch_id desc limit 1").fetchone()
        return {"seconds": time.perf_counter() - t, "rows": 0, "rejected": rejected, "read": read, "kept": kept}
    result = loader.load(resource, path, force=True, quarantine_threshold=0.01)
    return {"seconds": time.perf_counter() - t, "rows": result.rows_loaded, "rejected": result.rows_rejected,
            "timings": getattr(result, "timings", {})}


def child_pandas(url: str, path: Path) -> dict:
    import pandas as pd
    import sqlalchemy

    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    t = time.perf_counter()
    df = pd.read_csv(path, sep=";", encoding="cp1252", decimal=",", dtype=str, keep_default_na=False)
    df.to_sql("bench_pandas", engine, schema="raw", if_exists="replace", index=False, chunksize=10000)
    return {"seconds": time.perf_counter() - t, "rows": len(df)}


def _wait_with_peak_rss(proc: subprocess.Popen) -> tuple[int, float]:
    """Wait for `proc`; return its exit status and its peak RSS in MB.

    The RSS high-water mark is read from /proc/<pid>/status (VmHWM) while the child runs: the
    `ru_maxrss` of os.wait4 would include the parent's memory copied at fork, before exec.
    """
    peak_kb = 0
    status_file = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status_file.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    if peak_kb == 0:  # no /proc (or a child too quick to observe): fall back to the rusage figure
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return proc.returncode, peak_kb / 1024


def run_child(method: str, url: str, path: Path, schema_path: Path) -> dict:
    """`method`: loader, loader_bad (the all-rows-bad file: the load must fail), psql or pandas."""
    """Run one method in a child process; its result plus its own peak RSS."""
    if method == "psql":
        cols = ", ".join(f'"{c}" text' for c in COLUMNS)
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("drop table if exists raw.bench_psql")
            conn.execute(f"create table raw.bench_psql ({cols})")
        cmd = ["psql", url, "-v", "ON_ERROR_STOP=1", "-qc",
               f"\\copy raw.bench_psql from '{path}' with (format csv, delimiter ';', header true, "
               f"encoding 'WIN1252')"]
        t = time.perf_counter()
        proc = subprocess.Popen(cmd)
        status, peak = _wait_with_peak_rss(proc)
        seconds = time.perf_counter() - t
        if status != 0:
            raise SystemExit(f"psql failed with status {status}")
        with psycopg.connect(url) as conn:
            rows = conn.execute("select count(*) from raw.bench_psql").fetchone()[0]
        return {"seconds": seconds, "rows": rows, "peak_rss_mb": peak}
    out = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
    out.close()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", method, "--url", url, "--file", str(path),
           "--schema", str(schema_path), "--out", out.name]
    proc = subprocess.Popen(cmd)
    status, peak = _wait_with_peak_rss(proc)
    if status != 0:
        raise SystemExit(f"{method} child failed with status {status}")
    result = json.loads(Path(out.name).read_text())
    os.unlink(out.name)
    result["peak_rss_mb"] = peak
    return result


def figure(name: str, value: float, unit: str) -> None:
    print(f"bench {name}: {value:.{0 if value >= 100 else 2}f} {unit}", flush=True)


def run(rows: int, admin_url: str, workdir: Path, methods: list[str], label: str) -> dict:

    from territoire import warehouse

    path = workdir / f"energie_synthetique_{rows}.csv"
    if not path.exists():
        t = time.perf_counter()
        generate(path, rows)
        print(f"  generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s",
              file=sys.stderr)
    schema_path, db, url = scratch_setup(workdir, admin_url)
    results = {}
    try:
        warehouse.ensure_schemas(url)
        for method in methods:
            r = run_child(method, url, path, schema_path)
            results[method] = r
            if r["rows"] != rows and method != "loader":
                raise SystemExit(f"{method} loaded {r['rows']} rows, expected {rows}")
            if method == "loader" and r["rows"] + r.get("rejected", 0) != rows:
                raise SystemExit(f"loader loaded {r['rows']} + rejected {r['rejected']}, expected {rows}")
            figure(f"{label}{method}_rows_per_s", rows / r["seconds"], "rows/s")
            figure(f"{label}{method}_seconds", r["seconds"], "s")
            figure(f"{label}{method}_peak_rss", r["peak_rss_mb"], "MB")
            for k, v in (r.get("timings") or {}).items():
                figure(f"{label}{method}_phase_{k}", v, "s")
    finally:
        warehouse.drop_database(admin_url, db)
    if "loader" in results and "psql" in results:
        figure(f"{label}loader_vs_psql_copy", results["psql"]["seconds"] / results["loader"]["seconds"], "x")
    if "loader" in results and "pandas" in results:
        figure(f"{label}loader_vs_pandas_to_sql", results["pandas"]["seconds"] / results["loader"]["seconds"], "x")
    return results


def run_bad(megabytes: float, admin_url: str, workdir: Path) -> None:
    """The loader on a file where every row is bad: its peak memory must stay flat (< 300 MB at 200 MB),
    the load must stop and the quarantine keep the content of at most 1,000 rows per column and rule."""

    from territoire import warehouse

    path = workdir / f"energie_synthetique_toutes_lignes_fausses_{megabytes:g}mb.csv"
    rows = generate_bad(path, megabytes)
    print(f"  generated {path} ({path.stat().st_size / 1e6:.0f} MB, {rows:,} rows, all bad; synthetic)",
          file=sys.stderr)
    schema_path, db, url = scratch_setup(workdir, admin_url)
    try:
        warehouse.ensure_schemas(url)
        r = run_child("loader_bad", url, path, schema_path)
    finally:
        warehouse.drop_database(admin_url, db)
    figure("loader_bad_rows_file_size", path.stat().st_size / 1e6, "MB (synthetic, every row bad)")
    figure("loader_bad_rows_peak_rss", r["peak_rss_mb"], "MB")
    figure("loader_bad_rows_seconds", r["seconds"], "s")
    figure("loader_bad_rows_rows_read", r["read"], "rows")
    figure("loader_bad_rows_rows_rejected", r["rejected"], "rows")
    figure("loader_bad_rows_quarantine_rows_kept", r["kept"], "rows")



def scratch_setup(workdir: Path, admin_url: str) -> tuple[Path, str, str]:
    """The synthetic file's schema beside it, and a scratch database on the server: (schema, db, url)."""

    from territoire import warehouse

    schema_path = workdir / "energie_synthetique.schema.json"
    schema_path.write_text(json.dumps(SCHEMA, ensure_ascii=False, indent=1), encoding="utf-8")
    db = f"territoire_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    return schema_path, db, warehouse.create_database(admin_url, db)

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--scale5", action="store_true", help="also run 5x the rows (loader and psql) to check memory")
    ap.add_argument("--skip-pandas", action="store_true")
    ap.add_argument("--bad-rows-mb", type=float, default=200,
                    help="size of the all-rows-bad file (bench loader_bad_rows_peak_rss); 0 skips it")
    ap.add_argument("--workdir", type=Path, help="where the generated files go (default: a temp dir, removed)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--schema", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        result = child_loader(args.url, args.file, args.schema, bad=args.child == "loader_bad") \
            if args.child.startswith("loader") else child_pandas(args.url, args.file)
        Path(args.out).write_text(json.dumps(result))
        return 0

    from territoire import warehouse

    url = os.environ.get("WAREHOUSE_URL")
    admin_url = ADMIN_DEFAULT
    if url:
        p = warehouse.parse_url(url)
        admin_url = warehouse.ConnectionParts(p.host, p.port, p.user, p.password, "postgres").url()
    methods = ["loader", "psql"] + ([] if args.skip_pandas else ["pandas"])
    with tempfile.TemporaryDirectory(prefix="territoire-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        first = run(args.rows, admin_url, workdir, methods, "") if args.rows else None
        if args.bad_rows_mb:
            run_bad(args.bad_rows_mb, admin_url, workdir)
        if args.scale5 and first:
            big = run(args.rows * 5, admin_url, workdir, ["loader", "psql"], "x5_")
            figure("loader_peak_rss_growth_x5", big["loader"]["peak_rss_mb"] / first["loader"]["peak_rss_mb"], "x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
