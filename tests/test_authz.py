from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from skillstore.authz import needed_role, secret_tables
from skillstore.db.base import metadata
from skillstore.errors import (
    AppendOnlyError,
    ForbiddenError,
    NotFoundError,
    TenantRequiredError,
)
from skillstore.models import (
    AgentStatus,
    TeamRead,
    UserRead,
    UserRole,
    load_all,
)
from skillstore.store import Store, StoreSession
from tests.factories import agent_data, make_agent, make_team, make_user
from tests.memory_data import dim, memory


def vector(store: Store) -> list[float]:
    return [1.0] + [0.0] * (dim(store) - 1)


def _repositories() -> list[str]:
    return sorted(
        name
        for name, member in vars(StoreSession).items()
        if hasattr(member, "func") and not name.startswith("_")
    )


def _tables() -> list[str]:
    load_all()
    return sorted(metadata.tables)


async def member_of(store: Store, team: TeamRead, role: UserRole) -> UserRead:
    user = await make_user(store)
    async with store.session() as s:
        await s.teams.add_member(team.id, user.id, role)
    return user


@pytest.mark.parametrize("repo", _repositories())
async def test_a_viewer_cannot_write_through_any_repository(store: Store, repo: str) -> None:
    team = await make_team(store)
    viewer = await member_of(store, team, UserRole.VIEWER)
    agent = await make_agent(store, team)
    async with store.session(team_id=team.id) as s:  # rows whose delete would write
        existing = {
            "agents": agent.id,
            "memories": (await s.memories.add(memory(vector(store), agent_id=agent.id))).id,
            "teams": team.id,
            "users": viewer.id,
        }
    async with store.session(team_id=team.id, actor=viewer.id) as s:
        repository = getattr(s, repo)
        if repo == "audit":  # append-only: refused before any SQL, whoever asks
            with pytest.raises(AppendOnlyError):
                await repository.delete(uuid.uuid4())
            return
        with pytest.raises(ForbiddenError) as info:
            await repository.delete(existing.get(repo, uuid.uuid4()))
        assert info.value.role == "viewer" and "viewer" in str(info.value)
        assert info.value.needed in {"member", "admin", "owner", None}
        await s.users.count()  # reads still work


@pytest.mark.parametrize("table", _tables())
async def test_every_table_needs_a_role_to_write_and_a_viewer_has_none(
    store: Store, table: str
) -> None:
    team = await make_team(store)
    viewer = await member_of(store, team, UserRole.VIEWER)
    admin = await member_of(store, team, UserRole.ADMIN)
    target = metadata.tables[table]
    needed = needed_role(table, secret_tables())
    statement = sa.delete(target).where(sa.false())
    async with store.session(team_id=team.id, actor=viewer.id) as s:
        with pytest.raises(ForbiddenError) as info:
            await s.execute(statement)
    assert info.value.needed == (None if needed is None else needed.value)
    async with store.session(team_id=team.id, actor=admin.id) as s:
        if needed is None:
            with pytest.raises(ForbiddenError):
                await s.execute(statement)
        else:
            await s.execute(statement)


async def test_viewer_domain_writes_are_refused_and_leave_nothing(store: Store) -> None:
    team = await make_team(store)
    agent = await make_agent(store, team)
    viewer = await member_of(store, team, UserRole.VIEWER)
    async with store.session(team_id=team.id, actor=viewer.id) as s:
        assert s.role is UserRole.VIEWER and s.actor == viewer.id
        attempts = [
            s.agents.create(agent_data(), created_by=viewer.id),
            s.agents.update(agent.id, {"name": "Renamed"}),
            s.memories.add(memory(vector(store), agent_id=agent.id)),
            s.executions.create({"agent_id": agent.id}),
            s.workflows.create({"name": "Flow"}),
            s.teams.add_member(team.id, (await make_user(store)).id, UserRole.MEMBER),
        ]
        for attempt in attempts:
            with pytest.raises(ForbiddenError, match="viewer"):
                await attempt
        assert [a.name for a in await s.agents.find()] == [agent.name]
        assert await s.memories.count() == 0


async def test_a_member_writes_team_data_but_not_memberships_or_secrets(store: Store) -> None:
    team = await make_team(store)
    member = await member_of(store, team, UserRole.MEMBER)
    async with store.session(team_id=team.id, actor=member.id) as s:
        agent = await s.agents.create(agent_data(), created_by=member.id)
        await s.memories.add(memory(vector(store), agent_id=agent.id))
        with pytest.raises(ForbiddenError, match="'admin'") as info:
            await s.credentials.create(
                {"name": "gh", "integration_id": "github", "secret": "ghp_abcdefgh"}
            )
        assert (info.value.role, info.value.needed) == ("member", "admin")
        with pytest.raises(ForbiddenError, match="'admin'"):
            await s.teams.set_role(team.id, member.id, UserRole.ADMIN)
        with pytest.raises(ForbiddenError, match="service"):
            await s.users.update(member.id, {"display_name": "Me"})
    async with store.session(team_id=team.id) as s:
        assert await s.agents.count() == 1 and await s.memories.count() == 1
        assert await s.credentials.count() == 0


