"""Rules across rows and columns, run in bulk in PostgreSQL (one `.sql` file each, in `sql/`)."""

from __future__ import annotations

import re

from territoire.ingest.rules.model import define
from territoire.naming import quote_ident

_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


def _list(value) -> list[str]:
    return value if isinstance(value, list) else [value]


def _group_fragments(group: list[str], prefix: str = "group") -> dict[str, str]:
    cols = [quote_ident(c) for c in group]
    return {prefix: ", ".join(cols),
            f"{prefix}_not_empty": " and ".join(f"nullif(btrim({c}), '') is not null" for c in cols)}


@define("unique_key", level="error", columns=("columns",),
        title="Identifiant en double",
        explanation="Chaque ligne doit avoir un identifiant (ou une combinaison de colonnes clé) qui lui est "
                    "propre ; une répétition fait compter deux fois la même chose.",
        fix="Supprimer la ligne répétée ou lui donner son propre identifiant ; la première occurrence est "
            "indiquée dans le message.",
        origin="clé déclarée de la ressource (consolidation IRVE : « identifiants en double »)")
def unique_key(ctx, decl) -> int:
    key = _list(decl.params["columns"])
    fragments = _group_fragments(key, "key")
    return ctx.hits("unique_key", {"column_name": ", ".join(key)}, fragments)


@define("constant_in_group", level="error", columns=("group", "column"),
        title="Valeur différente au sein d'un même groupe",
        explanation="Cette caractéristique décrit le groupe (par exemple la station de recharge) et non la "
                    "ligne : toutes les lignes du groupe doivent porter la même valeur.",
        fix="Harmoniser la valeur sur toutes les lignes du groupe (la valeur majoritaire est rappelée dans le "
            "message), ou séparer en groupes distincts si ce sont réellement des groupes différents.",
        origin="cohérence intra-station de la consolidation IRVE (data.gouv.fr)")
def constant_in_group(ctx, decl) -> int:
    group = _list(decl.params["group"])
    return ctx.hits("constant_in_group", {"column_name": decl.params["column"], "group_label": ", ".join(group)},
                    _group_fragments(group), column=decl.params["column"])


@define("group_count", level="error", columns=("group", "column"),
        title="Nombre déclaré différent du nombre de lignes du groupe",
        explanation="La colonne annonce combien de lignes compte le groupe (ex. nbre_pdc : le nombre de points "
                    "de charge de la station) ; le fichier n'en contient pas autant.",
        fix="Corriger le nombre déclaré, ou ajouter/retirer les lignes manquantes ou en trop du groupe.",
        origin="schéma IRVE statique (nbre_pdc) et rapports de la consolidation IRVE")
def group_count(ctx, decl) -> int:
    group = _list(decl.params["group"])
    return ctx.hits("group_count", {"column_name": decl.params["column"], "group_label": ", ".join(group)},
                    _group_fragments(group), column=decl.params["column"])


@define("required_if", level="error", columns=("column", "if"), params={"equals": None},
        title="Valeur obligatoire dans ce cas",
        explanation="Cette colonne devient obligatoire quand une autre colonne est renseignée (ou a une "
                    "valeur donnée).",
        fix="Renseigner la colonne sur la ligne, ou vider la colonne qui la rend obligatoire si elle est "
            "erronée.",
        origin="exigence conditionnelle du schéma ou du domaine")
def required_if(ctx, decl) -> int:
    p = decl.params
    return ctx.hits("required_if", {"column_name": p["column"], "condition_name": p["if"], "equals": p["equals"]},
                    column=p["column"], condition_column=p["if"])


@define("at_least_one", level="error", columns=("columns",), params={"equals": "true"},
        title="Aucune des colonnes n'est renseignée",
        explanation="Au moins une de ces colonnes doit avoir la valeur attendue (ex. un point de charge a au "
                    "moins un type de prise), ou, sans valeur attendue, être renseignée.",
        fix="Mettre la valeur attendue (ex. true) dans la ou les colonnes qui correspondent à la réalité, ou "
            "renseigner l'une des colonnes (ex. SIRET ou numéro RNA du bénéficiaire).",
        origin="consolidation IRVE (« stations sans aucun type de prise ») ; Validata (one-of-required)")
def at_least_one(ctx, decl) -> int:
    cols = [quote_ident(c) for c in _list(decl.params["columns"])]
    equals = decl.params["equals"]
    return ctx.hits("at_least_one", {"column_name": ", ".join(_list(decl.params["columns"])),
                                     "equals": None if equals is None else str(equals)},
                    {"columns_list": ", ".join(cols),
                     "columns_lower": ", ".join(f"lower(btrim(coalesce({c}, '')))" for c in cols)})


@define("range", level="error", params={"min": None, "max": None, "when_column": None, "when_matches": None},
        title="Valeur hors de l'intervalle admis",
        explanation="Pour ce domaine, la valeur doit rester dans un intervalle (ex. une concentration de "
                    "polluant ne peut pas être négative).",
        fix="Vérifier le signe et l'unité de la valeur ; une valeur de mesure invalide se retire ou se "
            "marque comme non validée plutôt que d'être publiée négative.",
        origin="règle de domaine déclarée au catalogue")
def value_range(ctx, decl) -> int:
    p = decl.params
    when = p["when_column"]
    return ctx.hits("value_range", {"column_name": p["column"], "min": p["min"], "max": p["max"],
                                    "when_name": when, "when_matches": p["when_matches"]},
                    {"when_column": quote_ident(when) if when else "null"}, column=p["column"])


