"""Table Schema validation on ingest, against the schema.data.gouv.fr schemas and their own examples."""

from __future__ import annotations

import pytest
from ingest_helpers import SCHEMAS, fetch_all, make_resource, rejections, write_schema

from territoire.ingest import schema as tableschema
from territoire.ingest.loader import LoadError

pytestmark = pytest.mark.integration

SCDL = SCHEMAS / "scdl_subventions"
IRVE = SCHEMAS / "etalab_schema-irve"


def _load(loader, path, schema, **kw):
    r = make_resource(path, schema=schema)
    return r, loader.load(r, path, quarantine_threshold=1.0, **kw)


def test_scdl_valid_example_has_no_row_error(loader, warehouse_url):
    # The example predates two columns that SCDL 2.1.1 made required: that is a header problem,
    # reported on its own (the load refuses it by default); every one of its 29 rows is valid.
    with pytest.raises(LoadError, match="idServiceInstructeur, descriptionConditionsVersement"):
        _load(loader, SCDL / "exemple_valide.csv", SCDL / "schema.json", strict=True)
    _, result = _load(loader, SCDL / "exemple_valide.csv", SCDL / "schema.json", strict=True, check_header=False)
    assert result.rows_read == 29 and result.rows_rejected == 0 and result.rows_loaded == 29


def test_scdl_invalid_cells_example_gives_the_expected_errors(loader, warehouse_url):
    _, result = _load(loader, SCDL / "exemple_invalide_erreurs_cellules.csv", SCDL / "schema.json", strict=True,
                      check_header=False)
    # Read off the example file (header = line 1), one entry per wrong cell. The schema's Validata custom
    # checks (its SIRETs, rounded by a spreadsheet) are business rules, counted apart below.
    found = rejections(warehouse_url, result.batch_id)
    assert {r for r in found if r[2] not in ("siret", "at_least_one")} == {
        (2, "conditionsversement", "enum"),            # unique;échelonné
        (2, "pourcentagesubvention", "maximum"),       # 100 > 1
        (3, "pourcentagesubvention", "maximum"),       # 80
        (4, "pourcentagesubvention", "maximum"),       # 80
        (5, "dateconvention", "type:date"),            # 05/12/2016
        (5, "rnabeneficiaire", "pattern"),             # W3222
        (6, "montant", "type:number"),                 # "100000,1"
        (6, "notificationue", "enum"),                 # no
        (7, "idattribuant", "pattern"),                # 218601946
        (8, "datesperiodeversement", "pattern"),       # 2017-06-27_2018-06-27
        (8, "notificationue", "enum"),                 # yes
        (9, "pourcentagesubvention", "type:number"),   # "0,5"
        (12, "rnabeneficiaire", "pattern"),            # W12455
        (16, "nature", "enum"),                        # "aide en numéraire,aide en nature"
        (30, "rnabeneficiaire", "pattern"),            # W1234567
    }
    assert len({r for r in found if r[2] == "siret"}) == 33
    assert result.rows_rejected == 29 and result.rows_loaded == 0


def test_scdl_invalid_cells_lenient_accepts_french_forms(loader, warehouse_url):
    _, result = _load(loader, SCDL / "exemple_invalide_erreurs_cellules.csv", SCDL / "schema.json", strict=False,
                      check_header=False)
    found = rejections(warehouse_url, result.batch_id)
    assert (5, "dateconvention", "type:date") not in found and (9, "pourcentagesubvention", "type:number") not in found
    assert (6, "notificationue", "enum") in found
    assert (9, "pourcentagesubvention", "maximum") not in found  # 0,5 read as 0.5


def test_scdl_invalid_columns_example(loader):
    plan = tableschema.build_plan(tableschema.load_schema(SCDL / "schema.json"),
                                  ["idattribuant", "nomattribuant", "nom_beneficiaire", "montant"])
    assert "nomBeneficiaire" in plan.missing_required and "nom_beneficiaire" in plan.extra_columns
    with pytest.raises(LoadError, match=r"line 1: the header lacks required column\(s\) .*nomBeneficiaire"):
        _load(loader, SCDL / "exemple_invalide_erreurs_colonnes.csv", SCDL / "schema.json")


