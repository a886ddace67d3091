"""Territorial codes checked against the Code officiel géographique (COG) loaded in the warehouse
(`raw.cog__communes`, `raw.cog__mouvements_communes`, `raw.cog__departements`, `raw.cog__regions`,
`raw.cog__epci`). When a reference table is not loaded the rule is reported as not run, with the
command that loads it.

Codes written as numbers by a spreadsheet (`69.0`, `1001`) are read the way the staging models repair
them (`repair_code`), so a rule judges the code, not its spelling.
"""

from __future__ import annotations

from territoire.ingest.rules.model import define, family, sql_text
from territoire.naming import quote_ident

COMMUNES = "raw.cog__communes|le COG (communes)"
MOVEMENTS = "raw.cog__mouvements_communes|l'historique des mouvements de communes du COG"


def repaired(column: str, width: int) -> str:
    """SQL for the code of `column` as the warehouse repairs it (float tail and lost leading zeros)."""
    c = f"btrim({quote_ident(column)})"
    digits = f"regexp_replace({c}, '\\.0+$', '')"
    # lpad also truncates: only pad codes that lost their leading zeros.
    return (f"(case when {c} ~ '^[0-9]+(\\.0+)?$' and length({digits}) < {width} then lpad({digits}, {width}, '0') "
            f"when {c} ~ '^[0-9]+(\\.0+)?$' then {digits} else upper({c}) end)")


def _postal_tests(postal_column: str | None) -> tuple[str, str]:
    """(strong, weak) SQL tests that `v.code` is a postal code. Strong: the row's own postal code, or an
    arrondissement postal code of Paris, Lyon or Marseille (75008 is read as Paris 8e, not as the code
    Bobigny had until 1968). Weak: a distribution office code ending in 0 that is no commune code."""
    strong = ("coalesce(v.code = v.postal, false) or " if postal_column else "") + (
        "v.code ~ '^(750(0[1-9]|1[0-9]|20)|75116|6900[1-9]|130(0[1-9]|1[0-6]))$'")
    return f"({strong})", "(v.code ~ '^([0-8][0-9]|9[0-5])[0-9]{2}0$')"


def _overseas_test(ctx) -> str:
    present = ctx.conn.execute("select to_regclass('raw.cog__collectivites_outremer') is not null").fetchone()[0]
    return ("exists (select 1 from raw.cog__collectivites_outremer o where o.code_commune = v.code)"
            if present else "false")


def _commune_fragments(ctx, decl) -> dict[str, str]:
    postal = decl.params.get("postal_column")
    if postal and postal not in ctx.columns:
        postal = None
    strong, weak = _postal_tests(postal)
    judged = "\n".join(line for line in sql_text("_judged_communes").splitlines() if not line.startswith("--"))
    return {"code": repaired(decl.params["column"], 5), "postal": quote_ident(postal) if postal else "null::text",
            "postal_strong": strong, "postal_weak": weak, "overseas_test": _overseas_test(ctx), "judged": judged}


_COMMUNE_PARAMS = {"postal_column": None}


@define("commune_unknown", level="error", needs=(COMMUNES, MOVEMENTS), params=_COMMUNE_PARAMS,
        title="Code commune inconnu du COG",
        explanation="Le code INSEE de la commune (5 caractères, 2A/2B pour la Corse) doit exister dans le Code "
                    "officiel géographique ; sinon la ligne ne peut être rattachée à aucun territoire.",
        fix="Reprendre le code INSEE de la commune (pas le code postal) sur insee.fr ou dans le COG ; garder "
            "les zéros initiaux (01001, pas 1001).",
        origin="INSEE, Code officiel géographique en vigueur")
def commune_unknown(ctx, decl) -> int:
    return ctx.hits("commune_unknown", {"column_name": decl.params["column"]}, _commune_fragments(ctx, decl),
                    column=decl.params["column"])


@define("commune_obsolete", level="warning", needs=(COMMUNES, MOVEMENTS), params=_COMMUNE_PARAMS,
        title="Ancien code commune (remplacé)",
        explanation="Ce code désignait une commune qui a depuis fusionné ou changé de code ; l'entrepôt la "
                    "rattache à la commune actuelle indiquée dans le message.",
        fix="Remplacer l'ancien code par le code actuel indiqué dans le message (historique des mouvements "
            "du COG).",
        origin="INSEE, historique des mouvements de communes du COG")
def commune_obsolete(ctx, decl) -> int:
    return ctx.hits("commune_obsolete", {"column_name": decl.params["column"]}, _commune_fragments(ctx, decl),
                    column=decl.params["column"])


@define("commune_postal_code", level="error", needs=(COMMUNES, MOVEMENTS), params=_COMMUNE_PARAMS,
        title="Code postal à la place du code INSEE",
        explanation="La colonne attend le code INSEE de la commune ; un code postal désigne un bureau "
                    "distributeur, qui peut couvrir plusieurs communes ou une partie d'une seule.",
        fix="Remplacer le code postal par le code INSEE de la commune (base officielle des codes postaux de "
            "La Poste, ou COG).",
        origin="INSEE (COG) et La Poste (codes postaux)")
