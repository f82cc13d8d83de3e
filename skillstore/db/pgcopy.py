"""PostgreSQL binary ``COPY`` payloads, encoded column by column.

Why: asyncpg's ``copy_records_to_table`` encodes every value of every record through
its codec machinery (a Python call per vector); for a batch of memories that was most
of the cost of a bulk insert. Here each column is encoded for the whole batch at once:
vectors as one big-endian float32 matrix, repeated values (team, enums, timestamps,
empty lists, ``None``) once and reused, and a row is the join of its columns' bytes.
The encoders follow the column types of the table, so a new column is either supported
or refused loudly (`TypeError`), never written wrong.

The format (PostgreSQL docs, "COPY … BINARY"): a header, then per row an int16 field
count and per field an int32 length (-1 for NULL) and the type's binary ``recv`` form;
then an int16 -1. Enums travel as their label, ``jsonb`` as version 1 plus the text,
pgvector's ``vector`` as int16 dimensions, int16 0 and float4 values.

Rejected: text ``COPY`` (vectors formatted in Python), multi-row ``INSERT`` (SQL parsed
per batch, parameters limited to 32k), and asyncpg's record encoder (see above).
"""

from __future__ import annotations

import json
import struct
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from skillstore.db.types import (
    PydanticJSON,
    StrList,
    UTCDateTime,
    UUIDList,
)
from skillstore.errors import ValidationError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER = b"\xff\xff"
NULL = b"\xff\xff\xff\xff"
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
UUID_OID, TEXT_OID = 2950, 25
_INT32 = struct.Struct(">i")

Encoder = Callable[[Any], bytes]


def _field(data: bytes) -> bytes:
    return _INT32.pack(len(data)) + data


