"""The Table Schema constraints, one class each: the condition (SQL, true when a row breaks it) of the
detailed check that names every broken cell, the aggregate of the one-scan check that only asks whether
any value breaks it, and the French explanation with what to do.

A constraint sees one field through a `Column`: its quoted name, the SQL telling that the value is
missing (`absent`), and the value read as the field's type (`parsed`, canonical text, NULL when
unreadable), both computed once per row by the plan (plan.py).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from territoire.ingest import proofs
from territoire.ingest.schema.model import Field
from territoire.ingest.schema.sqltext import DIGITS, anchored, lit
from territoire.ingest.schema.types import (
    TYPE_FAILURE,
    TYPES,
    Aggregate,
    Explanation,
    FieldType,
    bound_ok,
    zero,
)

# `format` of string fields (Table Schema): checked with a regex, as frictionless does.
STRING_FORMATS = {
    "email": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    "uri": r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$",
    "uuid": r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
}


@dataclass(frozen=True)
class Column:
    """One field's column as the constraints see it in the plan's inner select."""

    field: Field
    type: FieldType
    col: str            # the quoted column (the value as published)
    absent: str         # SQL: the value is missing
    parsed: str | None  # SQL: the value read as the type, None for a type without reading
    required: bool      # required, or part of the primary key

    @property
    def label(self) -> str:
        return f"« {self.field.name} »"

    @property
    def value(self) -> str:
        """What enum compares: the canonical text for normalised types, the published text otherwise."""
        return f"coalesce({self.parsed}, {self.col})" if self.parsed and self.type.normalised else self.col


@dataclass(frozen=True)
class Violation:
    """One check of the detailed plan: a SQL condition true when the row breaks it."""

    column: str
    rule: str
    condition: str
    message: str


# -- digit codes: `^[0-9]{5}$`, `^\d{14}$`, `^\d+$` ---------------------------------------------------

_DIGIT_CODE = re.compile(r"^\^?(?:\\d|\[0-9\])(?:\{(\d+)(?:,(\d*))?\}|(\+))\$?$")
# int8 holds every 18-digit string: up to that length a digit code is checked by a cast, not `translate`.
_INT8_DIGITS = 18


def digit_code_lengths(pattern: str) -> tuple[int, int] | None:
    """(min, max) length when `pattern` is a digit-code pattern (`^[0-9]{5}$`, `^\\d{2,5}$`, `^\\d+$`), else None."""
    m = _DIGIT_CODE.match(pattern)
    if not m:
        return None
    lo, hi, plus = m.groups()
    if plus:
        return 1, sys.maxsize
    return int(lo), sys.maxsize if hi == "" else int(hi if hi is not None else lo)


def _pattern_ok(pattern: str, col: str) -> str:
    """SQL true when `col` matches `pattern`; digit codes without the regex engine (3x cheaper)."""
    lengths = digit_code_lengths(pattern)
    if lengths is None:
        return f"{col} ~ {lit(anchored(pattern))}"
    lo, hi = lengths
    size = (f"length({col}) = {lo}" if lo == hi else f"length({col}) >= {lo}" if hi == sys.maxsize
            else f"length({col}) between {lo} and {hi}")
    return f"(translate({col}, {DIGITS}, '') = '' and {size})"


def _pattern_broken_fast(pattern: str, col: str) -> str:
    """SQL for the one-scan check: true when a non-empty `col` breaks `pattern`. A fixed-size digit code
    up to 18 digits is checked by a cast (~0.15 us a value against ~0.4 for `translate`): zero-padding the
    cast's text back to the value's length and comparing catches what a cast tolerates (a sign, spaces,
    `0x1F`, `1_000`); a non-digit makes the cast raise, which the one-scan check reads as "not clean"."""
    lengths = digit_code_lengths(pattern)
    if lengths is None or lengths[1] > _INT8_DIGITS:
        return f"not {_pattern_ok(pattern, col)}"
    lo, hi = lengths
    canonical = f"abs({col}::int8)::text"
    if lo == hi:
        return f"(lpad({canonical}, {lo}, '0') <> {col})"
    return f"(octet_length({col}) not between {lo} and {hi} or lpad({canonical}, octet_length({col}), '0') <> {col})"


def _code_as_number_sql(col: str, lo: int, hi: int) -> str:
    """SQL true when `col`, breaking a digit-code pattern, looks like the code after a spreadsheet read it
    as a number: `69381.0`, `4.5032466E+13`, a 14-digit identifier ending `00000.0`, or (fixed length of
    4 digits or more) the code with its leading zero lost (`1001` for `01001`)."""
    decimal = f"({col} ~ '^[0-9]+[.,]0+$' and length(split_part(translate({col}, ',', '.'), '.', 1)) " \
              f"between {max(lo - 2, 1)} and {hi})"
    scientific = f"{col} ~ '^[0-9]([.,][0-9]+)?[eE]\\+?[0-9]+$'"
    parts = [decimal, scientific]
    if lo == hi and lo >= 4:
        parts.append(f"(translate({col}, {DIGITS}, '') = '' and length({col}) = {lo - 1})")
    return f"({' or '.join(parts)})"


# -- the constraints -------------------------------------------------------------------------------


class Constraint:
    """A constraint of a field: `applies`, its `violations` (detailed check), `aggregates` (one scan) and
    `explanations`, one per rule name its violations carry (what the conformity report tells the producer)."""

    rule = ""
    explanations: dict[str, Explanation] = {}

    def applies(self, c: Column) -> bool:
        raise NotImplementedError

    def violations(self, c: Column) -> list[Violation]:
        raise NotImplementedError

    def aggregates(self, c: Column, col: str) -> list[Aggregate] | None:
        """Over `col` (the published text); None when the one-scan check cannot decide it."""
        return None

    def client_proof(self, c: Column) -> proofs.Proof | None:
        """What the client can prove of it while it streams a clean CSV (ingest/proofs.py); None:
        PostgreSQL's one-scan check decides."""
        return None