def test_irve_statique_valid_example(loader, warehouse_url):
    r, result = _load(loader, IRVE / "statique_exemple-valide-statique.csv", IRVE / "statique_schema-statique.json",
                      strict=True)
    # The second row is labelled "Exemple invalide (id_station_itinerance et id_pdc_itinerance)": its ids
    # (ESZUNP..., ESZUNE...) do match the schema's pattern; what they break is a custom check of the IRVE
    # validator (ids must agree with each other), outside Table Schema. Both rows pass here.
    assert result.rows_read == 2 and result.rows_rejected == 0
    assert fetch_all(warehouse_url, f'select prise_type_2, coordonneesxy from raw."{r.raw_table}" '
                                    "order by _line_number") == [("true", "[7.48710500,48.345345]")] * 2


def test_formats_geopoint_lengths_and_anchored_patterns(loader, warehouse_url, tmp_path):
    schema = write_schema(tmp_path, [
        {"name": "mail", "type": "string", "format": "email"},
        {"name": "xy", "type": "geopoint", "format": "array"},
        {"name": "code", "type": "string", "constraints": {"pattern": "[0-9]{5}", "minLength": 5, "maxLength": 5}},
        {"name": "site", "type": "string", "format": "uri"},
        {"name": "mois", "type": "yearmonth"},
    ])
    path = tmp_path / "f.csv"
    path.write_text("mail,xy,code,site,mois\n"
                    "a@b.fr,\"[2.35, 48.85]\",75056,https://x.fr,2024-03\n"
                    "pas-un-mail,\"[200, 48.85]\",750561,x.fr,2024-13\n"
                    "c@d.fr,\"2.35, 48.85\",7505,mailto:c@d.fr,2024-01\n", encoding="utf-8")
    _, result = _load(loader, path, schema)
    assert rejections(warehouse_url, result.batch_id) == {
        (3, "mail", "format:email"), (3, "xy", "type:geopoint"), (3, "code", "pattern"), (3, "code", "maxLength"),
        (3, "site", "format:uri"), (3, "mois", "type:yearmonth"),
        (4, "xy", "type:geopoint"), (4, "code", "code-as-number"), (4, "code", "minLength"),  # 7505: 07505?
    }


def test_missing_values_and_declared_separators(loader, warehouse_url, tmp_path):
    schema = write_schema(tmp_path, [
        {"name": "montant", "type": "number", "decimalChar": ",", "groupChar": " "},
        {"name": "n", "type": "integer", "constraints": {"required": True}},
        {"name": "ok", "type": "boolean", "trueValues": ["O"], "falseValues": ["N"]},
    ], missingValues=["", "NA", "-"])
    path = tmp_path / "m.csv"
    path.write_text("montant;n;ok\n1 234,5;1;O\nNA;2;N\n-;NA;O\n", encoding="utf-8")
    r, result = _load(loader, path, schema, strict=True)
    assert rejections(warehouse_url, result.batch_id) == {(4, "n", "required")}
    assert fetch_all(warehouse_url, f'select montant, n, ok from raw."{r.raw_table}" order by _line_number') == [
        ("1234.5", "1", "true"), (None, "2", "false")]


def test_a_pattern_postgresql_cannot_run_is_reported_not_fatal(loader, warehouse_url, tmp_path, messages):
    schema = write_schema(tmp_path, [{"name": "a", "type": "string", "constraints": {"pattern": "\\p{L}+"}}])
    path = tmp_path / "p.csv"
    path.write_text("a\nxy\n", encoding="utf-8")
    _, result = _load(loader, path, schema)
    assert result.rows_loaded == 1
    assert any("check skipped" in m and "\\p{L}+" in m for m in messages)


def test_schema_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"fields": [{"type": "string"}]}')
    with pytest.raises(tableschema.SchemaError, match=r"bad.json: field #1 has no 'name'"):
        tableschema.load_schema(bad)


