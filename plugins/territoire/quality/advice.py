"""What a failing check means for a manager: the problem, its consequence, the action and who acts.

The suites give each check a plain sentence saying what should hold (`meta.explication`, kept as
`explication` in the history). This module adds, per kind of check, what breaks when it does not
hold and who can fix it: the producer (the source's publisher) or the data team (us). A suite may
override any of the three with `meta.consequence`, `meta.action`, `meta.acteur`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PRODUCER = "producteur"
DATA_TEAM = "equipe"
ACTORS = {PRODUCER: "Le producteur de la donnée", DATA_TEAM: "L'équipe données"}


@dataclass(frozen=True)
class Advice:
    consequence: str
    action: str
    actor: str  # PRODUCER or DATA_TEAM


# (how the rule name ends or the expectation type, advice); first match wins.
BY_RULE_SUFFIX: list[tuple[str, Advice]] = [
    ("_signalees", Advice(
        "Ces lignes sont publiées avec un signalement : les réutilisateurs doivent en tenir compte.",
        "Demander au producteur de corriger les lignes signalées dans sa prochaine livraison.", PRODUCER)),
    ("_dans_referentiel", Advice(
        "Ces lignes ne peuvent pas être rattachées à un territoire : elles manquent dans les totaux "
        "et les indicateurs de ce territoire.",
        "Signaler les codes inconnus au producteur ; si le code a changé (fusion de communes), "
        "mettre à jour la table de passage.", PRODUCER)),
    ("_renseigne", Advice(
        "Ces lignes sont incomplètes : elles ne peuvent pas être identifiées ou rattachées.",
        "Demander au producteur de compléter la valeur manquante à la source.", PRODUCER)),
    ("_renseignee", Advice(
        "Ces lignes sont incomplètes et faussent les totaux.",
        "Demander au producteur de compléter la valeur manquante à la source.", PRODUCER)),
    ("_renseignees", Advice(
        "Ces lignes ne peuvent pas être placées sur une carte.",
        "Demander au producteur de compléter les coordonnées.", PRODUCER)),
    ("_format", Advice(
        "Ces valeurs ne sont pas reconnues par les outils qui croisent les données (jointures, cartes).",
        "Demander au producteur de corriger le format à la source.", PRODUCER)),
    ("_plausible", Advice(
        "Ces valeurs sont hors des bornes plausibles : les totaux et moyennes qui les incluent sont faux.",
        "Vérifier quelques lignes avec le producteur ; corriger à la source si c'est une erreur de saisie.",
        PRODUCER)),
    ("_positif", Advice(
        "Une valeur négative n'a pas de sens ici : les totaux qui l'incluent sont faux.",
        "Demander au producteur de corriger ces lignes à la source.", PRODUCER)),
    ("cle_unique", Advice(
        "Des lignes en double : les comptages et les sommes sont surévalués.",
        "Vérifier le chargement et la modélisation (doublon introduit par une jointure ?) ; "
        "si le doublon vient du fichier, le signaler au producteur.", DATA_TEAM)),
    ("longitude_differente_latitude", Advice(
        "Les points sont placés au mauvais endroit sur les cartes (longitude et latitude confondues).",
        "Signaler au producteur les lignes où la longitude égale la latitude.", PRODUCER)),
    ("coordonnees_en_france", Advice(
        "Ces points apparaissent hors de France sur les cartes.",
        "Signaler au producteur ; vérifier que la longitude et la latitude ne sont pas inversées.", PRODUCER)),
    ("secret", Advice(
        "Une valeur couverte par le secret statistique serait publiée : risque juridique.",
        "Ne pas publier ; vérifier la règle de masquage dans les modèles dbt.", DATA_TEAM)),
]

BY_EXPECTATION: dict[str, Advice] = {
    "expect_table_columns_to_match_set": Advice(
        "Les colonnes attendues par les réutilisateurs ont changé : leurs programmes peuvent casser.",
        "Vérifier si le producteur a changé son format ; adapter le catalogue et les modèles.", DATA_TEAM),
    "expect_table_columns_to_match_ordered_list": Advice(
        "Les colonnes attendues par les réutilisateurs ont changé : leurs programmes peuvent casser.",
        "Vérifier si le producteur a changé son format ; adapter le catalogue et les modèles.", DATA_TEAM),
    "expect_column_values_to_be_of_type": Advice(
        "Le type d'une colonne a changé : les calculs et les fichiers exportés changent de sens.",
        "Vérifier le schéma de la source et les modèles dbt.", DATA_TEAM),
    "expect_column_values_to_be_in_type_list": Advice(
        "Le type d'une colonne a changé : les calculs et les fichiers exportés changent de sens.",
        "Vérifier le schéma de la source et les modèles dbt.", DATA_TEAM),
    "expect_table_row_count_to_be_between": Advice(
        "La nouvelle version a beaucoup moins de lignes que la version publiée : des données "
        "disparaîtraient pour les utilisateurs.",
        "Vérifier le dernier chargement (fichier tronqué, filtre, source partielle) avant de republier.",
        DATA_TEAM),
    "expect_column_max_to_be_between": Advice(
        "Les données ne sont plus à jour : les chiffres publiés décrivent une situation ancienne.",
        "Vérifier que la source a publié une nouvelle version et que la collecte fonctionne ; "
        "relancer le producteur si besoin.", PRODUCER),
    "expect_column_values_to_not_be_null": Advice(
        "Des valeurs manquent : ces lignes ne comptent pas dans les totaux.",
        "Demander au producteur de compléter la valeur à la source.", PRODUCER),
    "expect_column_values_to_be_unique": Advice(
        "Des lignes en double : les comptages et les sommes sont surévalués.",
        "Vérifier le chargement et la modélisation ; signaler le doublon au producteur s'il vient du fichier.",
        DATA_TEAM),
}

COULD_NOT_RUN = Advice(
    "Le contrôle n'a pas pu s'exécuter : on ne sait pas si les données sont bonnes.",
    "Lire le détail technique du contrôle et corriger la requête ou la table (équipe données).", DATA_TEAM)
DEFAULT = Advice(
    "Les données publiées ne respectent pas cette règle : les chiffres qui en dépendent sont douteux.",
    "Examiner les exemples ; corriger à la source si l'erreur vient du fichier, sinon dans les modèles.",
    DATA_TEAM)


def advise(*, rule: str | None, expectation: str, observed: Any = None, meta: dict | None = None) -> Advice:
    """The advice for one failing check; the suite's own `meta` wins over the defaults."""
    if isinstance(observed, str) and observed.startswith("the check could not run"):
        base = COULD_NOT_RUN
    else:
        base = _by_rule(rule) or BY_EXPECTATION.get(expectation) or DEFAULT
    meta = meta or {}
    return Advice(meta.get("consequence") or base.consequence, meta.get("action") or base.action,
                  meta.get("acteur") if meta.get("acteur") in ACTORS else base.actor)


def _by_rule(rule: str | None) -> Advice | None:
    if not rule:
        return None
    for suffix, advice in BY_RULE_SUFFIX:
        if rule.endswith(suffix) or (suffix == "secret" and "secret" in rule):
            return advice
    return None


def readable_examples(examples: Any, limit: int = 3) -> list[str]:
    """Two or three examples a person can read: 'code_commune = 99001, nom = X', duplicates dropped."""
    if isinstance(examples, str):
        try:
            examples = json.loads(examples)
        except ValueError:
            examples = [examples]
    out: list[str] = []
    for example in examples or []:
        text = _example_text(example)
        if text and text not in out:
            out.append(text)
        if len(out) == limit:
            break
    return out


def _example_text(example: Any) -> str:
    if isinstance(example, dict):
        return ", ".join(f"{k} = {_scalar(v)}" for k, v in example.items() if v is not None)[:200]
    if isinstance(example, (list, tuple)):
        return ", ".join(_scalar(v) for v in example)[:200]
    return _scalar(example)[:200]


def _scalar(value: Any) -> str:
    if value is None:
        return "(vide)"
    text = str(value)
    return "(vide)" if text == "" else text
