"""Table layouts of the LanceDB memory store, and their schema version.

Tables:

- ``memories``: user facts (``kind=fact``), user domain knowledge
  (``kind=knowledge``) and shared domain knowledge (``user_id='*'``). Since
  version 2 each row also says whose fact it is (``subject``), the dates it
  mentions (``dates``), when it holds (``valid_from``/``valid_until``), the
  questions it answers (``questions``) and their embedding (``qvector``).
- ``chunks``: agent knowledge chunks (``agent``, ``source`` file, ``position``).
- ``session_state``: per-session running summary and extraction progress.
- ``meta``: ``schema_version``, ``embedding_model``, ``dims``.

Timestamps are float seconds since the epoch (UTC), which keeps TTL filters and
decay arithmetic simple.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

#: Bump when a table gains a column; :data:`COLUMN_DEFAULTS` says how old rows fill it.
#: A store without a ``meta`` table (version 0) is brought up to date the same way.
SCHEMA_VERSION = 2

MEMORIES = "memories"
CHUNKS = "chunks"
STATE = "session_state"
META = "meta"

#: The user id of shared domain knowledge (visible to every user of a formation).
SHARED_USER = "*"

#: SQL expressions that fill a column added by a migration, for rows written before it.
COLUMN_DEFAULTS: dict[str, str] = {
    "content_hash": "CAST('' AS STRING)",
    "embedding_model": "CAST('' AS STRING)",
    "updated_at": "CAST(0.0 AS DOUBLE)",
    "last_used_at": "CAST(0.0 AS DOUBLE)",
    "use_count": "CAST(0 AS INT)",
    "importance": "CAST(0.5 AS FLOAT)",
    "superseded_by": "CAST(NULL AS STRING)",
    "source": "CAST(NULL AS STRING)",
    "position": "CAST(NULL AS STRING)",
    "agent": "CAST(NULL AS STRING)",
    "file_hash": "CAST('' AS STRING)",
    "extracted_upto": "CAST(0 AS INT)",
    "covered_hash": "CAST('' AS STRING)",
    "user_id": "CAST(NULL AS STRING)",
    # Version 2 (memories only): NULL means "infer from the text" to readers.
    "subject": "CAST(NULL AS STRING)",
    "dates": "CAST(NULL AS STRING)",
    "valid_from": "CAST(NULL AS DOUBLE)",
    "valid_until": "CAST(NULL AS DOUBLE)",
    "questions": "CAST(NULL AS STRING)",
    # An old row has no questions: its question vector is its text's (one commit).
    "qvector": "vector",
}

#: The plain (non-vector) columns version 2 added to ``memories``.
FACT_COLUMNS = ("subject", "dates", "valid_from", "valid_until", "questions")


def _base_fields(dims: int) -> list[pa.Field]:
    import pyarrow as pa  # deferred: pyarrow is slow to import

    return [
        pa.field("id", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("content_hash", pa.string()),
        pa.field("vector", pa.list_(pa.float32(), dims)),
        pa.field("embedding_model", pa.string()),
        pa.field("created_at", pa.float64()),
        pa.field("updated_at", pa.float64()),
        pa.field("last_used_at", pa.float64()),
        pa.field("use_count", pa.int32()),
        pa.field("importance", pa.float32()),
        pa.field("superseded_by", pa.string()),
        pa.field("source", pa.string()),
        pa.field("position", pa.string()),
        pa.field("agent", pa.string()),
    ]


def memories_schema(dims: int) -> pa.Schema:
    import pyarrow as pa  # deferred: pyarrow is slow to import

    return pa.schema(
        [
            *_base_fields(dims),
            pa.field("subject", pa.string()),
            pa.field("dates", pa.string()),
            pa.field("valid_from", pa.float64()),
            pa.field("valid_until", pa.float64()),
            pa.field("questions", pa.string()),
            pa.field("qvector", pa.list_(pa.float32(), dims)),
        ]
    )


def chunks_schema(dims: int) -> pa.Schema:
    import pyarrow as pa  # deferred: pyarrow is slow to import

    return pa.schema([*_base_fields(dims), pa.field("file_hash", pa.string())])


def state_schema() -> pa.Schema:
    import pyarrow as pa  # deferred: pyarrow is slow to import

    return pa.schema(
        [
            pa.field("session_id", pa.string(), nullable=False),
            pa.field("user_id", pa.string()),
            pa.field("agent", pa.string()),
            pa.field("summary", pa.string()),
            pa.field("covered", pa.int32()),
            pa.field("covered_hash", pa.string()),
            pa.field("extracted_upto", pa.int32()),
            pa.field("updated_at", pa.float64()),
        ]
    )


def meta_schema() -> pa.Schema:
    import pyarrow as pa  # deferred: pyarrow is slow to import

    return pa.schema([pa.field("key", pa.string(), nullable=False), pa.field("value", pa.string())])


def schema_for(table: str, dims: int) -> pa.Schema:
    if table == MEMORIES:
        return memories_schema(dims)
    if table == CHUNKS:
        return chunks_schema(dims)
    if table == STATE:
        return state_schema()
    if table == META:
        return meta_schema()
    raise ValueError(f"unknown table {table!r}")


def vector_dims(schema: pa.Schema) -> int | None:
    """The fixed size of the ``vector`` column, if the schema has one."""
    import pyarrow as pa  # deferred: pyarrow is slow to import

    if "vector" not in schema.names:
        return None
    field_type: Any = schema.field("vector").type
    if pa.types.is_fixed_size_list(field_type):
        return int(field_type.list_size)
    return None


def missing_columns(actual: pa.Schema, expected: pa.Schema) -> list[str]:
    """Columns of ``expected`` that ``actual`` lacks (what a migration adds)."""
    return [name for name in expected.names if name not in actual.names]
