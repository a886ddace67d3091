"""Identifier rules: SIREN, SIRET (python-stdnum, La Poste's exception included), RNA, French phone
numbers, e-mail addresses, URLs, AFIREV charging-station and charging-point ids.

Each value is judged once (distinct values streamed from PostgreSQL); the verdict names what is wrong
with that value, so each example in the report carries its own message.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import idna
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret

from territoire.ingest.rules.model import define

# A spreadsheet turned the number into a float: `4.4137080600016E+13`, `44137080600016.0`, `4,41E+13`.
_SCIENTIFIC = re.compile(r"^\d+([.,]\d+)?[eE][+]?\d+$")
_DECIMAL_TAIL = re.compile(r"^(\d+)[.,]0+$")
_SEPARATORS = re.compile(r"[\s.\-]")


def _spreadsheet_damage(value: str, digits: int) -> str | None:
    v = value.strip()
    if _SCIENTIFIC.match(v):
        return (f"{v} : nombre en notation scientifique, un tableur a converti l'identifiant et ses derniers "
                f"chiffres sont perdus")
    tail = _DECIMAL_TAIL.match(v)
    if tail and len(tail.group(1)) in (digits, digits - 1):
        return f"{v} : identifiant écrit comme un nombre décimal (« .0 ») par un tableur"
    return None


def _luhn_verdict(module, value: str, digits: int, name: str) -> str | None:
    damage = _spreadsheet_damage(value, digits)
    if damage:
        return damage
    compact = _SEPARATORS.sub("", value)
    if compact.isdigit() and len(compact) == digits - 1:
        return f"{value} : {digits - 1} chiffres au lieu de {digits}, le zéro initial a sans doute été perdu"
    try:
        module.validate(compact)
    except InvalidLength:
        return f"{value} : {len(compact)} caractères au lieu de {digits} chiffres"
    except InvalidFormat:
        return f"{value} : un {name} ne contient que des chiffres"
    except InvalidChecksum:
        if digits == 14 and compact.endswith("00000"):
            return (f"{value} : clé de contrôle fausse et les 5 derniers chiffres (NIC) à zéro : un tableur a "
                    f"sans doute arrondi le nombre, les derniers chiffres sont perdus")
        return f"{value} : clé de contrôle fausse (algorithme de Luhn), un chiffre est erroné ou inversé"
    except ValidationError as exc:  # any other verdict of stdnum
        return f"{value} : {exc}"
    return None


def siren_verdict(value: str) -> str | None:
    return _luhn_verdict(stdnum_siren, value, 9, "SIREN")


def siret_verdict(value: str) -> str | None:
    return _luhn_verdict(stdnum_siret, value, 14, "SIRET")


_RNA = re.compile(r"^W[0-9][0-9AB][0-9]{7}$")


def rna_verdict(value: str) -> str | None:
    v = value.strip().upper()
    if _RNA.match(v):
        return None
    if re.fullmatch(r"\d{14}", v):
        return f"{value} : c'est un numéro SIRET, pas un numéro RNA (W suivi de 9 caractères)"
    return f"{value} : un numéro RNA s'écrit W suivi de 9 caractères (ex. W751234567)"


# French numbers: 10 digits starting with 0, or +33 / 0033 followed by 9 digits; the overseas country
# codes (+262, +590...); short service numbers (15, 17, 18, 112, 115, 116xxx, 10xx, 3xxx).
_PHONE_FRANCE = re.compile(r"^(?:\+|00)33(\d+)$")
_PHONE_OVERSEAS = re.compile(r"^(?:\+|00)(262|269|508|590|594|596|687|689|681)\d{6,9}$")
_PHONE_SHORT = re.compile(r"^(1[5789]|11[0-9]|116\d{3}|10\d{2}|3\d{3})$")


def phone_verdict(value: str) -> str | None:
    compact = re.sub(r"[\s.\-/()]", "", value.strip())
    if re.fullmatch(r"0[1-9]\d{8}", compact) or _PHONE_SHORT.match(compact) or _PHONE_OVERSEAS.match(compact):
        return None
    france = _PHONE_FRANCE.match(compact)
    if france:
        if re.fullmatch(r"[1-9]\d{8}", france.group(1)):
            return None
        return f"{value} : après +33 viennent 9 chiffres sans le 0 initial (ex. +33 1 23 45 67 89)"
    if re.fullmatch(r"[1-9]\d{8}", compact):
        return f"{value} : 9 chiffres, le 0 initial a sans doute été perdu (tableur)"
    if _spreadsheet_damage(value, 10):
        return f"{value} : numéro converti en nombre par un tableur"
    return f"{value} : pas un numéro de téléphone français (10 chiffres commençant par 0, ou +33 suivi de 9)"


_LOCAL_PART = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+$")


def _domain_verdict(domain: str) -> str | None:
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode()
    except idna.IDNAError as exc:
        return f"nom de domaine invalide ({exc})"
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]|xn--[a-z0-9-]+", labels[-1].lower()):
        return "le nom de domaine n'a pas d'extension (.fr, .com...)"
    return None


def email_verdict(value: str) -> str | None:
    v = value.strip()
    if v.lower().startswith("mailto:"):
        return f"{value} : écrire l'adresse sans « mailto: »"
    if v.count("@") != 1:
        return f"{value} : une adresse e-mail contient exactement un @"
    local, domain = v.split("@")
    if not local or not _LOCAL_PART.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        return f"{value} : partie avant le @ invalide (espace, accent ou point mal placé)"
    problem = _domain_verdict(domain)
    return f"{value} : {problem}" if problem else None


def url_verdict(value: str) -> str | None:
    v = value.strip()
    if " " in v:
        return f"{value} : une URL ne contient pas d'espace (l'encoder en %20)"
    parts = urlsplit(v)
    if parts.scheme.lower() not in ("http", "https"):
        return f"{value} : une URL commence par http:// ou https://"
    if not parts.hostname:
        return f"{value} : l'URL n'a pas de nom de domaine"
    if parts.hostname != "localhost" and not re.fullmatch(r"[\d.]+", parts.hostname):
        problem = _domain_verdict(parts.hostname)
        if problem:
            return f"{value} : {problem}"
    return None


_AFIREV = {"P": "station", "E": "point de charge"}


def _afirev_verdict(value: str, kind: str) -> str | None:
    """AFIREV ids: country (2 letters), operator (3 characters), then P (station) or E (point)."""
    for part in value.split(","):
        v = part.strip()
        if v == "Non concerné":
            continue
        if not re.fullmatch(r"[A-Z]{2}[A-Z0-9]{3}[A-Z0-9]{1,30}", v):
            return f"{value} : un identifiant AFIREV s'écrit en majuscules : pays, code opérateur, puis {kind}"
        if v[5] != kind:
            other = _AFIREV.get(v[5])
            hint = f" (c'est un identifiant de {other})" if other else ""
            return (f"{value} : la 6e lettre d'un identifiant de {_AFIREV[kind]} est {kind}, pas {v[5]}{hint}")
    return None


_FIX_LUHN = ("Recopier le numéro depuis annuaire-entreprises.data.gouv.fr ; dans un tableur, formater la "
             "colonne en texte avant de coller pour garder tous les chiffres et les zéros initiaux.")


@define("siren", level="error", title="SIREN invalide",
        explanation="Un SIREN a 9 chiffres dont le dernier est une clé de contrôle (Luhn) ; un numéro faux ne "
                    "permet pas d'identifier l'entreprise ou la collectivité.",
        fix=_FIX_LUHN, origin="INSEE, répertoire SIRENE (vérifié avec python-stdnum)")
def siren(ctx, decl) -> int:
    return ctx.judge_values(decl.params["column"], siren_verdict)


@define("siret", level="error", title="SIRET invalide",
        explanation="Un SIRET a 14 chiffres (SIREN + NIC) avec une clé de contrôle (Luhn ; règle propre aux "
                    "établissements de La Poste) ; un tableur qui le convertit en nombre perd ses derniers "
                    "chiffres.",
        fix=_FIX_LUHN, origin="INSEE, répertoire SIRENE (vérifié avec python-stdnum)")
def siret(ctx, decl) -> int:
    return ctx.judge_values(decl.params["column"], siret_verdict)


@define("rna", level="error", title="Numéro RNA invalide",
        explanation="Le numéro du répertoire national des associations s'écrit W suivi de 9 caractères.",
        fix="Recopier le numéro RNA de l'association (W + 9 caractères) depuis le journal officiel ou "
            "annuaire-entreprises.data.gouv.fr ; une association sans RNA se désigne par son SIRET.",
        origin="Répertoire national des associations (RNA)")
def rna(ctx, decl) -> int:
    return ctx.judge_values(decl.params["column"], rna_verdict)


@define("phone_fr", level="error", title="Numéro de téléphone invalide",
        explanation="Un numéro français a 10 chiffres commençant par 0 (ou +33 suivi de 9 chiffres).",
        fix="Écrire le numéro en entier, zéro initial compris (01 23 45 67 89 ou +33 1 23 45 67 89), en "
            "formatant la colonne en texte dans un tableur.",
        origin="plan de numérotation français (ARCEP) ; consolidation IRVE (« numéros de téléphone invalides »)")
def phone_fr(ctx, decl) -> int:
    return ctx.judge_values(decl.params["column"], phone_verdict)


@define("email", level="error", title="Adresse e-mail invalide",
        explanation="L'adresse doit avoir la forme nom@domaine.extension, sans espace ni « mailto: ».",
        fix="Corriger l'adresse (un seul @, pas d'espace, un domaine avec son extension) ; préférer une "
            "adresse générique de contact.",
        origin="RFC 5322 (forme usuelle), domaines internationalisés (IDNA)")
def email(ctx, decl) -> int:
    return ctx.judge_values(decl.params["column"], email_verdict)


@define("url", level="warning", title="URL invalide",
        explanation="Un lien doit être une URL complète commençant par http:// ou https://.",
        fix="Écrire l'adresse complète du lien (https://...), sans espace.",
        origin="RFC 3986")
def url(ctx, decl) -> int:
    return ctx.judge_values(decl.params["column"], url_verdict)


@define("afirev_station", level="error", title="Identifiant de station invalide",
        explanation="L'identifiant d'itinérance d'une station suit le format AFIREV : pays (FR), code de "
                    "l'opérateur (3 caractères), la lettre P, puis le numéro de la station.",
        fix="Reprendre l'identifiant attribué par l'AFIREV (FRxxxP...) ou écrire « Non concerné » si la "
            "station n'est pas ouverte à l'itinérance.",
        origin="schéma IRVE statique 2.3.0 et consolidation IRVE (« identifiants de station invalides »)")
def afirev_station(ctx, decl) -> int:
    return ctx.judge_values(decl.params["column"], lambda v: _afirev_verdict(v, "P"))


@define("afirev_pdc", level="error", title="Identifiant de point de charge invalide",
        explanation="L'identifiant d'itinérance d'un point de charge suit le format AFIREV : pays (FR), code "
                    "de l'opérateur (3 caractères), la lettre E, puis le numéro du point.",
        fix="Reprendre l'identifiant attribué par l'AFIREV (FRxxxE...) ; ne pas y mettre l'identifiant de "
            "la station.",
        origin="schéma IRVE statique 2.3.0 et consolidation IRVE")
def afirev_pdc(ctx, decl) -> int:
    return ctx.judge_values(decl.params["column"], lambda v: _afirev_verdict(v, "E"))