@pytest.mark.parametrize("rows, expected", [
    (["a;1,5;B", "b;2;A"], set()),                                   # clean: the one-scan check
    ([";1,5;B", "b;2;A"], {(2, "code", "required")}),                # no cast fails: the aggregate must see it
    (["a;-1;B", "b;2;A"], {(2, "valeur", "minimum")}),
    (["a;1;Z", "b;2;A"], {(2, "classe", "enum")}),
    (["a1;1;B", "b;2;A"], {(2, "code", "pattern")}),
    (["a;1 000,5;B", "b;2;A"], set()),                               # thousands separator: detailed path normalises
])
def test_fast_and_detailed_checks_agree(loader, warehouse_url, tmp_path, rows, expected):
    schema = write_schema(tmp_path, [
        {"name": "code", "type": "string", "constraints": {"required": True, "pattern": "[a-z]"}},
        {"name": "valeur", "type": "number", "constraints": {"minimum": 0}},
        {"name": "classe", "type": "string", "constraints": {"enum": ["A", "B"]}},
    ])
    path = tmp_path / "f.csv"
    path.write_text("code;valeur;classe\n" + "\n".join(rows) + "\n", encoding="utf-8")
    r, result = _load(loader, path, schema)
    assert rejections(warehouse_url, result.batch_id) == expected
    (details,), = fetch_all(warehouse_url, "select details from ingest.load_batches where batch_id = %s",
                            (result.batch_id,))
    fast = details["checked_by"].endswith("(clean file)")
    assert fast == (rows[0] == "a;1,5;B")
    loaded = fetch_all(warehouse_url, f'select valeur from raw."{r.raw_table}" order by _line_number')
    assert loaded[-1] == ("2",) and (not fast or loaded[0] == ("1.5",))
    cols = [c for (c,) in fetch_all(warehouse_url, "select column_name from information_schema.columns where "
                                                   "table_schema = 'raw' and table_name = %s order by ordinal_position",
                                    (r.raw_table,))]
    assert cols == ["code", "valeur", "classe", "_batch_id", "_line_number", "_loaded_at"]


@pytest.mark.parametrize("code, mesure, expected", [
    ("01234", "2,5", set()),                                         # clean: the one-scan check
    ("-1234", "2,5", {(2, "insee", "pattern")}),                     # the int8 cast reads a sign...
    ("+1234", "2,5", {(2, "insee", "pattern")}),
    (" 1234", "2,5", {(2, "insee", "pattern")}),                     # ... and spaces
    ("1234 ", "2,5", {(2, "insee", "pattern")}),
    ("123456", "2,5", {(2, "insee", "pattern")}),
    ("1234", "2,5", {(2, "insee", "code-as-number")}),                # a spreadsheet dropped the leading zero
    ("12a45", "2,5", {(2, "insee", "pattern")}),                     # the cast raises: detailed path
    ("01234", "NaN", {(2, "mesure", "type:number")}),                # float8 reads NaN and Infinity
    ("01234", "Infinity", {(2, "mesure", "type:number")}),
    ("01234", "-inf", {(2, "mesure", "type:number")}),
])
def test_fast_check_digit_codes_and_unbounded_numbers(loader, warehouse_url, tmp_path, code, mesure, expected):
    """The one-scan check reads digit codes with an int8 cast and numbers with a float8 cast: what those
    casts tolerate and the detailed check refuses must not be called clean (synthetic rows)."""
    schema = write_schema(tmp_path, [
        {"name": "insee", "type": "string", "constraints": {"required": True, "pattern": "^[0-9]{5}$"}},
        {"name": "mesure", "type": "number"},
        {"name": "siren", "type": "string", "constraints": {"pattern": "^\\d{9}$"}},
    ])
    path = tmp_path / "f.csv"
    path.write_text(f"insee;mesure;siren\n{code};{mesure};012345678\n69123;1,5;200046977\n", encoding="utf-8")
    r, result = _load(loader, path, schema)
    assert rejections(warehouse_url, result.batch_id) == expected
    (details,), = fetch_all(warehouse_url, "select details from ingest.load_batches where batch_id = %s",
                            (result.batch_id,))
    assert details["checked_by"].endswith("(clean file)") == (not expected)
    loaded = fetch_all(warehouse_url, f'select insee, mesure, siren from raw."{r.raw_table}" order by _line_number')
    assert loaded[-1] == ("69123", "1.5", "200046977")
    if not expected:
        assert loaded[0] == ("01234", "2.5", "012345678")