class Required(Constraint):
    rule = "required"
    explanations = {"required": Explanation("Valeur obligatoire manquante",
                                            "Le schéma impose une valeur dans cette colonne.",
                                            "Renseigner la valeur dans chaque ligne.")}

    def applies(self, c: Column) -> bool:
        return c.required

    def violations(self, c: Column) -> list[Violation]:
        return [Violation(c.field.column, self.rule, c.absent,
                          f"{c.label} est obligatoire : la valeur manque ; la renseigner")]

    def aggregates(self, c: Column, col: str) -> list[Aggregate] | None:
        return []  # every required column is counted by one aggregate (plan.build_fast_check)

    def client_proof(self, c: Column) -> proofs.Proof | None:
        return proofs.filled


class TypeConstraint(Constraint):
    """The value must be readable as the field's type (rule `type:<name>`, explained by the type itself)."""

    explanations = {"type": TYPE_FAILURE}

    def applies(self, c: Column) -> bool:
        return c.parsed is not None

    def violations(self, c: Column) -> list[Violation]:
        return [Violation(c.field.column, f"type:{c.field.type}", f"(not {c.absent} and {c.parsed} is null)",
                          c.type.message(c.field))]

    def client_proof(self, c: Column) -> proofs.Proof | None:
        return c.type.client_proof(c.field)


class StringFormat(Constraint):
    rule = "format"
    explanations = {"format": Explanation("Format invalide (e-mail, URL, UUID)",
                                          "Le schéma impose un format pour cette colonne.",
                                          "Corriger la valeur selon le format indiqué.")}

    def applies(self, c: Column) -> bool:
        return c.field.type == "string" and c.field.format in STRING_FORMATS

    def violations(self, c: Column) -> list[Violation]:
        f = c.field
        return [Violation(f.column, f"format:{f.format}",
                          f"(not {c.absent} and {c.col} !~ {lit(STRING_FORMATS[f.format])})",
                          f"{c.label} doit être au format {f.format}")]


