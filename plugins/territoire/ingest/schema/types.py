"""The Table Schema types, one class each: how a value is read (SQL giving its canonical text, NULL
when it cannot be read), how a whole column is checked in one aggregate scan, and how a failure is
explained in French with what to do.

The reading is SQL because both of the loader's paths (PostgreSQL parsing the CSV, or Python's csv
module feeding the rows one by one) put the text values in a staging table first; the check runs there,
set-based. The plpgsql functions a reading calls are in `functions.sql` beside this file.

A reading first tries the value's canonical form with plain string functions (`translate`, `length`:
~0.2 us a value, against 1-3 us for the regex engine), and only calls the plpgsql normaliser for the
unusual values (signs, thousands separators, French dates...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from territoire.ingest import proofs
from territoire.ingest.schema.model import Field
from territoire.ingest.schema.sqltext import DIGITS, MAX_DIGITS, lit

# An aggregate of the one-scan check and the test its value must pass (None: no row).
Aggregate = tuple[str, Callable[[Any], bool]]


def no_row_or(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or test(v)


def bound_ok(limit: Any, op: str) -> Callable[[Any], bool]:
    """The test of a min()/max() aggregate against a schema bound (ISO dates compare as text)."""
    def ok(value: Any) -> bool:
        if value is None or limit is None:
            return True
        a, b = (value, str(limit)) if isinstance(value, str) else (float(value), float(limit))
        return a >= b if op == ">=" else a <= b
    return ok


def zero(value: Any) -> bool:
    """None (no row), 0 or False: nothing found."""
    return not value


class Explanation(NamedTuple):
    """A rule told to a data producer, in French (conformity reports): what is wrong, why, what to do."""

    title: str
    explanation: str
    fix: str

    def detailed(self, detail: str) -> Explanation:
        """The same, the title naming the rule's detail (`format:email` -> `... (email)`)."""
        return self._replace(title=f"{self.title} ({detail})") if detail else self


# A value the field's type cannot read (rule `type:<name>`), for a type without words of its own.
TYPE_FAILURE = Explanation(
    "Valeur qui n'est pas du type attendu", "La valeur ne peut pas être lue comme le type du schéma.",
    "Écrire les nombres avec un point décimal sans séparateur de milliers (1234.5), les dates au format "
    "AAAA-MM-JJ, les booléens true/false.")


@dataclass(frozen=True)
class FieldType:
    """A type without reading (string, any): every value is fine."""

    name: str
    label_fr: str = ""
    fix_fr: str = ""
    normalised: bool = False        # the canonical text replaces the published value in the raw table
    strict_pattern: str | None = None  # the form the Table Schema specification gives the type

    def read_sql(self, col: str, f: Field, strict: bool) -> str | None:
        """SQL: `col` read as this type (canonical text), NULL when unreadable; None: nothing to read."""
        return None

    def fast_aggregates(self, col: str, f: Field, *, num_col: str) -> list[Aggregate] | None:
        """The one-scan check of the type and of its bounds; None when it cannot be decided cheaply."""
        return []

    def client_proof(self, f: Field) -> proofs.Proof | None:
        """What the client can prove of the type and its bounds while it streams a clean CSV
        (ingest/proofs.py); None: PostgreSQL's one-scan check decides."""
        return None

    def message(self, f: Field) -> str:
        return f"« {f.name} » doit être {self.label_fr} : {self.fix_fr}"

    def explained(self) -> Explanation:
        """Rule `type:<name>` explained for a report: this type's own words (what it must be, how to write it)."""
        if not self.label_fr:
            return TYPE_FAILURE.detailed(self.name)
        fix = self.fix_fr if self.fix_fr.startswith("écrire") else f"écrire {self.fix_fr}"
        return Explanation(f"{TYPE_FAILURE.title} ({self.name})", f"La valeur doit être {self.label_fr}.",
                           f"{fix[0].upper()}{fix[1:]}.")


@dataclass(frozen=True)
class _Normalised(FieldType):
    """A type read by a plpgsql function `ingest.to_<name>` (functions.sql) after a cheap canonical test."""

    normalised: bool = True

    def canonical_sql(self, col: str) -> str | None:
        """SQL: `col` when it is already in the type's usual canonical form, else NULL (no function call)."""
        return None

    def read_sql(self, col: str, f: Field, strict: bool) -> str | None:
        fast = self.canonical_sql(col)
        if strict and self.strict_pattern:
            check = f"{col} ~ {lit(self.strict_pattern)}"
            if self.name in ("date", "datetime"):  # the regex admits 2024-02-31: the function rejects it
                return f"(case when {check} then ingest.to_{self.name}({col}) end)"
            if fast and self.name in ("integer", "year"):  # their canonical form is the strict one
                return f"coalesce({fast}, case when {check} then {col} end)"
            return f"(case when {check} then {col} end)"
        # coalesce: the plpgsql normaliser only runs when the fast reading fails.
        return f"coalesce({fast}, ingest.to_{self.name}({col}))" if fast else f"ingest.to_{self.name}({col})"


