"""Expectation suites of the published datasets, written as code and saved into the committed context.

`territoire.quality.suites.scaffold()` (re)writes the datasource, assets, suites, validation
definitions and checkpoints of `expectations/` from the functions below; the gate only reads them.
Each expectation carries `meta.explication`: a sentence in plain French for the managers' report.
`severity="warning"` marks checks a maintainer may knowingly override; everything else blocks
publication.

The generic parts come from `catalog/datasets.yml` (`primary_key`, `secrecy`, `personal_columns`,
and the `quality:` block: `max_row_drop_share`, `freshness`, `territorial_codes`, `coordinates`);
the dataset functions add what is specific (columns and types, value ranges).

Runtime values (row count of the previously published version, the oldest acceptable date for
freshness) are `$PARAMETER`s filled by the gate (`gate.expectation_parameters`).

Speed (bench/bench_gate.py): row-level rules that GX would evaluate one query at a time (twice for
an UnexpectedRowsExpectation: a count, then the rows) are grouped, per level, into one
`UnexpectedRowsExpectation` whose query scans the table once and returns one row per broken rule
with its count and examples (`regle`, `lignes`, `exemples`). The gate splits that row back into one
check per rule for the history and the report, with the rule's own explanation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from territoire.datasets import Dataset, load_datasets

COMMUNE = r"^([013-9][0-9]|2[AB1-9])[0-9]{3}$"
DEPARTEMENT = r"^([013-9][0-9]|2[AB1-9]|97[1-6])$"
REGION = r"^[0-9]{2}$"
EPCI = r"^[0-9]{9}$"
IRIS_OR_MASKED = r"^([013-9][0-9]|2[AB1-9])[0-9]{3}([0-9]{4}|XXXX)$"

# Bounding boxes (lon_min, lon_max, lat_min, lat_max) of France and its overseas territories, with a
# small margin: a point outside all of them is not in France.
FRANCE_BOXES: dict[str, tuple[float, float, float, float]] = {
    "métropole et Corse": (-5.5, 10.0, 41.0, 51.5),
    "Antilles (Guadeloupe, Martinique, Saint-Martin, Saint-Barthélemy)": (-63.3, -60.7, 14.3, 18.2),
    "Guyane": (-54.7, -51.5, 2.0, 6.0),
    "La Réunion": (55.1, 56.0, -21.5, -20.8),
    "Mayotte": (44.9, 45.4, -13.1, -12.5),
    "Saint-Pierre-et-Miquelon": (-56.6, -56.0, 46.7, 47.2),
    "Polynésie française": (-155.0, -134.0, -28.0, -7.0),
    "Nouvelle-Calédonie": (163.0, 169.0, -23.0, -19.0),
    "Wallis-et-Futuna": (-178.5, -175.9, -14.5, -13.1),
}

# PostgreSQL types, as GX's SQL engine names them (sqlalchemy type classes), per declared family.
TYPE_FAMILIES = {
    "text": ["TEXT", "VARCHAR"],
    "integer": ["INTEGER", "BIGINT", "SMALLINT"],
    "number": ["NUMERIC", "DOUBLE_PRECISION", "DOUBLE PRECISION", "DOUBLE", "FLOAT", "REAL", "INTEGER",
               "BIGINT"],
    "date": ["DATE"],
    "timestamp": ["TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITHOUT TIME ZONE"],
    "boolean": ["BOOLEAN"],
}

# Territorial code columns and the column of dim_territoire they must be found in.
TERRITORIAL_COLUMNS = {
    "code_commune": "code_commune", "code_epci": "code_epci",
    "code_departement": "code_departement", "code_region": "code_region",
}

log = logging.getLogger(__name__)

SUITES: dict[str, Callable[[Dataset], list]] = {}
# Row rule groups, kept beside the suites: the gate reads them to split a grouped result.
RULE_GROUP = "regles_ligne"


def suite(dataset_id: str):
    def register(fn):
        SUITES[dataset_id] = fn
        return fn
    return register


def explained(expectation, explication: str, **meta):
    expectation.meta = {**(expectation.meta or {}), "explication": explication, **meta}
    return expectation


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Rule:
    """A row-level rule: `condition` is true on a row that breaks it (SQL over the batch's columns)."""

    name: str
    condition: str
    explication: str
    example: str  # SQL expression shown as an example of a broken row
    level: str = "error"
    column: str | None = None


def rules_expectation(rules: list[Rule], level: str, title: str):
    """One UnexpectedRowsExpectation checking several row rules in a single scan.

    The query returns one row per broken rule: its name, how many rows break it, and up to five
    examples. `meta.regles` keeps each rule's column and explanation for the gate and the report.
    """
    from territoire.quality.expectations import RowRulesExpectation

    def esc(sql: str) -> str:  # GX formats the query with str.format: literal braces are doubled
        return sql.replace("{", "{{").replace("}", "}}")

    counts = ",\n    ".join(f"count(*) filter (where {esc(r.condition)}) as n{i}" for i, r in enumerate(rules))
    examples = ",\n    ".join(
        f"(array_agg({esc(r.example)}) filter (where {esc(r.condition)}))[1:5] as e{i}" for i, r in enumerate(rules))
    values = ", ".join(f"({_sql_literal(r.name)}, n{i}, to_jsonb(e{i}))" for i, r in enumerate(rules))
    # `{batch}` is replaced by an already-aliased subquery: it must not be aliased again. GX leaves the
    # aliasing to the query when it contains the word JOIN, hence `, lateral` rather than a join.
    query = (f"select v.regle, v.lignes, v.exemples from (select\n    {counts},\n    {examples}\n"
             f"from {{batch}}) as agg,\nlateral (values {values}) as v (regle, lignes, exemples)\n"
             f"where v.lignes > 0")
    kwargs = {"severity": "warning"} if level == "warning" else {}
    return explained(
        RowRulesExpectation(unexpected_rows_query=query, description=title, **kwargs),
        title, groupe=RULE_GROUP,
        regles=[{"regle": r.name, "colonne": r.column, "explication": r.explication} for r in rules],
    )


def grouped(rules: list[Rule]) -> list:
    out = []
    for level, title in (("error", "Règles bloquantes vérifiées ligne par ligne"),
                         ("warning", "Règles d'avertissement vérifiées ligne par ligne")):
        chosen = [r for r in rules if r.level == level]
        if chosen:
            out.append(rules_expectation(chosen, level, title))
    return out


# --- generic building blocks -----------------------------------------------------------------

def schema_checks(dataset: Dataset, columns: dict[str, str]) -> list:
    """Exactly these columns, with these types (read once from the table's metadata: no scan)."""
    import great_expectations.expectations as gxe

    out = [explained(gxe.ExpectTableColumnsToMatchSet(column_set=list(columns), exact_match=True),
                     "Le jeu de données a exactement les colonnes attendues, ni plus ni moins.")]
    for column, family in columns.items():
        out.append(explained(gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=TYPE_FAMILIES[family]),
                             f"La colonne « {column} » est de type {family}."))
    return out