def _timestamp(value: datetime) -> bytes:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"naive datetime {value.isoformat()} has no timezone; pass an aware datetime"
        )
    return struct.pack(">q", (value - PG_EPOCH) // timedelta(microseconds=1))


def _array(oid: int, element: Encoder) -> Encoder:
    def encode(items: Sequence[Any]) -> bytes:
        if not items:
            return struct.pack(">iii", 0, 0, oid)
        head = struct.pack(">iiiii", 1, 0, oid, len(items), 1)
        return head + b"".join(_field(element(item)) for item in items)

    return encode


def _uuid(value: Any) -> bytes:
    data: bytes = value.bytes
    return data


def _text(value: Any) -> bytes:
    return str(value).encode()


def _encoder(column: sa.Column[Any]) -> tuple[Encoder, bool]:
    """The binary encoder for ``column``'s values, and whether equal values may share it."""
    kind: Any = column.type
    if isinstance(kind, UUIDList):
        return _array(UUID_OID, _uuid), False
    if isinstance(kind, StrList):
        return _array(TEXT_OID, _text), False
    if isinstance(kind, UTCDateTime):
        return _timestamp, True
    if isinstance(kind, PydanticJSON):
        adapter = kind._adapter
        return (
            lambda v: (
                b"\x01"
                + json.dumps(adapter.dump_python(adapter.validate_python(v), mode="json")).encode()
            )
        ), False
    if isinstance(kind, TypeDecorator):  # e.g. SQLModel's AutoString: encode as its impl
        kind = kind.impl_instance
    if isinstance(kind, sa.JSON):
        return (lambda v: b"\x01" + json.dumps(v).encode()), False
    if isinstance(kind, sa.Enum):
        return (lambda v: str(getattr(v, "value", v)).encode()), True
    if isinstance(kind, sa.Boolean):
        return (lambda v: b"\x01" if v else b"\x00"), True
    if isinstance(kind, sa.BigInteger):
        return struct.Struct(">q").pack, True
    if isinstance(kind, sa.Integer):
        return _INT32.pack, True
    if isinstance(kind, sa.Float):
        return struct.Struct(">d").pack, True
    if isinstance(kind, sa.Uuid):
        return _uuid, True
    if isinstance(kind, sa.String):
        return _text, False
    raise TypeError(f"no binary COPY encoder for {column.table.name}.{column.name} ({kind!r})")


def _encode_value(encode: Encoder, value: Any) -> bytes:
    return NULL if value is None else _field(encode(value))


def encode_column(column: sa.Column[Any], values: Sequence[Any]) -> list[bytes]:
    """Every value of one column as a COPY field (length prefix included)."""
    encode, _ = _encoder(column)
    return [_encode_value(encode, value) for value in values]


def encode_vectors(matrix: npt.NDArray[np.float32], present: Sequence[bool]) -> list[bytes]:
    """A float32 matrix as pgvector ``vector`` fields, NULL where ``present`` is false."""
    import numpy as np

    rows, dim = matrix.shape
    record = np.empty(
        rows, dtype=[("size", ">i4"), ("dim", ">i2"), ("unused", ">i2"), ("v", ">f4", (dim,))]
    )
    record["size"], record["dim"], record["unused"] = 4 + 4 * dim, dim, 0
    record["v"] = matrix
    data, width = record.tobytes(), record.itemsize
    return [data[i * width : (i + 1) * width] if present[i] else NULL for i in range(rows)]


def random_uuids(rows: int) -> list[bytes]:
    """``rows`` new version-4 UUIDs as COPY fields, without building UUID objects (for ids
    nobody reads back in Python, such as log rows'); `uuid_values` turns them into UUIDs
    where they are needed."""
    import os

    import numpy as np

    data = np.frombuffer(os.urandom(16 * rows), dtype=np.uint8).reshape(rows, 16).copy()
    data[:, 6] = (data[:, 6] & 0x0F) | 0x40
    data[:, 8] = (data[:, 8] & 0x3F) | 0x80
    fields = np.empty((rows, 20), dtype=np.uint8)
    fields[:, :4] = np.frombuffer(_INT32.pack(16), dtype=np.uint8)
    fields[:, 4:] = data
    raw = fields.tobytes()
    return [raw[i * 20 : (i + 1) * 20] for i in range(rows)]


def uuid_values(fields: Sequence[bytes]) -> list[uuid.UUID]:
    """The UUIDs of `random_uuids` fields (half the cost of ``uuid4()`` per id: one
    ``urandom`` call per batch instead of one per id)."""
    return [uuid.UUID(bytes=field[4:]) for field in fields]


class Repeat(NamedTuple):
    """A column with the same value in every row (encoded once)."""

    value: Any


def copy_rows(
    table: sa.Table,
    columns: Mapping[str, Sequence[Any] | Repeat],
    *,
    unique: Collection[str] = (),
    encoded: Mapping[str, list[bytes]] | None = None,
) -> tuple[list[str], list[bytes]]:
    """The column names and COPY rows (without header) for column-wise values.

    ``unique`` columns differ in every row (ids, text) and are encoded value by value.
    The other per-row columns are encoded as a group, once per distinct combination of
    value objects: in a batch most rows share their enums, flags, links and empty lists,
    so most rows cost one lookup. ``encoded`` columns come ready (e.g. `encode_vectors`).
    """
    encoded = encoded or {}
    repeated = {n: v.value for n, v in columns.items() if isinstance(v, Repeat)}
    grouped = {n: v for n, v in columns.items() if not isinstance(v, Repeat) and n not in unique}
    singles = {n: v for n, v in columns.items() if not isinstance(v, Repeat) and n in unique}
    names = [*repeated, *grouped, *singles, *encoded]
    head = struct.pack(">h", len(names)) + b"".join(
        _encode_value(_encoder(table.c[n])[0], v) for n, v in repeated.items()
    )
    encoders = [_encoder(table.c[n])[0] for n in grouped]
    memo: dict[tuple[int, ...], bytes] = {}
    # Each value object is encoded once per column too: rows combine a few values in many
    # ways (7 types x 10 importances are 70 groups in a chunk of 250), and re-encoding all
    # the columns of every new combination was most of the grouping's cost.
    fields: list[dict[int, bytes]] = [{} for _ in encoders]
    groups = []
    for row in zip(*grouped.values(), strict=True):
        key = tuple(map(id, row))
        data = memo.get(key)
        if data is None:
            parts = []
            for encode, seen, value in zip(encoders, fields, row, strict=True):
                field = seen.get(id(value))
                if field is None:
                    field = seen[id(value)] = _encode_value(encode, value)
                parts.append(field)
            data = memo[key] = b"".join(parts)
        groups.append(data)
    if not grouped:
        groups = [b""] * len(next(iter([*singles.values(), *encoded.values()]), []))
    rest = [encode_column(table.c[n], v) for n, v in singles.items()] + list(encoded.values())
    rows = [head + b"".join(fields) for fields in zip(groups, *rest, strict=True)]
    return names, rows
