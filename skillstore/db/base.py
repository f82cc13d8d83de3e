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
from pydantic import ConfigDict, ValidationInfo, field_validator
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

from skillstore._pydantic import as_base_init
from skillstore.db import storable
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
    A field the model does not have is an error naming it (and the field meant, for a
    near miss), never dropped: ``extra="forbid"`` here and on `Document`.
    """

    model_config = ConfigDict(  # type: ignore[assignment]  # SQLModel types it as its own
        extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in storable.VECTORS:
            return value  # checked as a vector, with EmbeddingError (`db.types.as_vector`)
        return storable.check(value, column=True)

    def __init__(self, **data: Any) -> None:
        with skillstore_errors(type(self)):
            super().__init__(**data)

    @classmethod
    def model_validate(cls, *args: Any, **kwargs: Any) -> Self:
        with skillstore_errors(cls):
            return super().model_validate(*args, **kwargs)


class Document(pydantic.BaseModel):
    """The root of nested documents stored in a JSON column (through `PydanticJSON`).

    A plain Pydantic model, not a `Schema`: pydantic validates a nested model through
    its ``__init__`` when that is overridden, and SQLModel's is, so an error inside a
    nested `Schema` would be reported at the parent field with its path lost. Here the
    override is marked as pydantic's own, so nested validation keeps full paths
    (``model.temperature``) while building one by hand still raises `ValidationError`.
    """

    model_config = ConfigDict(extra="forbid")

    # No storable check per field here: the `Schema` holding a document walks it, and
    # `PydanticJSON` checks what it binds (`skillstore.db.storable`), so documents read
    # back from the database are not checked again.

    @as_base_init
    def __init__(self, **data: Any) -> None:
        with skillstore_errors(type(self)):
            super().__init__(**data)

    @classmethod
    def model_validate(cls, *args: Any, **kwargs: Any) -> Self:
        with skillstore_errors(cls):
            return super().model_validate(*args, **kwargs)


@contextmanager
def skillstore_errors(model: type[pydantic.BaseModel]) -> Iterator[None]:
    """Re-raise Pydantic's validation error as `ValidationError`, naming ``model`` (and,
    for a field it does not have, the fields it does)."""
    try:
        yield
    except pydantic.ValidationError as exc:
        raise ValidationError.from_pydantic(
            exc, model=model.__name__, fields=lambda loc: fields_at(model, loc)
        ) from None


def fields_at(model: type[pydantic.BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The fields of the (nested) model that ``loc`` points into, to suggest a near miss."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        current = _model_of(fields[part].annotation)
    fields = getattr(current, "model_fields", None)
    return [info.alias or name for name, info in fields.items()] if fields is not None else []


def _model_of(annotation: Any) -> Any:
    """The pydantic model inside an annotation (``X``, ``X | None``, ``list[X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def snake_case(name: str) -> str:
    """``AgentConfig`` → ``agent_config``: the table name of a model class."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def table_of(model: type[SQLModel]) -> sa.Table:
    """The `Table` of a table model (typed: SQLModel does not declare ``__table__``)."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return table


METADATA = "metadata"
"""The public name of memories' and documents' free-form metadata (the field is
``metadata_``: SQLAlchemy reserves ``metadata`` on declarative classes)."""


class ReadsMetadata(Schema):
    """Gives a Read model the ``metadata`` attribute callers expect."""

    @property
    def metadata(self) -> dict[str, Any]:  # type: ignore[override]  # SQLModel's registry
        """The free-form metadata (stored in the ``metadata_`` field)."""
        value: dict[str, Any] = self.metadata_  # type: ignore[attr-defined]
        return value


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
