"""Small builders for rows most tests need (a user, a team owned by them)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import SQLModel

from skillstore.db.base import table_of
from skillstore.models import TeamCreate, TeamRead, UserRead
from skillstore.store import Store


def unique(prefix: str) -> str:
    """A short unique string, for emails and slugs."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def make_user(store: Store, **fields: object) -> UserRead:
    data: dict[str, object] = {
        "email": f"{unique('u')}@example.com",
        "password": "correct horse",
        "display_name": "U",
    }
    data.update(fields)
    async with store.session() as s:
        return await s.users.create(data)


async def make_team(store: Store, owner: UserRead | None = None, **fields: object) -> TeamRead:
    owner = owner or await make_user(store)
    data: dict[str, object] = {"name": "Team", "slug": unique("team")}
    data.update(fields)
    async with store.session() as s:
        return await s.teams.create(TeamCreate.model_validate(data), owner_id=owner.id)


async def count_rows(store: Store, model: type[SQLModel]) -> int:
    """How many rows ``model``'s table holds (every team): for "nothing was stored"."""
    async with store.session() as s:
        stmt = sa.select(sa.func.count()).select_from(table_of(model))
        return int((await s.execute(stmt)).scalar_one())