def key_rules(dataset: Dataset) -> list[Rule]:
    key = list(dataset.primary_key)
    rules = [Rule(f"{c}_renseigne", f"{_ident(c)} is null", f"Chaque ligne a une valeur dans « {c} » (clé).",
                  "null::text", column=c) for c in key]
    return rules


def key_checks(dataset: Dataset) -> list:
    """Unique key: one grouped aggregation, run once (GX's own uniqueness check joins the table to
    itself, and an UnexpectedRowsExpectation would run the aggregation twice)."""
    from territoire.quality.expectations import RowRulesExpectation

    cols = ", ".join(_ident(c) for c in dataset.primary_key)
    label = ", ".join(dataset.primary_key)
    key_text = " || ' | ' || ".join(f"coalesce({_ident(c)}::text, '∅')" for c in dataset.primary_key)
    # one summary row when some key repeats: extra rows, and five repeated keys as examples
    query = (f"select 'cle_unique' as regle, sum(n - 1) as lignes, "
             f"to_jsonb((array_agg(k || ' (' || n || ' fois)' order by k))[1:5]) as exemples "
             f"from (select {key_text} as k, count(*) as n from {{batch}} group by {cols} having count(*) > 1) "
             f"as doublons having count(*) > 0")
    text = f"Chaque ligne est identifiée de façon unique par « {label} » : aucun doublon."
    return [explained(
        RowRulesExpectation(unexpected_rows_query=query, description=f"The key ({label}) identifies one row."),
        text, colonne=label, groupe=RULE_GROUP,
        regles=[{"regle": "cle_unique", "colonne": label, "explication": text}])]


def territorial_rules(dataset: Dataset, reference: str = "audit.dim_territoire") -> list[Rule]:
    """Every territorial code is a code of dim_territoire (the current COG)."""
    codes = dataset.quality.get("territorial_codes") or {}
    rules = []
    for column, spec in codes.items():
        spec = spec if isinstance(spec, dict) else {"level": spec}
        ref = spec.get("reference", TERRITORIAL_COLUMNS.get(column, column))
        level = spec.get("level", "error")
        cond = (f"{_ident(column)} is not null and {_ident(column)} not in "
                f"(select {_ident(ref)} from {reference} where {_ident(ref)} is not null)")
        rules.append(Rule(f"{column}_dans_referentiel", cond,
                          f"Chaque code « {column} » existe dans le référentiel des territoires (COG en vigueur).",
                          _ident(column), level=level, column=column))
        if spec.get("not_null"):
            rules.append(Rule(f"{column}_renseigne", f"{_ident(column)} is null",
                              f"Chaque ligne est rattachée à un territoire (« {column} » renseigné).",
                              "null::text", level=spec.get("not_null_level", level), column=column))
    return rules


def coordinate_rules(dataset: Dataset) -> list[Rule]:
    """Longitude differs from latitude, and the point lies in France (métropole or overseas).

    `flag_column` names a boolean the producer sets to false on points it knows are misplaced (the
    IRVE consolidation does): those rows only raise a warning, every other row must be right.
    """
    spec = dataset.quality.get("coordinates")
    if not spec:
        return []
    lon, lat = _ident(spec["longitude"]), _ident(spec["latitude"])
    columns = f"{spec['longitude']},{spec['latitude']}"
    inside = " or ".join(f"({lon} between {a} and {b} and {lat} between {c} and {d})"
                         for a, b, c, d in FRANCE_BOXES.values())
    example = f"{lon}::text || ' ' || {lat}::text"
    checks = [
        ("longitude_differente_latitude", f"{lon} = {lat}",
         "La longitude et la latitude sont différentes : des valeurs égales trahissent une colonne "
         "recopiée dans l'autre."),
        ("coordonnees_en_france", f"{lon} is not null and {lat} is not null and not ({inside})",
         "Les coordonnées tombent en France (métropole, Corse ou outre-mer)."),
    ]
    flag = spec.get("flag_column")
    if not flag:
        return [Rule(name, cond, text, example, column=columns) for name, cond, text in checks]
    rules = [Rule(name, f"{_ident(flag)} is not false and ({cond})", text, example, column=columns)
             for name, cond, text in checks]
    rules += [Rule(name + "_signalees", f"{_ident(flag)} is false and ({cond})",
                   text + f" Ces lignes-ci sont signalées comme douteuses par le producteur (« {flag} » "
                   "faux) : elles sont publiées avec ce signalement.", example, level="warning", column=columns)
              for name, cond, text in checks]
    return rules