class Pattern(Constraint):
    """`pattern`; a digit code a spreadsheet turned into a number breaks it with a rule of its own."""

    rule = "pattern"
    explanations = {
        "pattern": Explanation("Valeur qui ne respecte pas le format attendu",
                               "Le schéma impose un motif (longueur, caractères).",
                               "Vérifier la valeur (longueur, caractères autorisés) par rapport au motif du schéma."),
        "code-as-number": Explanation(
            "Code écrit comme un nombre : zéros ou chiffres perdus",
            "Un tableur a lu le code comme un nombre (69381.0, 4.5E+13, 1001 pour 01001).",
            "Formater la colonne en texte dans le tableur avant l'export, puis ressaisir les codes."),
    }

    def applies(self, c: Column) -> bool:
        return bool(c.field.pattern)

    def violations(self, c: Column) -> list[Violation]:
        f = c.field
        broken = f"(not {c.absent} and not {_pattern_ok(f.pattern, c.col)})"
        message = f"{c.label} doit respecter le motif {f.pattern}"
        lengths = digit_code_lengths(f.pattern)
        if lengths is None or c.field.type != "string":
            return [Violation(f.column, self.rule, broken, message)]
        mangled = _code_as_number_sql(c.col, *lengths)
        size = f"{lengths[0]} chiffres" if lengths[0] == lengths[1] else "des chiffres"
        return [Violation(f.column, self.rule, f"({broken} and not coalesce({mangled}, false))", message),
                Violation(f.column, "code-as-number", f"({broken} and {mangled})",
                          f"{c.label} : code écrit comme un nombre : zéros ou chiffres perdus (attendu : {size}, "
                          f"motif {f.pattern}) ; dans le tableur, mettre la colonne au format texte avant "
                          f"d'exporter, ou republier le fichier d'origine")]

    def aggregates(self, c: Column, col: str) -> list[Aggregate] | None:
        return [(f"bool_or({col} <> '' and {_pattern_broken_fast(c.field.pattern, col)})", zero)]

    def client_proof(self, c: Column) -> proofs.Proof | None:
        lengths = digit_code_lengths(c.field.pattern)
        return proofs.digit_code(*lengths) if lengths and c.field.type == "string" else None


class Enum(Constraint):
    rule = "enum"
    explanations = {"enum": Explanation("Valeur hors de la liste autorisée",
                                        "Le schéma n'admet qu'une liste fermée de valeurs.",
                                        "Utiliser exactement l'une des valeurs prévues par le schéma (casse et "
                                        "accents compris).")}

    def applies(self, c: Column) -> bool:
        return bool(c.field.enum)

    def violations(self, c: Column) -> list[Violation]:
        f = c.field
        return [Violation(f.column, self.rule,
                          f"(not {c.absent} and {c.value} not in ({', '.join(lit(v) for v in f.enum)}))",
                          f"{c.label} doit valoir l'une de ces valeurs : {' | '.join(f.enum)}")]

    def aggregates(self, c: Column, col: str) -> list[Aggregate] | None:
        if c.field.type != "string":
            return None  # compared after reading: the detailed check does it
        return [(f"bool_or({col} <> '' and {col} not in ({', '.join(lit(v) for v in c.field.enum)}))", zero)]

    def client_proof(self, c: Column) -> proofs.Proof | None:
        return proofs.one_of(c.field.enum) if c.field.type == "string" else None


