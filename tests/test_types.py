"""Compile-only tests: each portable type renders and binds correctly per dialect."""

from __future__ import annotations

import enum
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateTable

from skillstore.db.types import (
    JSON,
    Embedding,
    PydanticJSON,
    StrList,
    UTCDateTime,
    UUIDList,
    as_vector,
    enum_type,
)
from skillstore.errors import EmbeddingError, ValidationError

PG: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
LITE: Dialect = sqlite.dialect()


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Doc(BaseModel):
    title: str
    score: float = 0.5


def ddl(column_type: sa.types.TypeEngine[Any], dialect: Dialect) -> str:
    table = sa.Table("t", sa.MetaData(), sa.Column("c", column_type))
    return str(CreateTable(table).compile(dialect=dialect))


@pytest.mark.parametrize(
    ("column_type", "pg", "lite"),
    [
        (Embedding(3), "c VECTOR(3)", "c BLOB"),
        (JSON, "c JSONB", "c JSON"),
        (PydanticJSON(Doc), "c JSONB", "c JSON"),
        (StrList(), "c TEXT[]", "c JSON"),
        (UUIDList(), "c UUID[]", "c JSON"),
        (UTCDateTime(), "c TIMESTAMP WITH TIME ZONE", "c DATETIME"),
    ],
)
def test_each_type_renders_its_backend_type(
    column_type: sa.types.TypeEngine[Any], pg: str, lite: str
) -> None:
    assert pg in ddl(column_type, PG)
    assert lite in ddl(column_type, LITE)


def test_enum_is_native_on_postgres_and_a_check_on_sqlite() -> None:
    column_type = enum_type(Colour, "colour_enum")
    assert "c colour_enum" in ddl(column_type, PG)
    lite = ddl(column_type, LITE)
    assert "CHECK (c IN ('red', 'blue'))" in lite


def test_embedding_binds_float32_little_endian_on_sqlite_and_an_array_on_postgres() -> None:
    processor = Embedding(3).bind_processor(LITE)
    assert processor is not None
    blob = processor([1.0, -2.5, 3.25])
    assert blob == np.array([1.0, -2.5, 3.25], dtype="<f4").tobytes()
    result = Embedding(3).result_processor(LITE, None)
    assert result is not None
    assert result(blob) == [1.0, -2.5, 3.25]
    pg = Embedding(3).bind_processor(PG)
    assert pg is not None
    bound = pg([1, 2, 3])
    assert isinstance(bound, np.ndarray)
    assert bound.dtype == np.float32


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1.0, 2.0], "2 dimensions but this store uses 3"),
        ([1.0, math.nan, 2.0], "NaN or infinity"),
        ([1.0, math.inf, 2.0], "NaN or infinity"),
        ([[1.0, 2.0, 3.0]], "flat"),
        (["a", "b", "c"], "numbers"),
        ([], "non-empty"),
    ],
)
def test_bad_embeddings_are_refused_before_sql(value: Any, message: str) -> None:
    with pytest.raises(EmbeddingError, match=message):
        as_vector(value, 3)
    processor = Embedding(3).bind_processor(LITE)
    assert processor is not None
    with pytest.raises(EmbeddingError):
        processor(value)


def test_utc_datetime_refuses_naive_and_normalises_to_utc() -> None:
    column_type = UTCDateTime()
    with pytest.raises(ValidationError, match="no timezone"):
        column_type.process_bind_param(datetime(2026, 1, 1), LITE)
    paris = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=1)))
    stored = column_type.process_bind_param(paris, LITE)
    assert stored == datetime(2026, 1, 1, 11)  # SQLite keeps UTC without tzinfo
    assert column_type.process_result_value(stored, LITE) == datetime(2026, 1, 1, 11, tzinfo=UTC)
    on_pg = column_type.process_bind_param(paris, PG)
    assert on_pg is not None
    assert on_pg.tzinfo is UTC


def test_pydantic_json_round_trips_the_model() -> None:
    column_type = PydanticJSON(list[Doc])
    stored = column_type.process_bind_param([Doc(title="a"), {"title": "b", "score": 1}], PG)
    assert stored == [{"title": "a", "score": 0.5}, {"title": "b", "score": 1.0}]
    assert column_type.process_result_value(stored, PG) == [Doc(title="a"), Doc(title="b", score=1)]


def test_uuid_list_binds_strings_on_sqlite_and_uuids_on_postgres() -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    assert UUIDList().process_bind_param(ids, LITE) == [str(i) for i in ids]
    assert UUIDList().process_bind_param(ids, PG) == ids
    assert UUIDList().process_result_value([str(i) for i in ids], LITE) == ids


def test_vector_distance_renders_the_pgvector_operator() -> None:
    table = sa.Table("m", sa.MetaData(), sa.Column("e", Embedding(3)))
    stmt = sa.select(table.c.e.op("<=>")(sa.bindparam("q")).label("d")).order_by("d").limit(10)
    assert "m.e <=> %(q)s AS d" in str(stmt.compile(dialect=PG))