@dataclass(frozen=True)
class IntegerType(_Normalised):
    def canonical_sql(self, col: str) -> str | None:
        return f"(case when translate({col}, {DIGITS}, '') = '' and length({col}) <= {MAX_DIGITS} then {col} end)"

    def fast_aggregates(self, col: str, f: Field, *, num_col: str) -> list[Aggregate] | None:
        # The cast checks the syntax (a bad value raises: not clean); min/max only as the bounds ask,
        # since every aggregate evaluates its cast again.
        return _number_bounds(f"nullif({col}, '')::int8", f, integer=True)

    def client_proof(self, f: Field) -> proofs.Proof | None:
        return proofs.plain_integers(f.minimum, f.maximum)


@dataclass(frozen=True)
class NumberType(_Normalised):
    def canonical_sql(self, col: str) -> str | None:
        rest = f"translate({col}, {DIGITS}, '')"
        return (f"(case when length({col}) > {MAX_DIGITS} then null when {rest} = '' then {col} "
                f"when {rest} = ',' then (case when left({col}, 1) <> ',' and right({col}, 1) <> ',' "
                f"then replace({col}, ',', '.') end) "
                f"when {rest} = '.' then (case when left({col}, 1) <> '.' and right({col}, 1) <> '.' then {col} end) end)")

    def read_sql(self, col: str, f: Field, strict: bool) -> str | None:
        if not (f.decimal_char or f.group_char):
            return super().read_sql(col, f, strict)
        # Declared separators: strip the group char, turn the decimal char into '.', then read strictly.
        v = col
        if f.group_char:
            v = f"replace({v}, {lit(f.group_char)}, '')"
        if f.decimal_char and f.decimal_char != ".":
            v = f"replace({v}, {lit(f.decimal_char)}, '.')"
        expr = f"(case when {v} ~ {lit(self.strict_pattern)} then {v} end)"
        return expr if strict else f"coalesce({expr}, ingest.to_number({col}))"

    def fast_aggregates(self, col: str, f: Field, *, num_col: str) -> list[Aggregate] | None:
        if f.decimal_char or f.group_char:
            return None
        return _number_bounds(f"nullif({num_col}, '')::float8", f, integer=False)

    def client_proof(self, f: Field) -> proofs.Proof | None:
        if f.decimal_char or f.group_char:
            return None
        return proofs.plain_decimals(f.minimum, f.maximum)


def _number_bounds(num: str, f: Field, *, integer: bool) -> list[Aggregate]:
    aggs: list[Aggregate] = []
    if f.maximum is not None:
        aggs.append((f"max({num})", bound_ok(f.maximum, "<=")))
    if f.minimum is not None:
        aggs.append((f"min({num})", bound_ok(f.minimum, ">=")))
    if not integer:
        # float8 also reads NaN and Infinity, which the reading refuses: max(abs()) is NaN or Infinity then.
        aggs.append((f"max(abs({num}))", no_row_or(math.isfinite)))
    elif not aggs:
        aggs.append((f"min({num})", lambda v: True))  # the cast alone is the check
    return aggs


@dataclass(frozen=True)
class YearType(_Normalised):
    def canonical_sql(self, col: str) -> str | None:
        return f"(case when length({col}) = 4 and translate({col}, {DIGITS}, '') = '' then {col} end)"

    def fast_aggregates(self, col: str, f: Field, *, num_col: str) -> list[Aggregate] | None:
        return None


@dataclass(frozen=True)
class DateType(_Normalised):
    def canonical_sql(self, col: str) -> str | None:
        return (f"(case when length({col}) = 10 and translate({col}, {DIGITS}, '') = '--' "
                f"and substr({col}, 5, 1) = '-' "
                f"and substr({col}, 6, 2) collate \"C\" between '01' and '12' "
                f"and substr({col}, 9, 2) collate \"C\" between '01' and '28' then {col} end)")

    def fast_aggregates(self, col: str, f: Field, *, num_col: str) -> list[Aggregate] | None:
        iso = f"length({col}) = 10 and substr({col}, 5, 1) = '-' and substr({col}, 8, 1) = '-'"
        day = f"(case when {iso} then {col}::date end)"
        return [(f"count(nullif({col}, '')) - count({day})", zero),
                (f"min({day})::text", bound_ok(f.minimum, ">=")),
                (f"max({day})::text", bound_ok(f.maximum, "<="))]


@dataclass(frozen=True)
class DatetimeType(_Normalised):
    def fast_aggregates(self, col: str, f: Field, *, num_col: str) -> list[Aggregate] | None:
        return None


# The spellings read as booleans when the schema keeps the default trueValues/falseValues (lenient
# reading): what spreadsheets and portals write, in French and English, any case.
DEFAULT_TRUE = ("true", "True", "TRUE", "1")
DEFAULT_FALSE = ("false", "False", "FALSE", "0")


