"""The shared metadata conventions and the column mixins every table uses.

Mixins declare columns with ``sa_type=``/``sa_column_kwargs=`` rather than a shared
``sa_column=Column(...)``: a Column object can belong to one table only, so sharing one
breaks on the second table. The naming convention is fixed so that SQLite batch
migrations can find, drop and recreate constraints by name.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Self

import pydantic
import sqlalchemy as sa
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

from skillstore._pydantic import as_base_init
from skillstore.db.types import UTCDateTime, utcnow
from skillstore.errors import ValidationError

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = SQLModel.metadata
metadata.naming_convention = NAMING_CONVENTION

BACKEND_ONLY_INDEX_PREFIX = "hnsw_"
"""Indexes created by migrations only (HNSW); the model comparison leaves them out."""

_NOW = sa.text("CURRENT_TIMESTAMP")


class Schema(SQLModel):
    """The root of every model: Pydantic's validation errors become `ValidationError`.

    Callers build ``…Create`` and ``…Update`` models themselves; wrapping here means bad
    input is a `SkillstoreError` whether it is caught at construction or in a repository.
    """

    def __init__(self, **data: Any) -> None:
        with skillstore_errors(type(self).__name__):
            super().__init__(**data)

    @classmethod
    def model_validate(cls, *args: Any, **kwargs: Any) -> Self:
        with skillstore_errors(cls.__name__):
            return super().model_validate(*args, **kwargs)


class Document(pydantic.BaseModel):
    """The root of nested documents stored in a JSON column (through `PydanticJSON`).

    A plain Pydantic model, not a `Schema`: pydantic validates a nested model through
    its ``__init__`` when that is overridden, and SQLModel's is, so an error inside a
    nested `Schema` would be reported at the parent field with its path lost. Here the
    override is marked as pydantic's own, so nested validation keeps full paths
    (``model.temperature``) while building one by hand still raises `ValidationError`.
    """

    @as_base_init
    def __init__(self, **data: Any) -> None:
        with skillstore_errors(type(self).__name__):
            super().__init__(**data)

    @classmethod
    def model_validate(cls, *args: Any, **kwargs: Any) -> Self:
        with skillstore_errors(cls.__name__):
            return super().model_validate(*args, **kwargs)


@contextmanager
def skillstore_errors(model: str) -> Iterator[None]:
    """Re-raise Pydantic's validation error as `ValidationError`, naming ``model``."""
    try:
        yield
    except pydantic.ValidationError as exc:
        raise ValidationError.from_pydantic(exc, model=model) from None


def snake_case(name: str) -> str:
    """``AgentConfig`` → ``agent_config``: the table name of a model class."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def table_of(model: type[SQLModel]) -> sa.Table:
    """The `Table` of a table model (typed: SQLModel does not declare ``__table__``)."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return table


class IdMixin(Schema):
    """A UUID primary key generated in Python (known before the INSERT), and the table name.

    Every table has this mixin, so it also names the table: snake_case of the class.
    """

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)

    @declared_attr  # type: ignore[arg-type]
    def __tablename__(cls) -> str:
        return snake_case(cls.__name__)


class CreatedAtMixin(Schema):
    """When the row was written (append-only rows have no ``updated_at``)."""

    created_at: datetime = Field(
        default_factory=utcnow,
        sa_type=UTCDateTime,
        sa_column_kwargs={"server_default": _NOW, "nullable": False},
    )


class TimestampMixin(CreatedAtMixin):
    """``created_at`` and an ``updated_at`` that every UPDATE refreshes."""

    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_type=UTCDateTime,
        sa_column_kwargs={"server_default": _NOW, "onupdate": utcnow, "nullable": False},
    )


class TeamScopedMixin(Schema):
    """The tenant column; tenant-scoped repositories filter and stamp it."""

    team_id: uuid.UUID = Field(foreign_key="team.id", ondelete="CASCADE", index=True)


class VersionMixin(Schema):
    """An optimistic-locking counter, bumped by every update through a repository."""

    version: int = Field(default=1, ge=1, sa_column_kwargs={"server_default": "1"})