def secrecy_rules(dataset: Dataset) -> list[Rule]:
    """Statistical secrecy: below the threshold, the masked columns are empty; with a `flag_column`,
    the flag is set exactly on the masked rows (primary or secondary)."""
    rules = []
    for i, rule in enumerate(dataset.secrecy):
        count, threshold = rule["count_column"], rule["threshold"]
        masked = rule.get("masked_columns") or []
        if not masked:
            continue
        shown = " or ".join(f"{_ident(m)} is not null" for m in masked)
        rules.append(Rule(
            # a null count is below the threshold (as in the dbt macro statistical_secrecy)
            f"secret_statistique_{i + 1}", f"coalesce({_ident(count)} < {float(threshold)}, true) and ({shown})",
            f"Secret statistique : quand « {count} » est inférieur à {threshold}, les colonnes "
            f"{', '.join('« ' + m + ' »' for m in masked)} sont masquées (vides).",
            f"{_ident(count)}::text", column=",".join(masked)))
        flag = rule.get("flag_column")
        if flag:
            rules.append(Rule(
                f"secret_statistique_{i + 1}_signale", f"({_ident(flag)} is null) = ({shown}) is not true",
                f"Chaque cellule masquée dit pourquoi (« {flag} » : primaire ou secondaire), et seules les "
                f"cellules masquées le disent.", f"coalesce({_ident(flag)}, '∅')", column=flag))
    return rules


def secondary_secrecy_checks(dataset: Dataset) -> list:
    """Secondary secrecy: no group total minus its published cells gives back a masked cell."""
    from territoire.publication.secrecy import rules as secrecy_rules_of
    from territoire.publication.secrecy import subtraction_query
    from territoire.quality.expectations import RowRulesExpectation

    out = []
    for i, rule in enumerate(secrecy_rules_of(dataset)):
        groups = subtraction_query("{batch}", rule)
        if not groups:
            continue
        keys = ", ".join(rule.group_by)
        name = f"secret_secondaire_{i + 1}"
        text = (f"Secret secondaire : dans chaque groupe ({keys}), les cellules masquées sont au moins deux et "
                f"comptent ensemble au moins {rule.threshold} « {rule.count_column} », pour que le total publié "
                f"du groupe moins ses cellules publiées ne redonne aucune valeur secrète.")
        key_text = " || ' ' || ".join(f"coalesce({_ident(c)}::text, '∅')" for c in rule.group_by)
        query = (f"select {_sql_literal(name)} as regle, count(*) as lignes, "
                 f"to_jsonb((array_agg(k order by k))[1:5]) as exemples from (select {key_text} as k "
                 f"from ({groups}) as g) as groupes having count(*) > 0")
        out.append(explained(RowRulesExpectation(unexpected_rows_query=query, description=name), text,
                             colonne=",".join(rule.masked_columns), groupe=RULE_GROUP,
                             regles=[{"regle": name, "colonne": ",".join(rule.masked_columns), "explication": text}]))
    return out


def personal_data_rules(dataset: Dataset) -> list[Rule]:
    """Columns published only on the rows where a condition holds (a natural person is never named)."""
    return [Rule(f"{p['column']}_donnee_personnelle",
                 f"{_ident(p['column'])} is not null and not coalesce(({p['published_when']}), false)",
                 f"Donnée personnelle : « {p['column']} » n'est publié que si {p['published_when']} ; sinon "
                 f"il est vide ({p['reason']}).", "'ligne masquée'::text", column=p["column"])
            for p in dataset.personal_data]


def personal_checks(dataset: Dataset) -> list:
    """Personal data columns must not be there at all (read from the catalog of the database)."""
    import great_expectations.expectations as gxe

    if not dataset.personal_columns:
        return []
    names = ", ".join(_sql_literal(c) for c in dataset.personal_columns)
    # The batch is joined with `where false` so GX knows which table the rule is about.
    query = (f"select column_name from information_schema.columns where table_schema = 'audit' "
             f"and table_name = {_sql_literal(dataset.id)} and column_name in ({names}) "
             f"union all select null from {{batch}} where false")
    return [explained(
        gxe.UnexpectedRowsExpectation(unexpected_rows_query=query,
                                      description="No column holds personal data."),
        "Aucune donnée personnelle n'est publiée : les colonnes "
        + ", ".join(f"« {c} »" for c in dataset.personal_columns) + " sont absentes.",
        colonne=",".join(dataset.personal_columns))]


def completeness(dataset: Dataset) -> list:
    """Row count: never below what was published minus the allowed drop (a `$PARAMETER`)."""
    import great_expectations.expectations as gxe

    share = dataset.quality.get("max_row_drop_share", 0.05)
    return [explained(
        gxe.ExpectTableRowCountToBeBetween(min_value={"$PARAMETER": "min_row_count"}),
        f"Le nombre de lignes ne baisse pas de plus de {share:.0%} par rapport à la version publiée précédente.",
    )]


def freshness(dataset: Dataset) -> list:
    """The newest date is recent enough: `$PARAMETER` freshness_min, computed by the gate."""
    import great_expectations.expectations as gxe

    spec = dataset.quality.get("freshness")
    if not spec or not spec.get("column"):
        return []
    level = spec.get("level", "warning")
    kwargs = {"severity": "warning"} if level == "warning" else {}
    if spec.get("kind") == "year":
        text = (f"Les données sont à jour : le millésime le plus récent (« {spec['column']} ») date de "
                f"moins de {spec.get('max_age_years', 1)} an(s).")
    else:
        text = (f"Les données sont à jour : la date la plus récente (« {spec['column']} ») a moins de "
                f"{spec.get('max_age_days', 400)} jours.")
    return [explained(gxe.ExpectColumnMaxToBeBetween(column=spec["column"],
                                                     min_value={"$PARAMETER": "freshness_min"}, **kwargs), text)]


