"""The Table Schema rules of ingestion: the public names of `territoire.ingest.schema`.

Kept so that `from territoire.ingest import tableschema` goes on working; new code imports
`territoire.ingest.schema`, where every type and constraint is defined once.
"""

from territoire.ingest.schema import (  # noqa: F401 - re-exported
    FUNCTIONS_SQL,
    FastCheck,
    Field,
    Plan,
    Schema,
    SchemaError,
    build_fast_check,
    build_plan,
    digit_code_lengths,
    key_columns,
    load_schema,
)
