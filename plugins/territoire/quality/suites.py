"""Expectation suites of the published datasets, written as code and saved into the committed context.

`territoire quality scaffold` (re)writes the datasource, assets, suites, validation definitions and
checkpoints of `expectations/` from the functions below; the gate only reads them. Each expectation
carries `meta.explication`: a sentence in French for the managers' report. `severity="warning"`
marks checks a maintainer may knowingly override; everything else blocks publication.

Runtime values (row count of the previously published version, today's date for freshness) are
`$PARAMETER`s filled by the gate.
"""

from __future__ import annotations

from collections.abc import Callable

from territoire.datasets import Dataset, load_datasets

COMMUNE = r"^([013-9][0-9]|2[AB1-9])[0-9]{3}$"
DEPARTEMENT = r"^([013-9][0-9]|2[AB1-9]|97[1-6])$"
REGION = r"^[0-9]{2}$"
EPCI = r"^[0-9]{9}$"

SUITES: dict[str, Callable[[Dataset], list]] = {}


def suite(dataset_id: str):
    def register(fn):
        SUITES[dataset_id] = fn
        return fn
    return register


def explained(expectation, explication: str):
    expectation.meta = {**(expectation.meta or {}), "explication": explication}
    return expectation


def completeness(dataset: Dataset) -> list:
    """Row count: never below what was published minus the allowed drop (a `$PARAMETER`)."""
    import great_expectations.expectations as gxe

    share = dataset.quality.get("max_row_drop_share", 0.05)
    return [explained(
        gxe.ExpectTableRowCountToBeBetween(min_value={"$PARAMETER": "min_row_count"}),
        f"Le nombre de lignes ne baisse pas de plus de {share:.0%} par rapport à la version publiée précédente.",
    )]


@suite("dim_territoire")
def dim_territoire(dataset: Dataset) -> list:
    import great_expectations.expectations as gxe

    return [
        explained(gxe.ExpectTableColumnsToMatchSet(column_set=[
            "code_commune", "nom_commune", "code_epci", "nom_epci", "type_epci", "code_departement",
            "nom_departement", "code_region", "nom_region", "code_arrondissement", "population_municipale",
            "population_totale", "population_depuis_arrondissements", "millesime_cog",
        ], exact_match=True), "Le fichier a exactement les colonnes attendues."),
        explained(gxe.ExpectTableRowCountToBeBetween(min_value=34000, max_value=36500),
                  "La France compte environ 35 000 communes : le nombre de lignes est plausible."),
        *completeness(dataset),
        explained(gxe.ExpectColumnValuesToNotBeNull(column="code_commune"), "Chaque ligne a un code commune."),
        explained(gxe.ExpectColumnValuesToBeUnique(column="code_commune"), "Chaque commune n'apparaît qu'une fois."),
        explained(gxe.ExpectColumnValuesToMatchRegex(column="code_commune", regex=COMMUNE),
                  "Les codes commune ont 5 caractères (zéros initiaux conservés, 2A/2B pour la Corse)."),
        explained(gxe.ExpectColumnValuesToNotBeNull(column="code_departement"),
                  "Chaque commune appartient à un département."),
        explained(gxe.ExpectColumnValuesToMatchRegex(column="code_departement", regex=DEPARTEMENT),
                  "Les codes département sont valides (01 à 95, 2A, 2B, 971 à 976)."),
        explained(gxe.ExpectColumnValuesToNotBeNull(column="code_region"), "Chaque commune appartient à une région."),
        explained(gxe.ExpectColumnValuesToMatchRegex(column="code_region", regex=REGION),
                  "Les codes région ont deux chiffres."),
        explained(gxe.UnexpectedRowsExpectation(
            # `{batch}` is replaced by an aliased subquery: do not alias it again.
            unexpected_rows_query=(
                "select code_commune, code_departement, code_region from {batch} "
                "where code_departement in (select code_departement from {batch} "
                "group by code_departement having count(distinct code_region) > 1)"
            ),
            description="Every commune lies in exactly one département and the région of that département.",
        ), "Chaque commune est dans un seul département, et ce département dans une seule région."),
        explained(gxe.ExpectColumnValuesToMatchRegex(column="code_epci", regex=EPCI, mostly=1.0),
                  "Les codes EPCI sont des SIREN à 9 chiffres."),
        explained(gxe.ExpectColumnValuesToNotBeNull(column="code_epci", mostly=0.999, severity="warning"),
                  "Presque toutes les communes appartiennent à un EPCI (quelques îles n'en ont pas)."),
        explained(gxe.ExpectColumnValuesToNotBeNull(column="population_municipale"),
                  "Chaque commune a une population légale."),
        explained(gxe.ExpectColumnValuesToBeBetween(column="population_municipale", min_value=0, max_value=3_000_000),
                  "Les populations sont positives et plausibles (Paris a environ 2,1 millions d'habitants)."),
    ]


def scaffold(dataset_ids: list[str] | None = None, url: str | None = None) -> list[str]:
    """Write the GX objects of each dataset into the file context. Returns the checkpoint names."""
    import great_expectations as gx

    from territoire.quality.context import DATASOURCE, get_context

    context = get_context(url)
    try:
        datasource = context.data_sources.get(DATASOURCE)
    except (KeyError, ValueError):
        datasource = context.data_sources.add_postgres(name=DATASOURCE, connection_string="${GX_WAREHOUSE_URL}")
    names = []
    for dataset in load_datasets().values():
        if dataset_ids and dataset.id not in dataset_ids:
            continue
        if dataset.id not in SUITES:
            raise KeyError(f"dataset {dataset.id!r} has no expectation suite in territoire.quality.suites")
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
        context.checkpoints.add(gx.Checkpoint(
            name=f"{dataset.id}_gate", validation_definitions=[vd],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
            result_format={"result_format": "COMPLETE", "partial_unexpected_count": 5},
        ))
        names.append(f"{dataset.id}_gate")
    return names