def standard(dataset: Dataset, columns: dict[str, str], rules: list[Rule] | None = None,
             extra: list | None = None) -> list:
    """The checks every published dataset gets, plus the dataset's own rules and expectations."""
    all_rules = [*key_rules(dataset), *territorial_rules(dataset), *coordinate_rules(dataset),
                 *secrecy_rules(dataset), *personal_data_rules(dataset), *(rules or [])]
    if not GROUP_RULES:
        return [*schema_checks(dataset, columns), *completeness(dataset), *freshness(dataset),
                *straightforward_key_checks(dataset), *personal_checks(dataset),
                *[one_rule_expectation(r) for r in all_rules], *secondary_secrecy_checks(dataset),
                *(extra or [])]
    return [*schema_checks(dataset, columns), *completeness(dataset), *freshness(dataset),
            *key_checks(dataset), *personal_checks(dataset), *grouped(all_rules),
            *secondary_secrecy_checks(dataset), *(extra or [])]


# The benchmark sets this to False to measure the same checks written the straightforward way: one
# expectation per rule, GX's own uniqueness check. The gate reads either form.
GROUP_RULES = True


def one_rule_expectation(rule: Rule):
    import great_expectations.expectations as gxe

    def esc(sql: str) -> str:
        return sql.replace("{", "{{").replace("}", "}}")

    query = f"select {esc(rule.example)} as exemple from {{batch}} where {esc(rule.condition)}"
    kwargs = {"severity": "warning"} if rule.level == "warning" else {}
    return explained(gxe.UnexpectedRowsExpectation(unexpected_rows_query=query, description=rule.name, **kwargs),
                     rule.explication, colonne=rule.column)


def straightforward_key_checks(dataset: Dataset) -> list:
    import great_expectations.expectations as gxe

    key = list(dataset.primary_key)
    text = f"Chaque ligne est identifiée de façon unique par « {', '.join(key)} » : aucun doublon."
    if len(key) == 1:
        return [explained(gxe.ExpectColumnValuesToBeUnique(column=key[0]), text)]
    return [explained(gxe.ExpectCompoundColumnsToBeUnique(column_list=key), text)]


def nonnegative(column: str, what: str, level: str = "error") -> Rule:
    return Rule(f"{column}_positif", f"{_ident(column)} < 0", f"{what} n'est jamais négatif(ve).",
                f"{_ident(column)}::text", level=level, column=column)


def regex_rule(column: str, pattern: str, explication: str, level: str = "error") -> Rule:
    return Rule(f"{column}_format", f"{_ident(column)} !~ {_sql_literal(pattern)}", explication,
                _ident(column), level=level, column=column)


def between_rule(column: str, low, high, explication: str, level: str = "error") -> Rule:
    return Rule(f"{column}_plausible", f"not ({_ident(column)} between {low} and {high})", explication,
                f"{_ident(column)}::text", level=level, column=column)


# --- the datasets ------------------------------------------------------------------------------

@suite("dim_territoire")
def dim_territoire(dataset: Dataset) -> list:
    import great_expectations.expectations as gxe

    columns = {
        "code_commune": "text", "nom_commune": "text", "code_epci": "text", "nom_epci": "text",
        "type_epci": "text", "code_departement": "text", "nom_departement": "text", "code_region": "text",
        "nom_region": "text", "code_arrondissement": "text", "population_municipale": "integer",
        "population_totale": "integer", "population_depuis_arrondissements": "boolean",
        "superficie_km2": "number", "millesime_cog": "integer",
    }
    rules = [
        regex_rule("code_commune", COMMUNE,
                   "Les codes commune ont 5 caractères (zéros initiaux conservés, 2A/2B pour la Corse)."),
        Rule("code_departement_renseigne", '"code_departement" is null', "Chaque commune appartient à un département.",
             '"code_commune"', column="code_departement"),
        regex_rule("code_departement", DEPARTEMENT, "Les codes département sont valides (01 à 95, 2A, 2B, 971 à 976)."),
        Rule("commune_dans_son_departement",
             '"code_commune" not like "code_departement" || \'%\'',
             "Le code de chaque commune commence par le code de son département (un département "
             "inexistant ou mal rattaché est repéré ainsi).",
             '"code_commune" || \' -> \' || coalesce("code_departement", \'?\')', column="code_departement"),
        Rule("code_region_renseigne", '"code_region" is null', "Chaque commune appartient à une région.",
             '"code_commune"', column="code_region"),
        regex_rule("code_region", REGION, "Les codes région ont deux chiffres."),
        regex_rule("code_epci", EPCI, "Les codes EPCI sont des SIREN à 9 chiffres."),
        Rule("population_renseignee", '"population_municipale" is null', "Chaque commune a une population légale.",
             '"code_commune"', column="population_municipale"),
        between_rule("population_municipale", 0, 3_000_000,
                     "Les populations sont positives et plausibles (Paris a environ 2,1 millions d'habitants)."),
        # null (no IGN contour for the commune) is allowed: only a computed area must be plausible
        between_rule("superficie_km2", 0.01, 19_000,
                     "Les superficies sont plausibles : de quelques hectares (Castelmoron-d'Albret, 4 ha) à "
                     "Maripasoula en Guyane (environ 18 400 km²)."),
        Rule("code_epci_renseigne", '"code_epci" is null',
             "Presque toutes les communes appartiennent à un EPCI (seules quelques îles n'en ont pas).",
             '"code_commune"', level="warning", column="code_epci"),
    ]
    extra = [
        explained(gxe.ExpectTableRowCountToBeBetween(min_value=34000, max_value=36500),
                  "La France compte environ 35 000 communes : le nombre de lignes est plausible."),
        explained(gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=(
                "select code_departement, count(distinct code_region) as regions from {batch} "
                "group by code_departement having count(distinct code_region) > 1"),
            description="Every département lies in exactly one région.",
        ), "Chaque département est dans une seule région.", colonne="code_region"),
        explained(gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=("select count(*) as communes_sans_epci from {batch} where code_epci is null "
                                   "having count(*) > 10"),
            description="At most 10 communes without EPCI.", severity="warning",
        ), "Au plus une dizaine de communes (des îles) n'appartiennent à aucun EPCI.", colonne="code_epci"),
    ]
    # Most rules above are structural: code_epci null is expected for a few islands, so it is not a
    # row rule (it would fail on every run); the count check above carries it.
    rules = [r for r in rules if r.name != "code_epci_renseigne"]
    return standard(dataset, columns, rules, extra)