@dataclass(frozen=True)
class BooleanType(_Normalised):
    def read_sql(self, col: str, f: Field, strict: bool) -> str | None:
        if f.true_values or f.false_values or strict:
            # Declared values (or the specification's defaults when strict) are the only ones read.
            trues = f.true_values or (DEFAULT_TRUE if not f.false_values else ())
            falses = f.false_values or (DEFAULT_FALSE if not f.true_values else ())
            cases = [f"when {col} in ({', '.join(lit(v) for v in values)}) then {lit(word)}"
                     for values, word in ((trues, "true"), (falses, "false")) if values]
            return f"(case {' '.join(cases)} end)"
        return f"(case when {col} in ('true', 'false') then {col} else ingest.to_boolean({col}) end)"

    def fast_aggregates(self, col: str, f: Field, *, num_col: str) -> list[Aggregate] | None:
        if f.true_values or f.false_values:
            return None
        return [(f"bool_and({col} in ('true', 'false'))", no_row_or(lambda v: v is True))]

    def message(self, f: Field) -> str:
        if f.true_values or f.false_values:
            return (f"« {f.name} » doit être un booléen : {' / '.join(f.true_values or DEFAULT_TRUE)} pour vrai, "
                    f"{' / '.join(f.false_values or DEFAULT_FALSE)} pour faux")
        return super().message(f)


@dataclass(frozen=True)
class PatternType(FieldType):
    """A type defined by the form of its text (yearmonth, time, duration)."""

    normalised: bool = False

    def read_sql(self, col: str, f: Field, strict: bool) -> str | None:
        return f"(case when btrim({col}) ~ {lit(self.strict_pattern)} then btrim({col}) end)"

    def fast_aggregates(self, col: str, f: Field, *, num_col: str) -> list[Aggregate] | None:
        return None


@dataclass(frozen=True)
class GeopointType(FieldType):
    def read_sql(self, col: str, f: Field, strict: bool) -> str | None:
        return f"(case when ingest.geopoint_ok({col}, {lit(f.format or 'default')}) then {col} end)"

    def fast_aggregates(self, col: str, f: Field, *, num_col: str) -> list[Aggregate] | None:
        return None

    def message(self, f: Field) -> str:
        form = {"array": "[lon, lat]", "object": "{\"lon\":…, \"lat\":…}"}.get(f.format or "", "« lon, lat »")
        return (f"« {f.name} » doit être un point géographique au format {form} : longitude entre -180 et 180, "
                f"latitude entre -90 et 90, point décimal")


@dataclass(frozen=True)
class JsonType(FieldType):
    opener: str = "{"

    def read_sql(self, col: str, f: Field, strict: bool) -> str | None:
        return f"(case when left(btrim({col}), 1) = {lit(self.opener)} and ingest.is_json({col}) then {col} end)"

    def fast_aggregates(self, col: str, f: Field, *, num_col: str) -> list[Aggregate] | None:
        return None


NUMBER_FORM = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"

TYPES: dict[str, FieldType] = {t.name: t for t in (
    FieldType("string"),
    FieldType("any"),
    IntegerType("integer", "un entier", "des chiffres seulement, sans unité ni décimale (ex. 1234)",
                strict_pattern=r"^[+-]?[0-9]+$"),
    NumberType("number", "un nombre", "des chiffres avec un point ou une virgule décimale, sans unité "
               "(ex. 1234.5 ou 1 234,5)", strict_pattern=NUMBER_FORM),
    YearType("year", "une année (AAAA)", "quatre chiffres (ex. 2024)", strict_pattern=r"^[0-9]{4}$"),
    DateType("date", "une date (AAAA-MM-JJ)", "une date qui existe, écrite 2024-03-01 (ou 01/03/2024)",
             strict_pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
    DatetimeType("datetime", "une date-heure ISO 8601", "écrire 2024-03-01T10:00:00 (fuseau facultatif)",
                 strict_pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                                r"(Z|[+-][0-9]{2}:?[0-9]{2})?$"),
    BooleanType("boolean", "un booléen (true/false)", "true ou false (vrai/faux, oui/non, 1/0 sont aussi lus)"),
    PatternType("yearmonth", "une année-mois (AAAA-MM)", "écrire 2024-03",
                strict_pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$"),
    PatternType("time", "une heure (HH:MM:SS)", "écrire 14:30 ou 14:30:00",
                strict_pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$"),
    PatternType("duration", "une durée ISO 8601", "écrire P1Y2M10DT2H30M",
                strict_pattern=r"^P(?!$)([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?"
                               r"(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+(\.[0-9]+)?S)?)?$"),
    GeopointType("geopoint", "un point géographique (longitude, latitude)",
                 "la longitude (-180 à 180) puis la latitude (-90 à 90) en degrés décimaux, avec un point décimal"),
    JsonType("object", "un objet JSON", "un objet entre accolades, JSON valide", opener="{"),
    JsonType("array", "un tableau JSON", "une liste entre crochets, JSON valide", opener="["),
    JsonType("geojson", "une géométrie GeoJSON", "un objet GeoJSON valide", opener="{"),
)}


def field_type(f: Field) -> FieldType:
    """The type of `f`; an unknown type is read as a string (its name is kept in the schema)."""
    return TYPES.get(f.type, TYPES["string"])