@pytest.mark.parametrize("lines, decimal_commas, expected", [
    # ; file, no quotes: the client rewrites the decimal commas while streaming
    (['2, rue Haute;1,5;A', 'rue, basse;2;B'], "rewritten while streaming", set()),
    # a quoted field: PostgreSQL's generated column does it
    (['"2, rue Haute";1,5;A', 'rue, basse;2;B'], "generated column", set()),
    # a broken rule: the rewritten attempt is rolled back and the detailed check reads the values as
    # published (`1.234,5` is French for 1234.5; rewritten it would read `1.234.5`, not a number)
    (['2, rue Haute;1.234,5;A', 'rue, basse;2;Z'], "detailed check", {(3, "classe", "enum")}),
])
def test_decimal_commas_rewritten_or_generated_load_the_same(loader, warehouse_url, tmp_path, lines,
                                                              decimal_commas, expected):
    schema = write_schema(tmp_path, [
        {"name": "adresse", "type": "string"},
        {"name": "valeur", "type": "number", "constraints": {"minimum": 0}},
        {"name": "classe", "type": "string", "constraints": {"enum": ["A", "B"]}},
    ])
    path = tmp_path / "f.csv"
    path.write_text("adresse;valeur;classe\n" + "\n".join(lines) + "\n", encoding="utf-8")
    r, result = _load(loader, path, schema)
    assert rejections(warehouse_url, result.batch_id) == expected
    (details,), = fetch_all(warehouse_url, "select details from ingest.load_batches where batch_id = %s",
                            (result.batch_id,))
    assert details["decimal_commas"] == decimal_commas
    loaded = fetch_all(warehouse_url, f'select adresse, valeur, classe, _line_number from raw."{r.raw_table}" '
                                      f'order by _line_number')
    first = ("2, rue Haute", "1234.5" if expected else "1.5", "A", 2)
    assert loaded == [first] + ([] if expected else [("rue, basse", "2", "B", 3)])
    cols = [c for (c,) in fetch_all(warehouse_url, "select column_name from information_schema.columns where "
                                                   "table_schema = 'raw' and table_name = %s order by ordinal_position",
                                    (r.raw_table,))]
    assert cols == ["adresse", "valeur", "classe", "_batch_id", "_line_number", "_loaded_at"]


def test_rewritten_attempt_falls_back_for_ragged_rows_and_refused_bytes(loader, warehouse_url, tmp_path):
    """Synthetic files with decimal commas: a ragged row stops the client's rewrite (the careful path
    quarantines the row, the numbers are still normalised); bytes PostgreSQL refuses fail the load
    cleanly, with the previous rows kept."""
    schema = write_schema(tmp_path, [{"name": "code", "type": "string"},
                                     {"name": "valeur", "type": "number"}])
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("code;valeur\na;1,5\nb;2,5;x\nc;3,5\n", encoding="utf-8")
    r, result = _load(loader, ragged, schema)
    assert rejections(warehouse_url, result.batch_id) == {(3, None, "field-count")}
    (details,), = fetch_all(warehouse_url, "select details from ingest.load_batches where batch_id = %s",
                            (result.batch_id,))
    assert details["decimal_commas"] == "generated column"
    assert fetch_all(warehouse_url, f'select code, valeur from raw."{r.raw_table}" order by _line_number') == \
        [("a", "1.5"), ("c", "3.5")]
    refused = tmp_path / "refused.csv"
    refused.write_bytes(b"code;valeur\n" + b"d;4,5\n" * 1000 + b"e\x81;5,5\n")  # 0x81: undefined in CP1252
    with pytest.raises(LoadError, match="refused.csv"):
        loader.load(r, refused, quarantine_threshold=1.0)
    assert fetch_all(warehouse_url, f'select code, valeur from raw."{r.raw_table}" order by _line_number') == \
        [("a", "1.5"), ("c", "3.5")]