@suite("fct_points_de_charge")
def fct_points_de_charge(dataset: Dataset) -> list:
    columns = {
        "id_pdc_itinerance": "text", "id_station_itinerance": "text", "nom_station": "text",
        "code_commune": "text", "code_epci": "text", "code_departement": "text", "code_region": "text",
        "code_commune_source": "text", "methode_correspondance": "text", "code_postal": "text",
        "longitude": "number", "latitude": "number", "coordonnees_verifiees": "boolean",
        "puissance_nominale_kw": "number", "condition_acces": "text", "acces_libre": "boolean",
        "nom_operateur": "text", "nom_amenageur": "text", "nom_enseigne": "text", "prise_type_2": "boolean",
        "prise_type_combo_ccs": "boolean", "prise_type_chademo": "boolean", "prise_type_ef": "boolean",
        "gratuit": "boolean", "date_mise_en_service": "date", "date_maj": "date", "_loaded_at": "timestamp",
    }
    rules = [
        Rule("coordonnees_renseignees", '"longitude" is null or "latitude" is null',
             "Chaque point de recharge a des coordonnées.", '"id_pdc_itinerance"', column="longitude,latitude"),
        between_rule("puissance_nominale_kw", 0, 1000,
                     "La puissance d'un point de recharge est comprise entre 0 et 1 000 kW.", level="warning"),
        Rule("date_mise_en_service_plausible", '"date_mise_en_service" > current_date',
             "Aucune date de mise en service n'est dans le futur.", '"date_mise_en_service"::text',
             level="warning", column="date_mise_en_service"),
    ]
    return standard(dataset, columns, rules)


@suite("fct_consommation_electrique")
def fct_consommation_electrique(dataset: Dataset) -> list:
    columns = {
        "annee": "integer", "code_iris": "text", "nom_iris": "text", "code_commune": "text", "code_epci": "text",
        "code_departement": "text", "code_region": "text", "code_commune_source": "text",
        "code_commune_iris": "text", "nombre_adresses": "integer", "nombre_logements": "integer",
        "consommation_totale_mwh": "number", "secret_statistique": "text", "_loaded_at": "timestamp",
    }
    rules = [
        # Enedis masks the IRIS of small areas itself (`69388XXXX`): a known form, not an error
        regex_rule("code_iris", IRIS_OR_MASKED,
                   "Les codes IRIS ont 9 caractères : le code de la commune puis 4 chiffres (ou XXXX quand "
                   "Enedis masque l'IRIS au titre du secret statistique)."),
        nonnegative("consommation_totale_mwh", "La consommation d'électricité"),
        nonnegative("nombre_logements", "Le nombre de logements"),
        between_rule("annee", 2000, 2100, "L'année est plausible (entre 2000 et 2100)."),
    ]
    return standard(dataset, columns, rules)


@suite("indicateurs_territoriaux")
def indicateurs_territoriaux(dataset: Dataset) -> list:
    columns = {
        "niveau": "text", "code_territoire": "text", "indicateur": "text", "categorie": "text", "annee": "integer",
        "valeur": "number", "unite": "text", "source": "text", "numerateur": "number", "denominateur": "number",
        "population": "integer", "part_population_couverte": "number", "couverture": "text",
        "millesime_population": "text",
    }
    rules = [
        Rule("niveau_connu", "\"niveau\" not in ('commune', 'epci', 'departement', 'region')",
             "Le niveau territorial est commune, EPCI, département ou région.", '"niveau"', column="niveau"),
        # one text key per (level, code), hashed once: a correlated `not exists` with ORs took a minute
        Rule("territoire_dans_referentiel",
             "\"niveau\" || ':' || \"code_territoire\" not in ("
             "select 'commune:' || code_commune from audit.dim_territoire where code_commune is not null "
             "union select 'epci:' || code_epci from audit.dim_territoire where code_epci is not null "
             "union select 'departement:' || code_departement from audit.dim_territoire "
             "where code_departement is not null "
             "union select 'region:' || code_region from audit.dim_territoire where code_region is not null)",
             "Chaque code territoire existe dans le référentiel des territoires au niveau indiqué.",
             "\"niveau\" || ' ' || \"code_territoire\"", column="code_territoire"),
        Rule("denominateur_positif", '"denominateur" <= 0',
             "Les indicateurs sont rapportés à une population ou une mesure strictement positive.",
             '"denominateur"::text', column="denominateur"),
        between_rule("part_population_couverte", 0, 1,
                     "La part de la population couverte par les données est comprise entre 0 et 100 %."),
        Rule("couverture_connue", "\"couverture\" is distinct from case when \"part_population_couverte\" >= 1 "
             "then 'complete' else 'partielle' end",
             "Chaque valeur dit si la source couvre tout le territoire (complete : un zéro est un vrai zéro) "
             "ou une partie seulement (partielle).", '"couverture"', column="couverture"),
        # no sign rule on `valeur`: some budget aggregates are legitimately negative (OFGL)
    ]
    return standard(dataset, columns, rules)


TERRITORY_COLUMNS = {"code_commune": "text", "code_epci": "text", "code_departement": "text", "code_region": "text"}
# Balance aggregates of the OFGL base (savings, net debt flow, working capital...): a difference of
# two flows, legitimately negative. Every other aggregate is a flow or a stock and is never negative.
OFGL_BALANCES = (
    "Capacité ou besoin de financement", "Epargne brute", "Epargne de gestion", "Epargne nette",
    "Flux net de dette", "Fonds de roulement", "Variation du fonds de roulement",
    # a commune may pay more to its EPCI than it receives (negative attribution de compensation)
    "Fiscalité reversée",
)
SIRET = r"^[0-9]{14}$"


