"""`skillstore._pydantic` against pydantic's public behaviour: fails loudly on an upgrade."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, Field

from skillstore._pydantic import as_base_init, plain, trusted
from skillstore.errors import ValidationError
from skillstore.models import AgentConfigCreate, MemoryRead
from tests.memory_data import memory


def _memory_values() -> dict[str, Any]:
    row = memory([1.0, 0.0], subject="s").model_dump(exclude={"embedding"})
    now = datetime.now(UTC)
    return {
        **row,
        "id": uuid.uuid4(),
        "team_id": uuid.uuid4(),
        "access_count": 0,
        "last_accessed_at": None,
        "superseded_by": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def test_trusted_builds_what_model_construct_builds() -> None:
    values = _memory_values()
    assert plain(MemoryRead)
    fast = trusted(MemoryRead, dict(values), is_plain=True)
    slow = MemoryRead.model_construct(**values)
    assert fast == slow and fast.model_dump() == slow.model_dump()
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_fields_set == slow.model_fields_set == set(MemoryRead.model_fields)
    assert repr(fast) == repr(slow) and fast.model_copy() == slow
    fast.importance = 3  # still an ordinary instance: assignment tracks the field
    assert fast.importance == 3 and "importance" in fast.model_fields_set
    # Missing fields: model_construct's defaults, not a half-built instance.
    partial = {k: v for k, v in values.items() if k != "tier"}
    assert trusted(MemoryRead, partial, is_plain=True) == MemoryRead.model_construct(**partial)


def test_aliases_do_not_matter_and_private_attributes_do() -> None:
    class Aliased(BaseModel):
        value: int = Field(alias="v")

    assert plain(Aliased)
    built = trusted(Aliased, {"value": 1}, is_plain=True)
    assert built == Aliased.model_construct(value=1) and built.model_dump(by_alias=True) == {"v": 1}

    class Private(BaseModel):
        value: int
        _cache: int = 0

    assert not plain(Private)
    assert trusted(Private, {"value": 1}, is_plain=False)._cache == 0


def test_a_marked_init_keeps_nested_error_paths_and_its_own_errors() -> None:
    with pytest.raises(ValidationError, match=r"model\.temperature"):
        AgentConfigCreate.model_validate(
            {
                "name": "K",
                "slug": "k",
                "personality": {"system_prompt_template": "x"},
                "model": {"temperature": 3},
            }
        )

    class Checked(BaseModel):
        value: int

        @as_base_init
        def __init__(self, **data: object) -> None:
            super().__init__(**data)
            self.__dict__["seen"] = True

    class Outer(BaseModel):
        inner: Checked

    assert Checked(value=1).__dict__["seen"] is True  # built by hand: the override runs
    assert "seen" not in Outer.model_validate({"inner": {"value": 1}}).inner.__dict__
