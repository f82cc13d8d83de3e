"""Small builders for rows most tests need (a user, a team, an agent, a workflow)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import SQLModel

from skillstore.models import AgentConfigRead, TeamCreate, TeamRead, UserRead, WorkflowRead
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


def agent_data(**fields: object) -> dict[str, object]:
    """A valid agent configuration as a mapping, with ``fields`` overriding."""
    data: dict[str, object] = {
        "name": "Kyra",
        "slug": unique("kyra"),
        "personality": {"system_prompt_template": "You are {name}."},
    }
    data.update(fields)
    return data


async def make_agent(
    store: Store, team: TeamRead, author: uuid.UUID | None = None, **fields: object
) -> AgentConfigRead:
    async with store.session(team_id=team.id) as s:
        return await s.agents.create(agent_data(**fields), created_by=author or team.owner_id)


async def count_rows(store: Store, model: type[SQLModel]) -> int:
    """How many rows ``model``'s table holds (every team), for "nothing was stored" checks."""
    async with store.session() as s:
        return int((await s.execute(sa.select(sa.func.count()).select_from(model))).scalar_one())


async def make_workflow(store: Store, team: TeamRead, **fields: object) -> WorkflowRead:
    data: dict[str, object] = {
        "name": "Flow",
        "nodes": [{"id": "start", "type": "trigger"}, {"id": "end", "type": "output"}],
        "edges": [{"source": "start", "target": "end"}],
    }
    data.update(fields)
    async with store.session(team_id=team.id) as s:
        return await s.workflows.create(data)