@suite("fct_stations_recharge")
def fct_stations_recharge(dataset: Dataset) -> list:
    columns = {
        "id_station_itinerance": "text", "nom_station": "text", **TERRITORY_COLUMNS,
        "nombre_points_de_charge": "integer", "puissance_totale_kw": "number", "puissance_maximale_kw": "number",
        "condition_acces": "text", "acces_libre": "boolean", "nom_operateur": "text", "nom_amenageur": "text",
        "longitude": "number", "latitude": "number", "coordonnees_concordantes": "boolean",
        "coordonnees_verifiees": "boolean", "date_mise_en_service": "date", "date_maj": "date",
        "_loaded_at": "timestamp",
    }
    rules = [
        between_rule("nombre_points_de_charge", 1, 500,
                     "Une station a au moins un point de recharge, et au plus quelques centaines."),
        nonnegative("puissance_totale_kw", "La puissance totale d'une station"),
        Rule("puissance_maximale_dans_totale", '"puissance_maximale_kw" > "puissance_totale_kw"',
             "La plus forte puissance d'un point ne dépasse pas la puissance totale de sa station.",
             '"id_station_itinerance"', column="puissance_maximale_kw"),
        between_rule("puissance_maximale_kw", 0, 1000,
                     "La puissance d'un point de recharge est comprise entre 0 et 1 000 kW.", level="warning"),
        Rule("coordonnees_si_concordantes", '"coordonnees_concordantes" and ("longitude" is null or "latitude" is null)',
             "Une station dont les points concordent a des coordonnées.", '"id_station_itinerance"',
             column="longitude,latitude"),
    ]
    return standard(dataset, columns, rules)


@suite("fct_arrets_transport")
def fct_arrets_transport(dataset: Dataset) -> list:
    columns = {"stop_id": "text", "nom_arret": "text", **TERRITORY_COLUMNS, "latitude": "number",
               "longitude": "number", "methode_localisation": "text"}
    rules = [
        Rule("coordonnees_renseignees", '"longitude" is null or "latitude" is null',
             "Chaque arrêt a des coordonnées.", '"stop_id"', column="longitude,latitude"),
        Rule("methode_localisation_connue",
             "\"methode_localisation\" not in ('contour_commune', 'departement_commune_unique', "
             "'contour_departement', 'hors_contours') or \"methode_localisation\" is null",
             "La façon dont l'arrêt a été placé est connue.", '"stop_id"', column="methode_localisation"),
        Rule("arret_place", "\"methode_localisation\" = 'hors_contours'",
             "Chaque arrêt tombe dans un contour de commune ou de département.", '"stop_id"', level="warning",
             column="methode_localisation"),
    ]
    return standard(dataset, columns, rules)


@suite("fct_departs_transport")
def fct_departs_transport(dataset: Dataset) -> list:
    columns = {"trip_id": "text", "stop_sequence": "integer", "stop_id": "text", "route_id": "text",
               "type_ligne": "integer", "service_id": "text", "heure_depart": "text", "depart_secondes": "integer",
               "jours_par_semaine": "integer", "date_debut_service": "date", **TERRITORY_COLUMNS}
    rules = [
        between_rule("jours_par_semaine", 0, 7, "Une course circule de 0 à 7 jours par semaine type."),
        # GTFS allows times past midnight (25:30:00) for a service day's late trips, not beyond 48 h
        between_rule("depart_secondes", 0, 48 * 3600,
                     "L'heure de départ est comprise entre 00:00:00 et 48:00:00 du jour de service (GTFS)."),
        nonnegative("stop_sequence", "Le rang d'un arrêt dans sa course"),
        Rule("arret_connu", '"stop_id" not in (select stop_id from audit.fct_arrets_transport)',
             "Chaque départ a lieu à un arrêt du jeu des arrêts.", '"stop_id"', column="stop_id"),
    ]
    return standard(dataset, columns, rules)


@suite("fct_tonnages_dechets")
def fct_tonnages_dechets(dataset: Dataset) -> list:
    columns = {"annee": "integer", "code_departement_source": "text", "code_type_dechet": "text",
               "type_dechet": "text", "code_departement": "text", "code_region": "text", "tonnage_t": "number",
               "_loaded_at": "timestamp"}
    rules = [
        nonnegative("tonnage_t", "Un tonnage"),
        # the largest département totals are a few hundred thousand tonnes a year (SINOE 2009-2021)
        between_rule("tonnage_t", 0, 2_000_000,
                     "Le tonnage annuel d'un type de déchet dans un département est plausible (moins de "
                     "2 millions de tonnes)."),
        between_rule("annee", 1990, 2100, "L'année est plausible (entre 1990 et 2100)."),
    ]
    return standard(dataset, columns, rules)