async def test_an_admin_manages_members_and_keys_but_only_an_owner_the_owner_role(
    store: Store,
) -> None:
    team = await make_team(store)
    admin = await member_of(store, team, UserRole.ADMIN)
    newcomer = await make_user(store)
    other = await make_team(store)
    async with store.session(team_id=team.id, actor=admin.id) as s:
        await s.teams.add_member(team.id, newcomer.id, UserRole.MEMBER)
        await s.credentials.create(
            {"name": "gh", "integration_id": "github", "secret": "ghp_abcdefgh"}
        )
        with pytest.raises(ForbiddenError, match="'owner'"):
            await s.teams.set_role(team.id, newcomer.id, UserRole.OWNER)
        with pytest.raises(ForbiddenError, match="'owner'"):
            await s.teams.remove_member(team.id, team.owner_id)
        with pytest.raises(ForbiddenError, match=str(other.id)):
            await s.teams.add_member(other.id, newcomer.id, UserRole.MEMBER)
    async with store.session(team_id=team.id, actor=team.owner_id) as s:
        assert s.role is UserRole.OWNER
        await s.teams.set_role(team.id, newcomer.id, UserRole.OWNER)
    async with store.session() as s:
        roles = {m.user_id: m.role for m in await s.teams.members(team.id)}
    assert roles[newcomer.id] is UserRole.OWNER and roles[team.owner_id] is UserRole.OWNER


async def test_a_non_member_is_refused_when_the_session_opens(store: Store) -> None:
    team = await make_team(store)
    stranger = await make_user(store)
    with pytest.raises(ForbiddenError, match="not an active member") as info:
        async with store.session(team_id=team.id, actor=stranger.id):
            pytest.fail("the session opened")
    assert info.value.role is None
    with pytest.raises(TenantRequiredError):
        async with store.session(actor=stranger.id):
            pass
    inactive = await member_of(store, team, UserRole.ADMIN)
    async with store.session() as s:
        await s.users.update(inactive.id, {"is_active": False})
    with pytest.raises(ForbiddenError):
        async with store.session(team_id=team.id, actor=inactive.id):
            pass


async def test_without_an_actor_the_service_writes_everything(store: Store) -> None:
    team = await make_team(store)
    user = await make_user(store)
    async with store.session(team_id=team.id) as s:
        assert s.actor is None and s.role is None
        await s.teams.add_member(team.id, user.id, UserRole.VIEWER)
        await s.credentials.create(
            {"name": "gh", "integration_id": "github", "secret": "ghp_abcdefgh"}
        )
        await s.users.update(user.id, {"display_name": "Renamed"})
        await s.execute(sa.text("SELECT 1"))


async def test_public_agents_are_readable_from_every_team_and_writable_by_none(
    store: Store,
) -> None:
    owner_team, reader_team = await make_team(store), await make_team(store)
    public = await make_agent(store, owner_team, sharing_level="public")
    private = await make_agent(store, owner_team)
    member = await member_of(store, reader_team, UserRole.ADMIN)
    async with store.session(team_id=reader_team.id, actor=member.id) as s:
        assert await s.agents.find() == []
        assert [a.id for a in await s.agents.find(include_public=True)] == [public.id]
        assert await s.agents.get(public.id) is None
        found = await s.agents.get(public.id, include_public=True)
        assert found is not None and found.team_id == owner_team.id
        assert await s.agents.get(private.id, include_public=True) is None
        with pytest.raises(NotFoundError):
            await s.agents.update(public.id, {"name": "Hijacked"})
        assert await s.agents.delete(public.id) is False
    async with store.session(team_id=owner_team.id) as s:
        kept = await s.agents.get(public.id)
    assert kept == public


async def test_archived_rows_are_left_out_of_find_unless_asked(store: Store) -> None:
    team = await make_team(store)
    live = await make_agent(store, team)
    gone = await make_agent(store, team)
    async with store.session(team_id=team.id) as s:
        await s.agents.update(gone.id, {"status": AgentStatus.ARCHIVED})
        assert [a.id for a in await s.agents.find()] == [live.id]
        assert await s.agents.count() == 1
        assert {a.id for a in await s.agents.find(include_archived=True)} == {live.id, gone.id}
        assert await s.agents.count(include_archived=True) == 2
        assert [a.id for a in await s.agents.find(status="archived")] == [gone.id]
        assert await s.agents.get(gone.id) is not None
        assert (await s.agents.get_by_slug(gone.slug)) is not None
        client = await s.clients.create({"name": "Acme"})
        await s.clients.archive(client.id)
        assert await s.clients.find() == []
        assert [c.id for c in await s.clients.find(include_archived=True)] == [client.id]