@define("not_future", level="error", params={"tolerance_days": 0},
        title="Date dans le futur",
        explanation="Cette date décrit un fait passé (mise en service, mesure, décision) : elle ne peut pas "
                    "être postérieure à la date du contrôle.",
        fix="Corriger la date (inversion jour/mois, année mal saisie) ou retirer la ligne jusqu'à ce que le "
            "fait ait eu lieu.",
        origin="règle de domaine déclarée au catalogue")
def not_future(ctx, decl) -> int:
    return ctx.hits("not_future", {"column_name": decl.params["column"],
                                   "tolerance_days": int(decl.params["tolerance_days"])},
                    column=decl.params["column"])


@define("year_within", level="error", params={"min": None, "max": None},
        title="Année hors de la période couverte",
        explanation="La source couvre une période connue ; une année en dehors est presque toujours une "
                    "erreur de saisie ou de format.",
        fix="Corriger l'année (format AAAA), ou signaler au gestionnaire du catalogue si la source couvre "
            "désormais une période plus large.",
        origin="couverture de la source déclarée au catalogue")
def year_within(ctx, decl) -> int:
    return ctx.hits("year_within", {"column_name": decl.params["column"], "min": decl.params["min"],
                                    "max": decl.params["max"]}, column=decl.params["column"])


@define("references", level="error", params={"to": None, "to_column": None},
        title="Référence vers un élément inexistant",
        explanation="La valeur doit désigner un élément défini dans un autre fichier de la même source (ex. un "
                    "arrêt de stop_times.txt doit exister dans stops.txt).",
        fix="Ajouter l'élément manquant au fichier de référence ou corriger l'identifiant sur la ligne.",
        origin="références entre fichiers de la spécification GTFS")
def references(ctx, decl) -> int:
    p = decl.params
    to = str(p["to"] or "")
    if not _TABLE_NAME.match(to) or not p["to_column"]:
        from territoire.ingest.rules.engine import RuleNotRun

        raise RuleNotRun(f"déclaration incomplète : `to` doit nommer une table schema.table (reçu {to!r}) et "
                         f"`to_column` sa colonne")
    ctx.require_table(to, f"la table référencée {to}")
    return ctx.hits("references", {"column_name": p["column"], "to_table": to, "to_name": p["to_column"]},
                    {"to_table": to}, column=p["column"], to_column=p["to_column"])


@define("period", level="error",
        title="Période mal écrite",
        explanation="Une période s'écrit date de début, tiret bas, date de fin (AAAA-MM-JJ_AAAA-MM-JJ), ou une "
                    "seule date ; la fin ne peut pas précéder le début.",
        fix="Écrire la période au format AAAA-MM-JJ_AAAA-MM-JJ, début en premier (ex. 2024-01-01_2024-12-31).",
        origin="SCDL subventions (datesPeriodeVersement)")
def period(ctx, decl) -> int:
    return ctx.hits("period", {"column_name": decl.params["column"]}, column=decl.params["column"])


@define("one_of", level="error", params={"values": None, "ignore_case": False},
        title="Valeur hors de la liste prévue",
        explanation="La colonne n'admet qu'une liste fermée de valeurs (nomenclature du standard).",
        fix="Remplacer la valeur par l'une des valeurs prévues, écrite exactement comme dans la liste "
            "(casse et accents compris) ; le message donne l'orthographe attendue quand elle est proche.",
        origin="nomenclature déclarée au catalogue (ex. SCDL : nature de la subvention)")
def one_of(ctx, decl) -> int:
    values = decl.params["values"]
    if not isinstance(values, list) or not values:
        from territoire.ingest.rules.engine import RuleNotRun

        raise RuleNotRun("déclaration incomplète : `values` doit être la liste des valeurs admises")
    return ctx.hits("one_of", {"column_name": decl.params["column"], "values": [str(v) for v in values],
                               "ignore_case": bool(decl.params["ignore_case"])}, column=decl.params["column"])


@define("validated", level="warning", params={"values": ["true", "t", "1", "oui", "v"]},
        title="Mesure non validée",
        explanation="Le producteur marque cette mesure comme non (encore) validée : elle peut changer, et "
                    "ne se compare pas aux mesures validées sans précaution.",
        fix="Publier la valeur validée quand elle l'est, ou laisser le drapeau à faux : la ligne est gardée "
            "et signalée.",
        origin="drapeau de validation des mesures de qualité de l'air (statut_valid, Atmo)")
def validated(ctx, decl) -> int:
    values = [str(v).lower() for v in _list(decl.params["values"])]
    return ctx.hits("validated", {"column_name": decl.params["column"], "validated": values},
                    column=decl.params["column"])


@define("unsupported_check", level="warning", columns=(), params={"name": None},
        title="Contrôle du schéma non pris en charge",
        explanation="Le schéma demande un contrôle Validata que la plateforme ne sait pas encore faire.",
        fix="Vérifier ce point avec le validateur Validata (validata.fr) en attendant qu'il soit pris en charge.",
        origin="contrôles personnalisés (custom_checks) des schémas de schema.data.gouv.fr")
def unsupported_check(ctx, decl) -> int:
    from territoire.ingest.rules.engine import RuleNotRun

    raise RuleNotRun(f"contrôle Validata « {decl.params['name']} » du schéma non pris en charge : le vérifier "
                     f"avec validata.fr")