@suite("fct_budgets_communes")
def fct_budgets_communes(dataset: Dataset) -> list:
    columns = {"exercice": "integer", "siret_budget": "text", "agregat": "text", **TERRITORY_COLUMNS,
               "code_commune_source": "text", "libelle_budget": "text", "type_budget": "text",
               "est_budget_principal": "boolean", "nomenclature": "text", "montant_euros": "number",
               "_loaded_at": "timestamp"}
    balances = ", ".join(_sql_literal(a) for a in OFGL_BALANCES + ("Encours de dette",))
    rules = [
        Rule("montant_positif_hors_soldes", f'"montant_euros" < 0 and "agregat" not in ({balances})',
             "Seuls les soldes (épargne, flux net de dette, fonds de roulement, capacité ou besoin de "
             "financement, fiscalité reversée, encours) peuvent être négatifs ; les recettes, dépenses et "
             "autres flux ne le sont jamais.", '"agregat" || \' : \' || "montant_euros"::text', column="montant_euros"),
        # a negative debt stock is an accounting anomaly of the producer, worth a look, not a wrong file
        Rule("encours_dette_positif", "\"agregat\" = 'Encours de dette' and \"montant_euros\" < 0",
             "Un encours de dette n'est pas négatif : un encours négatif signale une anomalie comptable du "
             "budget, à vérifier auprès du producteur.",
             '"libelle_budget" || \' : \' || "montant_euros"::text', level="warning", column="montant_euros"),
        # Paris's budget is about 10 billion euros: a commune's aggregate above 20 billion is a unit error
        between_rule("montant_euros", -20e9, 20e9,
                     "Les montants sont plausibles (moins de 20 milliards d'euros en valeur absolue)."),
        regex_rule("siret_budget", SIRET, "Le SIRET d'un budget a 14 chiffres."),
        between_rule("exercice", 2000, 2100, "L'exercice est plausible (entre 2000 et 2100)."),
    ]
    return standard(dataset, columns, rules)


@suite("fct_mesures_qualite_air")
def fct_mesures_qualite_air(dataset: Dataset) -> list:
    columns = {"code_station": "text", "polluant": "text", "periodicite": "text", "debut_periode": "timestamp",
               "fin_periode": "timestamp", "annee": "integer", "nom_station": "text", "typologie": "text",
               "influence": "text", **TERRITORY_COLUMNS, "code_commune_source": "text", "valeur": "number",
               "unite": "text", "valeur_ug_m3": "number", "est_validee": "boolean", "longitude": "number",
               "latitude": "number", "_loaded_at": "timestamp"}
    rules = [
        nonnegative("valeur", "Une concentration de polluant"),
        nonnegative("valeur_ug_m3", "Une concentration de polluant (µg/m³)"),
        # the highest hourly peaks in France stay below a few thousand µg/m³; an annual or monthly mean
        # above 5,000 µg/m³ is a unit error
        between_rule("valeur_ug_m3", 0, 5000,
                     "Les concentrations moyennes sont plausibles (moins de 5 000 µg/m³)."),
        Rule("unite_connue", "\"valeur_ug_m3\" is null and \"valeur\" is not null",
             "L'unité publiée est connue (µg/m³ ou mg/m³), la concentration est donc comparable.",
             '"unite"', column="unite"),
        Rule("periodicite_connue", "\"periodicite\" not in ('annuelle', 'mensuelle')",
             "La période est annuelle ou mensuelle.", '"periodicite"', column="periodicite"),
        Rule("periode_ordonnee", '"fin_periode" <= "debut_periode"', "La fin de la période suit son début.",
             '"debut_periode"::text', column="fin_periode"),
        Rule("mesure_validee", "not \"est_validee\"",
             "Les mesures publiées sont validées par Atmo ; les mesures provisoires restent signalées "
             "(est_validee faux).", '"code_station" || \' \' || "polluant" || \' \' || "debut_periode"::date',
             level="warning", column="est_validee"),
    ]
    return standard(dataset, columns, rules)


@suite("fct_comptages_velo")
def fct_comptages_velo(dataset: Dataset) -> list:
    columns = {"source": "text", "id_compteur": "text", "debut_periode": "timestamp", "fin_periode": "timestamp",
               "granularite": "text", "comptage": "number", **TERRITORY_COLUMNS, "methode_localisation": "text",
               "_loaded_at": "timestamp"}
    rules = [
        nonnegative("comptage", "Un comptage de vélos"),
        # the busiest French counters see a few thousand bikes an hour, a few tens of thousands a day
        Rule("comptage_plausible",
             "(\"granularite\" = 'heure' and \"comptage\" > 5000) or (\"granularite\" = 'jour' and \"comptage\" > 50000)",
             "Les comptages sont plausibles (moins de 5 000 vélos par heure, 50 000 par jour).",
             '"id_compteur" || \' \' || "comptage"::text', column="comptage"),
        Rule("periode_ordonnee", '"fin_periode" <= "debut_periode"', "La fin de la période suit son début.",
             '"debut_periode"::text', column="fin_periode"),
    ]
    return standard(dataset, columns, rules)


@suite("fct_subventions")
def fct_subventions(dataset: Dataset) -> list:
    columns = {"fichier": "text", "ligne_source": "integer", "nom_attribuant": "text", "id_attribuant": "text",
               "siren_attribuant": "text", "nom_beneficiaire": "text", "id_beneficiaire": "text",
               "nom_beneficiaire_masque": "boolean", "objet": "text", "montant_euros": "number", "nature": "text",
               "date_convention": "date", "annee": "integer", "debut_versement": "date", "fin_versement": "date",
               "code_departement": "text", "code_region": "text", "_loaded_at": "timestamp"}
    rules = [
        Rule("montant_positif", '"montant_euros" <= 0', "Le montant d'une subvention est strictement positif.",
             '"montant_euros"::text', column="montant_euros"),
        # the largest departmental subsidies are a few million euros
        between_rule("montant_euros", 0, 50_000_000,
                     "Le montant d'une subvention est plausible (moins de 50 millions d'euros).", level="warning"),
        Rule("nature_scdl",
             "\"nature\" not in ('aide en numéraire', 'aide en nature', 'aide en numéraire;aide en nature', "
             "'aide en nature;aide en numéraire')",
             "La nature de l'aide est une valeur du schéma SCDL.", '"nature"', level="warning", column="nature"),
        regex_rule("id_attribuant", SIRET, "Le SIRET de l'attribuant a 14 chiffres."),
        Rule("periode_versement_ordonnee", '"fin_versement" < "debut_versement"',
             "La fin de la période de versement suit son début.", '"debut_versement"::text',
             level="warning", column="fin_versement"),
    ]
    return standard(dataset, columns, rules)


