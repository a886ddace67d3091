"""A Table Schema as the loader reads it: fields (name, normalised column, type, constraints) and keys."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from territoire.naming import normalise_column


@dataclass(frozen=True)
class Field:
    name: str
    column: str
    type: str = "string"
    format: str | None = None
    required: bool = False
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    minimum: Any = None
    maximum: Any = None
    min_length: int | None = None
    max_length: int | None = None
    unique: bool = False
    description: str = ""
    true_values: tuple[str, ...] = ()
    false_values: tuple[str, ...] = ()
    decimal_char: str | None = None
    group_char: str | None = None


@dataclass(frozen=True)
class Schema:
    path: Path
    fields: tuple[Field, ...]
    primary_key: tuple[str, ...] = ()
    missing_values: tuple[str, ...] = ("",)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return str(self.extra.get("title") or self.extra.get("name") or self.path.name)

    def field_for_column(self, column: str) -> Field | None:
        for f in self.fields:
            if f.column == column:
                return f
        return None


class SchemaError(ValueError):
    """A Table Schema file cannot be read; the message names the file and the field."""


@lru_cache(maxsize=64)
def load_schema(path: Path) -> Schema:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"Table Schema not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("fields"), list):
        raise SchemaError(f"{path}: a Table Schema needs a 'fields' list")
    fields = []
    for i, f in enumerate(data["fields"], start=1):
        if not isinstance(f, dict) or "name" not in f:
            raise SchemaError(f"{path}: field #{i} has no 'name'")
        c = f.get("constraints") or {}
        fields.append(Field(
            name=f["name"], column=normalise_column(f["name"], i), type=f.get("type", "string"),
            format=f.get("format") if f.get("format") not in (None, "default") else None,
            required=bool(c.get("required", False)), pattern=c.get("pattern"),
            enum=tuple(str(v) for v in c.get("enum", ()) or ()),
            minimum=c.get("minimum"), maximum=c.get("maximum"),
            min_length=c.get("minLength"), max_length=c.get("maxLength"), unique=bool(c.get("unique", False)),
            description=f.get("description", ""),
            true_values=tuple(f.get("trueValues") or ()), false_values=tuple(f.get("falseValues") or ()),
            decimal_char=f.get("decimalChar"), group_char=f.get("groupChar"),
        ))
    pk = data.get("primaryKey") or ()
    if isinstance(pk, str):
        pk = (pk,)
    by_name = {f.name: f.column for f in fields}
    return Schema(
        path=path, fields=tuple(fields),
        primary_key=tuple(by_name.get(k, normalise_column(k, 0)) for k in pk),
        missing_values=tuple(data.get("missingValues", [""])),
        extra={k: v for k, v in data.items() if k not in ("fields",)},
    )
