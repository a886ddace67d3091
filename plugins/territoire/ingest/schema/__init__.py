"""Table Schema (frictionless / schema.data.gouv.fr) as the loader checks it.

One place per rule: `types.py` holds one class per Table Schema type (how a value is read and
normalised, checked in one scan, explained in French), `constraints.py` one class per constraint,
`plan.py` builds the SQL of a load from them, `functions.sql` holds the SQL functions the types call,
`model.py` reads a schema file.
"""

from pathlib import Path

from territoire.ingest.schema.constraints import STRING_FORMATS, digit_code_lengths
from territoire.ingest.schema.constraints import explain as explain_rule
from territoire.ingest.schema.model import Field, Schema, SchemaError, load_schema
from territoire.ingest.schema.plan import (
           FastCheck,
           Plan,
           build_fast_check,
           build_plan,
           client_proofs,
           key_columns,
)
from territoire.ingest.schema.types import TYPES, field_type

FUNCTIONS_SQL = (Path(__file__).parent / "functions.sql").read_text(encoding="utf-8")

__all__ = ["FUNCTIONS_SQL", "STRING_FORMATS", "TYPES", "FastCheck", "Field", "Plan", "Schema", "SchemaError",
           "build_fast_check", "build_plan", "client_proofs", "digit_code_lengths", "explain_rule", "field_type", "key_columns", "load_schema"]