@suite("dim_epci")
def dim_epci(dataset: Dataset) -> list:
    columns = {"code_epci": "text", "nom_epci": "text", "type_epci": "text", "mode_financement": "text",
               "nombre_communes": "integer", "population_municipale": "integer", "nombre_departements": "integer"}
    rules = [
        regex_rule("code_epci", EPCI, "Les codes EPCI sont des SIREN à 9 chiffres."),
        Rule("type_epci_connu", "\"type_epci\" not in ('CC', 'CA', 'CU', 'METRO', 'MET69')",
             "La nature de l'EPCI est CC, CA, CU, METRO ou MET69.", '"type_epci"', column="type_epci"),
        between_rule("nombre_communes", 1, 300, "Un EPCI compte de 1 à quelques centaines de communes."),
        between_rule("population_municipale", 0, 8_000_000,
                     "La population d'un EPCI est plausible (la plus peuplée, la Métropole du Grand Paris, compte "
                     "environ 7 millions d'habitants)."),
    ]
    return standard(dataset, columns, rules)


@suite("dim_departement")
def dim_departement(dataset: Dataset) -> list:
    import great_expectations.expectations as gxe

    columns = {"code_departement": "text", "nom_departement": "text", "code_region": "text",
               "code_commune_chef_lieu": "text", "nombre_communes": "integer", "population_municipale": "integer",
               "superficie_km2": "number"}
    rules = [
        regex_rule("code_departement", DEPARTEMENT, "Les codes département sont valides (01 à 95, 2A, 2B, 971 à 976)."),
        regex_rule("code_region", REGION, "Les codes région ont deux chiffres."),
        between_rule("nombre_communes", 1, 1000, "Un département compte de 1 à un millier de communes."),
        between_rule("population_municipale", 0, 3_000_000, "La population d'un département est plausible."),
        between_rule("superficie_km2", 50, 90_000,
                     "La superficie d'un département est plausible (Paris : 105 km², Guyane : 84 000 km²)."),
    ]
    extra = [explained(gxe.ExpectTableRowCountToBeBetween(min_value=101, max_value=101),
                       "La France compte 101 départements (dont 5 d'outre-mer).")]
    return standard(dataset, columns, rules, extra)


@suite("dim_region")
def dim_region(dataset: Dataset) -> list:
    import great_expectations.expectations as gxe

    columns = {"code_region": "text", "nom_region": "text", "code_commune_chef_lieu": "text",
               "nombre_departements": "integer", "nombre_communes": "integer", "population_municipale": "integer"}
    rules = [
        regex_rule("code_region", REGION, "Les codes région ont deux chiffres."),
        between_rule("nombre_departements", 1, 15, "Une région compte de 1 à 13 départements."),
        between_rule("population_municipale", 0, 15_000_000, "La population d'une région est plausible."),
    ]
    extra = [explained(gxe.ExpectTableRowCountToBeBetween(min_value=18, max_value=18),
                       "La France compte 18 régions (13 en métropole, 5 outre-mer).")]
    return standard(dataset, columns, rules, extra)


def scaffold(dataset_ids: list[str] | None = None, url: str | None = None, *,
             datasets: list[Dataset] | None = None) -> list[str]:
    """Write the GX objects of each dataset into the file context. Returns the checkpoint names.

    `datasets` replaces the catalog (the benchmark scaffolds a synthetic dataset into a copy).
    """
    from territoire.quality.context import DATASOURCE, get_context

    context = get_context(url)
    try:
        datasource = context.data_sources.get(DATASOURCE)
    except (KeyError, ValueError):
        datasource = context.data_sources.add_postgres(name=DATASOURCE, connection_string="${GX_WAREHOUSE_URL}")
    names = []
    for dataset in datasets if datasets is not None else load_datasets().values():
        if dataset_ids and dataset.id not in dataset_ids:
            continue
        if dataset.id not in SUITES:
            raise KeyError(f"dataset {dataset.id!r} has no expectation suite in territoire.quality.suites")
        try:
            names.append(write_dataset(context, datasource, dataset))
        except Exception as exc:  # noqa: BLE001 - GX needs the table to exist to declare its asset
            log.warning("%s: not scaffolded (%s: %s); build audit.%s with dbt, then scaffold again",
                        dataset.id, type(exc).__name__, str(exc).splitlines()[0][:200], dataset.id)
    return names


def write_dataset(context, datasource, dataset: Dataset) -> str:
    import great_expectations as gx

    asset_name = f"audit.{dataset.id}"
    for existing in list(datasource.assets):
        if existing.name == asset_name:
            datasource.delete_asset(asset_name)
    asset = datasource.add_table_asset(name=asset_name, table_name=dataset.id, schema_name="audit")
    batch = asset.add_batch_definition_whole_table("whole_table")
    for store, name in ((context.checkpoints, f"{dataset.id}_gate"),
                        (context.validation_definitions, dataset.id), (context.suites, dataset.id)):
        try:
            store.delete(name)
        except Exception:  # noqa: BLE001 - absent is fine
            pass
    s = context.suites.add(gx.ExpectationSuite(name=dataset.id, meta={"dataset": dataset.id,
                                                                    "title": dataset.title}))
    for expectation in SUITES[dataset.id](dataset):
        s.add_expectation(expectation)
    s.save()
    vd = context.validation_definitions.add(gx.ValidationDefinition(name=dataset.id, data=batch, suite=s))
    # COMPLETE is affordable because the suites hold no column-map expectation (those would fetch
    # every unexpected value and its index: a full extra scan each on a big table); it makes GX keep
    # the rows an UnexpectedRowsExpectation returns, i.e. each broken rule with its examples.
    context.checkpoints.add(gx.Checkpoint(
        name=f"{dataset.id}_gate", validation_definitions=[vd],
        actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
        result_format={"result_format": "COMPLETE", "partial_unexpected_count": 5},
    ))
    return f"{dataset.id}_gate"