class Length(Constraint):
    """minLength / maxLength."""

    def __init__(self, bound: str):
        self.rule, self.bound = bound, bound
        self.op, self.agg, self.word, self.test = (
            ("<", "min", "au moins", ">=") if bound == "minLength" else (">", "max", "au plus", "<="))
        self.explanations = {bound: Explanation("Texte trop court", "Le schéma fixe une longueur minimale.",
                                                "Compléter la valeur.") if bound == "minLength" else
                             Explanation("Texte trop long", "Le schéma fixe une longueur maximale.",
                                         "Raccourcir la valeur.")}

    def _limit(self, f: Field):
        return f.min_length if self.bound == "minLength" else f.max_length

    def applies(self, c: Column) -> bool:
        return self._limit(c.field) is not None

    def violations(self, c: Column) -> list[Violation]:
        limit = int(self._limit(c.field))
        return [Violation(c.field.column, self.rule, f"(not {c.absent} and length({c.col}) {self.op} {limit})",
                          f"{c.label} doit compter {self.word} {limit} caractères")]

    def aggregates(self, c: Column, col: str) -> list[Aggregate] | None:
        return [(f"{self.agg}(length(nullif({col}, '')))", bound_ok(self._limit(c.field), self.test))]


class Bound(Constraint):
    """minimum / maximum, compared on the value read as its type (checked in one scan by the type)."""

    ORDERED_AS_TEXT = ("date", "datetime", "year", "yearmonth", "time")  # canonical ISO text sorts like values

    def __init__(self, bound: str):
        self.rule, self.bound = bound, bound
        self.op, self.word = ("<", "supérieur ou égal à") if bound == "minimum" else (">", "inférieur ou égal à")
        self.explanations = {bound: Explanation("Valeur trop petite", "Le schéma fixe une valeur minimale.",
                                                "Vérifier l'unité et l'ordre de grandeur de la valeur.")
                             if bound == "minimum" else
                             Explanation("Valeur trop grande", "Le schéma fixe une valeur maximale.",
                                         "Vérifier l'unité et l'ordre de grandeur (ex. un pourcentage 0-1).")}

    def applies(self, c: Column) -> bool:
        return (getattr(c.field, self.bound) is not None and c.parsed is not None
                and c.field.type in ("number", "integer", *self.ORDERED_AS_TEXT))

    def violations(self, c: Column) -> list[Violation]:
        limit = getattr(c.field, self.bound)
        cond = (f"({c.parsed}::numeric {self.op} {float(limit)!r})" if c.field.type in ("number", "integer")
                else f"({c.parsed} {self.op} {lit(limit)})")
        return [Violation(c.field.column, self.rule, cond, f"{c.label} doit être {self.word} {limit}")]

    def aggregates(self, c: Column, col: str) -> list[Aggregate] | None:
        return []  # the type's aggregates (min/max) carry the bounds

    def client_proof(self, c: Column) -> proofs.Proof | None:
        return proofs.anything  # the type's proof carries the bounds


# In the order the detailed check lists them.
CONSTRAINTS: tuple[Constraint, ...] = (Required(), TypeConstraint(), StringFormat(), Pattern(), Enum(),
                                       Length("minLength"), Length("maxLength"), Bound("minimum"),
                                       Bound("maximum"))


class Unique(Constraint):
    """`unique` fields and the primary key: checked on the new raw table once every row is read
    (checking.quarantine_duplicates, from plan.key_columns), not by a per-row condition."""

    rule = "unique"
    explanations = {"unique": Explanation("Clé en double", "La clé du schéma doit être unique.",
                                          "Chaque ligne doit avoir une clé distincte : supprimer ou corriger "
                                          "les doublons.")}

    def applies(self, c: Column) -> bool:
        return False


def explain(rule: str) -> Explanation | None:
    """How the conformity report explains a schema rule (`required`, `type:date`, `format:email`...);
    None for a rule no constraint reports."""
    base, _, detail = rule.partition(":")
    if base == "type" and detail in TYPES:
        return TYPES[detail].explained()
    for constraint in (*CONSTRAINTS, Unique()):
        if base in constraint.explanations:
            return constraint.explanations[base].detailed(detail)
    return None