def commune_postal_code(ctx, decl) -> int:
    return ctx.hits("commune_postal_code", {"column_name": decl.params["column"]}, _commune_fragments(ctx, decl),
                    column=decl.params["column"])


family("commune", "commune_postal_code", "commune_obsolete", "commune_unknown")


def _reference(ctx, decl, reference: str, reference_column: str, width: int, message: str) -> int:
    return ctx.hits("code_in_reference", {"column_name": decl.params["column"], "message": message},
                    {"reference": reference, "reference_column": quote_ident(reference_column),
                     "code": repaired(decl.params["column"], width).replace("btrim(", "btrim(s.")},
                    column=decl.params["column"])


@define("departement_code", level="error", needs=("raw.cog__departements|le COG (départements)",),
        title="Code département inconnu",
        explanation="Le code département (01 à 95, 2A, 2B, 971 à 976) doit exister dans le COG.",
        fix="Écrire le code sur 2 caractères (01, 2A) ou 3 pour l'outre-mer (971) ; une collectivité "
            "d'outre-mer (975, 977, 978, 98x) n'est pas un département.",
        origin="INSEE, Code officiel géographique en vigueur")
def departement_code(ctx, decl) -> int:
    return _reference(ctx, decl, "raw.cog__departements", "dep", 2, "code département absent du COG")


@define("region_code", level="error", needs=("raw.cog__regions|le COG (régions)",),
        title="Code région inconnu",
        explanation="Le code région (2 chiffres, ex. 84 Auvergne-Rhône-Alpes, 01 Guadeloupe) doit exister dans "
                    "le COG en vigueur (régions de 2016).",
        fix="Utiliser le code INSEE de la région en vigueur (2 chiffres), pas un ancien code de région.",
        origin="INSEE, Code officiel géographique en vigueur")
def region_code(ctx, decl) -> int:
    return _reference(ctx, decl, "raw.cog__regions", "reg", 2, "code région absent du COG")


@define("epci_siren", level="error", needs=("raw.cog__epci|la liste des EPCI (BANATIC)",),
        title="SIREN d'EPCI inconnu",
        explanation="Un EPCI à fiscalité propre se désigne par son SIREN (9 chiffres), qui doit figurer dans la "
                    "liste BANATIC en vigueur.",
        fix="Reprendre le SIREN de l'EPCI actuel de la commune (BANATIC, ou annuaire-entreprises) ; un EPCI "
            "fusionné a changé de SIREN.",
        origin="DGCL, BANATIC (via @etalab/decoupage-administratif)")
def epci_siren(ctx, decl) -> int:
    return _reference(ctx, decl, "raw.cog__epci", "code", 9, "SIREN absent de la liste des EPCI en vigueur")


@define("iris_code", level="error", needs=(COMMUNES,),
        title="Code IRIS invalide",
        explanation="Un code IRIS a 9 caractères : le code INSEE de la commune (ou de l'arrondissement "
                    "municipal) suivi de 4 chiffres.",
        fix="Écrire le code IRIS complet sur 9 caractères, zéros initiaux compris, avec le code commune en "
            "vigueur.",
        origin="INSEE, découpage infracommunal IRIS")
def iris_code(ctx, decl) -> int:
    return ctx.hits("iris_code", {"column_name": decl.params["column"]},
                    {"code": repaired(decl.params["column"], 9).replace("btrim(", "btrim(s.")},
                    column=decl.params["column"])


@define("cog_vintage", level="warning", needs=(COMMUNES, MOVEMENTS),
        title="Référentiel territorial d'un autre millésime",
        explanation="Ce fichier de référence suit la géographie d'une autre année que le COG de l'entrepôt : "
                    "les jointures sur le code commune perdront les communes fusionnées ou créées depuis.",
        fix="Utiliser le millésime du référentiel correspondant au COG de l'entrepôt, ou faire passer les codes "
            "par la table de passage des communes (historique des mouvements).",
        origin="INSEE, historique des mouvements de communes du COG")
def cog_vintage(ctx, decl) -> int:
    return ctx.hits("cog_vintage", {"column_name": decl.params["column"]},
                    {"code": repaired(decl.params["column"], 5)}, column=decl.params["column"])


def diagnose_vintage(conn, table: str, column: str) -> str | None:
    """The vintage diagnosis of a loaded reference table ("fichier COG 2024 : 68 communes ..."), or None
    when it matches the warehouse's COG."""
    text = sql_text("cog_vintage").replace("{table}", table).replace("{column}", quote_ident(column)).replace(
        "{code}", repaired(column, 5))
    row = conn.execute(text, {"column_name": column}).fetchone()
    return row[3] if row else None
