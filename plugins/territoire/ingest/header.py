"""The match stage: does the file's header fit its schema and its raw table?

* PostgreSQL's 1,600-column limit: a clear error naming the file instead of a failed CREATE TABLE.
* A label repeated in the header: reported with its positions (the columns get distinct names).
* Schema match: a file carrying none of its schema's fields, or fewer than the share the catalog sets
  (`min_schema_fields`, default: any one), is refused, with how many fields were found and the closest
  header names (did-you-mean).
* Header drift: a schema field matched only after normalisation (case, accents, spaces), or a header
  close to a missing field (a renamed column), is a warning kept in the batch's `details.header_warnings`.
* A file is never loaded over a raw table whose columns it does not share.
"""

from __future__ import annotations

import difflib

from territoire.ingest.ledger import table_exists
from territoire.ingest.run import LoadRun
from territoire.naming import normalise_column, quote_ident

MAX_COLUMNS = 1600 - 3  # PostgreSQL's limit, less the loader's _batch_id, _line_number, _loaded_at


class HeaderError(ValueError):
    """The header cannot be loaded as it is; the message names the file, line 1 and what to do."""


def check_width(run: LoadRun) -> None:
    width = len(run.staged.columns)
    if width > MAX_COLUMNS:
        raise HeaderError(f"{run.where}: line 1: {width} columns, more than the {MAX_COLUMNS} a PostgreSQL table "
                          f"can hold beside the loader's own. Split the file into several resources, or publish it "
                          f"in long format (one row per variable).")


def repeated_labels(headers: list[str]) -> dict[str, list[int]]:
    """Labels written more than once in a header, with their 1-based positions."""
    positions: dict[str, list[int]] = {}
    for i, h in enumerate(headers, start=1):
        positions.setdefault(h, []).append(i)
    return {h: p for h, p in positions.items() if len(p) > 1 and h.strip()}


def check_repeats(run: LoadRun) -> None:
    for label, positions in repeated_labels(run.staged.headers).items():
        names = [run.staged.columns[p - 1] for p in positions]
        run.warnings.append({"kind": "repeated-label", "label": label, "positions": positions, "columns": names,
                             "message": f"l'en-tête « {label} » apparaît {len(positions)} fois (colonnes "
                                        f"{', '.join(map(str, positions))}) ; chargées sous les noms "
                                        f"{', '.join(names)} : donner un nom distinct à chaque colonne"})
        run.progress.say(f"header: {label!r} repeated at columns {', '.join(map(str, positions))}")


def min_schema_fields(run: LoadRun) -> float:
    """The share of the schema's fields a file must carry (catalog option `min_schema_fields`)."""
    share = run.resource.options.get("min_schema_fields")
    return float(share) if share is not None else 0.0


def did_you_mean(run: LoadRun) -> str:
    """How many schema fields the header carries, and the header names closest to the missing ones."""
    schema, columns = run.schema, run.staged.columns
    found = [f for f in schema.fields if f.column in set(columns)]
    missing = [f.name for f in schema.fields if f not in found]
    # Only the header names no schema field took are candidates.
    free = {h: c for h, c in zip(run.staged.headers, columns, strict=True) if schema.field_for_column(c) is None}
    by_column = {c: h for h, c in free.items()}
    hints = []
    for name in missing[:8]:
        close = difflib.get_close_matches(name, list(free), n=1, cutoff=0.6) or [
            by_column[c] for c in difflib.get_close_matches(normalise_column(name, 0), list(by_column), n=1,
                                                            cutoff=0.6)]
        if close:
            hints.append(f"{name} ? (en-tête « {close[0]} »)")
    return (f"The header carries {len(found)} of the {len(schema.fields)} fields of the schema."
            + (f" Did you mean: {'; '.join(hints)}." if hints else ""))


def check_schema_match(run: LoadRun) -> None:
    schema, columns = run.schema, run.staged.columns
    if schema is None or not schema.fields:
        return
    found = [f for f in schema.fields if f.column in set(columns)]
    share = min_schema_fields(run)
    if found and len(found) >= share * len(schema.fields):
        return
    need = f"at least {share:.0%}" if share else "at least one"
    raise HeaderError(
        f"{run.where}: line 1: the file does not match schema {run.resource.schema} ({need} of its fields "
        f"expected). {did_you_mean(run)} Header: {', '.join(run.staged.headers[:12])}"
        f"{'…' if len(run.staged.headers) > 12 else ''}. Check that the file is the one the source publishes, "
        f"or the schema declared in the catalog.")


def check_drift(run: LoadRun) -> None:
    """Schema fields written otherwise in the header (matched after normalisation), and headers close
    to a field the file lacks (a renamed column): warnings, the load goes on."""
    schema = run.schema
    if schema is None:
        return
    by_column = dict(zip(run.staged.columns, run.staged.headers, strict=True))
    for f in schema.fields:
        written = by_column.get(f.column)
        if written is not None and written != f.name:
            run.warnings.append({"kind": "header-drift", "field": f.name, "header": written,
                                 "message": f"la colonne « {written} » est lue comme le champ « {f.name} » du "
                                            f"schéma (casse, accents ou espaces différents) ; écrire « {f.name} »"})
    unknown = [h for c, h in by_column.items() if schema.field_for_column(c) is None]
    for f in schema.fields:
        if f.column in by_column:
            continue
        close = difflib.get_close_matches(f.name, unknown, n=1, cutoff=0.75)
        if close:
            run.warnings.append({"kind": "header-renamed", "field": f.name, "header": close[0],
                                 "message": f"le champ « {f.name} » du schéma manque ; la colonne « {close[0]} » "
                                            f"est-elle ce champ renommé ? Reprendre le nom du schéma"})


def check_raw_table(run: LoadRun) -> None:
    """Refuse a file that shares no column with the raw table it would replace (another file, mixed up)."""
    if run.force or not table_exists(run.conn, "raw", run.table):
        return
    existing = {name for (name,) in run.conn.execute(
        "select attname from pg_attribute where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped "
        "and attname not like '\\_%%'", (f"raw.{quote_ident(run.table)}",)).fetchall()}
    if existing and not existing & set(run.staged.columns):
        sample = ", ".join(sorted(existing)[:8])
        raise HeaderError(f"{run.where}: line 1: the file shares no column with raw.{run.table} ({sample}…): it "
                          f"is not a new version of the same data. Check the source's URL or the file given; "
                          f"to replace the table on purpose, load it with --force.")
